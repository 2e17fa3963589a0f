// The 256-connection tail, taken apart: a busy proxy (wrk -c32 warming it) then meets 256 new
// connections at once (wrk -c256, the shape of `npm run bench`'s p99-at-256 cell). Proxies with
// different --accept-queues run interleaved, audit on (webhook), against one nginx backend.
//
//   node dist/bench/accept-burst.js [reps=3] [queues,...=1,16]
//
// Per row: wrk's p99 and p99.9 (coordinated-omission corrected, as every wrk figure of the bench),
// its max (the slowest request: a first request of a new connection), and proxy CPU per request.
// Results: bench/results/accept-burst.md (BENCH_RESULTS_DIR moves it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../src/paths.js';
import { startProfileBackend } from './lib/nginx.js';
import { cpuSeconds, type Child } from './lib/proc.js';
import { runWrk, writeWrkScript } from './lib/wrk.js';
import { startS3ap, type S3ap } from './lib/s3ap.js';
import { startSink } from './lib/sink.js';

const reps = Number(process.argv[2] ?? 3);
const queueSettings = (process.argv[3] ?? '1,16').split(',').map(Number);
const ROOT = projectRoot();
const DIST = join(ROOT, 'dist');
const WORK = mkdtempSync(join(os.platform() === 'linux' ? '/dev/shm' : os.tmpdir(), 's3ap-accept-'));
const children: Child[] = [];
const log = (m: string): void => { process.stdout.write(`[accept-burst] ${m}\n`); };

interface Row { queues: number; rep: number; p50: number; p99: number; p999: number; max: number; rps: number; cpuUsPerReq: number }

async function main(): Promise<void> {
  const backend = await startProfileBackend(WORK);
  const sink = await startSink(process.execPath, DIST, 'accept-hec-token');
  const ctx = { node: process.execPath, dist: DIST, work: WORK, hecUrl: sink.url, hecToken: 'accept-hec-token', adminToken: 'accept-admin', register: (c: Child) => { children.push(c); }, log };
  const proxies = new Map<number, S3ap>();
  for (const q of queueSettings) proxies.set(q, await startS3ap(ctx, 'webhook', backend.url, [], 1, ['--accept-queues', String(q)]));
  const script = writeWrkScript(WORK, 'get', 'GET', '/bench/obj-4k', 0);
  const rows: Row[] = [];
  try {
    for (let rep = 1; rep <= reps; rep++) {
      // ABC..CBA, so a drift of the box's load hits every setting alike.
      const order = rep % 2 === 1 ? queueSettings : [...queueSettings].reverse();
      for (const q of order) {
        const p = proxies.get(q)!;
        await runWrk('wrk', p.url, script, 32, 2); // busy, with 32 warm connections (and backend connections)
        const c0 = cpuSeconds(p.pid);
        const w = await runWrk('wrk', p.url, script, 256, 3);
        const cpu = cpuSeconds(p.pid) - c0;
        rows.push({ queues: q, rep, p50: w.p50, p99: w.p99, p999: w.p999, max: w.max, rps: Math.round(w.rps), cpuUsPerReq: Math.round((cpu * 1e6 / w.requests) * 10) / 10 });
        log(`queues ${q} rep ${rep}: p99 ${w.p99} ms, max ${w.max} ms, ${Math.round(w.rps)} req/s`);
      }
    }
  } finally {
    for (const p of proxies.values()) await p.stop();
    await sink.stop();
    await backend.child.stop();
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const lines = [
    '# A burst of 256 new connections on a busy proxy (--accept-queues)',
    '',
    `- Date: ${new Date().toISOString()}; command: \`node dist/bench/accept-burst.js ${reps} ${queueSettings.join(',')}\``,
    `- Load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} cores; the box may be shared)`,
    '- Each row: wrk -t2 -c32 -d2s (warm), then wrk -t2 -c256 -d3s measured; audit on (webhook), nginx backend. wrk corrects for coordinated omission, so a few slow first requests weigh on p99.',
    '',
    '| --accept-queues | rep | req/s | p50 ms | p99 ms | p99.9 ms | max ms | proxy CPU µs/req |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.queues} | ${r.rep} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.p999} | ${r.max} | ${r.cpuUsPerReq} |`),
    '',
    '| --accept-queues | median p99 ms | median max ms | median CPU µs/req |',
    '|---|---|---|---|',
    ...queueSettings.map((q) => {
      const mine = rows.filter((r) => r.queues === q);
      return `| ${q} | ${med(mine.map((r) => r.p99))} | ${med(mine.map((r) => r.max))} | ${med(mine.map((r) => r.cpuUsPerReq))} |`;
    }),
    '',
  ];
  const out = join(process.env['BENCH_RESULTS_DIR'] ?? join(ROOT, 'bench', 'results'), 'accept-burst.md');
  writeFileSync(out, lines.join('\n'));
  log(`wrote ${out}`);
  process.stdout.write(lines.join('\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
}).finally(() => {
  void Promise.all(children.map((c) => c.stop(1000)));
  rmSync(WORK, { recursive: true, force: true });
});
