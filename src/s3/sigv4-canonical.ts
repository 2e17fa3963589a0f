// The SigV4 signing inputs verify.ts recomputes: canonical URI candidates, the decoded query, the
// credential scope, dates, and a SignatureV4 subclass that exposes the canonical-request steps.
import { SignatureV4 } from '@smithy/signature-v4';
import { percentDecode } from './addressing.js';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
const SHORT_DATE = /^\d{8}$/;

/** Exposes the protected canonical-request steps of SignatureV4; one instance per access key. */
export class CanonicalSigner extends SignatureV4 {
  canonicalRequest(method: string, path: string, query: Record<string, string | string[]>,
    canonicalHeaders: Record<string, string>, payloadHash: string): string {
    // createCanonicalRequest reads only method, path (as is: uriEscapePath false) and query.
    const request = { method, path, query, headers: {}, protocol: 'https:', hostname: '' };
    return this.createCanonicalRequest(request, canonicalHeaders, payloadHash);
  }
  stringToSign(longDate: string, scope: string, canonicalRequest: string): Promise<string> {
    return this.createStringToSign(longDate, scope, canonicalRequest, ALGORITHM);
  }
}

/** SigV4 URI encoding (RFC 3986 unreserved characters kept). */
function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Canonical URI candidates: the path decoded and re-encoded per SigV4 (what S3 servers compute),
 * then the path exactly as sent when that differs (clients that encode differently but sign what they send).
 */
export function canonicalPaths(rawPath: string): string[] {
  let normalized: string;
  try {
    normalized = rawPath.split('/').map((seg) => {
      const d = percentDecode(seg, false);
      return d === null ? seg : escapeUri(d);
    }).join('/');
  } catch {
    normalized = rawPath;
  }
  return normalized === rawPath ? [rawPath] : [normalized, rawPath];
}

/** Decoded query for signing: repeated names keep every value; valueless names are "". */
export function signingQuery(rawQuery: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  if (rawQuery.length === 0) return out;
  for (const part of rawQuery.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    const name = percentDecode(rawName, true) ?? rawName;
    const value = percentDecode(rawValue, true) ?? rawValue;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

export function queryGet(q: Record<string, string | string[]>, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Date header (RFC 1123) -> "yyyymmddThhmmssZ". */
export function httpDateToAmz(v: string | undefined): string | null {
  if (v === undefined || v.length > 64) return null;
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) return null;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export interface Scope { accessKey: string; shortDate: string; region: string; scope: string }

export function parseScope(credential: string | undefined): Scope | null {
  if (credential === undefined) return null;
  const parts = credential.split('/');
  if (parts.length !== 5) return null;
  const [accessKey, shortDate, region, service, terminator] = parts;
  if (accessKey.length === 0 || !SHORT_DATE.test(shortDate) || region.length === 0 || service !== 's3' ||
      terminator !== 'aws4_request') return null;
  return { accessKey, shortDate, region, scope: `${shortDate}/${region}/s3/aws4_request` };
}
