// Durable disk spool: where events wait while the webhook is failing (or backlogged), delivered
// later in the order they were written.
//
// Layout (<dataDir>/spool/, mode 0700; files 0600):
//   0000000000000001.seg ...   append-only segment files of records (spool-segment.ts), rotated at
//                              segmentMaxBytes; a segment is deleted once every record in it has been
//                              delivered.
//   cursor.json                {"segment": id, "offset": n}: the first record NOT yet delivered
//                              (spool-cursor.ts: written durably after delivered batches, checked
//                              against the segments at open).
//
// This file is the facade and the accounting; the parts, one job each:
//   spool-writer.ts   append order, write loop, fdatasync, rotation, write failures
//   spool-reader.ts   reading in order, skipping corrupt regions
//   spool-cursor.ts   cursor persistence and open-time reconciliation
//   spool-scan.ts     reading one segment file, resynchronising after a bad record
//   spool-ledger.ts   the segments and counts the others share
//
// Guarantees:
//   - append() decides synchronously (so byte accounting and ordering are exact); the bytes are
//     written by one background writer in append order.
//   - After a restart, reading resumes at the persisted cursor: records delivered after the last
//     cursor write are delivered again (at-least-once). A cursor that disagrees with the segments
//     never deletes data: everything is kept and read again from the first segment.
//   - A torn tail (kill -9 during a write, power loss within the fsync interval) is found when the
//     spool opens, logged once and skipped; a corrupt record costs itself, not its segment; an
//     unreadable segment file is logged and skipped. Nothing crashes.
import { chmod, mkdir, unlink } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { QueueItems } from './memory-queue.js';
import { encodeRecords, recordSize } from './spool-segment.js';
import { CursorWriter, reconcileSpool, SPOOL_DIR_MODE } from './spool-cursor.js';
import { SpoolLedger, type Segment } from './spool-ledger.js';
import { SpoolReader, type ReadCost, type SpoolRead } from './spool-reader.js';
import { SpoolWriter } from './spool-writer.js';

export type { SpoolRead } from './spool-reader.js';

export const DEFAULT_SEGMENT_MAX_BYTES = 8 * 1024 * 1024;
const WRITE_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_MAX_PENDING_WRITE_BYTES = 32 * 1024 * 1024;

export interface SpoolOptions {
  /** The spool directory itself (the dispatcher passes <dataDir>/spool). */
  dir: string;
  maxBytes: number;
  fsyncIntervalMs: number;
  logger: Logger;
  segmentMaxBytes?: number;
  /** Appended bytes not yet written that append() accepts before it refuses (disk slower than intake). */
  maxPendingWriteBytes?: number;
  /**
   * Events lost inside the spool: a write error (the exact count), or a corrupt region found while
   * reading (1 per region: how many events it held cannot be known).
   */
  onLost?: (count: number, reason: 'spool_error' | 'spool_corrupt') => void;
  /** Called when pending writes have all been written (the dispatcher may append more). */
  onWritten?: () => void;
}

export class Spool {
  readonly dir: string;
  /** Events found on disk when the spool was opened. */
  readonly recovered: number;
  private readonly opts: SpoolOptions;
  private readonly segmentMaxBytes: number;
  private readonly maxPending: number;
  private readonly ledger: SpoolLedger;
  private readonly writer: SpoolWriter;
  private readonly reader: SpoolReader;
  private readonly cursor: CursorWriter;

  private constructor(opts: SpoolOptions, segments: Segment[], cursor: { segment: number; offset: number }, nextSegId: number) {
    this.opts = opts;
    this.dir = opts.dir;
    this.segmentMaxBytes = opts.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES;
    this.maxPending = opts.maxPendingWriteBytes ?? DEFAULT_MAX_PENDING_WRITE_BYTES;
    const l = (this.ledger = new SpoolLedger(opts.maxBytes));
    l.segments = segments;
    for (const s of segments) {
      l.events += s.unread;
      l.diskBytes += s.fileSize;
    }
    l.unread = l.events;
    this.recovered = l.events;
    this.cursor = new CursorWriter(opts.dir, opts.logger, cursor);
    this.writer = new SpoolWriter({
      dir: opts.dir, log: opts.logger, ledger: l, nextSegId, segmentMaxBytes: this.segmentMaxBytes, fsyncIntervalMs: opts.fsyncIntervalMs,
      onLost: opts.onLost, onWritten: opts.onWritten,
      mayRetire: () => !this.reader.reading,
      onRetired: (seg) => this.reader.forget(seg),
    });
    const first = segments[0] ?? null;
    this.reader = new SpoolReader({
      log: opts.logger, ledger: l, onLost: opts.onLost,
      activeSegment: () => this.writer.activeSegment,
      whenWritten: () => this.writer.whenWritten(),
      afterRead: () => this.writer.maybeRetire(),
    }, first, first && first.id === cursor.segment ? cursor.offset : 0);
  }

  /** Opens (creating, mode 0700) the spool directory and reconciles what an earlier run left. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    await mkdir(opts.dir, { recursive: true, mode: SPOOL_DIR_MODE });
    await chmod(opts.dir, SPOOL_DIR_MODE).catch(() => {});
    const r = await reconcileSpool(opts.dir, opts.logger);
    const spool = new Spool(opts, r.segments, r.cursor, r.nextSegId);
    if (r.rewriteCursor) await spool.cursor.write();
    if (spool.recovered > 0) {
      opts.logger.info({ dir: opts.dir, events: spool.recovered, segments: r.segments.length, bytes: spool.ledger.diskBytes }, 'spool: events waiting from an earlier run');
    }
    return spool;
  }

  /** Events held (written or being written) and not yet delivered. */
  get events(): number {
    return this.ledger.events;
  }
  /** Events not yet handed out for delivery. */
  get unread(): number {
    return this.ledger.unread;
  }
  /** Bytes on disk plus bytes accepted and not yet written. */
  get bytes(): number {
    return this.ledger.diskBytes + this.ledger.pendingBytes;
  }
  /** True since an append was refused for lack of room, until deliveries free space. */
  get full(): boolean {
    return this.ledger.full;
  }
  get pendingWriteBytes(): number {
    return this.ledger.pendingBytes;
  }
  /** Non-null when a write failed: the spool accepts nothing more (the message says why). */
  get error(): string | null {
    return this.writer.broken;
  }
  get maxBytes(): number {
    return this.opts.maxBytes;
  }
  /** Corrupt regions the reader skipped since the spool opened (each reported as one lost event). */
  get corruptRecords(): number {
    return this.ledger.corruptRegions;
  }
  /** Bytes in those regions. */
  get skippedBytes(): number {
    return this.ledger.skippedBytes;
  }

  /**
   * Bytes of records (recordSize) append() can take before the writer's pending bound, when that
   * bound is what limits it now; Infinity when it is not (then append() decides, marking the spool
   * full if need be). 0 means an append of an event of `firstJsonBytes` would take nothing now.
   */
  pendingRoom(firstJsonBytes: number): number {
    const l = this.ledger;
    const rs = recordSize(firstJsonBytes);
    if (l.closed || this.writer.broken || l.pendingBytes === 0) return Infinity;
    if (l.diskBytes + l.pendingBytes + rs > this.opts.maxBytes) return Infinity; // append() marks it full
    return Math.max(0, this.maxPending - l.pendingBytes);
  }

  /**
   * Accepts events [from, end) in order, as many as fit; returns how many were accepted (a prefix).
   * Synchronous: the events count as spooled at once, the writer puts them on disk in order.
   */
  append(items: QueueItems, from = 0, to = items.json.length): number {
    const l = this.ledger;
    if (l.closed || this.writer.broken) return 0;
    const chunkMax = Math.min(WRITE_CHUNK_BYTES, this.segmentMaxBytes);
    let i = from;
    while (i < to) {
      // one chunk of at most chunkMax bytes (at least one record): segments rotate between chunks
      let size = 0;
      let j = i;
      while (j < to) {
        const rs = recordSize(items.bytes[j]);
        if (j > i && size + rs > chunkMax) break;
        if (l.diskBytes + l.pendingBytes + size + rs > this.opts.maxBytes) {
          l.full = true;
          break;
        }
        if (l.pendingBytes + size + rs > this.maxPending && l.pendingBytes + size > 0) break;
        size += rs;
        j++;
      }
      if (j === i) break;
      const buf = encodeRecords(items.json, items.bytes, items.timeMs, i, j);
      this.writer.push(buf, j - i);
      l.pendingBytes += buf.length;
      l.pendingRecords += j - i;
      l.events += j - i;
      l.unread += j - i;
      i = j;
    }
    if (i > from) this.writer.kick();
    return i - from;
  }

  /**
   * Reads the next events in order, at most maxEvents and (by `cost`) maxBytes, the first one
   * always. Resolves null when nothing is left to read. Waits for pending writes if needed.
   */
  read(maxEvents: number, maxBytes: number, cost: ReadCost): Promise<SpoolRead | null> {
    return this.reader.read(maxEvents, maxBytes, cost);
  }

  /**
   * Marks everything up to (segment, offset) delivered; `count` events. Acknowledge in read order.
   * Fully delivered segments are deleted, and the cursor is persisted.
   */
  ack(segment: number, offset: number, count: number): void {
    const l = this.ledger;
    if (l.closed) return;
    l.events -= count;
    const active = this.writer.activeSegment;
    while (l.segments.length > 0) {
      const s = l.segments[0];
      const done = s.id < segment || (s.id === segment && offset >= s.readableEnd && s.unread === 0);
      if (!done || active === s) break;
      l.segments.shift();
      l.diskBytes -= s.fileSize;
      void this.reader.forget(s);
      void unlink(s.path).catch((err: Error) => this.opts.logger.warn({ segment: s.path, err: err.message }, 'spool: cannot delete delivered segment'));
    }
    l.roomFreed();
    this.cursor.set({ segment, offset });
    this.writer.maybeRetire();
  }

  /** Everything appended so far is written (and fdatasynced). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Waits for writes, fdatasyncs, persists the cursor, closes files. Appends are refused after. */
  async close(): Promise<void> {
    if (this.ledger.closed) return;
    await this.writer.flush();
    this.ledger.closed = true;
    await this.writer.close();
    await this.reader.close();
    await this.cursor.close();
  }
}
