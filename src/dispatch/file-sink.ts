// The JSONL file sink (`--audit-log <file>`): one event per line, size-based rotation
// (file -> file.1 -> file.2 ... file.N, the oldest deleted). A batch is delivered once its lines are
// written and fdatasynced; a failed write (disk full, file removed, I/O error) is a retry like a
// receiver that is down: the batch stays in the buffer, the file is reopened on the next attempt.
import { open, rename, unlink, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import type { QueueItems } from './memory-queue.js';
import type { Sink, SinkReply } from './sink.js';
import { createFormatter, type Formatter } from './formats.js';
import { backoffDelay, type BackoffOptions } from './retry-policy.js';

export interface FileSinkOptions {
  path: string;
  logger: Logger;
  /** Rotate when the file would grow past this (default 100 MiB). */
  maxBytes?: number;
  /** Rotated files kept: file.1 ... file.N (default 5). */
  maxFiles?: number;
  backoff: BackoffOptions;
}

export class FileSink implements Sink {
  readonly kind = 'file' as const;
  readonly label: string;
  private readonly log: Logger;
  private readonly maxBytes: number;
  private readonly maxFiles: number;
  private readonly backoff: BackoffOptions;
  private readonly formatter: Formatter = createFormatter('ndjson', { host: '' });
  private fh: FileHandle | null = null;
  private size = 0;
  private closed = false;
  /** Only one write at a time (the driver runs the file target at concurrency 1; this makes sure). */
  private busy: Promise<unknown> = Promise.resolve();

  constructor(opts: FileSinkOptions) {
    this.label = opts.path;
    this.log = opts.logger;
    this.maxBytes = opts.maxBytes ?? 100 * 1024 * 1024;
    this.maxFiles = Math.max(1, opts.maxFiles ?? 5);
    this.backoff = opts.backoff;
  }

  /** Creates the directory and opens the file, so that a bad path fails at start-up. */
  async open(): Promise<void> {
    await mkdir(dirname(this.label), { recursive: true });
    await this.openFile();
  }

  cost(jsonBytes: number): number {
    return jsonBytes + 1;
  }

  send(items: QueueItems, from: number, to: number, attempt: number): Promise<SinkReply> {
    const p = this.busy.then(() => this.write(items, from, to, attempt));
    this.busy = p.catch(() => {});
    return p;
  }

  private async write(items: QueueItems, from: number, to: number, attempt: number): Promise<SinkReply> {
    const started = performance.now();
    try {
      if (this.closed) throw new Error('audit log closed');
      if (!this.fh) await this.openFile();
      let i = from;
      while (i < to) {
        // lines [i, j) fit in the current file (at least one line when the file is empty)
        let j = i;
        let chunk = 0;
        while (j < to && (this.size + chunk + items.bytes[j] + 1 <= this.maxBytes || (this.size === 0 && chunk === 0))) {
          chunk += items.bytes[j] + 1;
          j++;
        }
        if (j === i) {
          await this.rotate();
          continue;
        }
        const buf = this.formatter.body(items.json, items.bytes, items.timeMs, i, j);
        let off = 0;
        while (off < buf.length) off += (await this.fh!.write(buf, off, buf.length - off)).bytesWritten;
        this.size += buf.length;
        i = j;
      }
      await this.fh!.datasync();
      return { decision: { action: 'success' }, latencyMs: performance.now() - started, statusCode: null, reply: '' };
    } catch (err) {
      // A partial write may have left some lines: they are written again (at-least-once). The
      // handle is dropped so that the next attempt reopens the file (it may have been removed).
      const message = (err as Error).message;
      await this.fh?.close().catch(() => {});
      this.fh = null;
      const reason = `cannot write the audit log ${this.label}: ${message}`;
      return { decision: { action: 'retry', delayMs: backoffDelay(attempt, this.backoff), reason, misconfigured: false }, latencyMs: performance.now() - started, statusCode: null, reply: message };
    }
  }

  private async openFile(): Promise<void> {
    this.fh = await open(this.label, 'a', 0o600);
    this.size = (await this.fh.stat()).size;
  }

  private async rotate(): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = null;
    await unlink(`${this.label}.${this.maxFiles}`).catch(() => {});
    for (let k = this.maxFiles - 1; k >= 1; k--) {
      await rename(`${this.label}.${k}`, `${this.label}.${k + 1}`).catch(() => {});
    }
    await rename(this.label, `${this.label}.1`).catch(() => {});
    await this.openFile();
    this.log.info({ file: this.label, keep: this.maxFiles }, 'audit log rotated');
  }

  async close(): Promise<void> {
    await this.busy;
    this.closed = true;
    await this.fh?.close().catch(() => {});
    this.fh = null;
  }

  destroy(): Promise<void> {
    return this.close();
  }
}
