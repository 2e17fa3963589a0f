// Parsing of query-string (presigned URL) authentication, SigV4 and SigV2, into an AuthInfo.
// Same rule as auth.ts: a signature is only noted as present, never kept.
import type { AuthInfo } from './types.js';
import { ACCESS_KEY, SIGV4_ALGORITHM, addProblem, amzDateToIso, base, parseCredential, parseSignedHeaders } from './auth-fields.js';

const MAX_EXPIRES = 604800;
const DIGITS = /^\d{1,15}$/;

/** Query parameters that carry auth, by lower-cased name (S3 matches them exactly; we tolerate case). */
export interface AuthQuery {
  algorithm?: string; credential?: string; date?: string; expires?: string; signedHeaders?: string;
  signature?: boolean; token?: boolean; contentSha256?: string;
  v2AccessKey?: string; v2Signature?: boolean; v2Expires?: string;
}

export function readAuthQuery(query: Map<string, string>): AuthQuery {
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

export function sigv4Query(q: AuthQuery): AuthInfo {
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

export function sigv2Query(q: AuthQuery): AuthInfo {
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
