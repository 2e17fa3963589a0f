// S3 error replies: the <Error> XML body, and a code for bodiless errors (HEAD). Never throws.
import { XMLParser } from 'fast-xml-parser';
import { API_LEVEL } from './api-rules.js';

/** Parser settings shared by the S3 XML readers: text stays text ("007" is a key, not 7). */
export function s3XmlParser(isArray?: (tagName: string, jPath: string) => boolean): XMLParser {
  return new XMLParser({
    ignoreAttributes: true,
    parseTagValue: false,
    trimValues: false, // keys may start or end with spaces
    removeNSPrefix: true,
    processEntities: true,
    htmlEntities: true, // also decodes numeric references (&#x1F600;) that S3 writes for some characters
    ignoreDeclaration: true,
    ignorePiTags: true,
    ...(isArray !== undefined ? { isArray: (name: string, jpath: unknown) => isArray(name, String(jpath)) } : {}),
  });
}

const ENTITY = /&(?:#x([0-9a-fA-F]{1,6})|#(\d{1,7})|(amp|lt|gt|quot|apos));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes XML's five entities and numeric references (used by the regex fallbacks). */
export function decodeXmlText(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(ENTITY, (all, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
    if (name !== undefined) return NAMED[name];
    const cp = hex !== undefined ? parseInt(hex, 16) : Number(dec);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0) return all;
    return String.fromCodePoint(cp);
  });
}

/** Text of a parsed element: a string, or the text part of mixed content; null otherwise. */
export function textOf(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>)['#text'] === 'string') {
    return (v as Record<string, string>)['#text'];
  }
  return null;
}

// The document element must be <Error> (optionally namespaced), after an optional BOM, prolog, comments.
const ERROR_ROOT = /^\uFEFF?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*<(?:[\w.-]+:)?Error[\s/>]/;
const CODE_RE = /<(?:[\w.-]+:)?Code>([^<]*)<\/(?:[\w.-]+:)?Code>/;
const MESSAGE_RE = /<(?:[\w.-]+:)?Message>([^<]*)<\/(?:[\w.-]+:)?Message>/;

const errorParser = s3XmlParser();

function clean(s: string | null): string | null {
  if (s === null) return null;
  const t = s.trim();
  return t.length > 0 ? t : null;
}

/**
 * Code and Message of an S3 <Error> document, or null when the body is not one. The caller bounds
 * the body (64 KiB); a cut document still yields the complete Code/Message elements (regex fallback).
 */
export function parseS3ErrorBody(body: Buffer): { code: string | null; message: string | null } | null {
  try {
    if (!Buffer.isBuffer(body) || body.length === 0) return null;
    const text = body.toString('utf8');
    if (!ERROR_ROOT.test(text)) return null;
    let parsed: unknown;
    try {
      parsed = errorParser.parse(text);
    } catch {
      parsed = undefined;
    }
    const err = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>).Error : undefined;
    if (err !== null && typeof err === 'object' && !Array.isArray(err)) {
      const e = err as Record<string, unknown>;
      const code = clean(textOf(e.Code));
      const message = clean(textOf(e.Message));
      // A truncated document can parse "successfully" yet miss elements: fall through when so.
      if (code !== null) return { code, message };
    }
    const code = CODE_RE.exec(text);
    const message = MESSAGE_RE.exec(text);
    return {
      code: code ? clean(decodeXmlText(code[1])) : null,
      message: message ? clean(decodeXmlText(message[1])) : null,
    };
  } catch {
    return null;
  }
}

const OBJECT_404: Record<string, string> = {
  ListParts: 'NoSuchUpload', UploadPart: 'NoSuchUpload', UploadPartCopy: 'NoSuchUpload',
  CompleteMultipartUpload: 'NoSuchUpload', AbortMultipartUpload: 'NoSuchUpload',
};

const BY_STATUS: Record<number, string> = {
  301: 'PermanentRedirect', 302: 'Found', 303: 'SeeOther', 304: 'NotModified', 307: 'TemporaryRedirect',
  400: 'BadRequest', 401: 'Unauthorized', 403: 'AccessDenied', 405: 'MethodNotAllowed', 408: 'RequestTimeout',
  409: 'Conflict', 411: 'MissingContentLength', 412: 'PreconditionFailed', 413: 'EntityTooLarge',
  414: 'RequestURITooLong', 416: 'InvalidRange', 429: 'TooManyRequests', 431: 'RequestHeaderSectionTooLarge',
  500: 'InternalError', 501: 'NotImplemented', 502: 'BadGateway', 503: 'ServiceUnavailable', 504: 'GatewayTimeout',
};

/**
 * An error code for replies without an error body (HEAD, or a body that is not S3 XML);
 * null below 300. Names follow S3's own codes where S3 has one.
 */
export function errorCodeForStatus(status: number, apiName: string): string | null {
  if (!Number.isInteger(status) || status < 300) return null;
  if (status === 404) {
    const level = API_LEVEL.get(apiName);
    if (level === 'object') return OBJECT_404[apiName] ?? 'NoSuchKey';
    if (level === 'bucket') return 'NoSuchBucket';
    return 'NotFound';
  }
  const known = BY_STATUS[status];
  if (known !== undefined) return known;
  if (status < 400) return 'Redirect';
  if (status < 500) return 'ClientError';
  if (status < 600) return 'ServerError';
  return 'UnknownError';
}
