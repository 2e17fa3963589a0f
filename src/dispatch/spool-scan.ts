// Reading records out of one segment file, and getting past bad ones.
//
// `SegmentFileReader` reads the record at an offset through one reusable buffer (grown for a record
// larger than it). When the record there is bad (length out of range, cut short, CRC mismatch),
// `resync` looks for the next offset where a plausible record starts: a length in range that fits
// before the readable end, an f64 event time between 2000 and 2200 (epoch ms), and a matching CRC.
// A random match of all three is about 2^-32 per candidate after the first two filters, so a bad
// region costs the records in it, not the rest of the segment.
//
// `scanSegment` walks a whole file that way (open-time accounting, `spool inspect`); the spool's
// reader (spool-reader.ts) uses the same reader while delivering.
import { open, type FileHandle } from 'node:fs/promises';
import { MAX_PAYLOAD_BYTES, MIN_PAYLOAD_BYTES, parseRecord, plausibleRecordTime, RECORD_HEADER_BYTES, type ParsedRecord } from './spool-segment.js';

const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** Header plus the f64 time: what resync needs in the buffer to judge a candidate offset. */
const PROBE_BYTES = RECORD_HEADER_BYTES + 8;

export type RecordAt = Extract<ParsedRecord, { kind: 'record' }> | { kind: 'corrupt'; reason: string };

export class SegmentFileReader {
  private buf: Buffer;
  private bufStart = 0;
  private bufLen = 0;

  constructor(private readonly fh: FileHandle, chunkBytes = DEFAULT_CHUNK_BYTES) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** The record at `off` (bytes valid up to `end`); `end` in the result is a file offset. */
  async recordAt(off: number, end: number, decode = true): Promise<RecordAt> {
    if (off < this.bufStart || off + RECORD_HEADER_BYTES > this.bufStart + this.bufLen) await this.fill(off, end, RECORD_HEADER_BYTES);
    let r = this.parse(off, end, decode);
    if (r.kind === 'incomplete') {
      if (off + r.need > end) return { kind: 'corrupt', reason: `record cut short (${r.need} bytes needed, ${end - off} left)` };
      await this.fill(off, end, r.need);
      r = this.parse(off, end, decode);
      if (r.kind === 'incomplete') return { kind: 'corrupt', reason: 'record cut short (file shorter than expected)' };
    }
    if (r.kind === 'record') return { ...r, end: this.bufStart + r.end };
    return r;
  }

  /**
   * recordAt() without waiting, for the reader's loop: the record at `off` when it is whole in the
   * buffer already and valid; otherwise null, and recordAt() reads (or reports the corrupt record).
   * An await per record was a third of a drain's wall time. (Handing out views of the buffer instead
   * of decoded text, with a fresh buffer per read, cost more: page faults on every new buffer.)
   */
  recordNow(off: number, end: number): Extract<ParsedRecord, { kind: 'record' }> | null {
    if (off < this.bufStart || off + RECORD_HEADER_BYTES > this.bufStart + this.bufLen) return null;
    const r = this.parse(off, end, true);
    if (r.kind !== 'record') return null;
    r.end += this.bufStart;
    return r;
  }

  /** First offset in [from, end) where a plausible, CRC-valid record starts; `end` when none does. */
  async resync(from: number, end: number): Promise<number> {
    for (let q = from; q + RECORD_HEADER_BYTES + MIN_PAYLOAD_BYTES <= end; q++) {
      if (q < this.bufStart || q + PROBE_BYTES > this.bufStart + this.bufLen) {
        await this.fill(q, end, PROBE_BYTES);
        if (q + PROBE_BYTES > this.bufStart + this.bufLen) break;
      }
      const rel = q - this.bufStart;
      const len = this.buf.readUInt32LE(rel);
      if (len < MIN_PAYLOAD_BYTES || len > MAX_PAYLOAD_BYTES || q + RECORD_HEADER_BYTES + len > end) continue;
      if (!plausibleRecordTime(this.buf.readDoubleLE(rel + RECORD_HEADER_BYTES))) continue;
      if ((await this.recordAt(q, end, false)).kind === 'record') return q;
    }
    return end;
  }

  private parse(off: number, end: number, decode: boolean): ParsedRecord {
    return parseRecord(this.buf, off - this.bufStart, Math.min(this.bufLen, end - this.bufStart), decode);
  }

  /** Reads from `off` (at least `need` bytes when the file has them), growing the buffer if needed. */
  private async fill(off: number, end: number, need: number): Promise<void> {
    if (need > this.buf.length) this.buf = Buffer.allocUnsafe(need);
    const want = Math.max(0, Math.min(this.buf.length, end - off));
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(this.buf, got, want - got, off + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.bufStart = off;
    this.bufLen = got;
  }
}

/** A stretch of a segment that held no readable record. */
export interface SkippedRegion {
  offset: number;
  bytes: number;
}

export interface SegmentScan {
  /** Valid records from `startOffset` on. */
  records: number;
  /** Offset just after the last valid record: the readable end of the segment. */
  validEnd: number;
  /** Size of the file on disk. */
  fileSize: number;
  /** Why the file is not clean (first corrupt region or torn tail), or null. */
  problem: string | null;
  /** Bad regions followed by a valid record (data was lost in the middle of the segment). */
  corrupt: SkippedRegion[];
  /** Bytes after the last valid record that hold no record (a write cut short by a crash), or null. */
  tornTail: SkippedRegion | null;
}

/**
 * Walks a segment from `startOffset` (a record boundary), checking every record's length and CRC and
 * resynchronising after a bad one. Never throws on bad data (only when the file cannot be read).
 * `onRecord` sees every valid record: its start, its end and its event time.
 */
export async function scanSegment(
  path: string, startOffset = 0, chunkBytes = DEFAULT_CHUNK_BYTES,
  onRecord?: (start: number, end: number, timeMs: number) => void,
): Promise<SegmentScan> {
  const fh = await open(path, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const rf = new SegmentFileReader(fh, chunkBytes);
    const out: SegmentScan = { records: 0, validEnd: Math.min(startOffset, fileSize), fileSize, problem: null, corrupt: [], tornTail: null };
    let pos = out.validEnd;
    while (pos < fileSize) {
      const r = await rf.recordAt(pos, fileSize, false);
      if (r.kind === 'record') {
        onRecord?.(pos, r.end, r.timeMs);
        out.records++;
        pos = out.validEnd = r.end;
        continue;
      }
      const next = await rf.resync(pos + 1, fileSize);
      const region = { offset: pos, bytes: next - pos };
      if (next >= fileSize) {
        out.tornTail = region;
        out.problem ??= `torn record at offset ${pos} (${region.bytes} bytes cut short: ${r.reason})`;
        break;
      }
      out.corrupt.push(region);
      out.problem ??= `${r.reason} at offset ${pos}`;
      pos = next;
    }
    return out;
  } finally {
    await fh.close();
  }
}
