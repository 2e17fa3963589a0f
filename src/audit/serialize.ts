// The event's JSON text, written by a serializer that knows the event's shape (the fast-json-stringify
// idea, hand-written because the shape is fixed and small). It runs once per request on the request
// thread: 1.3 µs against 3.2-3.9 µs for JSON.stringify on the proxy's events (bench/micro-audit.ts).
// The output is JSON.stringify(event) with U+2028, U+2029 and U+0085 escaped as \uXXXX (they split
// lines for JavaScript and Unicode-aware log tools; see src/json-text.ts): JSON.parse gives the same
// value. test/unit/serialize-event.test.ts checks it on every builder's events, so adding a field to
// AuditEvent without adding it here fails a test.
import type { AuditEvent } from './event.js';
import { escapeLineSeparators } from '../json-text.js';

// Anything JSON.stringify would escape (quotes, backslash, control characters) or might (lone
// surrogates, which it writes as \uXXXX), and the line separators: such strings take the generic path.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff\u0085\u2028\u2029]/;

function str(s: string | null): string {
  if (s === null) return 'null';
  return NEEDS_ESCAPE.test(s) ? escapeLineSeparators(JSON.stringify(s)) : '"' + s + '"';
}

/** JSON.stringify for the rare nested parts, line separators escaped. */
function nested(v: unknown): string {
  return escapeLineSeparators(JSON.stringify(v));
}

/** JSON.stringify's number rule: finite numbers as String(n) does, everything else null. */
function num(n: number | null): string {
  return n === null || !Number.isFinite(n) ? 'null' : String(n);
}

const FRACTION = buildFractions();
function buildFractions(): string[] {
  // ".001" ... ".999" with trailing zeros removed (".1", ".25"), as the shortest decimal form has them.
  const out = new Array<string>(1000);
  out[0] = '';
  for (let f = 1; f < 1000; f++) out[f] = ('.' + String(f).padStart(3, '0')).replace(/0+$/, '');
  return out;
}

/**
 * num() for timings, which buildEvent rounds to 3 decimals: written from integer parts, since
 * V8's shortest-double printing (what String(n) does for 0.125) was the costliest step of the
 * serializer. The integer ms and the 3-digit fraction print the same text as String(n) whenever
 * n is exactly k/1000 (checked); anything else takes String(n).
 */
function ms3(n: number | null): string {
  if (n === null || !(n >= 0 && n < 1e9)) return num(n);
  const k = Math.round(n * 1000);
  if (k / 1000 !== n) return String(n);
  const whole = Math.floor(k / 1000);
  return String(whole) + FRACTION[k - whole * 1000]!;
}

function dict(o: Record<string, string>): string {
  let out = '{';
  for (const k in o) {
    if (out.length > 1) out += ',';
    out += str(k) + ':' + str(o[k]!);
  }
  return out + '}';
}

function strList(list: readonly string[] | null): string {
  if (list === null) return 'null';
  let out = '[';
  for (let i = 0; i < list.length; i++) out += (i === 0 ? '' : ',') + str(list[i]!);
  return out + ']';
}

/** The inside of str(s)'s quotes: for strings that are never null, whose quotes sit in the constant
 * text around them (one concatenation less per field, and one string less to allocate). */
function inner(s: string): string {
  return NEEDS_ESCAPE.test(s) ? escapeLineSeparators(JSON.stringify(s)).slice(1, -1) : s;
}

// Fields with few distinct values (version, kind, API name, method, bucket, host, user agent,
// client address, outcome): the last value each one wrote without escaping is remembered per field,
// and the same value again skips the escape test (=== is a pointer or a short memcmp; the test
// scans the string).
const SAFE: string[] = [];
const enum Slot { Version, Kind, Name, Bucket, Addressing, Method, Host, UserAgent, Ip, Outcome }

/** inner(s) for the field `slot`. */
function innerAt(s: string, slot: Slot): string {
  if (s === SAFE[slot]) return s;
  if (NEEDS_ESCAPE.test(s)) return escapeLineSeparators(JSON.stringify(s)).slice(1, -1);
  SAFE[slot] = s;
  return s;
}

/** str(s) for the field `slot`. */
function strAt(s: string | null, slot: Slot): string {
  if (s === null) return 'null';
  if (s === SAFE[slot]) return '"' + s + '"';
  if (NEEDS_ESCAPE.test(s)) return escapeLineSeparators(JSON.stringify(s));
  SAFE[slot] = s;
  return '"' + s + '"';
}

// Sections that repeat from one event to the next (one client signs every request with the same
// credential scope; the proxy's host, backend and instance rarely change): the text written is kept
// with the values it was written from and reused when they are the same (compared with ===, so any
// difference writes the section anew). The auth section is kept per access key: a proxy serves many
// clients at a time, whose requests interleave, and a single remembered section was rewritten at
// nearly every event then. Up to AUTH_SECTIONS_MAX keys are kept; once full, a new key's section is
// only remembered as the last one (as before), and the kept set is forgotten after AUTH_REFRESH_MISSES
// such misses so that it follows the clients of the hour. (Replacing entries at every miss made a
// proxy with more clients than kept slower than one memo: 1.2 -> 4.4 µs per event, measured.)
// The key string is the one the SigV4 scope memo hands out for a client (src/s3/auth-header.ts),
// whose hash V8 keeps: the lookup does not rescan it.
const AUTH_SECTIONS_MAX = 64;
const AUTH_REFRESH_MISSES = 4096;
let authMissesWhenFull = 0;
/** Longer sections (a client's odd SignedHeaders list) are written every time: the cache stays under 64 × 2 KiB. */
const AUTH_SECTION_MAX_CHARS = 2048;
interface AuthSection { readonly key: readonly unknown[]; readonly text: string }
const authSections = new Map<string | null, AuthSection>();
/** The section used last: a lone client's events skip the map lookup. */
let lastAuth: AuthSection = { key: [], text: '' }; // key[1] (undefined) matches no access key
function authSection(u: AuditEvent['auth']): string {
  const hit = lastAuth.key[1] === u.accessKey ? lastAuth : authSections.get(u.accessKey);
  const sh = u.signedHeaders;
  if (hit !== undefined) {
    const k = hit.key;
    if (k[0] === u.type && k[2] === u.region && k[3] === u.signatureVersion && k[4] === u.payloadSigning &&
      k[5] === u.sessionToken && k[6] === u.verified && k[7] === u.problem && sameList(k[8] as readonly string[] | null, sh)) {
      lastAuth = hit;
      return hit.text;
    }
  }
  const text = '},"auth":{"type":' + str(u.type) + ',"accessKey":' + str(u.accessKey) + ',"region":' + str(u.region) +
    ',"signatureVersion":' + str(u.signatureVersion) + ',"signedHeaders":' + strList(sh) +
    ',"payloadSigning":' + str(u.payloadSigning) + ',"sessionToken":' + u.sessionToken +
    ',"verified":' + (u.verified === null ? 'null' : u.verified) + ',"problem":' + str(u.problem) + '},"client":{"ip":"';
  if (text.length > AUTH_SECTION_MAX_CHARS) return text;
  lastAuth = {
    key: [u.type, u.accessKey, u.region, u.signatureVersion, u.payloadSigning, u.sessionToken, u.verified, u.problem, sh === null ? null : [...sh]],
    text,
  };
  if (authSections.size < AUTH_SECTIONS_MAX || authSections.has(u.accessKey)) authSections.set(u.accessKey, lastAuth);
  else if (++authMissesWhenFull >= AUTH_REFRESH_MISSES) {
    authMissesWhenFull = 0;
    authSections.clear();
  }
  return text;
}

/** How many auth sections are kept (for the bound's test). */
export function authSectionsKept(): number { return authSections.size; }

function sameList(a: readonly string[] | null | undefined, b: readonly string[] | null): boolean {
  if (a === b) return true;
  if (a === null || a === undefined || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let proxyKey: Array<string | null | undefined> = [];
let proxyText = '';
function proxySection(p: AuditEvent['proxy']): string {
  const k = proxyKey;
  if (k.length === 3 && k[0] === p.host && k[1] === p.backend && k[2] === p.instance) return proxyText;
  proxyText = ',"proxy":{"host":' + str(p.host) + ',"backend":' + str(p.backend) + (p.instance === undefined ? '' : ',"instance":' + str(p.instance)) + '}}';
  proxyKey = [p.host, p.backend, p.instance];
  return proxyText;
}

/** True when dict(o) is "{}" (the same for-in). */
function isEmpty(o: Record<string, string>): boolean {
  for (const _ in o) return false;
  return true;
}

function readOnlyText(b: boolean): string {
  return b === true ? ',"readOnly":true' : b === false ? ',"readOnly":false' : ',"readOnly":' + b;
}

/** JSON text of an audit event: JSON.stringify(event) with the line separators escaped. Rare nested
 * parts (copy source, DeleteObjects keys, TLS) go through JSON.stringify.
 * Every `+` of a long result makes a string piece that V8 copies again when the text is encoded:
 * the usual values (nulls, empty maps, no TLS) are written with the constant text around them. */
export function serializeEvent(e: AuditEvent): string {
  const a = e.api;
  const q = e.request;
  const r = e.response;
  const c = e.client;
  return '{"version":"' + innerAt(e.version, Slot.Version) + '","id":"' + inner(e.id) +
    (e.sequence === undefined ? '","kind":"' : '","sequence":' + num(e.sequence) + ',"kind":"') + innerAt(e.kind, Slot.Kind) + '","time":"' + inner(e.time) +
    '","api":{"name":"' + innerAt(a.name, Slot.Name) + '","bucket":' + strAt(a.bucket, Slot.Bucket) + ',"object":' + str(a.object) +
    ',"addressing":' + strAt(a.addressing, Slot.Addressing) + readOnlyText(a.readOnly) +
    (a.versionId === null && a.uploadId === null && a.partNumber === null ? ',"versionId":null,"uploadId":null,"partNumber":null'
      : ',"versionId":' + str(a.versionId) + ',"uploadId":' + str(a.uploadId) + ',"partNumber":' + num(a.partNumber)) +
    (a.copySource === null && a.objects === null && a.objectsTruncated === false ? ',"copySource":null,"objects":null,"objectsTruncated":false'
      : ',"copySource":' + (a.copySource === null ? 'null' : nested(a.copySource)) +
        ',"objects":' + (a.objects === null ? 'null' : nested(a.objects)) +
        ',"objectsTruncated":' + a.objectsTruncated) +
    (a.problem === undefined ? '' : ',"problem":' + str(a.problem)) +
    (a.objectsSkipped === undefined ? '' : ',"objectsSkipped":' + num(a.objectsSkipped)) +
    '},"request":{"id":"' + inner(q.id) + '","method":"' + innerAt(q.method, Slot.Method) + '","path":"' + inner(q.path) +
    (isEmpty(q.query) ? '","query":{},"host":' : '","query":' + dict(q.query) + ',"host":') + strAt(q.host, Slot.Host) + ',"userAgent":' + strAt(q.userAgent, Slot.UserAgent) +
    (q.contentLength === null && q.decodedContentLength === null ? ',"contentLength":null,"decodedContentLength":null'
      : ',"contentLength":' + num(q.contentLength) + ',"decodedContentLength":' + num(q.decodedContentLength)) +
    (isEmpty(q.headers) ? ',"headers":{}},"response":{"statusCode":' : ',"headers":' + dict(q.headers) + '},"response":{"statusCode":') + num(r.statusCode) +
    (r.errorCode === null && r.errorMessage === null ? ',"errorCode":null,"errorMessage":null,"requestId":'
      : ',"errorCode":' + str(r.errorCode) + ',"errorMessage":' + str(r.errorMessage) + ',"requestId":') +
    str(r.requestId) + ',"hostId":' + str(r.hostId) + ',"contentLength":' + num(r.contentLength) +
    (isEmpty(r.headers) ? ',"headers":{}' : ',"headers":' + dict(r.headers)) +
    authSection(e.auth) + innerAt(c.ip, Slot.Ip) + '","port":' + num(c.port) +
    (c.peerIp === null && e.tls === null ? ',"peerIp":null},"tls":null,"bytes":{"received":'
      : ',"peerIp":' + str(c.peerIp) + '},"tls":' + (e.tls === null ? 'null' : nested(e.tls)) + ',"bytes":{"received":') +
    num(e.bytes.received) + ',"sent":' + num(e.bytes.sent) +
    '},"timing":{"firstByteMs":' + ms3(e.timing.firstByteMs) + ',"totalMs":' + ms3(e.timing.totalMs) +
    '},"outcome":"' + innerAt(e.outcome, Slot.Outcome) + (e.outcomeDetail === null ? '","outcomeDetail":null' : '","outcomeDetail":' + str(e.outcomeDetail)) +
    proxySection(e.proxy);
}
