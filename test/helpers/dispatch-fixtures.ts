// Shared bits of the dispatcher tests: events with a sequence number, a log capture, temp dirs,
// bounded waits, and the accounting identity every scenario must satisfy.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AuditEvent } from '../../src/audit/event.js';
import { createLogger, type Logger } from '../../src/log.js';
import { AuditDispatcher, type AuditDispatcherOptions, type DispatcherCounters } from '../../src/dispatch/dispatcher.js';
import type { WebhookTargetConfig } from '../../src/dispatch/types.js';
import { startHecReceiver, type HecReceiver, type HecReceiverOptions } from './hec-receiver.js';

/** An event shaped like the real one (opaque to the dispatcher), carrying `seq` for ordering checks. */
export function testEvent(seq: number, pad = 0): AuditEvent {
  const ev = {
    version: '1',
    id: `0190b6c2-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    kind: 's3',
    time: new Date(1_732_530_000_000 + seq).toISOString(),
    seq,
    api: { name: 'PutObject', bucket: 'b', object: `k/${seq}/ünï`, readOnly: false },
    request: { id: `r${seq}`, method: 'PUT', path: `/b/k/${seq}` },
    response: { statusCode: 200 },
    padding: pad > 0 ? 'x'.repeat(pad) : undefined,
  };
  return ev as unknown as AuditEvent;
}

/** `seq` of received events. */
export function seqs(events: unknown[]): number[] {
  return events.map((e) => (e as { seq: number }).seq);
}

export class LogCapture extends Writable {
  lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    cb();
  }
  messages(): string[] {
    return this.lines.map((l) => String(l['msg']));
  }
  count(substr: string): number {
    return this.messages().filter((m) => m.includes(substr)).length;
  }
}

export function captureLogger(level: 'debug' | 'info' | 'warn' = 'info'): { logger: Logger; logs: LogCapture } {
  const logs = new LogCapture();
  return { logger: createLogger(level, logs), logs };
}

type Hookable = { after: (fn: () => Promise<void> | void) => void };
const cleanups = new WeakMap<object, Array<() => Promise<void> | void>>();

/**
 * Registers a cleanup for test `t`; cleanups run last-registered first (like Go's t.Cleanup), so a
 * dispatcher is closed before the directory it writes to is removed. Errors are collected and the
 * first is rethrown after all ran.
 */
export function defer(t: Hookable, fn: () => Promise<void> | void): void {
  let list = cleanups.get(t);
  if (!list) {
    const fns: Array<() => Promise<void> | void> = [];
    list = fns;
    cleanups.set(t, fns);
    t.after(async () => {
      let first: unknown = null;
      while (fns.length > 0) {
        try {
          await fns.pop()!();
        } catch (err) {
          first ??= err;
        }
      }
      if (first) throw first;
    });
  }
  list.push(fn);
}

export async function tempDir(t: Hookable, prefix = 's3ap-dispatch-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  defer(t, () => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 }));
  return dir;
}

/** Polls `cond` every 5 ms; fails with `what` after timeoutMs. Bounded: always ends. */
export async function waitUntil(cond: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * delivered + dropped + deadLettered = generated (+ recovered from an earlier run), nothing pending;
 * and no drops unless the scenario expects them (the spool had room).
 */
export function assertBalanced(c: DispatcherCounters, opts: { dropsExpected?: boolean } = {}): void {
  const extra = JSON.stringify(c);
  assert.equal(c.queued, 0, `nothing left in memory ${extra}`);
  assert.equal(c.spoolEvents, 0, `nothing left in the spool ${extra}`);
  assert.equal(c.inFlight, 0, `nothing in flight ${extra}`);
  assert.equal(c.delivered + c.dropped + c.deadLettered, c.generated + c.recovered, `delivered + dropped + deadLettered = generated + recovered: ${extra}`);
  if (!opts.dropsExpected) assert.equal(c.dropped, 0, `no drops while the spool had room: ${extra}`);
}

/** Asserts each seq in [0, n) appears exactly once, in increasing order. */
export function assertExactlyOnceInOrder(got: number[], n: number, skip: ReadonlySet<number> = new Set()): void {
  const want: number[] = [];
  for (let i = 0; i < n; i++) if (!skip.has(i)) want.push(i);
  if (got.length !== want.length || got.some((v, i) => v !== want[i])) {
    const dup = got.filter((v, i) => got.indexOf(v) !== i);
    const missing = want.filter((v) => !got.includes(v));
    assert.fail(`expected ${want.length} events in order, got ${got.length}; duplicates ${JSON.stringify(dup.slice(0, 10))}, missing ${JSON.stringify(missing.slice(0, 10))}, first out-of-order at ${got.findIndex((v, i) => v !== want[i])}`);
  }
}

// ---- a dispatcher wired to a real HEC receiver --------------------------------------------------

export const TOKEN = 'B5A79AAD-D822-46CC-80D1-819F80D7BFB0';

export interface DispatchSetup {
  r: HecReceiver;
  d: AuditDispatcher;
  dataDir: string;
  logs: LogCapture;
  webhook: WebhookTargetConfig;
}


/** A receiver, a dispatcher with fast retries and short batch waits, the webhook enabled. */
export async function setupDispatch(
  t: Hookable,
  o: { receiver?: HecReceiverOptions; dispatcher?: Partial<AuditDispatcherOptions>; webhook?: Partial<WebhookTargetConfig>; path?: string; receiverDown?: boolean; dataDir?: string } = {},
): Promise<DispatchSetup> {
  const r = await startHecReceiver({ token: TOKEN, ...o.receiver });
  defer(t, () => r.close());
  if (o.receiverDown) await r.setMode('down');
  const dataDir = o.dataDir ?? (await tempDir(t));
  const { logger, logs } = captureLogger('info');
  const d = new AuditDispatcher({ dataDir, logger, retryBaseMs: 20, retryMaxMs: 200, ...o.dispatcher });
  defer(t, () => d.close(0));
  await d.start();
  const webhook: WebhookTargetConfig = {
    endpoint: r.url + (o.path ?? '/services/collector/event'),
    authToken: TOKEN,
    batchMaxWaitMs: 10,
    concurrency: 1,
    requestTimeoutMs: 2000,
    ...o.webhook,
  };
  await d.setWebhook(webhook);
  r.explainTimeout = () => explainDispatcher(d, logs);
  return { r, d, dataDir, logs, webhook };
}

/** The dispatcher's own account (as `show` gives it) and its warnings: what a timed-out wait prints. */
export function explainDispatcher(d: AuditDispatcher, logs: LogCapture): string {
  return JSON.stringify({ scheduler: d.schedulerState(), counters: d.counters(), status: d.status(), logs: logs.lines.slice(-10) });
}

/** Waits until every generated event is accounted for (delivered, dropped or dead-lettered). */
export async function waitSettled(d: AuditDispatcher, timeoutMs = 8000): Promise<void> {
  await waitUntil(
    () => {
      const c = d.counters();
      return c.delivered + c.dropped + c.deadLettered >= c.generated + c.recovered && c.inFlight === 0 && c.queued === 0 && c.spoolEvents === 0;
    },
    timeoutMs,
    () => `all events settled: ${JSON.stringify(d.counters())}`,
  );
}
