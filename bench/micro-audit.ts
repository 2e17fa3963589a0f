// Micro-benchmark of the per-request audit work, in one process, no network: what each step costs
// on the request path's thread. Not part of `npm run bench` (run: node dist/bench/micro-audit.js).
//   buildEvent            RequestObservation -> AuditEvent (parse target, classify, parse auth, ...)
//   JSON.stringify        the event -> JSON text (done in AuditDispatcher.enqueue)
//   Buffer.byteLength     its UTF-8 size (enqueue)
//   eventTimeMs           Date.parse of event.time (enqueue)
//   formatter body        HEC envelope for a 500-event batch, per event (dispatcher, off the request)
//   alternative body      the same bytes built as one string + one Buffer.from (for comparison)
import type { Socket } from 'node:net';
import { buildEvent, type EventContext } from '../src/audit/build-event.js';
import { TrustedProxies } from '../src/audit/client-address.js';
import { RequestObservation } from '../src/proxy/observation.js';
import { createFormatter, eventTimeMs, hecTime } from '../src/dispatch/formats.js';
import { S3_HEADERS } from './lib/wrk.js';

const headers: Record<string, string> = { host: '127.0.0.1:9080', ...Object.fromEntries(Object.entries(S3_HEADERS).map(([k, v]) => [k.toLowerCase(), v])) };
const rawHeaders = Object.entries(headers).flat();
const socket = { remoteAddress: '127.0.0.1', remotePort: 40123 } as unknown as Socket;
const responseHeaders = ['Server', 'nginx/1.22.1', 'Date', 'Tue, 25 Nov 2025 10:44:52 GMT', 'Content-Type', 'application/octet-stream',
  'Content-Length', '4096', 'Last-Modified', 'Tue, 25 Nov 2025 10:40:00 GMT', 'ETag', '"6925860c-1000"', 'Accept-Ranges', 'bytes'];
const ctx: EventContext = { virtualHostDomains: [], trustedProxies: new TrustedProxies([]), requestHeaders: [], responseHeaders: [], hostName: 'bench-host' };

function observation(i: number): RequestObservation {
  const obs = new RequestObservation(`C972C7${i.toString(16).padStart(10, '0')}`, { method: 'GET', url: `/bench/obj-${i & 1023}`, headers, rawHeaders, socket });
  obs.statusCode = 200;
  obs.responseHeaders = responseHeaders;
  obs.bytesSent = 4096;
  obs.firstByteMono = obs.startMono + 0.3;
  obs.endMono = obs.startMono + 0.4;
  obs.backend = 'http://127.0.0.1:8080';
  return obs;
}

function time(name: string, n: number, fn: (i: number) => unknown): number {
  let sink = 0;
  for (let i = 0; i < Math.min(n, 20_000); i++) if (fn(i)) sink++; // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) if (fn(i)) sink++;
  const ns = ((performance.now() - t0) * 1e6) / n;
  process.stdout.write(`${name.padEnd(58)} ${ns.toFixed(0).padStart(7)} ns/op${sink < 0 ? '!' : ''}\n`);
  return ns;
}

const N = Number(process.argv[2] ?? 200_000);
const obsList = Array.from({ length: 1024 }, (_, i) => observation(i));
const events = obsList.map((o) => buildEvent(o, ctx));
const jsons = events.map((e) => JSON.stringify(e));
process.stdout.write(`event JSON: ${Buffer.byteLength(jsons[0]!)} bytes\n`);

time('RequestObservation constructor (proxy, every request)', N, (i) => observation(i));
time('buildEvent', N, (i) => buildEvent(obsList[i & 1023]!, ctx));
time('JSON.stringify(event)', N, (i) => JSON.stringify(events[i & 1023]));
time('Buffer.byteLength(json)', N, (i) => Buffer.byteLength(jsons[i & 1023]!));
time('eventTimeMs(event.time) (Date.parse)', N, (i) => eventTimeMs(events[i & 1023]!.time));
time('Buffer.from(json) (encode once, alternative)', N, (i) => Buffer.from(jsons[i & 1023]!));
time('whole request-path audit step (build + stringify + byteLength + parse time)', N, (i) => {
  const e = buildEvent(obsList[i & 1023]!, ctx);
  const j = JSON.stringify(e);
  return Buffer.byteLength(j) + eventTimeMs(e.time);
});

const fmt = createFormatter('hec-event', { host: 'bench-host' });
const B = 500;
const bj = jsons.slice(0, B);
const bb = bj.map((j) => Buffer.byteLength(j));
const bt = bj.map((_, i) => 1_732_530_000_000 + i);
const perEvent = (ns: number): number => ns / B;
const nb = Math.max(50, Math.round(N / B));
const a = time(`HEC body of ${B} events (formats.ts body(), per batch)`, nb, () => fmt.body(bj, bb, bt));
process.stdout.write(`${'  = per event'.padEnd(58)} ${perEvent(a).toFixed(0).padStart(7)} ns/event\n`);
const middle = ',"host":"bench-host","source":"s3-audit-proxy","sourcetype":"_json","event":';
const b = time(`HEC body of ${B} events as one string + Buffer.from (alternative)`, nb, () => {
  let s = '';
  for (let i = 0; i < B; i++) s += '{"time":' + hecTime(bt[i]!) + middle + bj[i]! + '}\n';
  return Buffer.from(s, 'utf8');
});
process.stdout.write(`${'  = per event'.padEnd(58)} ${perEvent(b).toFixed(0).padStart(7)} ns/event\n`);
const CLOSE = Buffer.from('}\n');
const bufs = bj.map((j) => Buffer.from(j));
const c = time(`HEC body of ${B} pre-encoded Buffers + Buffer.concat (alternative)`, nb, () => {
  const parts: Buffer[] = [];
  for (let i = 0; i < B; i++) {
    parts.push(Buffer.from('{"time":' + hecTime(bt[i]!) + middle, 'latin1'), bufs[i]!, CLOSE);
  }
  return Buffer.concat(parts);
});
process.stdout.write(`${'  = per event'.padEnd(58)} ${perEvent(c).toFixed(0).padStart(7)} ns/event\n`);

// ---- prototype: a fixed-shape serializer for AuditEvent (what a src/audit/serialize.ts could be) ----
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;
const str = (s: string | null): string => (s === null ? 'null' : NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);
const num = (n: number | null): string => (n === null || !Number.isFinite(n) ? 'null' : String(n));
function dict(o: Record<string, string>): string {
  let out = '{';
  let first = true;
  for (const k in o) {
    out += (first ? '' : ',') + str(k) + ':' + str(o[k]!);
    first = false;
  }
  return out + '}';
}
type Ev = ReturnType<typeof buildEvent>;
function serializeEvent(e: Ev): string {
  const a = e.api;
  const q = e.request;
  const r = e.response;
  const u = e.auth;
  // copySource / objects / tls are rare: fall back to JSON.stringify for them
  return '{"version":"1","id":' + str(e.id) + ',"kind":' + str(e.kind) + ',"time":' + str(e.time) +
    ',"api":{"name":' + str(a.name) + ',"bucket":' + str(a.bucket) + ',"object":' + str(a.object) + ',"addressing":' + str(a.addressing) +
    ',"readOnly":' + a.readOnly + ',"versionId":' + str(a.versionId) + ',"uploadId":' + str(a.uploadId) + ',"partNumber":' + num(a.partNumber) +
    ',"copySource":' + (a.copySource === null ? 'null' : JSON.stringify(a.copySource)) + ',"objects":' + (a.objects === null ? 'null' : JSON.stringify(a.objects)) +
    ',"objectsTruncated":' + a.objectsTruncated + '},"request":{"id":' + str(q.id) + ',"method":' + str(q.method) + ',"path":' + str(q.path) +
    ',"query":' + dict(q.query) + ',"host":' + str(q.host) + ',"userAgent":' + str(q.userAgent) + ',"contentLength":' + num(q.contentLength) +
    ',"decodedContentLength":' + num(q.decodedContentLength) + ',"headers":' + dict(q.headers) + '},"response":{"statusCode":' + r.statusCode +
    ',"errorCode":' + str(r.errorCode) + ',"errorMessage":' + str(r.errorMessage) + ',"requestId":' + str(r.requestId) + ',"hostId":' + str(r.hostId) +
    ',"contentLength":' + num(r.contentLength) + ',"headers":' + dict(r.headers) + '},"auth":{"type":' + str(u.type) + ',"accessKey":' + str(u.accessKey) +
    ',"region":' + str(u.region) + ',"signatureVersion":' + str(u.signatureVersion) + ',"signedHeaders":' + (u.signedHeaders === null ? 'null' : '[' + u.signedHeaders.map(str).join(',') + ']') +
    ',"payloadSigning":' + str(u.payloadSigning) + ',"sessionToken":' + u.sessionToken + ',"verified":' + (u.verified === null ? 'null' : u.verified) + ',"problem":' + str(u.problem) +
    '},"client":{"ip":' + str(e.client.ip) + ',"port":' + num(e.client.port) + ',"peerIp":' + str(e.client.peerIp) + '},"tls":' + (e.tls === null ? 'null' : JSON.stringify(e.tls)) +
    ',"bytes":{"received":' + e.bytes.received + ',"sent":' + e.bytes.sent + '},"timing":{"firstByteMs":' + num(e.timing.firstByteMs) + ',"totalMs":' + num(e.timing.totalMs) +
    '},"outcome":' + str(e.outcome) + ',"outcomeDetail":' + str(e.outcomeDetail) + ',"proxy":{"host":' + str(e.proxy.host) + ',"backend":' + str(e.proxy.backend) + '}}';
}
const same = serializeEvent(events[0]!) === jsons[0];
process.stdout.write(`\nprototype serializer output identical to JSON.stringify: ${same}\n`);
time('prototype fixed-shape serializer (string concat)', N, (i) => serializeEvent(events[i & 1023]!));
time('prototype: build + serialize + byteLength', N, (i) => {
  const e = buildEvent(obsList[i & 1023]!, ctx);
  return Buffer.byteLength(serializeEvent(e));
});
