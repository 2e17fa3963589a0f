// An AuditSink that keeps every event it is given and checks each against the JSON Schema file.
// Used where a test examines events field by field; delivery itself is tested with the real dispatcher.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { AuditEvent } from '../../src/audit/event.js';
import type { AuditSink } from '../../src/audit/sink.js';
import { projectRoot } from '../../src/paths.js';

const ajv = new Ajv2020({ allErrors: true, strict: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
export const validateEvent = ajv.compile(JSON.parse(readFileSync(join(projectRoot(), 'schema', 'audit-event.v1.json'), 'utf8')));

export class CollectingSink implements AuditSink {
  active = true;
  events: AuditEvent[] = [];
  invalid: Array<{ event: unknown; errors: unknown }> = [];

  enqueue(event: AuditEvent): void {
    // Round-trip through JSON: what a receiver would get.
    const json = JSON.parse(JSON.stringify(event)) as AuditEvent;
    if (!validateEvent(json)) this.invalid.push({ event: json, errors: validateEvent.errors });
    this.events.push(json);
  }

  /** Bounded wait for events matching `pred`. */
  async waitFor(pred: (e: AuditEvent) => boolean, n = 1, timeoutMs = 5000): Promise<AuditEvent[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.filter(pred);
      if (found.length >= n) return found;
      if (Date.now() > end) throw new Error(`waited ${timeoutMs} ms for ${n} matching events, have ${found.length}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
