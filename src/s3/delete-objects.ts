// DeleteObjects (POST /bucket?delete): the keys asked for, and the per-key outcome in the reply, both
// read incrementally while the bodies stream on unchanged (XmlStreamScanner): no copy of either body
// is kept and no byte limit applies, so padding (comments, whitespace, long keys) hides nothing.
// Never throws.
import { AwsChunkedDecoder } from './aws-chunked.js';
import { XmlStreamScanner, type XmlStreamSink } from './xml-stream.js';

/** S3 refuses a DeleteObjects request listing more than this many objects (MalformedXML). */
export const MAX_DELETE_OBJECTS = 1000;

export interface DeleteObjectsKey { key: string; versionId: string | null }

export interface DeleteObjectOutcome {
  result: 'deleted' | 'error';
  errorCode: string | null;
}

export interface DeleteObjectsEntryResult extends DeleteObjectsKey {
  result: 'deleted' | 'error' | 'unknown';
  errorCode: string | null;
}

/** Where held entries are accounted (a process-wide memory bound); null = unbounded. */
export interface MemoryReserve {
  /** Reserve `bytes`; false when the bound would be passed (the entry is then not kept). */
  reserve(bytes: number): boolean;
}

/** Map key for one (key, versionId) pair: key + NUL + versionId-or-empty. */
export function deleteEntryId(key: string, versionId: string | null): string {
  return `${key}\u0000${versionId ?? ''}`;
}

/** Rough bytes an entry holds in memory (strings are UTF-16). */
function entryCost(key: string, versionId: string | null): number {
  return 96 + 2 * (key.length + (versionId?.length ?? 0));
}

function orNull(s: string | null): string | null {
  return s === null || s.length === 0 ? null : s;
}

/** Reads a <Delete> request body chunk by chunk. */
export class DeleteObjectsRequestStream implements XmlStreamSink {
  /** Entries kept (at most MAX_DELETE_OBJECTS). */
  readonly objects: DeleteObjectsKey[] = [];
  /** <Object> entries seen in the body. */
  count = 0;
  /** Entries not kept because the memory bound was reached. */
  skipped = 0;
  /** <Quiet>true</Quiet>: a 200 reply lists only the errors. */
  quiet = false;
  /** The </Delete> end tag was seen. */
  complete = false;
  private root = '';
  private cur: { key: string | null; versionId: string | null } | null = null;
  private readonly scanner = new XmlStreamScanner(this);
  private readonly chunked: AwsChunkedDecoder | null;
  private readonly memory: MemoryReserve | null;

  constructor(opts: { awsChunked?: boolean; memory?: MemoryReserve | null } = {}) {
    this.memory = opts.memory ?? null;
    this.chunked = opts.awsChunked ? new AwsChunkedDecoder((b) => this.scanner.write(b)) : null;
  }

  /** True when S3 itself refuses the list (more than 1000 objects): the event lists the first 1000. */
  get truncated(): boolean { return this.count > MAX_DELETE_OBJECTS; }

  write(chunk: Buffer): void {
    try {
      if (this.chunked !== null) this.chunked.write(chunk);
      else this.scanner.write(chunk);
    } catch { /* never throws into the stream */ }
  }

  open(depth: number, name: string): boolean {
    if (depth === 1) { this.root = name; return false; }
    if (this.root !== 'Delete') return false;
    if (depth === 2) {
      if (name === 'Object') { this.cur = { key: null, versionId: null }; return false; }
      return name === 'Quiet';
    }
    return depth === 3 && this.cur !== null && (name === 'Key' || name === 'VersionId');
  }

  close(depth: number, name: string, text: string | null): void {
    if (depth === 1) { if (name === 'Delete' && this.root === 'Delete') this.complete = true; return; }
    if (this.root !== 'Delete') return;
    if (depth === 3 && this.cur !== null && text !== null) {
      if (name === 'Key') this.cur.key = text;
      else if (name === 'VersionId') this.cur.versionId = orNull(text);
      return;
    }
    if (depth !== 2) return;
    if (name === 'Quiet' && text !== null) { this.quiet = text.trim().toLowerCase() === 'true'; return; }
    if (name === 'Object' && this.cur !== null) {
      const { key, versionId } = this.cur;
      this.cur = null;
      if (key === null) return; // S3 refuses an <Object> without <Key> (MalformedXML)
      this.count++;
      if (this.count > MAX_DELETE_OBJECTS) return;
      if (this.memory !== null && !this.memory.reserve(entryCost(key, versionId))) { this.skipped++; return; }
      this.objects.push({ key, versionId });
    }
  }
}

/** Reads a <DeleteResult> reply chunk by chunk. */
export class DeleteObjectsResultStream implements XmlStreamSink {
  /** Outcomes by deleteEntryId(key, versionId). */
  readonly results = new Map<string, DeleteObjectOutcome>();
  /** Entries not kept because the memory bound was reached. */
  skipped = 0;
  /** The </DeleteResult> end tag was seen: the list is whole. */
  complete = false;
  private root = '';
  private cur: { kind: 'deleted' | 'error'; key: string | null; versionId: string | null; code: string | null } | null = null;
  private readonly scanner = new XmlStreamScanner(this);

  constructor(private readonly memory: MemoryReserve | null = null) {}

  write(chunk: Buffer): void {
    try { this.scanner.write(chunk); } catch { /* never throws into the stream */ }
  }

  open(depth: number, name: string): boolean {
    if (depth === 1) { this.root = name; return false; }
    if (this.root !== 'DeleteResult') return false;
    if (depth === 2) {
      if (name === 'Deleted') this.cur = { kind: 'deleted', key: null, versionId: null, code: null };
      else if (name === 'Error') this.cur = { kind: 'error', key: null, versionId: null, code: null };
      return false;
    }
    return depth === 3 && this.cur !== null && (name === 'Key' || name === 'VersionId' || (name === 'Code' && this.cur.kind === 'error'));
  }

  close(depth: number, name: string, text: string | null): void {
    if (depth === 1) { if (name === 'DeleteResult' && this.root === 'DeleteResult') this.complete = true; return; }
    if (this.root !== 'DeleteResult' || this.cur === null) return;
    if (depth === 3 && text !== null) {
      if (name === 'Key') this.cur.key = text;
      else if (name === 'VersionId') this.cur.versionId = orNull(text);
      else if (name === 'Code') this.cur.code = orNull(text.trim());
      return;
    }
    if (depth === 2 && (name === 'Deleted' || name === 'Error')) {
      const { kind, key, versionId, code } = this.cur;
      this.cur = null;
      if (key === null) return;
      if (this.memory !== null && !this.memory.reserve(entryCost(key, versionId))) { this.skipped++; return; }
      this.results.set(deleteEntryId(key, versionId), { result: kind, errorCode: kind === 'error' ? code : null });
    }
  }
}

/**
 * Each requested entry with what the backend did to it.
 * - 200 with a whole <DeleteResult>: listed entries as listed; in quiet mode an entry not listed was
 *   deleted (S3 lists only errors), otherwise it is unknown.
 * - 200 cut short (backend failed mid-reply): listed entries as listed, the rest unknown.
 * - 4xx: the request was refused as a whole, nothing was deleted: every entry is an error with the
 *   reply's code.
 * - anything else (5xx, no answer, client gone): unknown.
 */
export function deleteObjectsOutcomes(
  asked: DeleteObjectsRequestStream, reply: DeleteObjectsResultStream | null, statusCode: number, replyErrorCode: string | null,
): DeleteObjectsEntryResult[] {
  const out: DeleteObjectsEntryResult[] = [];
  const results = statusCode === 200 && reply !== null ? reply.results : null;
  const quietDefault = statusCode === 200 && reply !== null && reply.complete && asked.quiet && reply.skipped === 0;
  const refused = statusCode >= 400 && statusCode < 500;
  for (const o of asked.objects) {
    let r: DeleteObjectOutcome | undefined;
    if (results !== null) {
      r = results.get(deleteEntryId(o.key, o.versionId));
      if (r === undefined && o.versionId !== null) r = results.get(deleteEntryId(o.key, null));
    }
    if (r !== undefined) out.push({ key: o.key, versionId: o.versionId, result: r.result, errorCode: r.errorCode });
    else if (quietDefault) out.push({ key: o.key, versionId: o.versionId, result: 'deleted', errorCode: null });
    else if (refused) out.push({ key: o.key, versionId: o.versionId, result: 'error', errorCode: replyErrorCode });
    else out.push({ key: o.key, versionId: o.versionId, result: 'unknown', errorCode: null });
  }
  return out;
}

/** Whole-body form of DeleteObjectsRequestStream. */
export function parseDeleteObjectsRequest(body: Buffer): { objects: DeleteObjectsKey[]; truncated: boolean; quiet: boolean; complete: boolean } {
  const s = new DeleteObjectsRequestStream();
  if (Buffer.isBuffer(body)) s.write(body);
  return { objects: s.objects, truncated: s.truncated, quiet: s.quiet, complete: s.complete };
}

/** Whole-body form of DeleteObjectsResultStream: outcomes by deleteEntryId(key, versionId). */
export function parseDeleteObjectsResult(body: Buffer): Map<string, DeleteObjectOutcome> {
  const s = new DeleteObjectsResultStream();
  if (Buffer.isBuffer(body)) s.write(body);
  return s.results;
}
