// `npm run bench:hang`: the receiver-hang measurement of the "keep every event" issue, as a new user
// runs it. nginx static backend, the HEC receiver of the benchmark (bench/hec-sink.ts) in its own
// process, s3-audit-proxy with DEFAULT settings (webhook enabled through the admin API), wrk with 32
// connections of 4 KiB GETs. The receiver answers for the first seconds, then accepts connections
// and never answers for HANG_S (default 30 s: longer than the 15 s request timeout), then answers
// again. Afterwards every event is accounted for from the proxy's own counters and the receiver's:
// generated = delivered + dropped (by reason) + dead-lettered, and events at the receiver >= delivered.
//
// Knobs: HANG_S (30), HANG_BEFORE_S (5), HANG_AFTER_S (5), HANG_CONNECTIONS (32).
// Results: bench/results/hang-full-load.{json,md} (BENCH_RESULTS_DIR to change).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../src/paths.js';
import { cpuSeconds, freePort, sleep, which, type Child } from './lib/proc.js';
import { backendConfig, startNginx } from './lib/nginx.js';
import { runWrk, writeWrkScript } from './lib/wrk.js';
import { startS3ap } from './lib/s3ap.js';
import { startSink, sinkMode, sinkStats } from './lib/sink.js';
import { machineInfo } from './lib/machine.js';

const num = (k: string, d: number): number => (process.env[k] !== undefined && Number.isFinite(Number(process.env[k])) ? Number(process.env[k]) : d);
const HANG_S = num('HANG_S', 30);
const BEFORE_S = num('HANG_BEFORE_S', 5);
const AFTER_S = num('HANG_AFTER_S', 5);
const CONNECTIONS = num('HANG_CONNECTIONS', 32);
const HEC_TOKEN = '9d1b3c2e-bench-4f00-8000-000000000002';
const ADMIN_TOKEN = 'bench-admin-token-hang-0123456789';
const ROOT = projectRoot();
const DIST = join(ROOT, 'dist');
const OUT = process.env['BENCH_RESULTS_DIR'] ?? join(ROOT, 'bench', 'results');
const t0 = Date.now();
const log = (m: string): void => { process.stdout.write(`[hang +${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}\n`); };

const tools = { nginx: which('nginx') ?? '/usr/sbin/nginx', wrk: which('wrk'), curl: which('curl') };
if (!tools.wrk) {
  process.stderr.write('bench:hang needs wrk and nginx (apt-get install wrk nginx-light)\n');
  process.exit(2);
}

/** Metric value from a Prometheus text exposition (sum over label sets when no labels are given). */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (labels ? rest.startsWith(`{${labels}}`) : rest.startsWith(' ') || rest.startsWith('{')) sum += Number(line.split(' ').pop());
  }
  return sum;
}

function byReason(text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^${name}\\{reason="([^"]+)"\\} (\\d+)$`, 'gm');
  for (const m of text.matchAll(re)) if (Number(m[2]) > 0) out[m[1]] = Number(m[2]);
  return out;
}

const children: Child[] = [];
const work = mkdtempSync(join(os.tmpdir(), 's3ap-hang-'));
try {
  const www = join(work, 'www');
  mkdirSync(join(www, 'bench'), { recursive: true });
  writeFileSync(join(www, 'bench', 'obj-4k'), randomBytes(4096));
  const port = await freePort();
  const prefix = join(work, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const nginx = await startNginx('nginx-backend', tools.nginx, prefix, backendConfig(prefix, www, port, 1), port);
  children.push(nginx.child);
  const sink = await startSink(process.execPath, DIST, HEC_TOKEN);
  children.push(sink.child);
  const proxy = await startS3ap({
    node: process.execPath, dist: DIST, work, hecUrl: sink.url, hecToken: HEC_TOKEN, adminToken: ADMIN_TOKEN,
    register: (c) => children.push(c), log,
  }, 'webhook', nginx.url);
  log(`proxy ${proxy.url} (${proxy.transport}), backend ${nginx.url}, receiver ${sink.url}`);
  const script = writeWrkScript(work, 'get', 'GET', '/bench/obj-4k', 0);
  const total = BEFORE_S + HANG_S + AFTER_S;
  const cpu0 = cpuSeconds(proxy.pid);
  const load = runWrk(tools.wrk, proxy.url, script, CONNECTIONS, total);
  const samples: Array<{ t: number; state: unknown; queued: unknown; spooled: unknown; dropped: unknown; inFlight: unknown }> = [];
  const sampler = setInterval(() => {
    void proxy.status().then((st) => {
      if (st) samples.push({ t: Math.round((Date.now() - t0) / 1000), state: st['state'], queued: st['queued'], spooled: st['spooled'], dropped: st['dropped'], inFlight: st['inFlight'] });
    });
  }, 1000);
  await sleep(BEFORE_S * 1000);
  await sinkMode(sink, 'hang');
  log(`receiver hangs for ${HANG_S} s`);
  await sleep(HANG_S * 1000);
  const during = await proxy.status();
  await sinkMode(sink, 'ok');
  log(`receiver answers again; status at the end of the hang: ${JSON.stringify(during)}`);
  const wrk = await load;
  const cpu = cpuSeconds(proxy.pid) - cpu0;
  log(`wrk: ${wrk.requests} requests, ${Math.round(wrk.rps)} req/s, p99 ${wrk.p99} ms, errors ${JSON.stringify(wrk.errors)}`);
  // drain (bounded): everything delivered or accounted for
  const drainStart = Date.now();
  let st: Record<string, unknown> | null = null;
  for (let i = 0; i < 600; i++) {
    st = await proxy.status();
    if (st && st['state'] === 'healthy' && st['queued'] === 0 && st['spooled'] === 0 && st['inFlight'] === 0) break;
    await sleep(500);
  }
  clearInterval(sampler);
  const drainS = Math.round((Date.now() - drainStart) / 100) / 10;
  await sleep(500);
  const m = (await proxy.metrics()) ?? '';
  const generated = metric(m, 's3ap_audit_events_enqueued_total');
  const delivered = metric(m, 's3ap_audit_events_delivered_total', 'target="webhook"');
  const dropped = metric(m, 's3ap_audit_events_dropped_total');
  const deadLettered = metric(m, 's3ap_audit_events_dead_lettered_total');
  const spooledTotal = metric(m, 's3ap_audit_events_spooled_total');
  const hec = await sinkStats(sink);
  const result = {
    command: 'npm run bench:hang', when: new Date().toISOString(), machine: machineInfo(tools),
    settings: `s3-audit-proxy defaults (queue 100000 events / 64 MiB, spool 1 GiB, webhook batch 500 / 1 MiB / 1 s, 2 requests in flight, 15 s request timeout); wrk ${CONNECTIONS} connections, 4 KiB GET; receiver healthy ${BEFORE_S} s, hanging ${HANG_S} s, healthy ${AFTER_S} s`,
    s3: { requests: wrk.requests, rps: Math.round(wrk.rps), p99Ms: wrk.p99, errors: wrk.errors, proxyCpuUsPerRequest: Math.round((cpu / Math.max(1, wrk.requests)) * 1e6 * 10) / 10 },
    events: { generated, delivered, dropped, droppedByReason: byReason(m, 's3ap_audit_events_dropped_total'), deadLettered, spooledTotal, balanced: generated === delivered + dropped + deadLettered, atReceiver: hec.events },
    endOfHang: during,
    drainSeconds: drainS,
    final: st,
    samples,
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'hang-full-load.json'), JSON.stringify(result, null, 2) + '\n');
  const md = [
    '# Receiver hanging under full load, default settings (`npm run bench:hang`)', '',
    `${result.when}, ${result.machine.cpuModel ?? ''} ${result.machine.cores ?? ''} cores. ${result.settings}.`, '',
    '| measure | value |', '| --- | --- |',
    `| S3 requests completed (wrk) | ${wrk.requests} (${Math.round(wrk.rps)} req/s, p99 ${wrk.p99} ms, errors ${wrk.errors.status + wrk.errors.timeout + wrk.errors.connect + wrk.errors.read + wrk.errors.write}) |`,
    `| events generated | ${generated} |`,
    `| delivered | ${delivered} |`,
    `| dropped | ${dropped} ${JSON.stringify(result.events.droppedByReason)} |`,
    `| dead-lettered | ${deadLettered} |`,
    `| generated = delivered + dropped + dead-lettered | ${result.events.balanced} |`,
    `| events at the receiver (duplicates included) | ${hec.events} |`,
    `| written to the spool during the run | ${spooledTotal} |`,
    `| status at the end of the hang | ${JSON.stringify(during ? { state: during['state'], queued: during['queued'], spooled: during['spooled'], dropped: during['dropped'], inFlight: during['inFlight'] } : null)} |`,
    `| drain after the receiver answered | ${drainS} s |`,
    `| proxy CPU per request (whole run, delivery included) | ${result.s3.proxyCpuUsPerRequest} µs |`, '',
  ].join('\n');
  writeFileSync(join(OUT, 'hang-full-load.md'), md);
  process.stdout.write(md + '\n');
  await proxy.stop();
  if (!result.events.balanced || dropped > 0) process.exitCode = 1;
} finally {
  for (const c of children.reverse()) await c.stop().catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
