// Micro-benchmark of the per-request audit work, in one process, no network: what each step costs
// on the request path's thread. Not part of `npm run bench` (run: node dist/bench/micro-audit.js).
//   buildEvent            RequestObservation -> AuditEvent (parse target, classify, parse auth, ...)
//   JSON.stringify        the event -> JSON text (done in AuditDispatcher.enqueue)
//   Buffer.byteLength     its UTF-8 size (enqueue)
//   eventTimeMs           Date.parse of event.time (enqueue)
//   formatter body        HEC envelope for a 500-event batch, per event (dispatcher, off the request)
//   alternative body      the same bytes built as one string + one Buffer.from (for comparison)
//   buildEvent steps      parseTarget, classify, parseAuth, uuidv7, time, client address, one by one
//   serializeEvent        the fixed-shape serializer the proxy uses instead of JSON.stringify
//   DeleteObjects         event-loop block of reading a 1000-key request and its reply as they stream
import { measureDeleteObjectsBlock } from './delete-objects-block.js';
import { buildEvent } from '../src/audit/build-event.js';
import { RequestObservation } from '../src/proxy/observation.js';
import { sampleContext, sampleObservation } from './lib/sample-observation.js';
import { createFormatter, eventTimeMs, hecTime } from '../src/dispatch/formats.js';
import { serializeEvent } from '../src/audit/serialize.js';
import { uuidv7 } from '../src/audit/uuidv7.js';
import {
  classify, parseAuth, parseTarget, type S3RequestInput,
} from '../src/s3/index.js';

const ctx = sampleContext;
const observation = sampleObservation;

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

// ---- the steps inside buildEvent --------------------------------------------------------------------
const input = (o: RequestObservation): S3RequestInput => ({ method: o.req.method ?? '', url: o.req.url ?? '/', headers: o.req.headers, virtualHostDomains: [] });
time('  buildEvent step: parseTarget', N, (i) => parseTarget(input(obsList[i & 1023]!)));
const targets = obsList.map((o) => parseTarget(input(o)));
time('  buildEvent step: classify', N, (i) => classify(input(obsList[i & 1023]!), targets[i & 1023]));
time('  buildEvent step: parseAuth (SigV4 header)', N, (i) => parseAuth(input(obsList[i & 1023]!), targets[i & 1023]!.query));
time('  buildEvent step: uuidv7', N, () => uuidv7(1_732_530_000_000));
time('  buildEvent step: new Date(ms).toISOString()', N, (i) => new Date(1_732_530_000_000 + i).toISOString());
time('  buildEvent step: trusted-proxy client address', N, (i) => ctx.trustedProxies.clientAddress('127.0.0.1', obsList[i & 1023]!.req.headers));

// ---- the serializer the proxy uses (src/audit/serialize.ts) -----------------------------------------
const same = events.every((e, i) => serializeEvent(e) === jsons[i]);
process.stdout.write(`\nserializeEvent output identical to JSON.stringify on all ${events.length} events: ${same}\n`);
time('serializeEvent(event) (fixed-shape serializer)', N, (i) => serializeEvent(events[i & 1023]!));
// Many clients at once: their requests interleave, each signing with its own access key.
const clientKeys = Array.from({ length: 32 }, (_, i) => `AKIA${String(i).padStart(16, '0')}`);
const interleaved = events.map((e, i) => ({ ...e, auth: { ...e.auth, accessKey: clientKeys[i % 32]! } }));
time('serializeEvent, 32 interleaved clients', N, (i) => serializeEvent(interleaved[i & 1023]!));
time('whole request-path audit step with serializeEvent', N, (i) => {
  const e = buildEvent(obsList[i & 1023]!, ctx);
  return Buffer.byteLength(serializeEvent(e)) + eventTimeMs(e.time);
});

// ---- DeleteObjects bodies read as they stream (bench/delete-objects-block.ts) ------------------------
{
  const r = measureDeleteObjectsBlock();
  process.stdout.write(`\nDeleteObjects, 1000 keys of 1 KiB (request ${r.requestMiB.toFixed(2)} MiB + reply ${r.replyMiB.toFixed(2)} MiB, 64 KiB chunks):\n`);
  process.stdout.write(`${'  event-loop block per 64 KiB chunk, median'.padEnd(58)} ${r.chunkMedianMs.toFixed(3).padStart(7)} ms\n`);
  process.stdout.write(`${'  event-loop block per 64 KiB chunk, p99'.padEnd(58)} ${r.chunkP99Ms.toFixed(3).padStart(7)} ms\n`);
  process.stdout.write(`${'  event-loop block per 64 KiB chunk, max (target <= 5 ms)'.padEnd(58)} ${r.chunkMaxMs.toFixed(3).padStart(7)} ms\n`);
  process.stdout.write(`${'  whole request + reply + entries, median'.padEnd(58)} ${r.totalMedianMs.toFixed(3).padStart(7)} ms\n`);
}
