// DeleteObjects (POST /bucket?delete): the keys asked for, and the per-key outcome in the reply.
// Bodies may be cut by the caller's capture limit: complete <Object>/<Deleted>/<Error> entries are
// then recovered by regex. Never throws.
import { XMLValidator } from 'fast-xml-parser';
import { decodeXmlText, s3XmlParser, textOf } from './error-body.js';

export interface DeleteObjectsRequest {
  objects: { key: string; versionId: string | null }[];
  /** True when the list may be incomplete (body cut, or not well-formed XML). */
  truncated: boolean;
}

export interface DeleteObjectOutcome {
  result: 'deleted' | 'error';
  errorCode: string | null;
}

const requestParser = s3XmlParser((_name, jpath) => jpath === 'Delete.Object');
const resultParser = s3XmlParser((_name, jpath) => jpath === 'DeleteResult.Deleted' || jpath === 'DeleteResult.Error');

// Optional namespace prefixes, as removeNSPrefix allows on the parser path.
const NS = '(?:[\\w.-]+:)?';
const OBJECT_RE = new RegExp(`<${NS}Object(?:\\s[^>]*)?>([\\s\\S]*?)</${NS}Object>`, 'g');
const DELETED_RE = new RegExp(`<${NS}Deleted(?:\\s[^>]*)?>([\\s\\S]*?)</${NS}Deleted>`, 'g');
const ERROR_RE = new RegExp(`<${NS}Error(?:\\s[^>]*)?>([\\s\\S]*?)</${NS}Error>`, 'g');
const KEY_RE = new RegExp(`<${NS}Key>([^<]*)</${NS}Key>|<${NS}Key\\s*/>`);
const VERSION_RE = new RegExp(`<${NS}VersionId>([^<]*)</${NS}VersionId>`);
const CODE_RE = new RegExp(`<${NS}Code>([^<]*)</${NS}Code>`);

/** Map key for one (key, versionId) pair: key + NUL + versionId-or-empty. */
export function deleteEntryId(key: string, versionId: string | null): string {
  return `${key}\u0000${versionId ?? ''}`;
}

function record(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function orNull(s: string | null): string | null {
  return s === null || s.length === 0 ? null : s;
}

/** The parsed document, or null when it is not well-formed: the parser alone silently accepts a
 * cut document and returns its last, unfinished element with empty text. */
function parseXml(parser: ReturnType<typeof s3XmlParser>, text: string): Record<string, unknown> | null {
  try {
    if (XMLValidator.validate(text) !== true) return null;
    return record(parser.parse(text));
  } catch {
    return null;
  }
}

function regexKey(inner: string): string | null {
  const m = KEY_RE.exec(inner);
  if (m === null) return null;
  return decodeXmlText(m[1] ?? '');
}

function regexVersion(inner: string): string | null {
  const m = VERSION_RE.exec(inner);
  return m === null ? null : orNull(decodeXmlText(m[1]));
}

function regexObjects(text: string): DeleteObjectsRequest['objects'] {
  const out: DeleteObjectsRequest['objects'] = [];
  for (const m of text.matchAll(OBJECT_RE)) {
    const key = regexKey(m[1]);
    if (key !== null) out.push({ key, versionId: regexVersion(m[1]) });
  }
  return out;
}

export function parseDeleteObjectsRequest(body: Buffer, truncated: boolean): DeleteObjectsRequest {
  try {
    if (!Buffer.isBuffer(body) || body.length === 0) return { objects: [], truncated: truncated === true };
    const text = body.toString('utf8');
    if (!truncated) {
      const del = record(parseXml(requestParser, text)?.Delete);
      if (del !== null) {
        const objects: DeleteObjectsRequest['objects'] = [];
        for (const o of Array.isArray(del.Object) ? del.Object : []) {
          const r = record(o);
          const key = r === null ? null : textOf(r.Key);
          if (r !== null && key !== null) objects.push({ key, versionId: orNull(textOf(r.VersionId)) });
        }
        return { objects, truncated: false };
      }
    }
    // Cut or not well-formed: keep what is complete, and say the list may be partial.
    return { objects: regexObjects(text), truncated: true };
  } catch {
    return { objects: [], truncated: true };
  }
}

/**
 * Per-entry outcomes of a <DeleteResult> reply, by deleteEntryId(key, versionId). In quiet mode S3
 * lists only errors: an entry asked for but absent here was deleted. A reply without DeleteResult
 * (e.g. an <Error> document) gives an empty map.
 */
export function parseDeleteObjectsResult(body: Buffer): Map<string, DeleteObjectOutcome> {
  const out = new Map<string, DeleteObjectOutcome>();
  try {
    if (!Buffer.isBuffer(body) || body.length === 0) return out;
    const text = body.toString('utf8');
    const res = record(parseXml(resultParser, text)?.DeleteResult);
    if (res !== null) {
      for (const d of Array.isArray(res.Deleted) ? res.Deleted : []) {
        const r = record(d);
        const key = r === null ? null : textOf(r.Key);
        if (r !== null && key !== null) {
          out.set(deleteEntryId(key, orNull(textOf(r.VersionId))), { result: 'deleted', errorCode: null });
        }
      }
      for (const e of Array.isArray(res.Error) ? res.Error : []) {
        const r = record(e);
        const key = r === null ? null : textOf(r.Key);
        if (r !== null && key !== null) {
          out.set(deleteEntryId(key, orNull(textOf(r.VersionId))),
            { result: 'error', errorCode: orNull(textOf(r.Code)?.trim() ?? null) });
        }
      }
      return out;
    }
    if (!text.includes('DeleteResult')) return out;
    // Cut reply: recover the complete entries.
    for (const m of text.matchAll(DELETED_RE)) {
      const key = regexKey(m[1]);
      if (key !== null) out.set(deleteEntryId(key, regexVersion(m[1])), { result: 'deleted', errorCode: null });
    }
    for (const m of text.matchAll(ERROR_RE)) {
      const key = regexKey(m[1]);
      const code = CODE_RE.exec(m[1]);
      if (key !== null) {
        out.set(deleteEntryId(key, regexVersion(m[1])),
          { result: 'error', errorCode: code === null ? null : orNull(decodeXmlText(code[1]).trim()) });
      }
    }
    return out;
  } catch {
    return out;
  }
}
