// Optional SigV4 verification of what the client sent, with @smithy/signature-v4 building the
// canonical request and signature. Only the request line and headers are checked: the body is
// never read, so a hashed payload is not compared with its x-amz-content-sha256, and the
// per-chunk signatures of STREAMING-* uploads are not verified (the seed signature is).
// SigV2, SigV4a, POST-policy and anonymous requests are reported as not verifiable; the caller
// decides whether that is a rejection.
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Hash } from '@smithy/hash-node';
import { SignatureV4, getCanonicalHeaders } from '@smithy/signature-v4';
import { parseQuery, percentDecode, splitTarget } from './addressing.js';
import { amzDateToIso, parseAuth, splitSigV4Authorization } from './auth.js';
import type { S3RequestInput } from './types.js';

export type VerifyFailureCode =
  | 'SignatureDoesNotMatch'
  | 'InvalidAccessKeyId'
  | 'AccessDenied'
  | 'AuthorizationQueryParametersError'
  | 'RequestTimeTooSkewed'
  | 'ExpiredToken';

export type VerifyResult = { ok: true } | { ok: false; code: VerifyFailureCode; message: string };

export interface VerifierOptions {
  /** Clock in ms since the epoch (tests). Default Date.now. */
  now?: () => number;
  /** Allowed clock difference for header-signed requests, seconds. Default 900 (S3's 15 minutes). */
  maxSkewSeconds?: number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const MAX_EXPIRES = 604800;
const AMZ_DATE = /^\d{8}T\d{6}Z$/;
const SHORT_DATE = /^\d{8}$/;
const HEX_SIG = /^[0-9a-fA-F]{64}$/;
const EXPIRES = /^\d{1,15}$/;
const sha256 = Hash.bind(null, 'sha256');

const MISMATCH = 'The request signature we calculated does not match the signature you provided. ' +
  'Check your key and signing method.';
const QUERY_PARAMS_REQUIRED = 'Query-string authentication version 4 requires the X-Amz-Algorithm, ' +
  'X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.';

/** Exposes the protected canonical-request steps of SignatureV4; one instance per access key. */
class CanonicalSigner extends SignatureV4 {
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

function fail(code: VerifyFailureCode, message: string): VerifyResult {
  return { ok: false, code, message };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.join(',');
  return undefined;
}

/** SigV4 URI encoding (RFC 3986 unreserved characters kept). */
function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Canonical URI candidates: the path decoded and re-encoded per SigV4 (what S3 servers compute),
 * then the path exactly as sent when that differs (clients that encode differently but sign what they send).
 */
function canonicalPaths(rawPath: string): string[] {
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
function signingQuery(rawQuery: string): Record<string, string | string[]> {
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

function queryGet(q: Record<string, string | string[]>, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Date header (RFC 1123) -> "yyyymmddThhmmssZ". */
function httpDateToAmz(v: string | undefined): string | null {
  if (v === undefined || v.length > 64) return null;
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) return null;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

interface Scope { accessKey: string; shortDate: string; region: string; scope: string }

function parseScope(credential: string | undefined): Scope | null {
  if (credential === undefined) return null;
  const parts = credential.split('/');
  if (parts.length !== 5) return null;
  const [accessKey, shortDate, region, service, terminator] = parts;
  if (accessKey.length === 0 || !SHORT_DATE.test(shortDate) || region.length === 0 || service !== 's3' ||
      terminator !== 'aws4_request') return null;
  return { accessKey, shortDate, region, scope: `${shortDate}/${region}/s3/aws4_request` };
}

export class SignatureVerifier {
  private readonly signers = new Map<string, CanonicalSigner>();
  private readonly now: () => number;
  private readonly maxSkewMs: number;

  constructor(credentials: ReadonlyMap<string, string>, options: VerifierOptions = {}) {
    for (const [accessKeyId, secretAccessKey] of credentials) {
      this.signers.set(accessKeyId, new CanonicalSigner({
        service: 's3', region: 'us-east-1', // region and date come from each request's scope
        credentials: { accessKeyId, secretAccessKey },
        sha256, uriEscapePath: false, applyChecksum: false,
      }));
    }
    this.now = options.now ?? Date.now;
    this.maxSkewMs = (options.maxSkewSeconds ?? 900) * 1000;
  }

  async verify(input: S3RequestInput & { region?: string }): Promise<VerifyResult> {
    try {
      return await this.check(input);
    } catch {
      return fail('AccessDenied', 'The request signature could not be checked.');
    }
  }

  private async check(input: S3RequestInput & { region?: string }): Promise<VerifyResult> {
    const { path, rawQuery } = splitTarget(typeof input.url === 'string' ? input.url : '');
    const auth = parseAuth(input, parseQuery(rawQuery).query);
    switch (auth.type) {
      case 'sigv2-header':
      case 'sigv2-query':
        return fail('AccessDenied', 'SigV2 signatures are not verified by this proxy; use SigV4.');
      case 'post-policy':
        return fail('AccessDenied', 'POST policy (browser form upload) signatures are not verified by this proxy.');
      case 'anonymous':
        return fail('AccessDenied', 'The request is not signed (anonymous).');
      default:
        break;
    }
    const headers = input.headers ?? {};
    const query = signingQuery(rawQuery);
    const now = this.now();
    let scope: Scope | null;
    let signature: string | undefined;
    let signedHeaderList: string | undefined;
    let longDate: string | null;
    let payloadHash: string;

    if (auth.type === 'sigv4-header') {
      const parts = splitSigV4Authorization(headerValue(headers.authorization)?.trim() ?? '');
      if (parts.v4a) return fail('AccessDenied', 'SigV4a (AWS4-ECDSA-P256-SHA256) signatures are not verified by this proxy.');
      if (query['X-Amz-Signature'] !== undefined || query['X-Amz-Algorithm'] !== undefined ||
          query['X-Amz-Credential'] !== undefined || query.Signature !== undefined) {
        return fail('AccessDenied', 'Only one auth mechanism allowed: Authorization header or query string.');
      }
      scope = parseScope(parts.credential);
      signature = parts.signature;
      signedHeaderList = parts.signedHeaders;
      if (scope === null || signature === undefined || signedHeaderList === undefined) {
        return fail('AccessDenied', 'The Authorization header is malformed.');
      }
      const amz = headerValue(headers['x-amz-date'])?.trim();
      longDate = amz !== undefined ? (AMZ_DATE.test(amz) ? amz : null) : httpDateToAmz(headerValue(headers.date));
      if (longDate === null) return fail('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header.');
      payloadHash = headerValue(headers['x-amz-content-sha256'])?.trim() ?? EMPTY_SHA256;
    } else {
      const algorithm = queryGet(query, 'X-Amz-Algorithm');
      const expires = queryGet(query, 'X-Amz-Expires');
      const date = queryGet(query, 'X-Amz-Date');
      signature = queryGet(query, 'X-Amz-Signature');
      signedHeaderList = queryGet(query, 'X-Amz-SignedHeaders');
      if (algorithm === undefined || expires === undefined || date === undefined || signature === undefined ||
          signedHeaderList === undefined || queryGet(query, 'X-Amz-Credential') === undefined) {
        return fail('AuthorizationQueryParametersError', QUERY_PARAMS_REQUIRED);
      }
      if (algorithm !== ALGORITHM) {
        return fail('AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256".');
      }
      scope = parseScope(queryGet(query, 'X-Amz-Credential'));
      if (scope === null) return fail('AuthorizationQueryParametersError', 'Error parsing the X-Amz-Credential parameter.');
      if (!EXPIRES.test(expires)) {
        return fail('AuthorizationQueryParametersError', 'X-Amz-Expires should be a number.');
      }
      const lifetime = Number(expires);
      if (lifetime > MAX_EXPIRES) {
        return fail('AuthorizationQueryParametersError',
          'X-Amz-Expires must be less than a week (in seconds) that is; the maximum expires is 604800 seconds.');
      }
      if (!AMZ_DATE.test(date)) return fail('AuthorizationQueryParametersError', 'X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'".');
      longDate = date;
      const signedMs = Date.parse(amzDateToIso(date) ?? '');
      if (!Number.isFinite(signedMs)) return fail('AuthorizationQueryParametersError', 'X-Amz-Date is not a valid date.');
      if (now + this.maxSkewMs < signedMs) return fail('AccessDenied', 'Request is not valid yet.');
      if (now > signedMs + lifetime * 1000) return fail('AccessDenied', 'Request has expired.');
      payloadHash = queryGet(query, 'X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD;
    }

    const signer = this.signers.get(scope.accessKey);
    if (signer === undefined) {
      return fail('InvalidAccessKeyId', 'The AWS access key Id you provided does not exist in our records.');
    }
    if (typeof input.region === 'string' && input.region.length > 0 && input.region !== scope.region) {
      const msg = `The authorization region ${JSON.stringify(scope.region.slice(0, 64))} is wrong; expecting ${JSON.stringify(input.region)}.`;
      return fail(auth.type === 'sigv4-query' ? 'AuthorizationQueryParametersError' : 'AccessDenied', msg);
    }
    if (longDate.slice(0, 8) !== scope.shortDate) {
      return fail(auth.type === 'sigv4-query' ? 'AuthorizationQueryParametersError' : 'AccessDenied',
        'The credential scope date does not match the request date.');
    }
    if (auth.type === 'sigv4-header') {
      const signedMs = Date.parse(amzDateToIso(longDate) ?? '');
      if (!Number.isFinite(signedMs) || Math.abs(now - signedMs) > this.maxSkewMs) {
        return fail('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
      }
    }

    // Only the headers the client signed, with the values it sent.
    const names = signedHeaderList.split(';').map((n) => n.trim().toLowerCase()).filter((n) => n.length > 0);
    if (!names.includes('host')) return fail('AccessDenied', 'The host header must be signed.');
    const signedHeaders: Record<string, string> = Object.create(null);
    for (const name of names) {
      const v = headerValue(headers[name]);
      if (v === undefined) return fail('SignatureDoesNotMatch', `Signed header ${JSON.stringify(name.slice(0, 64))} is missing.`);
      signedHeaders[name] = v;
    }
    const canonicalHeaders = getCanonicalHeaders({ method: '', protocol: 'https:', hostname: '', path: '', query: {}, headers: signedHeaders },
      undefined, new Set(names));

    if (!HEX_SIG.test(signature)) return fail('SignatureDoesNotMatch', MISMATCH);
    const provided = Buffer.from(signature.toLowerCase(), 'latin1');
    const method = typeof input.method === 'string' ? input.method : '';
    const signingDate = new Date(Date.parse(amzDateToIso(longDate) ?? ''));
    for (const canonicalPath of canonicalPaths(path)) {
      const canonical = signer.canonicalRequest(method, canonicalPath, query, canonicalHeaders, payloadHash);
      const toSign = await signer.stringToSign(longDate, scope.scope, canonical);
      const expected = Buffer.from(await signer.sign(toSign, { signingDate, signingRegion: scope.region }), 'latin1');
      if (expected.length === provided.length && timingSafeEqual(expected, provided)) return { ok: true };
    }
    return fail('SignatureDoesNotMatch', MISMATCH);
  }
}

/**
 * Reads access keys and secrets: JSON {"AKID": "secret", ...}, or lines "AKID:secret" / "AKID secret"
 * (blank lines and lines starting with # ignored). Errors name the file and line, never a secret.
 */
export function loadCredentialsFile(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`credentials file ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const map = new Map<string, string>();
  if (/^\s*[[{]/.test(text)) {
    for (const [key, secret, line] of parseFlatJsonObject(text, path)) {
      if (key.trim().length === 0 || /\s/.test(key)) {
        throw new Error(`credentials file ${path} line ${line}: an access key id is empty or contains spaces`);
      }
      if (secret.length === 0) throw new Error(`credentials file ${path} line ${line}: empty secret`);
      if (map.has(key)) throw new Error(`credentials file ${path} line ${line}: access key ${JSON.stringify(key)} listed twice`);
      map.set(key, secret);
    }
  } else {
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line.length === 0 || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      const space = line.search(/\s/);
      // Whichever separator comes first: secrets may contain ':' (after a space) or ' ' (after a ':').
      const sep = colon !== -1 && (space === -1 || colon < space) ? colon : space;
      const key = sep === -1 ? line : line.slice(0, sep).trim();
      let secret = sep === -1 ? '' : line.slice(sep + 1).trim();
      if (sep === space && secret.startsWith(':')) secret = secret.slice(1).trim(); // "AKID : secret"
      if (key.length === 0 || secret.length === 0) {
        throw new Error(`credentials file ${path} line ${i + 1}: expected "ACCESS_KEY_ID:SECRET" or "ACCESS_KEY_ID SECRET"`);
      }
      if (map.has(key)) throw new Error(`credentials file ${path} line ${i + 1}: access key ${JSON.stringify(key)} listed twice`);
      map.set(key, secret);
    }
  }
  if (map.size === 0) throw new Error(`credentials file ${path}: no credentials`);
  return map;
}

// One JSON token: a string (group 1), punctuation (2) or anything else (3). Sticky: scans in place.
const JSON_TOKEN = /\s*(?:("(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")|([{}:,])|(\S))/y;

/**
 * Parses {"k": "v", ...} with string values only, giving each pair's line. Hand-rolled because
 * JSON.parse errors quote the offending text (a secret, here) and, on Node 20, give no position.
 */
function parseFlatJsonObject(text: string, path: string): [string, string, number][] {
  const out: [string, string, number][] = [];
  let pos = 0;
  const lineAt = (i: number) => text.slice(0, i).split('\n').length;
  const next = (): { str?: string; punct?: string; at: number } | null => {
    JSON_TOKEN.lastIndex = pos;
    const m = JSON_TOKEN.exec(text);
    if (m === null) return null;
    pos = JSON_TOKEN.lastIndex;
    const at = pos - m[0].trimStart().length;
    if (m[1] !== undefined) return { str: JSON.parse(m[1]) as string, at };
    if (m[2] !== undefined) return { punct: m[2], at };
    return { at };
  };
  const fail = (at: number, what: string): never => {
    throw new Error(`credentials file ${path} line ${lineAt(at)}: invalid JSON (${what})`);
  };
  let t = next();
  if (t?.punct !== '{') fail(t?.at ?? pos, 'expected an object {"ACCESS_KEY_ID": "SECRET"}');
  t = next();
  if (t?.punct !== '}') {
    for (;;) {
      if (t?.str === undefined) fail(t?.at ?? text.length, 'expected an access key id string');
      const key = t!.str!;
      const line = lineAt(t!.at);
      t = next();
      if (t?.punct !== ':') fail(t?.at ?? text.length, 'expected ":"');
      t = next();
      if (t?.str === undefined) fail(t?.at ?? text.length, 'expected the secret as a string');
      out.push([key, t!.str!, line]);
      t = next();
      if (t?.punct === '}') break;
      if (t?.punct !== ',') fail(t?.at ?? text.length, 'expected "," or "}"');
      t = next();
    }
  }
  if (/\S/.test(text.slice(pos))) fail(pos + (text.slice(pos).search(/\S/)), 'text after the object');
  return out;
}
