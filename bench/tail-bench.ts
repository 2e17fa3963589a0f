// What a live stream costs S3 traffic: GET throughput and proxy CPU per request with the webhook
// enabled and (A) no stream attached, (B) `s3-audit-proxy tail --json` reading (its output read
// and thrown away), (C) a stalled stream client (a raw socket that asked for the stream and never reads).
// Rounds run A B C C B A, BENCH_TAIL_SECONDS each (default 8), so a change in the background load of
// a shared machine hits every row alike; a row is its two rounds summed. Ratios are against A, from
// the same run. After the run every event must have reached the HEC receiver (delivered = generated).
//
//   npm run build && node dist/bench/tail-bench.js      -> bench/results/tail/results.{md,json}
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { projectRoot } from '../src/paths.js';
import { cpuSeconds, spawnChild, spawnReady, waitFor, which, type Child } from './lib/proc.js';
import { runWrk, writeWrkScript, type WrkResult } from './lib/wrk.js';
import { startS3ap, type S3apContext } from './lib/s3ap.js';
import { startSink, sinkStats } from './lib/sink.js';

const ROOT = projectRoot();
const NODE = process.execPath;
const DIST = join(ROOT, 'dist');
const HEC_TOKEN = '9d1b3c2e-bench-4f00-8000-000000000001';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const SECONDS = Number(process.env['BENCH_TAIL_SECONDS'] ?? 8);
const CONNECTIONS = Number(process.env['BENCH_TAIL_CONNECTIONS'] ?? 32);
const OUT = join(ROOT, 'bench', 'results', 'tail');

const log = (m: string): void => { process.stderr.write(`[tail-bench] ${m}\n`); };
const wrk = which('wrk');
if (!wrk) throw new Error('wrk not found (apt-get install wrk)');

const WORK = mkdtempSync(join(os.tmpdir(), 's3ap-tail-bench-'));
const WWW = join(WORK, 'www');
mkdirSync(join(WWW, 'bench'), { recursive: true });
writeFileSync(join(WWW, 'bench', 'obj-4k'), randomBytes(4096));
const children: Child[] = [];

type Mode = 'none' | 'reading' | 'stalled';
interface Round { mode: Mode; w: WrkResult; cpuS: number; tailCpuS: number }

async function main(): Promise<void> {
  const backend = await spawnReady('node-backend', NODE, [join(DIST, 'bench', 'node-backend.js'), WWW], (l) => (l.startsWith('LISTENING ') ? Number(l.slice(10)) : undefined));
  children.push(backend.child);
  const sink = await startSink(NODE, DIST, HEC_TOKEN);
  children.push(sink.child);
  const ctx: S3apContext = { node: NODE, dist: DIST, work: WORK, hecUrl: sink.url, hecToken: HEC_TOKEN, adminToken: ADMIN_TOKEN, register: (c) => children.push(c), log };
  const proxy = await startS3ap(ctx, 'webhook', `http://127.0.0.1:${backend.value}`);
  if (proxy.transport !== 'webhook (admin API)') throw new Error(`the webhook must be enabled through the admin API (got ${proxy.transport})`);
  const adminLine = proxy.child.lines.map((l) => { try { return JSON.parse(l) as { msg?: string; admin?: string }; } catch { return {}; } }).find((r) => r.msg === 'admin API listening');
  const adminUrl = adminLine?.admin;
  if (!adminUrl) throw new Error('no admin URL in the proxy log');
  const script = writeWrkScript(WORK, 'get-4k', 'GET', '/bench/obj-4k', 0);
  const metric = async (name: string): Promise<number> => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await proxy.metrics()) ?? '')?.[1] ?? NaN);

  log(`warm-up ${Math.min(3, SECONDS)} s`);
  await runWrk(wrk!, proxy.url, script, CONNECTIONS, Math.min(3, SECONDS));

  const attach = async (mode: Mode): Promise<{ detach(): Promise<void>; cpu(): number }> => {
    if (mode === 'none') return { detach: async () => {}, cpu: () => 0 };
    if (mode === 'reading') {
      // its stdout is a pipe read (and thrown away past 2000 lines) by this process
      const c = spawnChild('tail', NODE, [join(DIST, 'src', 'cli', 'main.js'), 'tail', '--json', '--admin', adminUrl, '--admin-token', ADMIN_TOKEN], { env: { PATH: process.env['PATH'], HOME: process.env['HOME'] } });
      children.push(c);
      if (!(await waitFor(() => c.lines.some((l) => l.includes('streaming events from')), 20_000))) throw new Error(`tail did not attach: ${c.lines.join('\n')}`);
      return { detach: () => c.stop(), cpu: () => cpuSeconds(c.pid) };
    }
    const sock = net.connect(Number(new URL(adminUrl).port), '127.0.0.1');
    await new Promise<void>((resolve, reject) => { sock.once('connect', () => resolve()); sock.once('error', reject); });
    sock.write(`GET /api/v1/events/stream HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`);
    sock.pause();
    if (!(await waitFor(async () => (await metric('s3ap_audit_stream_clients')) === 1, 10_000))) throw new Error('the stalled client did not attach');
    return { detach: async () => { sock.destroy(); }, cpu: () => 0 };
  };

  const rounds: Round[] = [];
  for (const mode of ['none', 'reading', 'stalled', 'stalled', 'reading', 'none'] as Mode[]) {
    const a = await attach(mode);
    const t0 = a.cpu();
    const c0 = cpuSeconds(proxy.pid);
    const w = await runWrk(wrk!, proxy.url, script, CONNECTIONS, SECONDS);
    const cpuS = cpuSeconds(proxy.pid) - c0;
    const tailCpuS = a.cpu() - t0;
    await a.detach();
    await waitFor(async () => (await metric('s3ap_audit_stream_clients')) === 0, 10_000);
    log(`${mode}: ${Math.round(w.rps)} req/s, ${Math.round((cpuS / w.requests) * 1e6)} µs CPU/request, errors ${JSON.stringify(w.errors)}`);
    rounds.push({ mode, w, cpuS, tailCpuS });
  }
  const streamDropped = await metric('s3ap_audit_stream_events_dropped_total');

  // Delivery: every event generated reached the receiver.
  await waitFor(async () => { const st = await proxy.status(); return st !== null && st['queued'] === 0 && st['inFlight'] === 0 && st['spooled'] === 0; }, 60_000, 100);
  const st = (await proxy.status())!;
  const sinkS = await sinkStats(sink);

  const rows = (['none', 'reading', 'stalled'] as Mode[]).map((mode) => {
    const rs = rounds.filter((r) => r.mode === mode);
    const requests = rs.reduce((s, r) => s + r.w.requests, 0);
    const seconds = rs.reduce((s, r) => s + r.w.durationS, 0);
    const cpu = rs.reduce((s, r) => s + r.cpuS, 0);
    const errors = rs.reduce((s, r) => s + r.w.errors.connect + r.w.errors.read + r.w.errors.write + r.w.errors.status + r.w.errors.timeout, 0);
    return {
      mode, requests, rps: requests / seconds, cpuUsPerRequest: (cpu / requests) * 1e6,
      p50Ms: rs.reduce((s, r) => s + r.w.p50, 0) / rs.length, p99Ms: rs.reduce((s, r) => s + r.w.p99, 0) / rs.length,
      tailCpuUsPerRequest: mode === 'reading' ? (rs.reduce((s, r) => s + r.tailCpuS, 0) / requests) * 1e6 : null,
      errors,
    };
  });
  const base = rows[0]!;
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '?', node: process.version, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    command: 'npm run build && node dist/bench/tail-bench.js',
    setup: `wrk GET 4 KiB object, ${CONNECTIONS} connections, 2 threads, rounds A B C C B A of ${SECONDS} s; backend bench/node-backend.ts; webhook to bench/hec-sink.ts enabled through the admin API`,
    rows: rows.map((r) => ({ ...r, rpsRatio: r.rps / base.rps, cpuRatio: r.cpuUsPerRequest / base.cpuUsPerRequest })),
    streamEventsDroppedForStalledClient: streamDropped,
    delivery: { generated: st['delivered'] as number + (st['dropped'] as number) + (st['queued'] as number), delivered: st['delivered'], dropped: st['dropped'], receiverEvents: sinkS.events },
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
  const f = (x: number, d = 0): string => x.toFixed(d);
  const md = [
    '# Live stream (tail) overhead on S3 GETs',
    '',
    `${result.date}; ${result.machine.cpus} CPUs (${result.machine.model}), Node ${result.machine.node}, load average at the end ${result.machine.loadavg.join(' ')} (a shared box: other work ran meanwhile).`,
    '',
    `Command: \`${result.command}\`. ${result.setup}.`,
    '',
    '| stream | req/s | vs none | proxy CPU µs/request | vs none | p50 ms | p99 ms | errors | tail CLI CPU µs/request |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...result.rows.map((r) => `| ${r.mode === 'none' ? 'none attached' : r.mode === 'reading' ? '`tail --json` reading' : 'stalled reader (never reads)'} | ${f(r.rps)} | ${f(r.rpsRatio, 3)} | ${f(r.cpuUsPerRequest)} | ${f(r.cpuRatio, 3)} | ${f(r.p50Ms, 2)} | ${f(r.p99Ms, 2)} | ${r.errors} | ${r.tailCpuUsPerRequest === null ? '-' : f(r.tailCpuUsPerRequest)} |`),
    '',
    `Events dropped for the stalled reader: ${streamDropped} (it holds at most 1 MiB; the proxy drops for it alone).`,
    `Delivery after the run: delivered ${result.delivery.delivered}, dropped ${result.delivery.dropped}, received by the HEC sink ${result.delivery.receiverEvents}.`,
    '',
  ].join('\n');
  writeFileSync(join(OUT, 'results.md'), md);
  process.stdout.write(md);
}

main().then(
  async () => { for (const c of children.reverse()) await c.stop(); rmSync(WORK, { recursive: true, force: true }); },
  async (err: unknown) => {
    process.stderr.write(`tail-bench failed: ${(err as Error).stack ?? String(err)}\n`);
    for (const c of children.reverse()) await c.stop();
    rmSync(WORK, { recursive: true, force: true });
    process.exitCode = 1;
  },
);
