// Parsing of the Authorization header (SigV4, SigV2) into an AuthInfo. Hot path: the SigV4 scope memos
// (scopeCache, lastHead, lastAmzDate) live here, beside the only functions that read and write them.
import type { AuthInfo, S3RequestInput } from './types.js';
import {
  ACCESS_KEY, SIGV4A_ALGORITHM, SIGV4_ALGORITHM, addProblem, amzDateToIso, base, firstHeader, httpDateToIso,
  parseCredential, parseSignedHeaders,
} from './auth-fields.js';

const PARAM = /([A-Za-z]+)\s*=\s*([^,\s]*)/g;

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
  // slice + === rather than startsWith: V8 compares two strings with one memcmp, where startsWith walked
  // the ~140 characters one by one (parseAuth warm 0.82 -> 0.35-0.69 µs; docs/performance.md, session 10).
  if (cut === lastHead.length && lastHeadScope !== null && value.slice(0, cut) === lastHead) {
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

export function sigv4Header(value: string, headers: S3RequestInput['headers']): AuthInfo {
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

export function sigv2Header(value: string, headers: S3RequestInput['headers']): AuthInfo {
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
