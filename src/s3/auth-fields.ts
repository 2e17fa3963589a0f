// The pieces every auth parser here shares: the AuthInfo skeleton, problem texts, dates, Credential
// and SignedHeaders readers. Same rule as auth.ts: no signature, secret or token text in a returned field.
import type { AuthInfo, AuthType } from './types.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
export const SIGV4A_ALGORITHM = 'AWS4-ECDSA-P256-SHA256';
const HEX64 = /^[0-9a-fA-F]{64}$/;
const STREAMING = /^STREAMING-[A-Z0-9-]{1,64}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
// Sane access key ids: printable, no spaces, bounded. Anything else is not echoed.
export const ACCESS_KEY = /^[\x21-\x7e]{1,128}$/;
const REGION = /^[a-z0-9-]{1,64}$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]{1,128}$/;

export function firstHeader(v: string | string[] | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

/** "yyyymmddThhmmssZ" -> ISO string, or null. */
export function amzDateToIso(v: string | undefined): string | null {
  if (v === undefined) return null;
  const m = AMZ_DATE.exec(v.trim());
  if (m === null) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

export function httpDateToIso(v: string | undefined): string | null {
  if (v === undefined || v.length > 64) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** x-amz-content-sha256 -> the literal for UNSIGNED/STREAMING values, "sha256" for a hash, else null. */
export function payloadSigningOf(v: string | undefined): string | null {
  if (v === undefined) return null;
  if (v === 'UNSIGNED-PAYLOAD' || STREAMING.test(v)) return v;
  if (HEX64.test(v)) return 'sha256';
  return null;
}

interface Credential { accessKey: string | null; region: string | null; ok: boolean }

/** "AKID/yyyymmdd/region/s3/aws4_request" (SigV4) or "AKID/yyyymmdd/s3/aws4_request" (SigV4a). */
export function parseCredential(v: string | undefined): Credential {
  if (v === undefined || v.length === 0) return { accessKey: null, region: null, ok: false };
  const parts = v.split('/');
  const key = parts[0];
  const accessKey = ACCESS_KEY.test(key) ? key : null;
  const ok = accessKey !== null && (parts.length === 5 || parts.length === 4) &&
    parts[parts.length - 1] === 'aws4_request';
  const region = parts.length === 5 && REGION.test(parts[2]) ? parts[2] : null;
  return { accessKey, region, ok };
}

export function parseSignedHeaders(v: string | undefined): string[] | null {
  if (v === undefined) return null;
  const out: string[] = [];
  for (const h of v.split(';')) {
    const name = h.trim().toLowerCase();
    if (name.length > 0 && HEADER_NAME.test(name)) out.push(name);
  }
  return out;
}

export function base(type: AuthType): AuthInfo {
  return {
    type, accessKey: null, region: null, signatureVersion: null, signedHeaders: null, payloadSigning: null,
    signedAt: null, expiresInSeconds: null, sessionToken: false, verified: null, problem: null,
  };
}

export function addProblem(a: AuthInfo, p: string): void {
  a.problem = a.problem === null ? p : `${a.problem}; ${p}`;
}
