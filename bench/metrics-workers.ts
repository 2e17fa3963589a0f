// How `serve --workers N` should aggregate the request metrics of its workers, measured with real
// node:cluster workers and IPC (run: node dist/bench/metrics-workers.js [workers] [requests]).
// Not part of `npm run bench`.
//
//   deltas      what the proxy does: a worker counts in its RequestMetrics and hands the primary
//               what it counted since its last message (takeDelta), with its events, every few ms
//               (here: one message per BATCH requests, the channel's batch at ~10k req/s); the
//               primary merges. Costs per request (measured against the same messages without a
//               delta, since the events travel anyway); a scrape reads the primary's registry only.
//   aggregator  prom-client's AggregatorRegistry: workers only count; each scrape asks every worker
//               for its registry as JSON over IPC and sums. Costs per scrape.
//
// Reported: CPU per request in the worker and in the primary (process.cpuUsage over the phase,
// minus the same loop without metrics messages), and the median scrape time of each way.
import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { RequestMetrics, renderMetrics, type RequestMetricsDelta } from '../src/admin/metrics.js';
import { API_LEVEL } from '../src/s3/index.js';

const WORKERS = Number(process.argv[2] ?? 2);
const REQUESTS = Number(process.argv[3] ?? 400_000);
const BATCH = 50;
const SCRAPES = 30;
const APIS = [...API_LEVEL.keys()].slice(0, 24); // a busy proxy's API mix, bounded
const STATUS = [200, 200, 200, 404, 200, 200, 206, 503];

type Mode = 'plain' | 'empty' | 'deltas';
type Cmd = { t: 'run'; mode: Mode } | { t: 'exit' };
type Reply = { t: 'ready' } | { t: 'done'; cpuUs: number } | { t: 'delta'; d: RequestMetricsDelta | null };

const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;
const cpuUs = (): number => { const u = process.cpuUsage(); return u.user + u.system; };

if (cluster.isWorker) {
  const rm = new RequestMetrics();
  const agg = new AggregatorRegistry(); // installs the worker's answer to the primary's scrape request
  void agg;
  AggregatorRegistry.setRegistries([rm.registry]);
  process.on('message', (m: Cmd) => {
    if (m.t === 'exit') process.exit(0);
    if (m.t !== 'run') return;
    const c0 = cpuUs();
    let i = 0;
    const chunk = (): void => {
      const end = Math.min(REQUESTS, i + 5000);
      for (; i < end; i++) {
        rm.observe(APIS[i % APIS.length]!, STATUS[i & 7]!, 'completed', (i % 997) * 0.37);
        if (m.mode !== 'plain' && i % BATCH === BATCH - 1) {
          process.send!({ t: 'delta', d: m.mode === 'deltas' ? rm.takeDelta() : null } satisfies Reply);
        }
      }
      if (i < REQUESTS) setImmediate(chunk);
      else process.send!({ t: 'done', cpuUs: cpuUs() - c0 } satisfies Reply);
    };
    chunk();
  });
  process.send!({ t: 'ready' } satisfies Reply);
} else {
  cluster.setupPrimary({ serialization: 'advanced' });
  const primary = new RequestMetrics();
  const aggregator = new AggregatorRegistry();
  const workers = Array.from({ length: WORKERS }, () => cluster.fork());
  // Messages sent before a worker listens are lost: wait for its word.
  await Promise.all(workers.map((w) => new Promise<void>((r) => { const on = (m: Reply): void => { if (m.t === 'ready') { w.off('message', on); r(); } }; w.on('message', on); })));
  for (const w of workers) w.on('message', (m: Reply) => { if (m.t === 'delta' && m.d !== null) primary.merge(m.d); });

  const phase = async (mode: Mode): Promise<{ workerUs: number; primaryUs: number }> => {
    const p0 = cpuUs();
    const done = workers.map((w) => new Promise<number>((resolve) => {
      const on = (m: Reply): void => { if (m.t === 'done') { w.off('message', on); resolve(m.cpuUs); } };
      w.on('message', on);
    }));
    for (const w of workers) w.send({ t: 'run', mode } satisfies Cmd);
    const ws = await Promise.all(done);
    await new Promise((r) => setTimeout(r, 200)); // the last deltas in flight
    return { workerUs: ws.reduce((a, b) => a + b, 0), primaryUs: cpuUs() - p0 };
  };

  const plain = await phase('plain');
  const empty = await phase('empty');
  const deltas = await phase('deltas');
  const total = WORKERS * REQUESTS;
  const ns = (us: number): string => ((us * 1000) / total).toFixed(0).padStart(6);
  process.stdout.write(`${WORKERS} workers x ${REQUESTS} requests, ${APIS.length} APIs, a delta every ${BATCH} requests\n`);
  process.stdout.write(`worker CPU per request, observe only            ${ns(plain.workerUs)} ns\n`);
  process.stdout.write(`worker CPU per request, + a message per ${String(BATCH).padEnd(3)}      ${ns(empty.workerUs)} ns (the event messages that go anyway)\n`);
  process.stdout.write(`worker CPU per request, + the delta in it       ${ns(deltas.workerUs)} ns -> delta: ${ns(deltas.workerUs - empty.workerUs)} ns\n`);
  process.stdout.write(`primary CPU per request, receive (no delta)     ${ns(empty.primaryUs - plain.primaryUs)} ns\n`);
  process.stdout.write(`primary CPU per request, receive + merge        ${ns(deltas.primaryUs - plain.primaryUs)} ns -> delta: ${ns(deltas.primaryUs - empty.primaryUs)} ns\n`);

  const scrapeDeltas: number[] = [];
  const scrapeAgg: number[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    let t0 = performance.now();
    await renderMetrics([primary.registry]);
    scrapeDeltas.push(performance.now() - t0);
    t0 = performance.now();
    await aggregator.clusterMetrics();
    scrapeAgg.push(performance.now() - t0);
  }
  process.stdout.write(`scrape, deltas (primary registry only)          ${median(scrapeDeltas).toFixed(2).padStart(6)} ms (median of ${SCRAPES})\n`);
  process.stdout.write(`scrape, AggregatorRegistry.clusterMetrics()     ${median(scrapeAgg).toFixed(2).padStart(6)} ms (median of ${SCRAPES})\n`);
  for (const w of workers) w.send({ t: 'exit' } satisfies Cmd);
}
