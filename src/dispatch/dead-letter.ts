// Dead-letter files: events the receiver refused for good. TEMPORARY minimal bounded version
// (replaced by the dead-letter branch).
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { eventJsonText, type EventJson } from './event-slab.js';

export type DeadLetterReason = 'invalid_event' | 'too_large' | 'rejected';

export interface DeadLetterOptions {
  dir: string;
  maxBytes: number;
  logger: Logger;
  onLost: (count: number, reason: 'dead_letter_full' | 'dead_letter_error') => void;
}

export class DeadLetter {
  readonly dir: string;
  private readonly opts: DeadLetterOptions;
  private chain: Promise<void> = Promise.resolve();
  private held = 0;

  constructor(opts: DeadLetterOptions) {
    this.opts = opts;
    this.dir = opts.dir;
  }

  async open(): Promise<void> {}

  get bytes(): number {
    return this.held;
  }

  write(json: readonly EventJson[], from: number, to: number, reason: DeadLetterReason, statusCode: number | null, reply: string, endpoint: string): number {
    const now = new Date();
    const head = `{"time":${JSON.stringify(now.toISOString())},"reason":${JSON.stringify(reason)},"statusCode":${statusCode ?? 'null'},"reply":${JSON.stringify(reply.slice(0, 4096))},"endpoint":${JSON.stringify(endpoint)},"event":`;
    let text = '';
    let kept = 0;
    for (let i = from; i < to; i++) {
      const line = `${head}${eventJsonText(json[i]!)}}\n`;
      if (this.held + text.length + line.length > this.opts.maxBytes) break;
      text += line;
      kept++;
    }
    if (kept < to - from) this.opts.onLost(to - from - kept, 'dead_letter_full');
    this.held += text.length;
    const file = join(this.dir, `${now.toISOString().slice(0, 10)}.ndjson`);
    this.chain = this.chain.then(async () => {
      try {
        await mkdir(this.dir, { recursive: true });
        await appendFile(file, text);
      } catch {
        this.opts.onLost(kept, 'dead_letter_error');
      }
    });
    return kept;
  }

  async flush(): Promise<void> {
    await this.chain;
  }

  async close(): Promise<void> {
    await this.chain;
  }
}
