// What of a request may be written to an audit event. Audit logs travel far (SIEMs, archives):
// anything that lets a reader replay the request or decrypt data stays out.

export const REDACTED = 'REDACTED';

/**
 * Query names (lower case) whose values are replaced by "REDACTED":
 * - signatures (X-Amz-Signature, SigV2 Signature): a presigned URL with its signature is a bearer
 *   credential until it expires;
 * - STS session tokens (X-Amz-Security-Token);
 * - SSE-C keys and their MD5s, which presigned URLs carry as hoisted x-amz-* headers.
 * Kept on purpose: X-Amz-Credential ("AKID/date/region/s3/aws4_request") and AWSAccessKeyId name the
 * caller but are not secret (CloudTrail logs access key ids too); X-Amz-Date/Expires/SignedHeaders
 * and continuation-token are not credentials.
 */
const SECRET_QUERY_NAMES = new Set([
  'x-amz-signature',
  'signature',
  'x-amz-security-token',
  'x-amz-server-side-encryption-customer-key',
  'x-amz-server-side-encryption-customer-key-md5',
  'x-amz-copy-source-server-side-encryption-customer-key',
  'x-amz-copy-source-server-side-encryption-customer-key-md5',
]);

/** Headers never copied to an event, even when allow-listed. */
const NEVER_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-amz-security-token',
  // SSE-C: the key is the data key itself; its MD5 is not the key but identifies it, so it goes too.
  'x-amz-server-side-encryption-customer-key',
  'x-amz-server-side-encryption-customer-key-md5',
  'x-amz-copy-source-server-side-encryption-customer-key',
  'x-amz-copy-source-server-side-encryption-customer-key-md5',
]);

export function isSecretQueryName(name: string): boolean {
  return SECRET_QUERY_NAMES.has(name.toLowerCase());
}

export function isNeverLoggedHeader(name: string): boolean {
  return NEVER_HEADERS.has(name.toLowerCase());
}

/** An empty query's answer: shared, frozen (a null-prototype object is a dictionary: ~200 B each). */
const NO_QUERY: Record<string, string> = Object.freeze(Object.create(null) as Record<string, string>);

/** The query as a plain object (null prototype: "__proto__" is just a name), secrets redacted. */
export function redactQuery(query: Map<string, string>): Record<string, string> {
  if (!(query instanceof Map) || query.size === 0) return NO_QUERY;
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of query) {
    out[name] = SECRET_QUERY_NAMES.has(name.toLowerCase()) ? REDACTED : String(value);
  }
  return out;
}

// Lower-cased allow-list sets, cached per list object (the lead passes the same config array each time).
const allowCache = new WeakMap<readonly string[], { all: boolean; names: Set<string> }>();

function allowSet(allowList: readonly string[]): { all: boolean; names: Set<string> } {
  let s = allowCache.get(allowList);
  if (s === undefined) {
    const names = new Set<string>();
    let all = false;
    for (const n of allowList) {
      if (typeof n !== 'string') continue;
      if (n === '*') all = true;
      else names.add(n.toLowerCase());
    }
    s = { all, names };
    allowCache.set(allowList, s);
  }
  return s;
}

/**
 * Keeps only allow-listed headers ("*" allows all), minus NEVER_HEADERS whatever the list says.
 * Names are matched case-insensitively and returned lower case; repeated values are joined by ", ".
 * Note: the allow-list set is cached per array object, so mutate-in-place lists are not re-read.
 */
export function redactHeaders(headers: Record<string, string | string[] | undefined>,
  allowList: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (headers === null || typeof headers !== 'object' || !Array.isArray(allowList)) return out;
  const allow = allowSet(allowList);
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (NEVER_HEADERS.has(lower) || !(allow.all || allow.names.has(lower))) continue;
    const v = headers[name];
    if (typeof v === 'string') out[lower] = v;
    else if (Array.isArray(v)) out[lower] = v.filter((x) => typeof x === 'string').join(', ');
  }
  return out;
}
