// The spool's reader: hands out records in order, segment after segment, and gets past bad ones.
//
// A bad record in the middle of a segment (bit rot, a stray write) does not cost the rest of the
// segment: the reader resynchronises at the next plausible record (spool-scan.ts), counts one corrupt
// region and its bytes, and reports onLost(1, 'spool_corrupt') per region. How many events a region
// held cannot be known (its lengths are not trustworthy), so one region counts as one lost event;
// the spool's own counts are corrected when the reader leaves the segment (records it expected there
// and did not find leave `events` and `unread`).
import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { QueueItems } from './memory-queue.js';
import { SegmentFileReader } from './spool-scan.js';
import type { Segment, SpoolLedger } from './spool-ledger.js';

/** Events read from the spool, with the position just after each (for acknowledgements). */
export interface SpoolRead extends QueueItems {
  endSeg: number[];
  endOff: number[];
}

export type ReadCost = (jsonBytes: number, timeMs: number) => number;

export interface SpoolReaderOptions {
  log: Logger;
  ledger: SpoolLedger;
  /** The writer's segment: the reader waits at its readable end instead of moving on. */
  activeSegment: () => Segment | null;
  /** Resolves once pending writes are on disk. */
  whenWritten: () => Promise<void>;
  onLost?: (count: number, reason: 'spool_corrupt') => void;
  /** After each read (the writer may retire its segment). */
  afterRead: () => void;
}

export class SpoolReader {
  private readonly o: SpoolReaderOptions;
  private readonly ledger: SpoolLedger;
  private seg: Segment | null;
  private off: number;
  private file: { seg: Segment; fh: FileHandle; rf: SegmentFileReader } | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  /** True while a read is going on. */
  reading = false;

  constructor(o: SpoolReaderOptions, start: Segment | null, offset: number) {
    this.o = o;
    this.ledger = o.ledger;
    this.seg = start;
    this.off = start ? offset : 0;
  }

  /** Reads are serialised: each starts after the previous one ended. */
  read(maxEvents: number, maxBytes: number, cost: ReadCost): Promise<SpoolRead | null> {
    const p = this.chain.then(() => this.readNow(maxEvents, maxBytes, cost));
    this.chain = p.catch(() => {});
    return p;
  }

  /** The segment is gone (delivered or retired): close its file, move on if the reader was there. */
  async forget(seg: Segment): Promise<void> {
    if (this.seg === seg) {
      this.seg = null;
      this.off = 0;
    }
    if (this.file?.seg === seg) {
      const fh = this.file.fh;
      this.file = null;
      await fh.close().catch(() => {});
    }
  }

  /** Waits for a read in flight and closes the file. */
  async close(): Promise<void> {
    await this.chain.catch(() => {});
    await this.file?.fh.close().catch(() => {});
    this.file = null;
  }

  private async readNow(maxEvents: number, maxBytes: number, cost: ReadCost): Promise<SpoolRead | null> {
    const l = this.ledger;
    if (l.closed) return null;
    this.reading = true;
    try {
      if (l.unread > 0 && l.unread === l.pendingRecords) await this.o.whenWritten();
      const out: SpoolRead = { json: [], timeMs: [], bytes: [], endSeg: [], endOff: [] };
      let sum = 0;
      while (out.json.length < maxEvents && !l.closed) {
        const seg = this.seg;
        if (!seg) {
          if (!this.advance()) break;
          continue;
        }
        if (this.off >= seg.readableEnd) {
          this.settle(seg);
          if (this.o.activeSegment() === seg || !this.advance()) break;
          continue;
        }
        const rf = this.file?.seg === seg ? this.file.rf : await this.fileFor(seg);
        const rec = rf.recordNow(this.off, seg.readableEnd) ?? await rf.recordAt(this.off, seg.readableEnd);
        if (rec.kind === 'corrupt') {
          await this.skipCorrupt(seg, rf, rec.reason);
          continue;
        }
        const c = cost(rec.jsonBytes, rec.timeMs);
        if (out.json.length > 0 && sum + c > maxBytes) break;
        sum += c;
        out.json.push(rec.json);
        out.timeMs.push(rec.timeMs);
        out.bytes.push(rec.jsonBytes);
        out.endSeg.push(seg.id);
        out.endOff.push(rec.end);
        this.off = rec.end;
        if (seg.unread > 0) {
          seg.unread--;
          l.unread--;
        }
      }
      return out.json.length > 0 ? out : null;
    } finally {
      this.reading = false;
      this.o.afterRead();
    }
  }

  /** Moves to the segment after the current one; false when there is none. */
  private advance(): boolean {
    const segs = this.ledger.segments;
    const cur = this.seg;
    const idx = cur ? segs.indexOf(cur) : -1;
    const next = idx >= 0 ? segs[idx + 1] : segs.find((s) => !cur || s.id > cur.id);
    if (!next) return false;
    this.seg = next;
    this.off = 0;
    return true;
  }

  /**
   * At the readable end of a segment every record written to it has been seen (the writer counts a
   * chunk's records and moves the end in one step): records still counted were in corrupt regions.
   */
  private settle(seg: Segment): void {
    if (seg.unread === 0) return;
    this.ledger.forget(seg.unread);
    seg.unread = 0;
  }

  private async fileFor(seg: Segment): Promise<SegmentFileReader> {
    if (this.file?.seg === seg) return this.file.rf;
    await this.file?.fh.close().catch(() => {});
    this.file = null;
    const fh = await open(seg.path, 'r');
    this.file = { seg, fh, rf: new SegmentFileReader(fh) };
    return this.file.rf;
  }

  private async skipCorrupt(seg: Segment, rf: SegmentFileReader, reason: string): Promise<void> {
    const from = this.off;
    const next = await rf.resync(from + 1, seg.readableEnd);
    const l = this.ledger;
    l.corruptRegions++;
    l.skippedBytes += next - from;
    this.o.log.warn({ segment: seg.path, offset: from, skippedBytes: next - from, reason, resumedAt: next < seg.readableEnd ? next : null },
      'spool: corrupt record while reading, skipped to the next valid record (the events in it are lost)');
    this.off = next;
    this.o.onLost?.(1, 'spool_corrupt');
  }
}
