// Durable disk spool: where events wait while the webhook is failing (or backlogged), delivered
// later in the order they were written.
//
// Layout (<dataDir>/spool/):
//   0000000000000001.seg ...   append-only segment files of records (see spool-segment.ts), rotated
//                              at segmentMaxBytes; a segment is deleted once every record in it has
//                              been delivered.
//   cursor.json                {"segment": id, "offset": n}: the first record NOT yet delivered.
//                              Rewritten (write + rename) after each delivered batch.
//
// Guarantees:
//   - append() decides synchronously (so byte accounting and ordering are exact); the bytes are
//     written by one background writer in append order. With fsyncIntervalMs = 0 every write is
//     followed by fdatasync before the next; otherwise the writer fdatasyncs at most that often.
//   - After a restart, reading resumes at the persisted cursor: records delivered after the last
//     cursor write are delivered again (at-least-once; the window is the batches acknowledged since
//     the last cursor rename, normally zero or one batch).
//   - A process never appends to a segment left by an earlier run: a torn tail (kill -9 during a
//     write, or power loss within the fsync interval) is found by length/CRC when the spool opens,
//     logged once and skipped; nothing crashes.
import { mkdir, open, readdir, readFile, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { QueueItems } from './memory-queue.js';
import { encodeRecords, parseRecord, parseSegmentFileName, recordSize, scanSegment, segmentFileName } from './spool-segment.js';

export const DEFAULT_SEGMENT_MAX_BYTES = 8 * 1024 * 1024;
const WRITE_CHUNK_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_MAX_PENDING_WRITE_BYTES = 32 * 1024 * 1024;
const CURSOR_FILE = 'cursor.json';

export interface SpoolOptions {
  /** The spool directory itself (the dispatcher passes <dataDir>/spool). */
  dir: string;
  maxBytes: number;
  fsyncIntervalMs: number;
  logger: Logger;
  segmentMaxBytes?: number;
  /** Appended bytes not yet written that append() accepts before it refuses (disk slower than intake). */
  maxPendingWriteBytes?: number;
  /** Events lost inside the spool (write error, corrupt record found while reading). */
  onLost?: (count: number, reason: 'spool_error' | 'spool_corrupt') => void;
  /** Called when pending writes have all been written (the dispatcher may append more). */
  onWritten?: () => void;
}

/** Events read from the spool, with the position just after each (for acknowledgements). */
export interface SpoolRead extends QueueItems {
  endSeg: number[];
  endOff: number[];
}

interface Segment {
  id: number;
  path: string;
  /** Bytes on disk (whole file, torn tail included). */
  fileSize: number;
  /** Offset after the last valid record: reads stop here. */
  readableEnd: number;
  /** Records in [reader position or cursor, readableEnd) not yet handed to a reader. */
  unread: number;
}

interface PendingChunk {
  buf: Buffer;
  records: number;
}

export class Spool {
  readonly dir: string;
  private readonly opts: SpoolOptions;
  private readonly log: Logger;
  private readonly segmentMaxBytes: number;
  private readonly maxPending: number;
  private segments: Segment[] = [];
  private nextSegId = 1;
  // accounting
  private eventCount = 0; // not yet acknowledged (pending writes included)
  private unreadCount = 0; // not yet handed out by read() (pending writes included)
  private diskBytes = 0;
  private pendingBytes = 0;
  private pendingRecords = 0;
  private isFull = false;
  /** Events found on disk when the spool was opened. */
  readonly recovered: number;
  // writer
  private pending: PendingChunk[] = [];
  private writing: Promise<void> | null = null;
  private active: { seg: Segment; fh: FileHandle } | null = null;
  private syncDue = false;
  private dirty = false;
  private retireDue = false;
  private syncTimer: NodeJS.Timeout | null = null;
  private broken: string | null = null;
  private waiters: (() => void)[] = [];
  // reader
  private rseg: Segment | null = null;
  private roff = 0;
  private rfh: FileHandle | null = null;
  private rfhSeg: Segment | null = null;
  private rbuf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  private rbufStart = 0;
  private rbufLen = 0;
  private rbufSeg: Segment | null = null;
  private readChain: Promise<unknown> = Promise.resolve();
  private reading = false;
  // cursor
  private cursor: { segment: number; offset: number };
  private cursorWrite: Promise<void> | null = null;
  private cursorDirty = false;
  private closed = false;

  private constructor(opts: SpoolOptions, segments: Segment[], cursor: { segment: number; offset: number }, nextSegId: number) {
    this.opts = opts;
    this.dir = opts.dir;
    this.log = opts.logger;
    this.segmentMaxBytes = opts.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES;
    this.maxPending = opts.maxPendingWriteBytes ?? DEFAULT_MAX_PENDING_WRITE_BYTES;
    this.segments = segments;
    this.cursor = cursor;
    this.nextSegId = nextSegId;
    for (const s of segments) {
      this.eventCount += s.unread;
      this.diskBytes += s.fileSize;
    }
    this.unreadCount = this.eventCount;
    this.recovered = this.eventCount;
    this.rseg = segments[0] ?? null;
    this.roff = this.rseg && this.rseg.id === cursor.segment ? cursor.offset : 0;
    if (opts.fsyncIntervalMs > 0) {
      this.syncTimer = setInterval(() => {
        if (this.dirty) {
          this.syncDue = true;
          this.kick();
        }
      }, opts.fsyncIntervalMs);
      this.syncTimer.unref();
    }
  }

  /** Opens (creating) the spool directory and scans what an earlier run left. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    await mkdir(opts.dir, { recursive: true });
    const names = await readdir(opts.dir);
    const ids = names.map(parseSegmentFileName).filter((x): x is number => x !== null).sort((a, b) => a - b);
    let cursor = { segment: ids[0] ?? 0, offset: 0 };
    try {
      const c = JSON.parse(await readFile(join(opts.dir, CURSOR_FILE), 'utf8')) as { segment?: unknown; offset?: unknown };
      if (Number.isSafeInteger(c.segment) && Number.isSafeInteger(c.offset) && (c.offset as number) >= 0) {
        cursor = { segment: c.segment as number, offset: c.offset as number };
      } else {
        opts.logger.warn({ dir: opts.dir }, 'spool: cursor file is malformed, reading every segment from the start');
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        opts.logger.warn({ dir: opts.dir, err: (err as Error).message }, 'spool: cursor file unreadable, reading every segment from the start');
      }
    }
    const segments: Segment[] = [];
    for (const id of ids) {
      const path = join(opts.dir, segmentFileName(id));
      if (id < cursor.segment) {
        await unlink(path).catch(() => {}); // fully delivered before the last stop
        continue;
      }
      const start = id === cursor.segment ? cursor.offset : 0;
      const scan = await scanSegment(path, start);
      if (start > scan.fileSize) {
        opts.logger.warn({ segment: path, cursor: start, size: scan.fileSize }, 'spool: cursor beyond end of segment, skipping it');
      }
      if (scan.problem) {
        opts.logger.warn(
          { segment: path, problem: scan.problem, validBytes: scan.validEnd, fileBytes: scan.fileSize, skippedBytes: scan.fileSize - scan.validEnd },
          'spool: bad or torn record, skipping the rest of the segment (expected after a crash during a write)',
        );
      }
      if (scan.records === 0) {
        await unlink(path).catch(() => {});
        continue;
      }
      segments.push({ id, path, fileSize: scan.fileSize, readableEnd: scan.validEnd, unread: scan.records });
    }
    if (segments.length > 0 && segments[0].id !== cursor.segment) cursor = { segment: segments[0].id, offset: 0 };
    const nextSegId = Math.max(ids.length ? ids[ids.length - 1] + 1 : 1, cursor.segment + 1);
    const spool = new Spool(opts, segments, cursor, nextSegId);
    if (spool.recovered > 0) {
      opts.logger.info({ dir: opts.dir, events: spool.recovered, segments: segments.length, bytes: spool.diskBytes }, 'spool: events waiting from an earlier run');
    }
    return spool;
  }

  /** Events held (written or being written) and not yet delivered. */
  get events(): number {
    return this.eventCount;
  }
  /** Events not yet handed out for delivery. */
  get unread(): number {
    return this.unreadCount;
  }
  /** Bytes on disk plus bytes accepted and not yet written. */
  get bytes(): number {
    return this.diskBytes + this.pendingBytes;
  }
  /** True since an append was refused for lack of room, until deliveries free space. */
  get full(): boolean {
    return this.isFull;
  }
  get pendingWriteBytes(): number {
    return this.pendingBytes;
  }
  /** Non-null when a write failed: the spool accepts nothing more (the message says why). */
  get error(): string | null {
    return this.broken;
  }
  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  /**
   * Accepts events [from, end) in order, as many as fit; returns how many were accepted (a prefix).
   * Synchronous: the events count as spooled at once, the writer puts them on disk in order.
   */
  append(items: QueueItems, from = 0, to = items.json.length): number {
    if (this.closed || this.broken) return 0;
    const chunkMax = Math.min(WRITE_CHUNK_BYTES, this.segmentMaxBytes);
    let i = from;
    while (i < to) {
      // one chunk of at most chunkMax bytes (at least one record): segments rotate between chunks
      let size = 0;
      let j = i;
      while (j < to) {
        const rs = recordSize(items.bytes[j]);
        if (j > i && size + rs > chunkMax) break;
        if (this.diskBytes + this.pendingBytes + size + rs > this.opts.maxBytes) {
          this.isFull = true;
          break;
        }
        if (this.pendingBytes + size + rs > this.maxPending && this.pendingBytes + size > 0) break;
        size += rs;
        j++;
      }
      if (j === i) break;
      const buf = encodeRecords(items.json, items.bytes, items.timeMs, i, j);
      this.pending.push({ buf, records: j - i });
      this.pendingBytes += buf.length;
      this.pendingRecords += j - i;
      this.eventCount += j - i;
      this.unreadCount += j - i;
      i = j;
    }
    if (i > from) this.kick();
    return i - from;
  }

  /**
   * Reads the next events in order, at most maxEvents and (by `cost`) maxBytes, the first one
   * always. Resolves null when nothing is left to read. Waits for pending writes if needed.
   */
  read(maxEvents: number, maxBytes: number, cost: (jsonBytes: number, timeMs: number) => number): Promise<SpoolRead | null> {
    const p = this.readChain.then(() => this.readNow(maxEvents, maxBytes, cost));
    this.readChain = p.catch(() => {});
    return p;
  }

  private async readNow(maxEvents: number, maxBytes: number, cost: (jsonBytes: number, timeMs: number) => number): Promise<SpoolRead | null> {
    if (this.closed) return null;
    this.reading = true;
    try {
      if (this.unreadCount > 0 && this.unreadCount === this.pendingRecords) await this.whenWritten();
      const out: SpoolRead = { json: [], timeMs: [], bytes: [], endSeg: [], endOff: [] };
      let sum = 0;
      while (out.json.length < maxEvents && !this.closed) {
        const seg = this.rseg;
        if (!seg) {
          if (!this.advanceSegment()) break;
          continue;
        }
        if (this.roff >= seg.readableEnd) {
          if (this.active?.seg === seg || !this.advanceSegment()) break;
          continue;
        }
        const rec = await this.recordAt(seg, this.roff);
        if (rec === null) continue; // corrupt: segment cut short, loop moves on
        const c = cost(rec.jsonBytes, rec.timeMs);
        if (out.json.length > 0 && sum + c > maxBytes) break;
        sum += c;
        out.json.push(rec.json);
        out.timeMs.push(rec.timeMs);
        out.bytes.push(rec.jsonBytes);
        out.endSeg.push(seg.id);
        out.endOff.push(rec.end);
        this.roff = rec.end;
        seg.unread--;
        this.unreadCount--;
      }
      return out.json.length > 0 ? out : null;
    } finally {
      this.reading = false;
      this.maybeRetire();
    }
  }

  /** Moves the reader to the segment after the current one; false when there is none. */
  private advanceSegment(): boolean {
    const idx = this.rseg ? this.segments.indexOf(this.rseg) : -1;
    let next: Segment | undefined;
    if (idx >= 0) next = this.segments[idx + 1];
    else next = this.segments.find((s) => !this.rseg || s.id > this.rseg.id);
    if (!next) return false;
    this.rseg = next;
    this.roff = 0;
    return true;
  }

  /** The record at `off` of `seg`, or null when it is corrupt (the segment is then cut there). */
  private async recordAt(seg: Segment, off: number): Promise<{ json: string; timeMs: number; jsonBytes: number; end: number } | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.rbufSeg === seg && off >= this.rbufStart && off < this.rbufStart + this.rbufLen) {
        const rel = off - this.rbufStart;
        const validLen = Math.min(this.rbufLen, seg.readableEnd - this.rbufStart);
        const r = parseRecord(this.rbuf, rel, validLen);
        if (r.kind === 'record') return { json: r.json, timeMs: r.timeMs, jsonBytes: r.jsonBytes, end: this.rbufStart + r.end };
        if (r.kind === 'corrupt') return this.cutSegment(seg, off, r.reason);
        if (r.need > this.rbuf.length) this.rbuf = Buffer.allocUnsafe(r.need);
      }
      await this.fill(seg, off);
    }
    const rel = off - this.rbufStart;
    const r = parseRecord(this.rbuf, rel, Math.min(this.rbufLen, seg.readableEnd - this.rbufStart));
    if (r.kind === 'record') return { json: r.json, timeMs: r.timeMs, jsonBytes: r.jsonBytes, end: this.rbufStart + r.end };
    return this.cutSegment(seg, off, r.kind === 'corrupt' ? r.reason : 'record cut short');
  }

  private async fill(seg: Segment, off: number): Promise<void> {
    if (this.rfhSeg !== seg) {
      await this.rfh?.close().catch(() => {});
      this.rfh = null;
      this.rfhSeg = null;
      this.rfh = await open(seg.path, 'r');
      this.rfhSeg = seg;
    }
    const want = Math.min(this.rbuf.length, seg.readableEnd - off);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.rfh!.read(this.rbuf, got, want - got, off + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.rbufSeg = seg;
    this.rbufStart = off;
    this.rbufLen = got;
  }

  private cutSegment(seg: Segment, off: number, reason: string): null {
    const lost = seg.unread;
    this.log.warn({ segment: seg.path, offset: off, reason, lostEvents: lost }, 'spool: corrupt record while reading, skipping the rest of the segment');
    seg.readableEnd = off;
    seg.unread = 0;
    this.unreadCount -= lost;
    this.eventCount -= lost;
    if (lost > 0) this.opts.onLost?.(lost, 'spool_corrupt');
    return null;
  }

  /**
   * Marks everything up to (segment, offset) delivered; `count` events. Acknowledge in read order.
   * Fully delivered segments are deleted, and the cursor is persisted.
   */
  ack(segment: number, offset: number, count: number): void {
    if (this.closed) return;
    this.eventCount -= count;
    this.cursor = { segment, offset };
    while (this.segments.length > 0) {
      const s = this.segments[0];
      const done = s.id < segment || (s.id === segment && offset >= s.readableEnd && s.unread === 0);
      if (!done || this.active?.seg === s) break;
      this.segments.shift();
      this.diskBytes -= s.fileSize;
      if (this.rfhSeg === s) {
        const fh = this.rfh;
        this.rfh = null;
        this.rfhSeg = null;
        void fh?.close().catch(() => {});
      }
      if (this.rbufSeg === s) this.rbufSeg = null;
      void unlink(s.path).catch((err: Error) => this.log.warn({ segment: s.path, err: err.message }, 'spool: cannot delete delivered segment'));
    }
    if (this.diskBytes + this.pendingBytes < this.opts.maxBytes) this.isFull = false;
    this.persistCursor();
    this.maybeRetire();
  }

  /** Everything appended so far is written (and fdatasynced). */
  async flush(): Promise<void> {
    if (this.dirty) this.syncDue = true;
    this.kick();
    while (this.writing) await this.writing;
  }

  /** Waits for writes, fdatasyncs, persists the cursor, closes files. Appends are refused after. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.syncTimer) clearInterval(this.syncTimer);
    await this.readChain.catch(() => {});
    if (this.active) {
      await this.active.fh.close().catch(() => {});
      this.active = null;
    }
    await this.rfh?.close().catch(() => {});
    this.rfh = null;
    while (this.cursorWrite) await this.cursorWrite;
    await this.writeCursorFile();
    for (const w of this.waiters.splice(0)) w();
  }

  // ---- writer ---------------------------------------------------------------------------------

  private kick(): void {
    if (this.writing) return;
    this.writing = this.writeLoop().finally(() => {
      this.writing = null;
      if (this.hasWriterWork()) this.kick();
    });
  }

  /** After a failed write only retiring (closing and deleting the active segment) is left to do. */
  private hasWriterWork(): boolean {
    return this.broken ? this.retireDue : this.pending.length > 0 || this.syncDue || this.retireDue;
  }

  private async writeLoop(): Promise<void> {
    while (this.hasWriterWork()) {
      const chunk = this.broken ? undefined : this.pending.shift();
      if (chunk) {
        await this.writeChunk(chunk);
        continue;
      }
      if (this.syncDue) {
        this.syncDue = false;
        if (this.active && this.dirty && !this.broken) {
          this.dirty = false;
          await this.active.fh.datasync().catch((err: Error) => this.log.warn({ err: err.message }, 'spool: fdatasync failed'));
        }
        continue;
      }
      if (this.retireDue) {
        this.retireDue = false;
        await this.retireActive();
      }
    }
    if (this.pending.length === 0) {
      for (const w of this.waiters.splice(0)) w();
      this.opts.onWritten?.();
    }
  }

  private async writeChunk(chunk: PendingChunk): Promise<void> {
    try {
      if (this.active && this.active.seg.fileSize > 0 && this.active.seg.fileSize + chunk.buf.length > this.segmentMaxBytes) await this.closeActive();
      if (!this.active) await this.openActive();
      const a = this.active!;
      let written = 0;
      while (written < chunk.buf.length) {
        const { bytesWritten } = await a.fh.write(chunk.buf, written, chunk.buf.length - written, a.seg.fileSize + written);
        written += bytesWritten;
      }
      if (this.opts.fsyncIntervalMs === 0) await a.fh.datasync();
      else this.dirty = true;
      a.seg.fileSize += chunk.buf.length;
      a.seg.readableEnd = a.seg.fileSize;
      a.seg.unread += chunk.records;
      this.diskBytes += chunk.buf.length;
    } catch (err) {
      // Disk full or I/O error: these events cannot be kept. Count them, stop spooling, say why.
      this.broken = `spool write failed: ${(err as Error).message}`;
      this.log.error({ dir: this.dir, err: (err as Error).message, lostEvents: chunk.records }, 'spool: write failed, spooling disabled until the spool has drained');
      let lost = chunk.records;
      for (const c of this.pending.splice(0)) lost += c.records;
      this.eventCount -= lost;
      this.unreadCount -= lost;
      this.pendingBytes = 0;
      this.pendingRecords = 0;
      this.opts.onLost?.(lost, 'spool_error');
      return;
    } finally {
      if (!this.broken) {
        this.pendingBytes -= chunk.buf.length;
        this.pendingRecords -= chunk.records;
      }
    }
    if (this.pending.length === 0) for (const w of this.waiters.splice(0)) w();
  }

  private async openActive(): Promise<void> {
    const id = this.nextSegId++;
    const path = join(this.dir, segmentFileName(id));
    const fh = await open(path, 'wx');
    const seg: Segment = { id, path, fileSize: 0, readableEnd: 0, unread: 0 };
    this.segments.push(seg);
    this.active = { seg, fh };
    // the new directory entry must survive a power loss too
    try {
      const d = await open(this.dir, 'r');
      await d.sync().catch(() => {});
      await d.close();
    } catch {
      /* directory fsync unsupported: nothing more to do */
    }
  }

  private async closeActive(): Promise<void> {
    const a = this.active;
    if (!a) return;
    this.active = null;
    await a.fh.datasync().catch(() => {});
    this.dirty = false;
    await a.fh.close().catch(() => {});
  }

  /** Everything delivered and nothing pending: drop the active segment so the directory empties. */
  private maybeRetire(): void {
    if (this.closed || this.reading || this.eventCount !== 0 || this.pendingRecords !== 0 || !this.active) return;
    this.retireDue = true;
    this.kick();
  }

  private async retireActive(): Promise<void> {
    const a = this.active;
    if (!a || this.eventCount !== 0 || this.pending.length > 0 || this.reading) return;
    this.active = null;
    await a.fh.close().catch(() => {});
    const i = this.segments.indexOf(a.seg);
    if (i >= 0) this.segments.splice(i, 1);
    this.diskBytes -= a.seg.fileSize;
    if (this.rseg === a.seg) {
      this.rseg = null;
      this.roff = 0;
    }
    if (this.rfhSeg === a.seg) {
      await this.rfh?.close().catch(() => {});
      this.rfh = null;
      this.rfhSeg = null;
    }
    if (this.rbufSeg === a.seg) this.rbufSeg = null;
    await unlink(a.seg.path).catch(() => {});
    if (this.diskBytes + this.pendingBytes < this.opts.maxBytes) this.isFull = false;
    if (this.broken && this.eventCount === 0) {
      // Everything held was delivered and the failed segment is gone: try the disk again, so one
      // disk-full episode does not leave later outages without a spool.
      this.log.warn({ dir: this.dir, was: this.broken }, 'spool: emptied after a write failure; spooling re-enabled');
      this.broken = null;
    }
  }

  private whenWritten(): Promise<void> {
    if (this.pendingRecords === 0 || this.broken) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  // ---- cursor ---------------------------------------------------------------------------------

  private persistCursor(): void {
    if (this.cursorWrite) {
      this.cursorDirty = true;
      return;
    }
    this.cursorWrite = (async () => {
      do {
        this.cursorDirty = false;
        await this.writeCursorFile();
      } while (this.cursorDirty && !this.closed);
    })().finally(() => {
      this.cursorWrite = null;
    });
  }

  private async writeCursorFile(): Promise<void> {
    const tmp = join(this.dir, `${CURSOR_FILE}.tmp`);
    try {
      await writeFile(tmp, JSON.stringify(this.cursor));
      await rename(tmp, join(this.dir, CURSOR_FILE));
    } catch (err) {
      this.log.warn({ dir: this.dir, err: (err as Error).message }, 'spool: cannot persist the read cursor (events may be re-sent after a restart)');
    }
  }
}
