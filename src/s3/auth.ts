// How the client authenticated, as seen on the wire. Nothing is verified here (verified stays null).
// Rule: no signature, secret or token text ever reaches a returned field; problem texts are fixed
// strings (plus, at most, a short alphanumeric auth scheme name).
import { parseTarget } from './addressing.js';
import type { AuthInfo, AuthType, S3RequestInput } from './types.js';

const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
const SIGV4A_ALGORITHM = 'AWS4-ECDSA-P256-SHA256';
const HEX64 = /^[0-9a-fA-F]{64}$/;
const STREAMING = /^STREAMING-[A-Z0-9-]{1,64}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const FORM_DATA = /^\s*multipart\/form-data/i;
// Sane access key ids: printable, no spaces, bounded. Anything else is not echoed.
const ACCESS_KEY = /^[\x21-\x7e]{1,128}$/;
const REGION = /^[a-z0-9-]{1,64}$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]{1,128}$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9-]{0,31})\s/;
const PARAM = /([A-Za-z]+)\s*=\s*([^,\s]*)/g;
const MAX_EXPIRES = 604800;
const DIGITS = /^\d{1,15}$/;

function firstHeader(v: string | string[] | undefined): string | undefined {
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

function httpDateToIso(v: string | undefined): string | null {
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
function parseCredential(v: string | undefined): Credential {
  if (v === undefined || v.length === 0) return { accessKey: null, region: null, ok: false };
  const parts = v.split('/');
  const key = parts[0];
  const accessKey = ACCESS_KEY.test(key) ? key : null;
  const ok = accessKey !== null && (parts.length === 5 || parts.length === 4) &&
    parts[parts.length - 1] === 'aws4_request';
  const region = parts.length === 5 && REGION.test(parts[2]) ? parts[2] : null;
  return { accessKey, region, ok };
}

function parseSignedHeaders(v: string | undefined): string[] | null {
  if (v === undefined) return null;
  const out: string[] = [];
  for (const h of v.split(';')) {
    const name = h.trim().toLowerCase();
    if (name.length > 0 && HEADER_NAME.test(name)) out.push(name);
  }
  return out;
}

function base(type: AuthType): AuthInfo {
  return {
    type, accessKey: null, region: null, signatureVersion: null, signedHeaders: null, payloadSigning: null,
    signedAt: null, expiresInSeconds: null, sessionToken: false, verified: null, problem: null,
  };
}

/** Query parameters that carry auth, by lower-cased name (S3 matches them exactly; we tolerate case). */
interface AuthQuery {
  algorithm?: string; credential?: string; date?: string; expires?: string; signedHeaders?: string;
  signature?: boolean; token?: boolean; contentSha256?: string;
  v2AccessKey?: string; v2Signature?: boolean; v2Expires?: string;
}

function readAuthQuery(query: Map<string, string>): AuthQuery {
  const q: AuthQuery = {};
  for (const [name, value] of query) {
    const c = name.charCodeAt(0) | 0x20; // only names starting with x/a/s/e can matter
    if (c !== 0x78 && c !== 0x61 && c !== 0x73 && c !== 0x65) continue;
    switch (name.toLowerCase()) {
      case 'x-amz-algorithm': q.algorithm = value; break;
      case 'x-amz-credential': q.credential = value; break;
      case 'x-amz-date': q.date = value; break;
      case 'x-amz-expires': q.expires = value; break;
      case 'x-amz-signedheaders': q.signedHeaders = value; break;
      case 'x-amz-signature': q.signature = value.length > 0; break;
      case 'x-amz-security-token': q.token = true; break;
      case 'x-amz-content-sha256': q.contentSha256 = value; break;
      case 'awsaccesskeyid': q.v2AccessKey = value; break;
      case 'signature': q.v2Signature = value.length > 0; break;
      case 'expires': q.v2Expires = value; break;
    }
  }
  return q;
}

function addProblem(a: AuthInfo, p: string): void {
  a.problem = a.problem === null ? p : `${a.problem}; ${p}`;
}

/**
 * The raw parts of a SigV4 Authorization header value. Internal: the signature is returned for the
 * verifier only (index.ts does not re-export this); never store it.
 */
export function splitSigV4Authorization(value: string):
  { v4a: boolean; credential?: string; signedHeaders?: string; signature?: string } {
  const v4a = value.slice(0, SIGV4A_ALGORITHM.length).toUpperCase() === SIGV4A_ALGORITHM;
  const rest = value.slice(v4a ? SIGV4A_ALGORITHM.length : SIGV4_ALGORITHM.length);
  let credential: string | undefined;
  let signedHeaders: string | undefined;
  let signature: string | undefined;
  PARAM.lastIndex = 0;
  for (let m = PARAM.exec(rest); m !== null; m = PARAM.exec(rest)) {
    const name = m[1].toLowerCase();
    if (name === 'credential') credential ??= m[2];
    else if (name === 'signedheaders') signedHeaders ??= m[2];
    else if (name === 'signature') signature ??= m[2];
  }
  return { v4a, credential, signedHeaders, signature };
}

/** What a SigV4 Authorization header says apart from its signature and the request time. */
interface SigV4Scope {
  accessKey: string | null;
  region: string | null;
  signedHeaders: string[] | null;
  problem: string | null;
  /** The Signature parameter when it was found before the cut (see sigv4ScopeOf), else undefined. */
  signature: string | undefined;
  /** sigv4ScopeOf's two possible answers for this scope, made once (no object per request). */
  readonly signed: { scope: SigV4Scope; signed: boolean };
  readonly unsigned: { scope: SigV4Scope; signed: boolean };
}

function parseSigV4Scope(value: string): SigV4Scope {
  const { v4a, credential, signedHeaders, signature } = splitSigV4Authorization(value);
  const cred = parseCredential(credential);
  const a = { accessKey: cred.accessKey, region: cred.region, signedHeaders: parseSignedHeaders(signedHeaders), problem: null as string | null, signature } as SigV4Scope;
  (a as { signed: unknown }).signed = { scope: a, signed: true };
  (a as { unsigned: unknown }).unsigned = { scope: a, signed: false };
  const problems: string[] = [];
  if (v4a) problems.push('SigV4a (AWS4-ECDSA-P256-SHA256) signature');
  if (credential === undefined) problems.push('Authorization header has no Credential');
  else if (!cred.ok) problems.push('malformed Credential in Authorization header');
  if (a.signedHeaders === null || a.signedHeaders.length === 0) problems.push('Authorization header has no SignedHeaders');
  a.problem = problems.length > 0 ? problems.join('; ') : null;
  return a;
}

// A client signs every request with the same Credential and SignedHeaders (only the signature
// changes): their parse is memoised on the header text before ", Signature=" when the signature is
// the last parameter, as every SDK writes it. Bounded: cleared when full. The last head is also kept
// as it is, so that the next request of the same client is recognised by comparing characters,
// without cutting the head out of its header (a new string) and hashing it for the map.
const SCOPE_CACHE_MAX = 512;
const scopeCache = new Map<string, SigV4Scope>();
const SIGNATURE_TAIL = /^[^,\s=]+$/;
const SIGNATURE_SEP = ', Signature=';
let lastHead = '';
let lastHeadScope: SigV4Scope | null = null;

/** SIGNATURE_TAIL.test(value.slice(from)) without the slice (ASCII decided here, the rest by the regex). */
function isSignatureTail(value: string, from: number): boolean {
  if (from >= value.length) return false;
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x7f) return SIGNATURE_TAIL.test(value.slice(from));
    if (c === 0x2c || c === 0x3d || c === 0x20 || (c >= 0x09 && c <= 0x0d)) return false;
  }
  return true;
}

/**
 * The scope of a SigV4 Authorization value, and whether it has a signature: the first Signature
 * parameter, as in splitSigV4Authorization (a non-empty last one when the memo was used).
 */
function sigv4ScopeOf(value: string): { scope: SigV4Scope; signed: boolean } {
  const cut = value.lastIndexOf(SIGNATURE_SEP);
  if (cut <= 0 || !isSignatureTail(value, cut + SIGNATURE_SEP.length)) {
    const scope = parseSigV4Scope(value);
    return scope.signature === undefined || scope.signature.length === 0 ? scope.unsigned : scope.signed;
  }
  let scope: SigV4Scope | undefined;
  if (cut === lastHead.length && lastHeadScope !== null && value.startsWith(lastHead)) {
    scope = lastHeadScope;
  } else {
    const head = value.slice(0, cut);
    scope = scopeCache.get(head);
    if (scope === undefined) {
      scope = parseSigV4Scope(head);
      if (scopeCache.size >= SCOPE_CACHE_MAX) scopeCache.clear();
      scopeCache.set(head, scope);
    }
    lastHead = head;
    lastHeadScope = scope;
  }
  // The first Signature parameter wins: one before the cut, when there is one, else the tail (non-empty).
  return scope.signature === undefined || scope.signature.length > 0 ? scope.signed : scope.unsigned;
}

// Requests signed in the same second carry the same X-Amz-Date: remember the last conversion.
let lastAmzDate = '';
let lastAmzIso: string | null = null;
function amzDateToIsoMemo(v: string | undefined): string | null {
  if (v === undefined) return null;
  if (v !== lastAmzDate) {
    lastAmzIso = amzDateToIso(v);
    lastAmzDate = v;
  }
  return lastAmzIso;
}

function sigv4Header(value: string, headers: S3RequestInput['headers']): AuthInfo {
  const a = base('sigv4-header');
  a.signatureVersion = 'SigV4';
  const { scope, signed } = sigv4ScopeOf(value);
  a.accessKey = scope.accessKey;
  a.region = scope.region;
  // Shared with the memo: copied so that no caller can alter the cached list.
  a.signedHeaders = scope.signedHeaders === null ? null : scope.signedHeaders.slice();
  a.problem = scope.problem;
  a.signedAt = amzDateToIsoMemo(firstHeader(headers['x-amz-date'])) ?? httpDateToIso(firstHeader(headers.date));
  if (!signed) addProblem(a, 'Authorization header has no Signature');
  return a;
}

function sigv2Header(value: string, headers: S3RequestInput['headers']): AuthInfo {
  const a = base('sigv2-header');
  a.signatureVersion = 'SigV2';
  const rest = value.slice(4).trim();
  const colon = rest.indexOf(':');
  const key = colon === -1 ? '' : rest.slice(0, colon).trim();
  if (colon === -1) addProblem(a, 'malformed SigV2 Authorization header (expected "AWS AccessKeyId:Signature")');
  else if (!ACCESS_KEY.test(key)) addProblem(a, 'malformed access key in SigV2 Authorization header');
  else a.accessKey = key;
  if (colon !== -1 && rest.length === colon + 1) addProblem(a, 'SigV2 Authorization header has no signature');
  // SigV2 lets x-amz-date replace Date (both RFC 1123).
  a.signedAt = httpDateToIso(firstHeader(headers['x-amz-date'])) ?? httpDateToIso(firstHeader(headers.date));
  return a;
}

function sigv4Query(q: AuthQuery): AuthInfo {
  const a = base('sigv4-query');
  a.signatureVersion = 'SigV4';
  const cred = parseCredential(q.credential);
  a.accessKey = cred.accessKey;
  a.region = cred.region;
  a.signedHeaders = parseSignedHeaders(q.signedHeaders);
  a.signedAt = amzDateToIso(q.date);
  if (q.algorithm === undefined) addProblem(a, 'X-Amz-Algorithm missing');
  else if (q.algorithm !== SIGV4_ALGORITHM) addProblem(a, 'unsupported X-Amz-Algorithm');
  if (q.credential === undefined) addProblem(a, 'X-Amz-Credential missing');
  else if (!cred.ok) addProblem(a, 'malformed X-Amz-Credential');
  if (q.date === undefined) addProblem(a, 'X-Amz-Date missing');
  else if (a.signedAt === null) addProblem(a, 'malformed X-Amz-Date');
  if (q.expires === undefined) {
    addProblem(a, 'X-Amz-Expires missing');
  } else if (DIGITS.test(q.expires)) {
    a.expiresInSeconds = Number(q.expires);
    if (a.expiresInSeconds > MAX_EXPIRES) addProblem(a, 'X-Amz-Expires exceeds 604800 seconds');
  } else {
    addProblem(a, 'malformed X-Amz-Expires');
  }
  if (a.signedHeaders === null || a.signedHeaders.length === 0) addProblem(a, 'X-Amz-SignedHeaders missing');
  if (!q.signature) addProblem(a, 'X-Amz-Signature missing');
  return a;
}

function sigv2Query(q: AuthQuery): AuthInfo {
  const a = base('sigv2-query');
  a.signatureVersion = 'SigV2';
  if (q.v2AccessKey === undefined) addProblem(a, 'AWSAccessKeyId missing');
  else if (!ACCESS_KEY.test(q.v2AccessKey)) addProblem(a, 'malformed AWSAccessKeyId');
  else a.accessKey = q.v2AccessKey;
  if (q.v2Expires !== undefined && DIGITS.test(q.v2Expires)) {
    const ms = Number(q.v2Expires) * 1000;
    if (ms <= 8.64e15) a.signedAt = new Date(ms).toISOString();
  } else {
    addProblem(a, q.v2Expires === undefined ? 'Expires missing' : 'malformed Expires');
  }
  if (!q.v2Signature) addProblem(a, 'Signature missing');
  return a;
}

/**
 * value.slice(0, 22).toUpperCase().startsWith(prefix) for an upper-case ASCII prefix of at most 22
 * characters, without the two copies; a non-ASCII character (whose upper case may be longer) takes
 * that exact expression.
 */
function startsWithUpper(value: string, prefix: string): boolean {
  if (value.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x7f) return value.slice(0, SIGV4A_ALGORITHM.length).toUpperCase().startsWith(prefix);
    if ((c >= 0x61 && c <= 0x7a ? c - 32 : c) !== prefix.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Parses the request's authentication. Pass the parsed query (parseTarget().query) to avoid
 * parsing it twice. Never throws.
 */
export function parseAuth(input: S3RequestInput, query?: Map<string, string>): AuthInfo {
  try {
    const headers = input.headers !== null && typeof input.headers === 'object' ? input.headers : {};
    const q = readAuthQuery(query ?? parseTarget(input).query);
    const hasQueryV4 = q.algorithm !== undefined || q.credential !== undefined || q.signature !== undefined;
    const hasQueryV2 = !hasQueryV4 && (q.v2AccessKey !== undefined || q.v2Signature !== undefined);
    const authorization = firstHeader(headers.authorization)?.trim();

    let a: AuthInfo;
    if (authorization !== undefined && authorization.length > 0) {
      if (startsWithUpper(authorization, SIGV4_ALGORITHM) || startsWithUpper(authorization, SIGV4A_ALGORITHM)) {
        a = sigv4Header(authorization, headers);
      } else if (startsWithUpper(authorization, 'AWS ')) {
        a = sigv2Header(authorization, headers);
      } else {
        a = base('anonymous');
        // Echo the scheme only when it is clearly a scheme word followed by credentials.
        const scheme = SCHEME.exec(authorization)?.[1];
        addProblem(a, scheme !== undefined
          ? `unrecognised Authorization scheme "${scheme}"` : 'unrecognised Authorization header');
      }
      if (hasQueryV4 || hasQueryV2) addProblem(a, 'both Authorization header and query-string authentication present');
    } else if (hasQueryV4) {
      a = sigv4Query(q);
    } else if (hasQueryV2) {
      a = sigv2Query(q);
    } else if (input.method === 'POST' && FORM_DATA.test(firstHeader(headers['content-type']) ?? '')) {
      a = base('post-policy'); // the credential and signature are form fields in the body
    } else {
      a = base('anonymous');
    }

    a.sessionToken = headers['x-amz-security-token'] !== undefined || q.token === true;
    a.payloadSigning = payloadSigningOf(firstHeader(headers['x-amz-content-sha256'])) ??
      (a.type === 'sigv4-query' ? payloadSigningOf(q.contentSha256) : null);
    return a;
  } catch {
    const a = base('anonymous');
    a.problem = 'internal error while parsing authentication';
    return a;
  }
}
