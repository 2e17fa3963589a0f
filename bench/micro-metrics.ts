// Micro-benchmark of the request metrics, in one process: what observing one S3 request costs on
// the request path's thread, and what a scrape costs. Not part of `npm run bench`
// (run: node dist/bench/micro-metrics.js [observations]).
//   RequestMetrics.observe      what the proxy does per request (src/admin/metrics.ts)
//   prom-client direct          the same three updates with prom-client's own Counter/Histogram
//                               (labels object per call): the cost the hot path would pay
//   prom-client bound children  the same with `.labels()` children cached per API (prom-client
//                               still hashes the label object on every call)
//   takeDelta + merge           the `--workers` delta path, per request (a worker sends a delta
//                               every few ms; the primary merges it)
//   scrape                      RequestMetrics' registry rendered by prom-client, with every API seen
import { Counter, Histogram, Registry } from 'prom-client';
import { RequestMetrics, LATENCY_BUCKETS } from '../src/admin/metrics.js';
import { API_LEVEL } from '../src/s3/index.js';

const ROUNDS = 7;
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;

/** Median of ROUNDS timed runs of n calls (the box is shared: the median resists a busy neighbour). */
function time(name: string, n: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(n, 50_000); i++) fn(i); // warm-up
  const per: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    per.push(((performance.now() - t0) * 1e6) / n);
  }
  const ns = median(per);
  process.stdout.write(`${name.padEnd(62)} ${ns.toFixed(0).padStart(7)} ns/op\n`);
  return ns;
}

async function timeAsync(name: string, n: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < 20; i++) await fn();
  const per: number[] = [];
  for (let r = 0; r < n; r++) {
    const t0 = performance.now();
    await fn();
    per.push((performance.now() - t0) * 1e3);
  }
  const us = median(per);
  process.stdout.write(`${name.padEnd(62)} ${us.toFixed(0).padStart(7)} µs/op (median)\n`);
  return us;
}

const N = Number(process.argv[2] ?? 500_000);
// A realistic mix: mostly GetObject/PutObject/HeadObject, a few others; statuses mostly 2xx.
const APIS = ['GetObject', 'PutObject', 'HeadObject', 'GetObject', 'ListObjectsV2', 'GetObject', 'PutObject', 'DeleteObject'];
const STATUS = [200, 200, 200, 404, 200, 200, 206, 503];
const MS = [0.4, 3, 12, 0.8, 40, 1.5, 250, 7];
const at = (i: number): [string, number, number] => [APIS[i & 7]!, STATUS[(i >> 3) & 7]!, MS[(i >> 1) & 7]!];

const rm = new RequestMetrics();
time('RequestMetrics.observe (the proxy, per request)', N, (i) => {
  const [api, st, ms] = at(i);
  rm.observe(api, st, 'completed', ms);
});

const reg = new Registry();
const pcReq = new Counter({ name: 'b_requests_total', help: 'h', labelNames: ['api', 'status_class'], registers: [reg] });
const pcOut = new Counter({ name: 'b_outcomes_total', help: 'h', labelNames: ['outcome'], registers: [reg] });
const pcLat = new Histogram({ name: 'b_duration_seconds', help: 'h', labelNames: ['api'], buckets: [...LATENCY_BUCKETS], registers: [reg] });
const cls = (s: number): string => (s < 300 ? '2xx' : s < 500 ? '4xx' : '5xx');
time('prom-client direct (3 updates, label objects)', N, (i) => {
  const [api, st, ms] = at(i);
  pcReq.inc({ api, status_class: cls(st) });
  pcOut.inc({ outcome: 'completed' });
  pcLat.observe({ api }, ms / 1000);
});

const reqChildren = new Map<string, { inc(v?: number): void }>();
const latChildren = new Map<string, { observe(v: number): void }>();
const outChild = pcOut.labels({ outcome: 'completed' });
time('prom-client bound children (cached per API)', N, (i) => {
  const [api, st, ms] = at(i);
  const k = `${api} ${cls(st)}`;
  let c = reqChildren.get(k);
  if (!c) reqChildren.set(k, (c = pcReq.labels({ api, status_class: cls(st) })));
  c.inc();
  outChild.inc();
  let h = latChildren.get(api);
  if (!h) latChildren.set(api, (h = pcLat.labels({ api })));
  h.observe(ms / 1000);
});

const worker = new RequestMetrics();
const primary = new RequestMetrics();
const PER_MESSAGE = 64; // requests per worker message at ~10k req/s and a 5 ms channel flush
time(`--workers delta: observe + takeDelta/merge every ${PER_MESSAGE}`, N, (i) => {
  const [api, st, ms] = at(i);
  worker.observe(api, st, 'completed', ms);
  if (i % PER_MESSAGE === PER_MESSAGE - 1) {
    const d = worker.takeDelta();
    if (d) primary.merge(structuredClone(d));
  }
});

// Scrape: every API name seen once, so the registry holds its worst-case series count.
const full = new RequestMetrics();
let k = 0;
for (const api of API_LEVEL.keys()) for (const st of [200, 404, 503]) full.observe(api, st, 'completed', (k++ % 300) + 0.5);
await timeAsync(`scrape RequestMetrics.render(), ${API_LEVEL.size} APIs x 3 classes`, 200, () => full.render());
for (const api of API_LEVEL.keys()) for (const st of [200, 404, 503]) { pcReq.inc({ api, status_class: cls(st) }); pcLat.observe({ api }, 0.01); }
await timeAsync('scrape prom-client direct registry, same series', 200, () => reg.metrics());
