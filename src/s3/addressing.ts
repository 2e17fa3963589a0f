// Where an S3 request points: bucket, key, addressing style and query, from the raw request
// target and Host header. Pure and total: never throws, whatever the client sent.
import type { AddressingStyle, S3RequestInput } from './types.js';
import { HostRules } from './host-rules.js';

export interface S3Target {
  bucket: string | null;
  /** Decoded object key, or null for service/bucket requests. */
  key: string | null;
  addressing: AddressingStyle;
  /** Decoded query; a name present without a value (a sub-resource like ?uploads) maps to "". */
  query: Map<string, string>;
  /** Why part of the target could not be decoded (the raw text was kept), or null. */
  problem: string | null;
}

const PLUS = /\+/g;
const ABSOLUTE = /^https?:\/\//i;

/**
 * Percent-decodes text; null when the encoding is invalid (bad escape or not UTF-8).
 * plusIsSpace: true in query strings (form convention, as S3 servers parse them), never in paths.
 */
export function percentDecode(text: string, plusIsSpace: boolean): string | null {
  if (plusIsSpace && text.includes('+')) text = text.replace(PLUS, ' ');
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** What parseQuery('') gives: one shared answer (most requests have no query), never to be modified. */
const NO_QUERY: { readonly query: Map<string, string>; readonly bad: boolean } = Object.freeze({ query: new Map<string, string>(), bad: false });

/**
 * First value wins for repeated names: S3 itself rejects or ignores duplicates of the names we read.
 * The map is the caller's to read, not to change: an empty query's map is shared.
 */
export function parseQuery(qs: string): { query: Map<string, string>; bad: boolean } {
  if (qs.length === 0) return NO_QUERY;
  const query = new Map<string, string>();
  let bad = false;
  let start = 0;
  while (start <= qs.length) {
    let end = qs.indexOf('&', start);
    if (end === -1) end = qs.length;
    if (end > start) {
      const eq = qs.indexOf('=', start);
      const hasValue = eq !== -1 && eq < end;
      const rawName = qs.slice(start, hasValue ? eq : end);
      const rawValue = hasValue ? qs.slice(eq + 1, end) : '';
      let name = percentDecode(rawName, true);
      let value = percentDecode(rawValue, true);
      if (name === null) { bad = true; name = rawName; }
      if (value === null) { bad = true; value = rawValue; }
      if (name.length > 0 && !query.has(name)) query.set(name, value);
    }
    start = end + 1;
  }
  return { query, bad };
}

/** Splits a request target into raw path and raw query, accepting absolute-form ("http://h/p?q"). */
export function splitTarget(url: string): { path: string; rawQuery: string; authority: string | null } {
  let authority: string | null = null;
  let rest = url;
  // Absolute-form: the authority replaces Host (RFC 9112 3.2.2).
  const scheme = url.charCodeAt(0) === 0x2f ? null : ABSOLUTE.exec(url);
  if (scheme !== null) {
    const afterScheme = scheme[0].length;
    let slash = url.indexOf('/', afterScheme);
    const q = url.indexOf('?', afterScheme);
    if (q !== -1 && (slash === -1 || q < slash)) slash = q;
    if (slash === -1) slash = url.length;
    authority = url.slice(afterScheme, slash);
    rest = url.slice(slash);
    if (!rest.startsWith('/')) rest = '/' + rest;
  }
  const qi = rest.indexOf('?');
  if (qi === -1) return { path: rest, rawQuery: '', authority };
  return { path: rest.slice(0, qi), rawQuery: rest.slice(qi + 1), authority };
}

/** Lower-cased host name without port, userinfo or trailing dot; "" when absent. */
export function hostName(raw: string | string[] | undefined): string {
  let host = Array.isArray(raw) ? raw[0] ?? '' : raw ?? '';
  if (host.length === 0) return '';
  const at = host.lastIndexOf('@');
  if (at !== -1) host = host.slice(at + 1);
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    host = close === -1 ? host : host.slice(0, close + 1);
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) host = host.slice(0, colon);
  }
  host = host.trim().toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host;
}

/** The bucket named by a virtual-hosted Host, or null; the longest matching base domain wins. */
function virtualBucket(host: string, domains: readonly string[]): string | null {
  let best: string | null = null;
  let bestLen = -1;
  for (let i = 0; i < domains.length; i++) {
    const raw = domains[i];
    if (typeof raw !== 'string' || raw.length === 0) continue;
    const domain = hostName(raw);
    if (domain.length <= bestLen) continue;
    if (host === domain) {
      // The bare base domain is path style; remember it so a shorter domain cannot claim it.
      best = null;
      bestLen = domain.length;
    } else if (host.length > domain.length + 1 && host.endsWith(domain) &&
               host.charCodeAt(host.length - domain.length - 1) === 46 /* '.' */) {
      best = host.slice(0, host.length - domain.length - 1);
      bestLen = domain.length;
    }
  }
  return best;
}

const also = (problem: string | null, more: string): string => (problem === null ? more : problem + '; ' + more);

export function parseTarget(input: S3RequestInput): S3Target {
  const url = typeof input?.url === 'string' ? input.url : '';
  const headers = input?.headers ?? {};
  const domains = Array.isArray(input?.virtualHostDomains) ? input.virtualHostDomains : [];
  const { path, rawQuery, authority } = splitTarget(url);
  const parsed = parseQuery(rawQuery);
  // Problems joined by '; ' as they are found (no array per request: most requests have none).
  let problem: string | null = parsed.bad ? 'invalid percent-encoding in query string; raw text kept' : null;

  const host = authority !== null ? hostName(authority) : hostName(headers.host);
  let vBucket: string | null;
  const rules = input?.hostRules;
  if (rules instanceof HostRules) {
    // The proxy's own reading (the one it refuses requests by): listed names, CNAME buckets.
    const reading = rules.read(host);
    vBucket = reading.kind === 'virtual' || reading.kind === 'cname' ? reading.bucket : null;
    if (reading.kind === 'unknown') problem = also(problem, reading.reason);
  } else {
    vBucket = host.length > 0 && domains.length > 0 ? virtualBucket(host, domains) : null;
  }

  if (!path.startsWith('/')) {
    problem = also(problem, 'request target does not start with "/"');
    return { bucket: vBucket, key: null, addressing: vBucket === null ? 'path' : 'virtual-host', query: parsed.query,
      problem };
  }

  let bucket: string | null;
  let rawKey: string;
  let addressing: AddressingStyle;
  if (vBucket !== null) {
    addressing = 'virtual-host';
    bucket = vBucket;
    rawKey = path.slice(1);
  } else {
    addressing = 'path';
    const slash = path.indexOf('/', 1);
    const rawBucket = slash === -1 ? path.slice(1) : path.slice(1, slash);
    rawKey = slash === -1 ? '' : path.slice(slash + 1);
    if (rawBucket.length === 0) {
      bucket = null;
    } else {
      const decoded = percentDecode(rawBucket, false);
      if (decoded === null) problem = also(problem, 'invalid percent-encoding in bucket name; raw text kept');
      bucket = decoded ?? rawBucket;
    }
  }

  let key: string | null = null;
  if (rawKey.length > 0) {
    const decoded = percentDecode(rawKey, false);
    if (decoded === null) problem = also(problem, 'invalid percent-encoding in object key; raw text kept');
    key = decoded ?? rawKey;
  }
  if (bucket === null && key !== null) {
    // "//x" in path style: an empty bucket name, so no object either.
    problem = also(problem, 'empty bucket name in path');
    key = null;
  }

  return { bucket, key, addressing, query: parsed.query, problem };
}
