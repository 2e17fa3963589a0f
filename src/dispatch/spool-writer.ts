// The spool's writer: takes encoded chunks in append order and puts them on disk, one at a time.
//
// With fsyncIntervalMs = 0 every write is followed by fdatasync before the next; otherwise the writer
// fdatasyncs at most that often. Segments rotate at segmentMaxBytes (a new file, mode 0600, and an
// fsync of the directory so its entry survives a power loss). A process never appends to a segment
// left by an earlier run. A failed write (disk full, I/O error) loses the chunk and everything
// pending (reported through onLost) and disables spooling until the spool has drained.
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { fsyncDir } from '../fs-atomic.js';
import { segmentFileName } from './spool-segment.js';
import { SPOOL_FILE_MODE } from './spool-cursor.js';
import type { Segment, SpoolLedger } from './spool-ledger.js';

interface PendingChunk {
  buf: Buffer;
  records: number;
}

export interface SpoolWriterOptions {
  dir: string;
  log: Logger;
  ledger: SpoolLedger;
  nextSegId: number;
  segmentMaxBytes: number;
  fsyncIntervalMs: number;
  onLost?: (count: number, reason: 'spool_error') => void;
  /** Called when pending writes have all been written. */
  onWritten?: () => void;
  /** False while the active segment must stay (a read is going on). */
  mayRetire: () => boolean;
  /** The active segment was deleted (everything delivered): readers let go of it. */
  onRetired: (seg: Segment) => Promise<void>;
}

export class SpoolWriter {
  private readonly o: SpoolWriterOptions;
  private readonly ledger: SpoolLedger;
  private nextSegId: number;
  private pending: PendingChunk[] = [];
  private writing: Promise<void> | null = null;
  private active: { seg: Segment; fh: FileHandle } | null = null;
  private syncDue = false;
  private dirty = false;
  private retireDue = false;
  private syncTimer: NodeJS.Timeout | null = null;
  /** Non-null after a failed write: why. */
  broken: string | null = null;
  private waiters: (() => void)[] = [];

  constructor(o: SpoolWriterOptions) {
    this.o = o;
    this.ledger = o.ledger;
    this.nextSegId = o.nextSegId;
    if (o.fsyncIntervalMs > 0) {
      this.syncTimer = setInterval(() => {
        if (this.dirty) {
          this.syncDue = true;
          this.kick();
        }
      }, o.fsyncIntervalMs);
      this.syncTimer.unref();
    }
  }

  /** The segment being written, if any: readers stop at its readable end instead of moving on. */
  get activeSegment(): Segment | null {
    return this.active?.seg ?? null;
  }

  /** Queues an encoded chunk of `records` records (the caller counted it in the ledger). */
  push(buf: Buffer, records: number): void {
    this.pending.push({ buf, records });
  }

  kick(): void {
    if (this.writing) return;
    this.writing = this.writeLoop().finally(() => {
      this.writing = null;
      if (this.hasWork()) this.kick();
    });
  }

  /** Everything queued so far is written (and fdatasynced). */
  async flush(): Promise<void> {
    if (this.dirty) this.syncDue = true;
    this.kick();
    while (this.writing) await this.writing;
  }

  /** Resolves once nothing is pending (or writing failed). */
  whenWritten(): Promise<void> {
    if (this.ledger.pendingRecords === 0 || this.broken) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Everything delivered and nothing pending: drop the active segment so the directory empties. */
  maybeRetire(): void {
    const l = this.ledger;
    if (l.closed || !this.o.mayRetire() || l.events !== 0 || l.pendingRecords !== 0 || !this.active) return;
    this.retireDue = true;
    this.kick();
  }

  async close(): Promise<void> {
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.active) {
      await this.active.fh.close().catch(() => {});
      this.active = null;
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** After a failed write only retiring (closing and deleting the active segment) is left to do. */
  private hasWork(): boolean {
    return this.broken ? this.retireDue : this.pending.length > 0 || this.syncDue || this.retireDue;
  }

  private async writeLoop(): Promise<void> {
    while (this.hasWork()) {
      const chunk = this.broken ? undefined : this.pending.shift();
      if (chunk) {
        await this.writeChunk(chunk);
        continue;
      }
      if (this.syncDue) {
        this.syncDue = false;
        if (this.active && this.dirty && !this.broken) {
          this.dirty = false;
          await this.active.fh.datasync().catch((err: Error) => this.o.log.warn({ err: err.message }, 'spool: fdatasync failed'));
        }
        continue;
      }
      if (this.retireDue) {
        this.retireDue = false;
        await this.retireActive();
      }
    }
    if (this.pending.length === 0) {
      this.wake();
      this.o.onWritten?.();
    }
  }

  private async writeChunk(chunk: PendingChunk): Promise<void> {
    const l = this.ledger;
    try {
      if (this.active && this.active.seg.fileSize > 0 && this.active.seg.fileSize + chunk.buf.length > this.o.segmentMaxBytes) await this.closeActive();
      if (!this.active) await this.openActive();
      const a = this.active!;
      let written = 0;
      while (written < chunk.buf.length) {
        const { bytesWritten } = await a.fh.write(chunk.buf, written, chunk.buf.length - written, a.seg.fileSize + written);
        written += bytesWritten;
      }
      if (this.o.fsyncIntervalMs === 0) await a.fh.datasync();
      else this.dirty = true;
      a.seg.fileSize += chunk.buf.length;
      a.seg.readableEnd = a.seg.fileSize;
      a.seg.unread += chunk.records;
      l.diskBytes += chunk.buf.length;
    } catch (err) {
      // Disk full or I/O error: these events cannot be kept. Count them, stop spooling, say why.
      this.broken = `spool write failed: ${(err as Error).message}`;
      this.o.log.error({ dir: this.o.dir, err: (err as Error).message, lostEvents: chunk.records }, 'spool: write failed, spooling disabled until the spool has drained');
      let lost = chunk.records;
      for (const c of this.pending.splice(0)) lost += c.records;
      l.forget(lost);
      l.pendingBytes = 0;
      l.pendingRecords = 0;
      this.o.onLost?.(lost, 'spool_error');
      return;
    } finally {
      if (!this.broken) {
        l.pendingBytes -= chunk.buf.length;
        l.pendingRecords -= chunk.records;
      }
    }
    if (this.pending.length === 0) this.wake();
  }

  private async openActive(): Promise<void> {
    const id = this.nextSegId++;
    const path = join(this.o.dir, segmentFileName(id));
    const fh = await open(path, 'wx', SPOOL_FILE_MODE);
    const seg: Segment = { id, path, fileSize: 0, readableEnd: 0, unread: 0 };
    this.ledger.segments.push(seg);
    this.active = { seg, fh };
    await fsyncDir(this.o.dir); // the new directory entry must survive a power loss too
  }

  private async closeActive(): Promise<void> {
    const a = this.active;
    if (!a) return;
    this.active = null;
    await a.fh.datasync().catch(() => {});
    this.dirty = false;
    await a.fh.close().catch(() => {});
  }

  private async retireActive(): Promise<void> {
    const a = this.active;
    const l = this.ledger;
    if (!a || l.events !== 0 || this.pending.length > 0 || !this.o.mayRetire()) return;
    this.active = null;
    await a.fh.close().catch(() => {});
    const i = l.segments.indexOf(a.seg);
    if (i >= 0) l.segments.splice(i, 1);
    l.diskBytes -= a.seg.fileSize;
    await this.o.onRetired(a.seg);
    await unlink(a.seg.path).catch(() => {});
    l.roomFreed();
    if (this.broken && l.events === 0) {
      // Everything held was delivered and the failed segment is gone: try the disk again, so one
      // disk-full episode does not leave later outages without a spool.
      this.o.log.warn({ dir: this.o.dir, was: this.broken }, 'spool: emptied after a write failure; spooling re-enabled');
      this.broken = null;
    }
  }
}
