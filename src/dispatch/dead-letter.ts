// Dead-letter files: events the receiver refused for good (HEC invalid-event-number, an event too
// large even alone, data a receiver rejects with 400). Never silently dropped: each goes, with the
// receiver's reply, to <dataDir>/dead-letter/<YYYY-MM-DD>.ndjson, one JSON object per line:
//   {"time":"<when>","reason":"invalid_event","statusCode":400,"reply":"<reply text>","endpoint":"<url>","event":<event>}
// An operator can fix and re-post them (`jq -c .event`).
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { eventJsonText, type EventJson } from './event-slab.js';

export type DeadLetterReason = 'invalid_event' | 'too_large' | 'rejected';

export class DeadLetter {
  readonly dir: string;
  private readonly log: Logger;
  private chain: Promise<void> = Promise.resolve();
  private made = false;
  /** Lines that could not be written (disk error): logged, counted here. */
  failed = 0;

  constructor(dir: string, logger: Logger) {
    this.dir = dir;
    this.log = logger;
  }

  /** Queues events [from, to) for the dead-letter file of today. */
  write(json: readonly EventJson[], from: number, to: number, reason: DeadLetterReason, statusCode: number | null, reply: string, endpoint: string): void {
    const now = new Date();
    const head = `{"time":${JSON.stringify(now.toISOString())},"reason":${JSON.stringify(reason)},"statusCode":${statusCode ?? 'null'},"reply":${JSON.stringify(reply.slice(0, 4096))},"endpoint":${JSON.stringify(endpoint)},"event":`;
    let text = '';
    for (let i = from; i < to; i++) text += `${head}${eventJsonText(json[i]!)}}\n`;
    const file = join(this.dir, `${now.toISOString().slice(0, 10)}.ndjson`);
    const count = to - from;
    this.chain = this.chain.then(async () => {
      try {
        if (!this.made) {
          await mkdir(this.dir, { recursive: true });
          this.made = true;
        }
        await appendFile(file, text);
      } catch (err) {
        this.failed += count;
        this.log.error({ file, err: (err as Error).message, events: count }, 'dead-letter: cannot write refused events');
      }
    });
  }

  /** Resolves when everything queued is written. */
  async flush(): Promise<void> {
    await this.chain;
  }
}
