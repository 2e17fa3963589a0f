// How the client authenticated, as seen on the wire. Nothing is verified here (verified stays null).
// Rule: no signature, secret or token text ever reaches a returned field; problem texts are fixed
// strings (plus, at most, a short alphanumeric auth scheme name).
// This file picks the scheme; auth-header.ts and auth-query.ts read it, auth-fields.ts holds their shared parts.
import { parseTarget } from './addressing.js';
import type { AuthInfo, S3RequestInput } from './types.js';
import { SIGV4A_ALGORITHM, SIGV4_ALGORITHM, addProblem, base, firstHeader, payloadSigningOf } from './auth-fields.js';
import { sigv2Header, sigv4Header } from './auth-header.js';
import { readAuthQuery, sigv2Query, sigv4Query } from './auth-query.js';

export { amzDateToIso, payloadSigningOf } from './auth-fields.js';
export { splitSigV4Authorization } from './auth-header.js';

const FORM_DATA = /^\s*multipart\/form-data/i;
const SCHEME = /^([A-Za-z][A-Za-z0-9-]{0,31})\s/;

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
