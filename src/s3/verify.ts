// Optional SigV4 verification of what the client sent, with @smithy/signature-v4 building the
// canonical request and signature. Only the request line and headers are checked: the body is
// never read, so a hashed payload is not compared with its x-amz-content-sha256, and the
// per-chunk signatures of STREAMING-* uploads are not verified (the seed signature is).
// SigV2, SigV4a, POST-policy and anonymous requests are reported as not verifiable; the caller
// decides whether that is a rejection.
import { timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { getCanonicalHeaders } from '@smithy/signature-v4';
import { parseQuery, splitTarget } from './addressing.js';
import { amzDateToIso, parseAuth, splitSigV4Authorization } from './auth.js';
import {
  ALGORITHM, CanonicalSigner, canonicalPaths, httpDateToAmz, parseScope, queryGet, signingQuery, type Scope,
} from './sigv4-canonical.js';
import type { S3RequestInput } from './types.js';

export { loadCredentialsFile } from './credentials-file.js';

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

const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const MAX_EXPIRES = 604800;
const AMZ_DATE = /^\d{8}T\d{6}Z$/;
const HEX_SIG = /^[0-9a-fA-F]{64}$/;
const EXPIRES = /^\d{1,15}$/;
const sha256 = Hash.bind(null, 'sha256');

const MISMATCH = 'The request signature we calculated does not match the signature you provided. ' +
  'Check your key and signing method.';
const QUERY_PARAMS_REQUIRED = 'Query-string authentication version 4 requires the X-Amz-Algorithm, ' +
  'X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.';

function fail(code: VerifyFailureCode, message: string): VerifyResult {
  return { ok: false, code, message };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.join(',');
  return undefined;
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
