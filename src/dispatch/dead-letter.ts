// Dead-letter files: events the receiver refused for good (HEC invalid-event-number, an event too
// large even alone, data a receiver rejects with 400). Each goes, with the receiver's reply, to
// <dataDir>/dead-letter/<YYYY-MM-DD>.ndjson (UTC date), one JSON object per line:
//   {"time":"<when>","reason":"invalid_event","statusCode":400,"reply":"<reply text>","endpoint":"<url>","event":<event>}
// An operator can fix and re-post them (`jq -c .event`).
//
// Bounded: the files in the directory (those of earlier runs included) plus the lines accepted and
// not yet written never exceed maxBytes. The check is per event, whole lines only; an event that
// does not fit is reported through onLost('dead_letter_full'), never written in part. Files the
// operator deletes free their room at the next start (open() scans the directory).
//
// Writes never block the caller: write() builds the lines and appends them to `pending` (bounded by
// maxBytes, since accepted bytes count toward it until written); one writer at a time appends them
// to the file. A failed append loses those events: onLost('dead_letter_error') and an error log (at
// most one per 10 s, with the count of events lost since the previous one).
import { appendFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { eventJsonText, type EventJson } from './event-slab.js';
import { escapeLineSeparators } from '../json-text.js';

export type DeadLetterReason = 'invalid_event' | 'too_large' | 'rejected';

export interface DeadLetterOptions {
  dir: string;
  maxBytes: number;
  logger: Logger;
  /** Events that could not be kept as dead letters: no room (dead_letter_full) or a write error (dead_letter_error). Called once per refused write. */
  onLost: (count: number, reason: 'dead_letter_full' | 'dead_letter_error') => void;
  /** Events written to the dead-letter files (counted as dead-lettered only then). */
  onWritten?: (count: number, reason: DeadLetterReason) => void;
}

/** Minimum interval between two "cannot write" error logs. */
const ERROR_LOG_INTERVAL_MS = 10_000;
/** The receiver's reply is kept up to this many characters per line. */
const REPLY_MAX_CHARS = 4096;
const FILE_SUFFIX = '.ndjson';

interface PendingChunk {
  file: string;
  buf: Buffer;
  events: number;
  reason: DeadLetterReason;
}

export class DeadLetter {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly log: Logger;
  private readonly onLost: DeadLetterOptions['onLost'];
  private readonly onWritten: NonNullable<DeadLetterOptions['onWritten']>;
  private diskBytes = 0;
  private pendingBytes = 0;
  private readonly pending: PendingChunk[] = [];
  private writing: Promise<void> | null = null;
  private made = false;
  private closed = false;
  private lastErrorLogAt = -Infinity;
  private errorLogTimer: NodeJS.Timeout | null = null;
  private unloggedErrors = 0;
  private lastError = '';

  constructor(opts: DeadLetterOptions) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.log = opts.logger;
    this.onLost = opts.onLost;
    this.onWritten = opts.onWritten ?? (() => {});
  }

  /** Bytes on disk plus bytes accepted and not yet written. */
  get bytes(): number {
    return this.diskBytes + this.pendingBytes;
  }

  /**
   * Creates the directory (0700) and scans it for the bytes already held (files from earlier runs
   * count toward maxBytes). Never throws: a directory that cannot be made or read is logged, and
   * the writes that follow fail (each counted as dead_letter_error).
   */
  async open(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.made = true;
      this.diskBytes = await this.scan();
    } catch (err) {
      this.log.error({ dir: this.dir, err: (err as Error).message }, 'dead-letter: directory unusable, refused events cannot be kept');
    }
  }

  /**
   * Queues events [from, to) for today's file. Never throws, never awaits. Returns how many were
   * accepted; the rest (no room) are reported through onLost('dead_letter_full'), after close()
   * through onLost('dead_letter_error').
   */
  write(json: readonly EventJson[], from: number, to: number, reason: DeadLetterReason, statusCode: number | null, reply: string, endpoint: string): number {
    const count = Math.max(0, to - from);
    if (count === 0) return 0;
    if (this.closed) {
      this.lose(count, 'dead letter is closed');
      return 0;
    }
    const now = new Date();
    const head = `{"time":${JSON.stringify(now.toISOString())},"reason":${JSON.stringify(reason)},"statusCode":${statusCode ?? 'null'},"reply":${JSON.stringify(reply.slice(0, REPLY_MAX_CHARS))},"endpoint":${JSON.stringify(endpoint)},"event":`;
    const lines: Buffer[] = [];
    let size = 0;
    for (let i = from; i < to; i++) {
      // One line whatever the texts hold (events spooled by older versions, the receiver's reply).
      const line = Buffer.from(`${escapeLineSeparators(`${head}${eventJsonText(json[i]!)}}`)}\n`, 'utf8');
      if (this.diskBytes + this.pendingBytes + size + line.length > this.maxBytes) continue;
      lines.push(line);
      size += line.length;
    }
    const accepted = lines.length;
    if (accepted < count) this.onLost(count - accepted, 'dead_letter_full');
    if (accepted === 0) return 0;
    const buf = accepted === 1 ? lines[0]! : Buffer.concat(lines, size);
    this.pending.push({ file: join(this.dir, `${now.toISOString().slice(0, 10)}${FILE_SUFFIX}`), buf, events: accepted, reason });
    this.pendingBytes += size;
    this.kick();
    return accepted;
  }

  /** Resolves when everything accepted so far is written (or counted as lost). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Writes what is pending; later writes are refused (dead_letter_error). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.logErrors(true);
  }

  // ---- writer ---------------------------------------------------------------------------------

  private kick(): void {
    if (this.writing) return;
    this.writing = this.writeLoop().finally(() => {
      this.writing = null;
    });
  }

  private async writeLoop(): Promise<void> {
    while (this.pending.length > 0) {
      // Consecutive chunks for the same file go in one append.
      const file = this.pending[0]!.file;
      let n = 1;
      while (n < this.pending.length && this.pending[n]!.file === file) n++;
      const chunks = this.pending.splice(0, n);
      const buf = chunks.length === 1 ? chunks[0]!.buf : Buffer.concat(chunks.map((c) => c.buf));
      const events = chunks.reduce((s, c) => s + c.events, 0);
      try {
        if (!this.made) {
          await mkdir(this.dir, { recursive: true, mode: 0o700 });
          this.made = true;
        }
        await appendFile(file, buf, { mode: 0o600 });
        this.diskBytes += buf.length;
        for (const c of chunks) this.onWritten(c.events, c.reason);
      } catch (err) {
        this.lose(events, (err as Error).message, file);
        // Part of the lines may have reached the disk: count what is there.
        this.diskBytes = await this.scan().catch(() => this.diskBytes);
      } finally {
        this.pendingBytes -= buf.length;
      }
    }
  }

  /** Total size of the dead-letter files in the directory. */
  private async scan(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(FILE_SUFFIX)) continue;
      const st = await stat(join(this.dir, name)).catch(() => null);
      if (st?.isFile()) total += st.size;
    }
    return total;
  }

  private lose(events: number, err: string, file?: string): void {
    this.onLost(events, 'dead_letter_error');
    this.unloggedErrors += events;
    this.lastError = file ? `${file}: ${err}` : err;
    this.logErrors(false);
  }

  private logErrors(force: boolean): void {
    if (this.unloggedErrors === 0) return;
    const now = performance.now();
    const wait = this.lastErrorLogAt + ERROR_LOG_INTERVAL_MS - now;
    if (!force && wait > 0) {
      // Say it later, so a burst of failures is reported even if no more follow.
      this.errorLogTimer ??= setTimeout(() => {
        this.errorLogTimer = null;
        this.logErrors(true);
      }, wait).unref();
      return;
    }
    if (this.errorLogTimer) clearTimeout(this.errorLogTimer);
    this.errorLogTimer = null;
    this.lastErrorLogAt = now;
    this.log.error({ dir: this.dir, err: this.lastError, lostEvents: this.unloggedErrors }, 'dead-letter: cannot write refused events, they are lost');
    this.unloggedErrors = 0;
  }
}
