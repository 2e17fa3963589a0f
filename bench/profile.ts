// CPU profile of s3-audit-proxy under wrk load (node --cpu-prof), summarised by
// bench/cpuprofile-summary.ts. Not part of `npm run bench`; run after a build:
//   node dist/bench/profile.js <off|on|file> [GET|PUT] [seconds] [connections]
//   node dist/bench/profile.js dispatcher        (the scenario 4 child under --cpu-prof)
//   node dist/bench/profile.js large             (1 GiB GET then PUT through the proxy, audit on)
//   node dist/bench/profile.js latency [GET] [s] (client vs proxy-internal latency at 500 req/s)
// EXTRA_NODE_FLAGS='--max-semi-space-size=64' adds node flags to the proxy; NO_CPU_PROF=1 measures only.
// Writes bench/results/profile-<what>.md (and keeps the .cpuprofile next to it). PERF=1 also samples
// the proxy with `perf record -e cpu-clock -g` (on-CPU time, kernel included) during the wrk run;
// PERF_DATA_OUT=<file> keeps the raw perf.data. RECEIVER=hang|down: the HEC receiver hangs or is
// down during the measured run. WORKERS=N runs `serve --workers N` (with NO_CPU_PROF=1): the line then
// gives the primary's and the workers' CPU per request apart. PROFILE_OUT_DIR writes the summaries elsewhere (default bench/results).
// The V8 summary only counts samples taken while the load ran (start-up excluded).
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../src/paths.js';
import { startProfileBackend } from './lib/nginx.js';
import { CLK_TCK, run, spawnReady, which, cpuSeconds, type Child } from './lib/proc.js';
import { runWrk, writeWrkScript, S3_HEADERS } from './lib/wrk.js';
import { startS3ap, type AuditMode } from './lib/s3ap.js';
import { sinkMode, startSink } from './lib/sink.js';
import { renderSummary, summarise } from './cpuprofile-summary.js';

const what = process.argv[2] ?? 'on';
const usePerf = process.env['PERF'] === '1' && which('perf') !== null;
const method = (process.argv[3] ?? 'GET').toUpperCase() as 'GET' | 'PUT';
const seconds = Number(process.argv[4] ?? 10);
const conns = Number(process.argv[5] ?? 32);
const ROOT = projectRoot();
const DIST = join(ROOT, 'dist');
const NODE = process.execPath;
const WORK = mkdtempSync(join(os.platform() === 'linux' ? '/dev/shm' : os.tmpdir(), 's3ap-profile-'));
const PROF = join(WORK, 'prof');
mkdirSync(PROF);
const children: Child[] = [];
const log = (m: string): void => { process.stdout.write(`[profile] ${m}\n`); };
const HEC_TOKEN = 'profile-hec-token';
const outDir = process.env['PROFILE_OUT_DIR'] ?? join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });

function cpuSplit(pid: number): { user: number; sys: number; minflt: number; vcsw: number; ivcsw: number } {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (n: string): number => Number(new RegExp(`^${n}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { user: Number(rest[11]) / CLK_TCK, sys: Number(rest[12]) / CLK_TCK, minflt: Number(rest[7]), vcsw: field('voluntary_ctxt_switches'), ivcsw: field('nonvoluntary_ctxt_switches') };
}

/** CPU seconds of a process's children (the `--workers` S3 listeners of a primary). */
function childrenCpu(pid: number): number {
  let sum = 0;
  for (const kid of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
    try { sum += cpuSeconds(Number(kid)); } catch { /* it ended */ }
  }
  return sum;
}

/** CPU seconds per thread (/proc/<pid>/task): the main thread, V8's platform workers, libuv's pool. */
function threadCpu(pid: number): Map<string, { name: string; cpu: number }> {
  const out = new Map<string, { name: string; cpu: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { name: tid === String(pid) ? 'main' : name, cpu: (Number(rest[11]) + Number(rest[12])) / CLK_TCK });
    } catch { /* the thread ended */ }
  }
  return out;
}

/** Per-request CPU by thread name between two readings, largest first, and the busiest other threads
 * one by one (Node 20 names V8's workers and libuv's pool alike: "node"; the pool starts last). */
function threadSplit(a: Map<string, { name: string; cpu: number }>, b: Map<string, { name: string; cpu: number }>, requests: number): string {
  const byName = new Map<string, number>();
  const others: Array<[string, number]> = [];
  for (const [tid, t] of b) {
    const used = t.cpu - (a.get(tid)?.cpu ?? 0);
    byName.set(t.name, (byName.get(t.name) ?? 0) + used);
    if (t.name !== 'main' && used > 0) others.push([tid, used]);
  }
  const us = (s: number): string => ((s / requests) * 1e6).toFixed(1);
  const top = others.sort((x, y) => y[1] - x[1]).slice(0, 6).map(([tid, s]) => `${tid} ${us(s)}`).join(', ');
  return `${[...byName].sort((x, y) => y[1] - x[1]).map(([name, s]) => `${name} ${us(s)}`).join(', ')} (busiest other threads by id: ${top || 'none'})`;
}

function newestProfile(): string {
  const files = readdirSync(PROF).filter((f) => f.endsWith('.cpuprofile'));
  if (!files.length && process.env['NO_CPU_PROF'] === '1') return '';
  if (!files.length) throw new Error('no .cpuprofile written (the process did not exit cleanly?)');
  return join(PROF, files.sort().at(-1)!);
}

const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);
let window: [number, number] = [0, Infinity];

function writeSummary(name: string, title: string, extra: string): void {
  const file = newestProfile();
  if (!file) { process.stdout.write(`${title}\n${extra}\n`); return; }
  const summary = summarise(JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof summarise>[0], 30, window[0], window[1]);
  const md = `# CPU profile: ${title}\n\n${extra}\n\n${renderSummary(summary, title)}\n`;
  writeFileSync(join(outDir, `profile-${name}.md`), md);
  copyFileSync(file, join(outDir, `profile-${name}.cpuprofile`));
  process.stdout.write(md);
}

try {
  const backend = await startProfileBackend(WORK);
  const www = backend.www;
  children.push(backend.child);
  const sink = await startSink(NODE, DIST, HEC_TOKEN);
  children.push(sink.child);
  const extraFlags = (process.env['EXTRA_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
  const flags = [...extraFlags, ...(process.env['NO_CPU_PROF'] === '1' ? [] : ['--cpu-prof', '--cpu-prof-dir', PROF]), ...(usePerf ? ['--perf-basic-prof'] : [])];

  if (what === 'dispatcher') {
    const arg = JSON.stringify({ endpoint: `${sink.url}/services/collector/event`, token: HEC_TOKEN, control: sink.control, events: 100_000, spoolEvents: 100_000 });
    const r = await spawnReady('dispatcher-bench', NODE, [...flags, join(DIST, 'bench', 'dispatcher-bench.js'), arg], (l) => (l.startsWith('RESULT ') ? l.slice(7) : undefined), { timeoutMs: 240_000 });
    await r.child.exited;
    writeSummary('dispatcher', 'AuditDispatcher alone (scenario 4: plain, gzip, spool write, spool drain)', `Result: \`${r.value}\``);
  } else if (what === 'latency') {
    // Where the added tail latency of scenario 2 comes from: the client's latency (open loop, 500
    // req/s) against the proxy's own request-start-to-last-byte time (timing.totalMs of its audit
    // events, from the JSONL audit log; the same event building as the webhook mode).
    const p = await startS3ap({ node: NODE, dist: DIST, work: WORK, hecUrl: sink.url, hecToken: HEC_TOKEN, adminToken: 'profile-admin', register: (c) => { children.push(c); }, log }, 'file', backend.url, []);
    const rate = 500;
    const warm = 1;
    const openLoop = async (url: string): Promise<Record<string, number>> => {
      const r = await spawnReady('open-loop', NODE, [join(DIST, 'bench', 'open-loop.js'), JSON.stringify({ url, path: '/bench/obj-4k', rate, durationS: seconds, warmupS: warm })],
        (l) => (l.startsWith('RESULT ') ? JSON.parse(l.slice(7)) as Record<string, number> : undefined), { timeoutMs: (seconds + warm + 30) * 1000 });
      await r.child.exited;
      return r.value;
    };
    const direct = await openLoop(backend.url);
    const via = await openLoop(p.url);
    const logFile = join(p.dataDir, 'audit.jsonl');
    const want = rate * (warm + seconds);
    const count = (): number => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).length;
    for (let i = 0; i < 100 && count() < want; i++) await new Promise((r) => setTimeout(r, 50));
    // KEEP_EVENTS=<file>: the events, for a look at when the slow ones happened.
    if (process.env['KEEP_EVENTS']) copyFileSync(logFile, process.env['KEEP_EVENTS']);
    const events = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; timing: { totalMs: number; firstByteMs: number | null } })
      .filter((e) => e.kind === 's3').slice(rate * warm); // the open loop's warm-up second
    await p.stop();
    const q = (xs: number[], f: number): number => { const v = xs.slice().sort((a, b) => a - b); return v[Math.min(v.length - 1, Math.ceil(f * v.length) - 1)]!; };
    const total = events.map((e) => e.timing.totalMs);
    const first = events.map((e) => e.timing.firstByteMs ?? NaN).filter((x) => !Number.isNaN(x));
    const row = (name: string, r: Record<string, number>): string => `| ${name} | ${r['p50']} | ${r['p99']} | ${r['p999']} | ${r['max']} |`;
    const md = `# Latency split: client vs proxy-internal, 4 KiB GET, open loop at ${rate} req/s, ${seconds} s (audit on, JSONL)\n\n` +
      'Command: `node dist/bench/profile.js latency [GET] [seconds]`. Client latency is the open loop\'s (hand-off to last body byte); ' +
      'proxy-internal is `timing.totalMs` of the proxy\'s audit events for the same requests (request start, as Node parsed it, to the last byte written), ' +
      'which includes the backend exchange. The warm-up second is left out of both.\n\n' +
      '| | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|---|\n' +
      `${row('client -> nginx backend (direct)', direct)}\n${row('client -> s3-audit-proxy -> nginx', via)}\n` +
      `| proxy-internal totalMs (${total.length} events) | ${q(total, 0.5)} | ${q(total, 0.99)} | ${q(total, 0.999)} | ${Math.max(...total)} |\n` +
      `| proxy-internal firstByteMs | ${q(first, 0.5)} | ${q(first, 0.99)} | ${q(first, 0.999)} | ${Math.max(...first)} |\n`;
    writeFileSync(join(outDir, 'profile-latency.md'), md);
    process.stdout.write(md);
  } else if (what === 'large') {
    const p = await startS3ap({ node: NODE, dist: DIST, work: WORK, hecUrl: sink.url, hecToken: HEC_TOKEN, adminToken: 'profile-admin', register: (c) => { children.push(c); }, log }, 'webhook', backend.url, flags);
    const big = join(www, 'bench', 'big');
    const chunk = randomBytes(1024 * 1024);
    const fd = openSync(big, 'w');
    for (let i = 0; i < 1024; i++) writeSync(fd, chunk);
    closeSync(fd);
    const hdr = Object.entries(S3_HEADERS).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    const cpu0 = cpuSeconds(p.pid);
    const from = monoUs();
    const g = await run('curl', ['-sS', '-o', '/dev/null', ...hdr, '-w', '%{http_code} %{size_download} %{time_total}', `${p.url}/bench/big`], 300_000);
    const cpu1 = cpuSeconds(p.pid);
    const u = await run('curl', ['-sS', '-T', big, '-o', '/dev/null', ...hdr, '-w', '%{http_code} %{size_upload} %{time_total}', `${p.url}/bench/upload/big`], 300_000);
    const cpu2 = cpuSeconds(p.pid);
    window = [from, monoUs()];
    await p.stop();
    writeSummary('large', 's3-audit-proxy, audit on, 1 GiB GET then 1 GiB PUT (curl)', `GET: \`${g.stdout}\` (proxy CPU ${(cpu1 - cpu0).toFixed(2)} s); PUT: \`${u.stdout}\` (proxy CPU ${(cpu2 - cpu1).toFixed(2)} s). Fields: status, bytes, seconds.`);
  } else {
    const mode = (what === 'on' ? 'webhook' : what) as AuditMode;
    const workers = Number(process.env['WORKERS'] ?? 1);
    const p = await startS3ap({ node: NODE, dist: DIST, work: WORK, hecUrl: sink.url, hecToken: HEC_TOKEN, adminToken: 'profile-admin', register: (c) => { children.push(c); }, log }, mode, backend.url, flags, workers);
    const script = method === 'GET' ? writeWrkScript(WORK, 'get', 'GET', '/bench/obj-4k', 0) : writeWrkScript(WORK, 'put', 'PUT', '/bench/put/obj-4k', 4096);
    await runWrk('wrk', p.url, script, 32, 2);
    // RECEIVER=hang|down profiles the degraded cases of scenario 5 (the receiver changes after warm-up).
    const receiver = process.env['RECEIVER'];
    if (receiver === 'hang' || receiver === 'down') await sinkMode(sink, receiver);
    const c0 = cpuSplit(p.pid);
    const t0 = threadCpu(p.pid);
    const k0 = workers > 1 ? childrenCpu(p.pid) : 0;
    const perfData = join(WORK, 'perf.data');
    const perf = usePerf ? run('perf', ['record', '-e', 'cpu-clock', '-F', '997', '-g', '-o', perfData, '-p', String(p.pid), '--', 'sleep', String(seconds)], (seconds + 30) * 1000) : null;
    const from = monoUs();
    const w = await runWrk('wrk', p.url, script, conns, seconds);
    window = [from, monoUs()];
    const c1 = cpuSplit(p.pid);
    const t1 = threadCpu(p.pid);
    const k1 = workers > 1 ? childrenCpu(p.pid) : 0;
    let perfText = '';
    if (perf) {
      await perf;
      // PERF_DATA_OUT=<file> keeps the raw samples for `perf report -i <file>` (e.g. --sort sym -G).
      const keep = process.env['PERF_DATA_OUT'];
      if (keep) copyFileSync(perfData, keep);
      const rep = await run('perf', ['report', '-i', perfData, '--stdio', '--no-children', '--sort', 'sym', '--percent-limit', '0.7', '-g', 'none'], 120_000);
      const dso = await run('perf', ['report', '-i', perfData, '--stdio', '--no-children', '--sort', 'dso', '-g', 'none'], 120_000);
      const incl = await run('perf', ['report', '-i', perfData, '--stdio', '--children', '--sort', 'sym', '--percent-limit', '3', '-g', 'none'], 120_000);
      const clean = (t: string, n = 45): string => t.split('\n').filter((l) => l.trim() && !l.startsWith('#')).slice(0, n).join('\n');
      perfText = `\n\n## perf (on-CPU samples, cpu-clock, kernel included; JIT frames via --perf-basic-prof)\n\nBy shared object:\n\n\`\`\`\n${clean(dso.stdout)}\n\`\`\`\n\nBy symbol, self:\n\n\`\`\`\n${clean(rep.stdout)}\n\`\`\`\n\nBy symbol, inclusive (children; frame-pointer unwinding, JS frames included where V8 keeps them):\n\n\`\`\`\n${clean(incl.stdout, 70)}\n\`\`\``;
    }
    await p.stop();
    const n = w.requests;
    const us = (x: number): string => ((x / n) * 1e6).toFixed(1);
    const workersText = workers > 1 ? ` With --workers ${workers}: the workers' CPU per request ${us(k1 - k0)} µs; the figures that follow are the primary's.` : '';
    writeSummary(`${what}-${method.toLowerCase()}${workers > 1 ? `-workers${workers}` : ''}`, `s3-audit-proxy${workers > 1 ? ` --workers ${workers}` : ''}, audit ${what}, 4 KiB ${method}, ${conns} connections, ${seconds} s (${p.transport})`,
      `wrk: ${Math.round(w.rps)} req/s, p50 ${w.p50} ms, p99 ${w.p99} ms.${workersText} Proxy CPU per request: ${us(c1.user - c0.user + c1.sys - c0.sys)} µs = ${us(c1.user - c0.user)} µs user + ${us(c1.sys - c0.sys)} µs kernel (from /proc/<pid>/stat); per 1000 requests: ${((c1.minflt - c0.minflt) * 1000 / n).toFixed(0)} minor page faults, ${((c1.vcsw - c0.vcsw) * 1000 / n).toFixed(0)} voluntary and ${((c1.ivcsw - c0.ivcsw) * 1000 / n).toFixed(0)} involuntary context switches. By thread, µs per request: ${threadSplit(t0, t1, n)}. The V8 profile below samples wall time of the main thread: time preempted inside a syscall shows as that syscall (writev, writeLatin1String) on a busy machine.${perfText}`);
  }
} finally {
  for (const c of children.reverse()) await c.stop(3000).catch(() => {});
  rmSync(WORK, { recursive: true, force: true });
}
