// Local JSONL audit log (`--audit-log <file>`): one event per line, size-based rotation
// (file -> file.1 -> file.2 ... file.N, the oldest deleted). append() only buffers; one background
// writer flushes every flushIntervalMs or when enough has accumulated. A bounded buffer: when the
// disk cannot keep up, new lines are dropped and counted (never blocking the request path).
import { open, rename, unlink, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';

export interface FileTargetOptions {
  path: string;
  logger: Logger;
  /** Rotate when the file would grow past this (default 100 MiB). */
  maxBytes?: number;
  /** Rotated files kept: file.1 ... file.N (default 5). */
  maxFiles?: number;
  /** Lines buffered in memory at most, bytes (default 16 MiB). */
  maxBufferBytes?: number;
  /** Flush at least this often, ms (default 200). */
  flushIntervalMs?: number;
}

const FLUSH_AT_BYTES = 256 * 1024;

export class FileTarget {
  readonly path: string;
  private readonly log: Logger;
  private readonly maxBytes: number;
  private readonly maxFiles: number;
  private readonly maxBufferBytes: number;
  private readonly flushIntervalMs: number;
  private fh: FileHandle | null = null;
  private size = 0;
  private lines: string[] = [];
  private lineBytes: number[] = [];
  private bufferedBytes = 0;
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private failed: string | null = null;
  /** Lines written to the file. */
  written = 0;
  /** Lines dropped, by reason ("file_buffer_full", "file_error", "closed"). */
  readonly dropped: Record<string, number> = {};

  private constructor(opts: FileTargetOptions) {
    this.path = opts.path;
    this.log = opts.logger;
    this.maxBytes = opts.maxBytes ?? 100 * 1024 * 1024;
    this.maxFiles = Math.max(1, opts.maxFiles ?? 5);
    this.maxBufferBytes = opts.maxBufferBytes ?? 16 * 1024 * 1024;
    this.flushIntervalMs = opts.flushIntervalMs ?? 200;
  }

  static async open(opts: FileTargetOptions): Promise<FileTarget> {
    const t = new FileTarget(opts);
    await mkdir(dirname(t.path), { recursive: true });
    await t.openFile();
    return t;
  }

  get bufferBytes(): number {
    return this.bufferedBytes;
  }

  /** Buffers one line (the event's JSON). False when it was dropped (buffer full, closed, broken). */
  append(json: string, bytes: number): boolean {
    if (this.closed) return this.drop('closed');
    if (this.failed) return this.drop('file_error');
    if (this.bufferedBytes + bytes + 1 > this.maxBufferBytes && this.lines.length > 0) return this.drop('file_buffer_full');
    this.lines.push(json);
    this.lineBytes.push(bytes + 1);
    this.bufferedBytes += bytes + 1;
    if (this.bufferedBytes >= FLUSH_AT_BYTES) this.kick();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.kick();
      }, this.flushIntervalMs);
      this.timer.unref();
    }
    return true;
  }

  private drop(reason: string): false {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    return false;
  }

  /** Writes everything buffered. */
  async flush(): Promise<void> {
    this.kick();
    while (this.writing) await this.writing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    this.closed = true;
    await this.fh?.sync().catch(() => {});
    await this.fh?.close().catch(() => {});
    this.fh = null;
  }

  private kick(): void {
    if (this.writing || this.lines.length === 0) return;
    this.writing = this.writeLoop().finally(() => {
      this.writing = null;
      if (this.lines.length > 0) this.kick();
    });
  }

  private async writeLoop(): Promise<void> {
    while (this.lines.length > 0 && !this.failed) {
      const lines = this.lines;
      const sizes = this.lineBytes;
      this.lines = [];
      this.lineBytes = [];
      this.bufferedBytes = 0;
      let i = 0;
      try {
        while (i < lines.length) {
          // lines [i, j) fit in the current file (at least one line when the file is empty)
          let j = i;
          let chunk = 0;
          while (j < lines.length && (this.size + chunk + sizes[j] <= this.maxBytes || (this.size === 0 && chunk === 0))) {
            chunk += sizes[j];
            j++;
          }
          if (j === i) {
            await this.rotate();
            continue;
          }
          const buf = Buffer.from(lines.slice(i, j).join('\n') + '\n', 'utf8');
          let off = 0;
          while (off < buf.length) off += (await this.fh!.write(buf, off, buf.length - off)).bytesWritten;
          this.size += buf.length;
          this.written += j - i;
          i = j;
        }
      } catch (err) {
        this.failed = (err as Error).message;
        const lost = lines.length - i + this.lines.length;
        this.dropped['file_error'] = (this.dropped['file_error'] ?? 0) + lost;
        this.lines = [];
        this.lineBytes = [];
        this.bufferedBytes = 0;
        this.log.error({ file: this.path, err: this.failed, lostEvents: lost }, 'audit log: write failed, the file target stops until restart');
      }
    }
  }

  private async openFile(): Promise<void> {
    this.fh = await open(this.path, 'a');
    this.size = (await this.fh.stat()).size;
  }

  private async rotate(): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = null;
    await unlink(`${this.path}.${this.maxFiles}`).catch(() => {});
    for (let k = this.maxFiles - 1; k >= 1; k--) {
      await rename(`${this.path}.${k}`, `${this.path}.${k + 1}`).catch(() => {});
    }
    await rename(this.path, `${this.path}.1`).catch(() => {});
    await this.openFile();
    this.log.info({ file: this.path, keep: this.maxFiles }, 'audit log rotated');
  }
}
