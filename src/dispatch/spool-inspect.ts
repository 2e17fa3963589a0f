// What a spool directory holds, read-only (`s3-audit-proxy spool inspect`): the cursor and whether it
// agrees with the segments, each segment's records and event times, what is still to deliver, and
// every corrupt region and torn tail. Opens nothing for writing and takes no lock, so it can look at
// the spool of a running proxy (the active segment may then end in a record being written).
import { join } from 'node:path';
import { cursorProblem, listSegmentIds, readCursorFile, type Cursor } from './spool-cursor.js';
import { scanSegment, type SkippedRegion } from './spool-scan.js';
import { segmentFileName } from './spool-segment.js';

export interface SegmentReport {
  id: number;
  file: string;
  bytes: number;
  records: number;
  firstEventTime: string | null;
  lastEventTime: string | null;
  /** Records not yet delivered by the cursor (all of them when the cursor is not trusted), and their bytes. */
  unread: number;
  unreadBytes: number;
  corrupt: SkippedRegion[];
  tornTail: SkippedRegion | null;
  /** The file could not be read. */
  error: string | null;
}

export interface SpoolReport {
  dir: string;
  cursor: { found: 'absent' | 'ok' | 'bad'; segment: number | null; offset: number | null; consistent: boolean; problem: string | null };
  segments: SegmentReport[];
  unreadEvents: number;
  /** Bytes of the unread records. */
  unreadBytes: number;
  corruptRegions: Array<SkippedRegion & { segment: number }>;
  tornTails: Array<SkippedRegion & { segment: number }>;
  /** Nothing corrupt, torn, unreadable or inconsistent. */
  intact: boolean;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** A segment scanned: the report, plus what lies at or after the cursor offset. */
interface Scanned {
  rep: SegmentReport;
  recordBytes: number;
  after: number;
  afterBytes: number;
  cursorOnBoundary: boolean;
}

async function scanForReport(id: number, path: string, cursor: Cursor | null): Promise<Scanned> {
  const rep: SegmentReport = {
    id, file: path, bytes: 0, records: 0, firstEventTime: null, lastEventTime: null, unread: 0, unreadBytes: 0, corrupt: [], tornTail: null, error: null,
  };
  const from = cursor && id === cursor.segment ? cursor.offset : 0;
  const out: Scanned = { rep, recordBytes: 0, after: 0, afterBytes: 0, cursorOnBoundary: from === 0 };
  let first: number | null = null;
  let last: number | null = null;
  try {
    const scan = await scanSegment(path, 0, undefined, (start, end, timeMs) => {
      first ??= timeMs;
      last = timeMs;
      out.recordBytes += end - start;
      if (end === from) out.cursorOnBoundary = true;
      if (start >= from) {
        out.after++;
        out.afterBytes += end - start;
      }
    });
    Object.assign(rep, { bytes: scan.fileSize, records: scan.records, corrupt: scan.corrupt, tornTail: scan.tornTail, firstEventTime: iso(first), lastEventTime: iso(last) });
  } catch (err) {
    rep.error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
  return out;
}

/** Inspects the spool directory `dir` (<dataDir>/spool). A missing directory is an empty spool. */
export async function inspectSpool(dir: string): Promise<SpoolReport> {
  const ids = await listSegmentIds(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const file = await readCursorFile(dir);
  const cursor: Cursor | null = file.kind === 'ok' ? file.cursor : null;
  const scanned: Scanned[] = [];
  for (const id of ids) scanned.push(await scanForReport(id, join(dir, segmentFileName(id)), cursor));
  const own = cursor ? scanned.find((s) => s.rep.id === cursor.segment && s.rep.error === null) : undefined;
  const problem = file.kind === 'bad' ? file.problem
    : cursor ? cursorProblem(cursor, ids, own ? { fileSize: own.rep.bytes, onBoundary: own.cursorOnBoundary } : null) : null;
  const trusted = problem === null ? cursor : null;
  for (const s of scanned) {
    // What the proxy will deliver: nothing before a trusted cursor (deleted at its next start), from
    // the cursor on in its segment, everything else (everything, when the cursor is not trusted).
    const before = trusted !== null && s.rep.id < trusted.segment;
    const inCursorSeg = trusted !== null && s.rep.id === trusted.segment;
    s.rep.unread = before ? 0 : inCursorSeg ? s.after : s.rep.records;
    s.rep.unreadBytes = before ? 0 : inCursorSeg ? s.afterBytes : s.recordBytes;
  }
  const segments = scanned.map((s) => s.rep);
  const corruptRegions = segments.flatMap((s) => s.corrupt.map((r) => ({ segment: s.id, ...r })));
  const tornTails = segments.flatMap((s) => (s.tornTail ? [{ segment: s.id, ...s.tornTail }] : []));
  return {
    dir,
    cursor: { found: file.kind, segment: cursor?.segment ?? null, offset: cursor?.offset ?? null, consistent: problem === null, problem },
    segments,
    unreadEvents: segments.reduce((n, s) => n + s.unread, 0),
    unreadBytes: segments.reduce((n, s) => n + s.unreadBytes, 0),
    corruptRegions,
    tornTails,
    intact: problem === null && corruptRegions.length === 0 && tornTails.length === 0 && segments.every((s) => s.error === null),
  };
}
