// serializeEvent() written straight into a byte buffer (the dispatcher's slab), for events whose
// strings are plain ASCII that JSON leaves as it is: the usual case. The text serializer's output is
// a string of ~100 concatenated pieces, and turning that into bytes (V8 flattens it first) cost as
// much as building it; here the pieces go straight to the buffer, with the escape check done in the
// same pass. Anything else (a character to escape, non-ASCII, a rare nested part, no room left)
// returns -1 and the caller takes serializeEvent(): the bytes are always exactly
// Buffer.from(serializeEvent(e), 'utf8') (test/unit/serialize-event.test.ts checks every case there).
import type { AuditEvent } from './event.js';
import { authSection, proxySection, FRACTION } from './serialize.js';

/** Output state of the event being written (one at a time: synchronous, no re-entry). */
let out: Uint8Array = Buffer.alloc(0);
let pos = 0;
let end = 0;
let ok = true;

const bytesOf = (s: string): Uint8Array => Buffer.from(s, 'latin1');

/** Constant ASCII text. */
function raw(c: Uint8Array): void {
  const n = c.length;
  if (pos + n > end) {
    ok = false;
    return;
  }
  const o = out;
  const p = pos;
  if (n > 64) o.set(c, p); // long: one native copy beats the loop
  else for (let i = 0; i < n; i++) o[p + i] = c[i]!;
  pos = p + n;
}

/** The inside of a JSON string: only characters JSON.stringify writes as they are, ASCII. */
function asc(s: string): void {
  if (typeof s !== 'string') {
    ok = false;
    return;
  }
  const n = s.length;
  if (pos + n > end) {
    ok = false;
    return;
  }
  const o = out;
  const p = pos;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7f) {
      ok = false;
      return;
    }
    o[p + i] = c;
  }
  pos = p + n;
}

/** Text that is already ASCII as written (numbers printed by String()). */
function text(s: string): void {
  const n = s.length;
  if (pos + n > end) {
    ok = false;
    return;
  }
  const o = out;
  const p = pos;
  for (let i = 0; i < n; i++) o[p + i] = s.charCodeAt(i);
  pos = p + n;
}

const NULL = bytesOf('null');
const TRUE = bytesOf('true');
const FALSE = bytesOf('false');
const QUOTE = 0x22;

function byte(c: number): void {
  if (pos >= end) {
    ok = false;
    return;
  }
  out[pos++] = c;
}

function str(s: string | null): void {
  if (s === null) return raw(NULL);
  byte(QUOTE);
  asc(s);
  byte(QUOTE);
}

function bool(b: boolean): void {
  if (b === true) raw(TRUE);
  else if (b === false) raw(FALSE);
  else ok = false; // not a boolean: whatever the text path writes
}

/** Non-negative safe integers digit by digit; every other number as String(n) (JSON's rule). */
function num(n: number | null): void {
  if (n === null || !Number.isFinite(n)) return raw(NULL);
  if (!(Number.isSafeInteger(n) && n >= 0)) return text(String(n));
  if (n < 10) return byte(0x30 + n);
  let digits = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
  if (pos + digits > end) {
    ok = false;
    return;
  }
  let i = pos + digits - 1;
  let m = n;
  while (m >= 10) {
    const q = Math.floor(m / 10);
    out[i--] = 0x30 + (m - q * 10);
    m = q;
  }
  out[i] = 0x30 + m;
  pos += digits;
}

/** serialize.ts's ms3(): timings rounded to 3 decimals, printed as String(n) prints them. */
function ms3(n: number | null): void {
  if (n === null || !(n >= 0 && n < 1e9)) return num(n);
  const k = Math.round(n * 1000);
  if (k / 1000 !== n) return text(String(n));
  const whole = Math.floor(k / 1000);
  num(whole);
  text(FRACTION[k - whole * 1000]!);
}

function dict(o: Record<string, string>): void {
  byte(0x7b);
  let first = true;
  for (const k in o) {
    if (!first) byte(0x2c);
    first = false;
    str(k);
    byte(0x3a);
    str(o[k]!);
  }
  byte(0x7d);
}

// Sections the text serializer keeps from one event to the next: their bytes are kept beside them.
let authText = '';
let authBytes: Uint8Array = new Uint8Array(0);
let proxyText = '';
let proxyBytes: Uint8Array = new Uint8Array(0);

const c = (s: string): Uint8Array => bytesOf(s);
const K_ID = c('{"version":"1","id":"');
const K_SEQ = c('","sequence":');
const K_KIND_AFTER_SEQ = c(',"kind":"');
const K_KIND = c('","kind":"');
const K_TIME = c('","time":"');
const K_API = c('","api":{"name":"');
const K_BUCKET = c('","bucket":');
const K_OBJECT = c(',"object":');
const K_ADDRESSING = c(',"addressing":');
const K_READONLY = c(',"readOnly":');
const K_VERSIONID = c(',"versionId":');
const K_UPLOADID = c(',"uploadId":');
const K_PARTNUMBER = c(',"partNumber":');
const K_COPY_OBJECTS = c(',"copySource":null,"objects":null,"objectsTruncated":');
const K_PROBLEM = c(',"problem":');
const K_SKIPPED = c(',"objectsSkipped":');
const K_REQUEST = c('},"request":{"id":"');
const K_METHOD = c('","method":"');
const K_PATH = c('","path":"');
const K_QUERY = c('","query":');
const K_HOST = c(',"host":');
const K_UA = c(',"userAgent":');
const K_CL = c(',"contentLength":');
const K_DCL = c(',"decodedContentLength":');
const K_HEADERS = c(',"headers":');
const K_RESPONSE = c('},"response":{"statusCode":');
const K_ERRCODE = c(',"errorCode":');
const K_ERRMSG = c(',"errorMessage":');
const K_REQID = c(',"requestId":');
const K_HOSTID = c(',"hostId":');
const K_PORT = c('","port":');
const K_PEER = c(',"peerIp":');
const K_TLS_NULL = c('},"tls":null,"bytes":{"received":');
const K_SENT = c(',"sent":');
const K_TIMING = c('},"timing":{"firstByteMs":');
const K_TOTAL = c(',"totalMs":');
const K_OUTCOME = c('},"outcome":"');
const K_DETAIL = c('","outcomeDetail":');

/**
 * Writes the event's JSON (serializeEvent's text, UTF-8) into `buf` from `off`, not past `limit`.
 * Returns the offset after it, or -1 when this event takes the text path (see the header).
 */
export function serializeEventInto(e: AuditEvent, buf: Uint8Array, off: number, limit: number): number {
  const a = e.api;
  // Rare parts (and a version this writer does not know) take the text path.
  if (e.version !== '1' || a.copySource !== null || a.objects !== null || e.tls !== null) return -1;
  out = buf;
  pos = off;
  end = limit;
  ok = true;
  const q = e.request;
  const r = e.response;
  const cl = e.client;
  // The text serializer's cached sections, as bytes (rebuilt when their text changes).
  const auth = authSection(e.auth);
  if (auth !== authText) {
    authBytes = Buffer.from(auth, 'utf8');
    authText = auth;
  }
  const proxy = proxySection(e.proxy);
  if (proxy !== proxyText) {
    proxyBytes = Buffer.from(proxy, 'utf8');
    proxyText = proxy;
  }
  raw(K_ID);
  asc(e.id);
  if (e.sequence === undefined) raw(K_KIND);
  else {
    raw(K_SEQ);
    num(e.sequence);
    raw(K_KIND_AFTER_SEQ);
  }
  asc(e.kind);
  raw(K_TIME);
  asc(e.time);
  raw(K_API);
  asc(a.name);
  raw(K_BUCKET);
  str(a.bucket);
  raw(K_OBJECT);
  str(a.object);
  raw(K_ADDRESSING);
  str(a.addressing);
  raw(K_READONLY);
  bool(a.readOnly);
  raw(K_VERSIONID);
  str(a.versionId);
  raw(K_UPLOADID);
  str(a.uploadId);
  raw(K_PARTNUMBER);
  num(a.partNumber);
  raw(K_COPY_OBJECTS);
  bool(a.objectsTruncated);
  if (a.problem !== undefined) {
    raw(K_PROBLEM);
    str(a.problem);
  }
  if (a.objectsSkipped !== undefined) {
    raw(K_SKIPPED);
    num(a.objectsSkipped);
  }
  raw(K_REQUEST);
  asc(q.id);
  raw(K_METHOD);
  asc(q.method);
  raw(K_PATH);
  asc(q.path);
  raw(K_QUERY);
  dict(q.query);
  raw(K_HOST);
  str(q.host);
  raw(K_UA);
  str(q.userAgent);
  raw(K_CL);
  num(q.contentLength);
  raw(K_DCL);
  num(q.decodedContentLength);
  raw(K_HEADERS);
  dict(q.headers);
  raw(K_RESPONSE);
  num(r.statusCode);
  raw(K_ERRCODE);
  str(r.errorCode);
  raw(K_ERRMSG);
  str(r.errorMessage);
  raw(K_REQID);
  str(r.requestId);
  raw(K_HOSTID);
  str(r.hostId);
  raw(K_CL);
  num(r.contentLength);
  raw(K_HEADERS);
  dict(r.headers);
  raw(authBytes);
  asc(cl.ip);
  raw(K_PORT);
  num(cl.port);
  raw(K_PEER);
  str(cl.peerIp);
  raw(K_TLS_NULL);
  num(e.bytes.received);
  raw(K_SENT);
  num(e.bytes.sent);
  raw(K_TIMING);
  ms3(e.timing.firstByteMs);
  raw(K_TOTAL);
  ms3(e.timing.totalMs);
  raw(K_OUTCOME);
  asc(e.outcome);
  raw(K_DETAIL);
  str(e.outcomeDetail);
  raw(proxyBytes);
  const done = ok ? pos : -1;
  return done;
}
