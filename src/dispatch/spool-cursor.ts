// The read cursor: where delivery resumes after a restart, how it is persisted, and how it is checked
// against the segments when the spool opens.
//
// cursor.json is {"segment": id, "offset": n}: the first record NOT yet delivered. It is written as
// cursor.json.tmp (mode 0600), fsynced, renamed over cursor.json, and the directory is fsynced, so
// after a power loss it is the old cursor or the new one, never a torn file. At most one write is in
// flight; acknowledgements that come meanwhile are folded into the next write.
//
// Open-time reconciliation never deletes unread data:
//   - the cursor is consistent when its segment exists (and its offset is the start or the end of a
//     valid record of it) or, its segment being gone, a segment with a higher id exists. Then the
//     segments with a lower id were delivered and are deleted, and reading resumes at the cursor;
//   - otherwise (beyond the last segment, offset beyond the segment or inside a record, malformed or
//     unreadable file) a warning says so, every segment is kept and reading starts at the first one:
//     duplicates rather than loss. The corrected cursor is written at once, so that a crash before
//     the first acknowledgement cannot make the next start judge the old cursor against new segments.
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { fsyncDir } from '../fs-atomic.js';
import { parseSegmentFileName, segmentFileName } from './spool-segment.js';
import { scanSegment, type SegmentScan } from './spool-scan.js';
import type { Segment } from './spool-ledger.js';

export const CURSOR_FILE = 'cursor.json';
/** Mode of every file the spool creates (segments, cursor). */
export const SPOOL_FILE_MODE = 0o600;
export const SPOOL_DIR_MODE = 0o700;

export interface Cursor {
  segment: number;
  offset: number;
}

export type CursorFile = { kind: 'absent' } | { kind: 'ok'; cursor: Cursor } | { kind: 'bad'; problem: string };

/** Segment ids in the directory, ascending. */
export async function listSegmentIds(dir: string): Promise<number[]> {
  return (await readdir(dir)).map(parseSegmentFileName).filter((x): x is number => x !== null).sort((a, b) => a - b);
}

export async function readCursorFile(dir: string): Promise<CursorFile> {
  let text: string;
  try {
    text = await readFile(join(dir, CURSOR_FILE), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { kind: 'absent' } : { kind: 'bad', problem: `cursor file unreadable (${code ?? (err as Error).message})` };
  }
  try {
    const c = JSON.parse(text) as { segment?: unknown; offset?: unknown };
    if (Number.isSafeInteger(c.segment) && Number.isSafeInteger(c.offset) && (c.offset as number) >= 0) {
      return { kind: 'ok', cursor: { segment: c.segment as number, offset: c.offset as number } };
    }
  } catch {
    /* reported below */
  }
  return { kind: 'bad', problem: `cursor file malformed (${JSON.stringify(text.slice(0, 80))})` };
}

/** What the scan of the cursor's own segment says about the cursor offset. */
export interface CursorSegmentFacts {
  fileSize: number;
  /** The offset is 0 or the end of a valid record. */
  onBoundary: boolean;
}

/** Why the cursor disagrees with the segments, or null when it is consistent. */
export function cursorProblem(cursor: Cursor, ids: readonly number[], own: CursorSegmentFacts | null): string | null {
  if (ids.length === 0) return null;
  if (own) {
    if (cursor.offset > own.fileSize) return `cursor offset ${cursor.offset} is beyond the end of segment ${cursor.segment} (${own.fileSize} bytes)`;
    if (!own.onBoundary) return `cursor offset ${cursor.offset} is not at a record boundary of segment ${cursor.segment}`;
    return null;
  }
  if (ids.some((id) => id > cursor.segment)) return null;
  return `cursor points at segment ${cursor.segment}, beyond the last segment ${ids[ids.length - 1]}`;
}

/** Scans a segment and notes whether `offset` is a record boundary and how many records start at or after it. */
export async function scanFrom(path: string, offset: number): Promise<{ scan: SegmentScan; onBoundary: boolean; after: number }> {
  let onBoundary = offset === 0;
  let after = 0;
  const scan = await scanSegment(path, 0, undefined, (start, end) => {
    if (end === offset) onBoundary = true;
    if (start >= offset) after++;
  });
  return { scan, onBoundary, after };
}

export interface Reconciled {
  segments: Segment[];
  cursor: Cursor;
  nextSegId: number;
  /** The cursor file was bad or inconsistent: write the corrected one now. */
  rewriteCursor: boolean;
}

/** Opens what an earlier run left: checks the cursor, deletes delivered segments, counts the rest. */
export async function reconcileSpool(dir: string, log: Logger): Promise<Reconciled> {
  const ids = await listSegmentIds(dir);
  const file = await readCursorFile(dir);
  let cursor: Cursor | null = file.kind === 'ok' ? file.cursor : null;
  let own: Awaited<ReturnType<typeof scanFrom>> | null = null;
  if (cursor && ids.includes(cursor.segment)) {
    own = await scanFrom(join(dir, segmentFileName(cursor.segment)), cursor.offset).catch(() => null);
  }
  const problem = file.kind === 'bad' ? file.problem
    : cursor ? cursorProblem(cursor, ids, own ? { fileSize: own.scan.fileSize, onBoundary: own.onBoundary } : null) : null;
  if (problem && ids.length > 0) {
    log.warn({ dir, problem, segments: ids.length }, 'spool: the read cursor disagrees with the segments; keeping every segment and reading from the first (events may be delivered twice)');
  }
  if (problem) cursor = null;
  const segments: Segment[] = [];
  for (const id of ids) {
    const path = join(dir, segmentFileName(id));
    if (cursor && id < cursor.segment) {
      await unlink(path).catch(() => {}); // fully delivered before the last stop
      continue;
    }
    const start = cursor && id === cursor.segment ? cursor.offset : 0;
    let scanned: { scan: SegmentScan; after: number };
    try {
      scanned = own && id === cursor?.segment ? own : await scanFrom(path, start);
    } catch (err) {
      log.error({ segment: path, err: (err as Error).message }, 'spool: segment file unreadable, skipping it (left on disk)');
      continue;
    }
    const { scan, after } = scanned;
    if (scan.tornTail) {
      log.warn({ segment: path, problem: scan.problem, validBytes: scan.validEnd, fileBytes: scan.fileSize, skippedBytes: scan.tornTail.bytes },
        'spool: torn record at the end of a segment, skipping it (expected after a crash during a write)');
    }
    if (scan.corrupt.length > 0) {
      log.warn({ segment: path, regions: scan.corrupt }, 'spool: corrupt records in the middle of a segment; they will be skipped when read');
    }
    if (after === 0) {
      await unlink(path).catch(() => {});
      continue;
    }
    segments.push({ id, path, fileSize: scan.fileSize, readableEnd: scan.validEnd, unread: after });
  }
  const last = ids.length ? ids[ids.length - 1] + 1 : 1;
  const nextSegId = cursor ? Math.max(last, cursor.segment + 1) : last;
  const first = segments[0];
  if (!cursor || (first && first.id !== cursor.segment)) cursor = { segment: first?.id ?? nextSegId, offset: 0 };
  return { segments, cursor, nextSegId, rewriteCursor: problem !== null };
}

/** Persists the cursor: coalesced (one write in flight), durable (tmp, fsync, rename, fsync dir). */
export class CursorWriter {
  private inFlight: Promise<void> | null = null;
  private dirty = false;
  private stopped = false;

  constructor(private readonly dir: string, private readonly log: Logger, private cursor: Cursor) {}

  get current(): Cursor {
    return this.cursor;
  }

  set(cursor: Cursor): void {
    this.cursor = cursor;
    if (this.stopped) return;
    if (this.inFlight) {
      this.dirty = true;
      return;
    }
    this.inFlight = (async () => {
      do {
        this.dirty = false;
        await this.write();
      } while (this.dirty && !this.stopped);
    })().finally(() => {
      this.inFlight = null;
    });
  }

  /** Waits for a write in flight, then writes the latest cursor once more. */
  async close(): Promise<void> {
    this.stopped = true;
    while (this.inFlight) await this.inFlight;
    await this.write();
  }

  async write(): Promise<void> {
    const tmp = join(this.dir, `${CURSOR_FILE}.tmp`);
    try {
      const fh = await open(tmp, 'w', SPOOL_FILE_MODE);
      try {
        await fh.writeFile(JSON.stringify(this.cursor));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(this.dir, CURSOR_FILE));
      await fsyncDir(this.dir);
    } catch (err) {
      this.log.warn({ dir: this.dir, err: (err as Error).message }, 'spool: cannot persist the read cursor (events may be re-sent after a restart)');
    }
  }
}
