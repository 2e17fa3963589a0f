// Large-object A/B: CPU seconds per GiB of this build's proxy against another build's (and nginx
// proxy_pass), 1 GiB transfers with curl, interleaved. Not part of `npm run bench`; run after a build:
//   AB_BASE_DIST=/tmp/base/dist node dist/bench/large-ab.js [reps]
// Each rep moves the object once through every target for each case (GET; PUT as curl sends it, with
// `Expect: 100-continue`, which takes src/proxy/forward-expect.ts; PUT without Expect, which takes
// undici), the order of the targets rotated on every rep. Measured per transfer: proxy CPU
// (utime+stime from /proc) per GiB, split user/kernel, voluntary context switches per MiB, MB/s.
// On a shared box only the CPU figures are comparable; MB/s is printed for the record.
// AB_MIB (1024), AB_CASES (GET,PUT,PUTNX), AB_NGINX=0 leaves nginx out, AB_ENV_B='K=V K2=V2' sets
// environment variables of this build's proxy only (for trying settings read from the environment),
// AB_WRK_WARM=S: S seconds of 4 KiB GET load through each proxy first. AB_FLAGS / AB_FLAGS_B: node flags of both proxies / of this build's only (AB_FLAGS=--trace-gc counts
// GCs per GiB), AB_PERF=1 adds one pass per proxy under `perf record` (self time by symbol),
// AB_STRACE=1 adds one pass per target under `strace -c -f` (syscall counts per GiB; slow, not timed);
// AB_STRACE_RAW=<file> writes that pass's read/write/writev/epoll_ctl calls there instead (each target overwrites it).
// AB_OUT=<file> writes the markdown report there too. AB_PIN='base:0,this build:1,nginx:0,backend:1,curl:1' pins
// targets, the backend nginx and curl to CPUs.
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { projectRoot } from '../src/paths.js';
import { startProfileBackend, startNginx, proxyConfig } from './lib/nginx.js';
import { CLK_TCK, freePort, run, statusKiB, which, type Child } from './lib/proc.js';
import { runWrk, S3_HEADERS, writeWrkScript } from './lib/wrk.js';
import { startS3ap } from './lib/s3ap.js';
import { startSink } from './lib/sink.js';

const ROOT = projectRoot();
const DIST = join(ROOT, 'dist');
const BASE = process.env['AB_BASE_DIST'];
const NODE = process.execPath;
const reps = Number(process.argv[2] ?? 3);
const MIB = Number(process.env['AB_MIB'] ?? 1024);
const BYTES = MIB * 1024 * 1024;
const GIB = BYTES / 2 ** 30;
const CASES = (process.env['AB_CASES'] ?? 'GET,PUT,PUTNX').split(',') as Array<'GET' | 'PUT' | 'PUTNX'>;
const WORK = mkdtempSync(join(os.platform() === 'linux' ? '/dev/shm' : os.tmpdir(), 's3ap-largeab-'));
const children: Child[] = [];
const log = (m: string): void => { process.stdout.write(`[large-ab] ${m}\n`); };

interface Target { label: string; url: string; pid: number; tree: boolean; gc?: { scavenge: number; major: number } }

/** Counts --trace-gc lines of a child (AB_FLAGS=--trace-gc): scavenges and mark-compacts. */
function countGc(child: Child, label: string): { scavenge: number; major: number } {
  const n = { scavenge: 0, major: 0 };
  const on = (d: Buffer): void => {
    const t = d.toString('latin1');
    if (process.env['AB_GC_LOG'] === '1') for (const l of t.split('\n')) if (new RegExp(process.env['AB_GC_GREP'] ?? 'Mark-Compact').test(l)) log(`${label} gc: ${l.trim()}`);
    n.scavenge += t.split('Scavenge').length - 1;
    n.major += t.split('Mark-Compact').length - 1;
  };
  child.proc.stdout?.on('data', on);
  return n;
}
interface Sample { cpu: number; user: number; sys: number; vcsw: number; flt: number; mbps: number; scavenge: number; major: number }

function stat(pid: number, tree: boolean): { user: number; sys: number; vcsw: number; flt: number } {
  if (tree) {
    // nginx: master + workers, split user / kernel
    let user = 0;
    let sys = 0;
    let flt = 0;
    for (const p of [pid, ...childPids(pid)]) {
      const r = ticks(p);
      user += r[0];
      sys += r[1];
      flt += r[2];
    }
    return { user, sys, vcsw: 0, flt };
  }
  const [user, sys, flt] = ticks(pid);
  let vcsw = 0;
  // voluntary switches of every thread (the main thread's are what streaming causes)
  const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m) vcsw = Number(m[1]);
  return { user, sys, vcsw, flt };
}

/** utime and stime in seconds, and minor page faults. */
function ticks(pid: number): [number, number, number] {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return [Number(rest[11]) / CLK_TCK, Number(rest[12]) / CLK_TCK, Number(rest[7])];
  } catch {
    return [0, 0, 0];
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const hdr = Object.entries(S3_HEADERS).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
/** curl, on the CPU AB_PIN gives `curl` when it names one. */
function runCurl(args: string[]): ReturnType<typeof run> {
  const cpu = /(?:^|,)curl:(\d+)/.exec(process.env['AB_PIN'] ?? '')?.[1];
  return cpu === undefined ? run('curl', args, 300_000) : run('taskset', ['-c', cpu, 'curl', ...args], 300_000);
}

function curlArgs(kind: 'GET' | 'PUT' | 'PUTNX', url: string, file: string): string[] {
  if (kind === 'GET') return ['-sS', '-o', '/dev/null', ...hdr, '-w', '%{http_code} %{size_download} %{time_total}', `${url}/bench/big`];
  return ['-sS', '-T', file, '-o', '/dev/null', ...hdr, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', ...(kind === 'PUTNX' ? ['-H', 'Expect:'] : []),
    '-w', '%{http_code} %{size_upload} %{time_total}', `${url}/bench/upload/big`];
}

async function transfer(kind: 'GET' | 'PUT' | 'PUTNX', t: Target, file: string): Promise<Sample> {
  const a = stat(t.pid, t.tree);
  const g0 = { ...(t.gc ?? { scavenge: 0, major: 0 }) };
  const r = await runCurl(curlArgs(kind, t.url, file));
  const b = stat(t.pid, t.tree);
  const [code, size, time] = r.stdout.trim().split(' ').map(Number) as [number, number, number];
  if (!(code >= 200 && code < 300) || size !== BYTES) throw new Error(`${kind} ${t.label}: ${r.stdout} ${r.stderr}`);
  const user = (b.user - a.user) / GIB;
  const sys = (b.sys - a.sys) / GIB;
  await new Promise((res) => setTimeout(res, 100)); // the trace-gc lines of the transfer
  const g1 = t.gc ?? { scavenge: 0, major: 0 };
  return { cpu: user + sys, user, sys, vcsw: (b.vcsw - a.vcsw) / MIB, flt: (b.flt - a.flt) / MIB, mbps: size / time / 1e6, scavenge: (g1.scavenge - g0.scavenge) / GIB, major: (g1.major - g0.major) / GIB };
}

async function straceCounts(kind: 'GET' | 'PUT' | 'PUTNX', t: Target, file: string): Promise<string> {
  const out = join(WORK, `strace-${Date.now()}.txt`);
  const st = spawn('strace', [...(process.env['AB_STRACE_RAW'] ? ['-e', 'trace=write,writev,read,epoll_ctl', ...(process.env['AB_STRACE_STACK'] ? ['-k'] : []), '-o', process.env['AB_STRACE_RAW']] : ['-c', '-o', out]), '-f', '-p', String(t.pid)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  await runCurl(curlArgs(kind, t.url, file));
  st.kill('SIGINT');
  await new Promise((r) => st.once('exit', r));
  if (process.env['AB_STRACE_RAW']) return `raw trace in ${process.env['AB_STRACE_RAW']}`;
  const text = readFileSync(out, 'utf8');
  // "% time seconds usecs/call calls errors syscall": calls per GiB of the main ones
  const rows = text.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 5 && /^\d/.test(f[0]!) && /^\d+$/.test(f[3]!));
  const calls = rows.map((f) => ({ name: f[f.length - 1]!, calls: Number(f[3]) })).filter((x) => x.calls / GIB >= 100).sort((x, y) => y.calls - x.calls);
  return calls.map((c) => `${c.name} ${Math.round(c.calls / GIB)}`).join(', ');
}

const q = (xs: number[]): string => {
  const v = xs.slice().sort((a, b) => a - b);
  return `${v[0]!.toFixed(2)} / ${v[Math.floor((v.length - 1) / 2)]!.toFixed(2)} / ${v[v.length - 1]!.toFixed(2)}`;
};

try {
  if (!BASE) throw new Error('AB_BASE_DIST=<other build dist/> is required');
  const backend = await startProfileBackend(WORK);
  children.push(backend.child);
  const file = join(backend.www, 'bench', 'big');
  const chunk = randomBytes(1024 * 1024);
  const fd = openSync(file, 'w');
  for (let i = 0; i < MIB; i++) writeSync(fd, chunk);
  closeSync(fd);
  const sink = await startSink(NODE, DIST, 'ab-hec-token');
  children.push(sink.child);
  const ctx = (dist: string) => ({ node: NODE, dist, work: WORK, hecUrl: sink.url, hecToken: 'ab-hec-token', adminToken: 'ab-admin', register: (c: Child) => { children.push(c); }, log });
  const targets: Target[] = [];
  const base = await startS3ap(ctx(BASE), 'webhook', backend.url, (process.env['AB_FLAGS'] ?? '').split(' ').filter(Boolean));
  targets.push({ label: 'base', url: base.url, pid: base.pid, tree: false, gc: countGc(base.child, 'base') });
  const envB = (process.env['AB_ENV_B'] ?? '').split(' ').filter(Boolean);
  const saved = { ...process.env };
  for (const kv of envB) { const i = kv.indexOf('='); process.env[kv.slice(0, i)] = kv.slice(i + 1); }
  const flagsB = (process.env['AB_FLAGS_B'] ?? '').split(' ').filter(Boolean);
  const flagsAll = (process.env['AB_FLAGS'] ?? '').split(' ').filter(Boolean);
  const mine = await startS3ap(ctx(DIST), 'webhook', backend.url, [...flagsAll, ...flagsB]);
  for (const kv of envB) { const k = kv.slice(0, kv.indexOf('=')); if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k]; }
  targets.push({ label: 'this build', url: mine.url, pid: mine.pid, tree: false, gc: countGc(mine.child, 'this build') });
  const nginxBin = which('nginx');
  if (process.env['AB_NGINX'] !== '0' && nginxBin) {
    const port = await freePort();
    const prefix = mkdtempSync(join(WORK, 'nginx-proxy-'));
    const n = await startNginx('nginx-proxy', nginxBin, prefix, proxyConfig(prefix, backend.port, port, 1), port);
    children.push(n.child);
    targets.push({ label: 'nginx', url: n.url, pid: n.child.pid, tree: true });
  }
  // AB_PIN='base:0,this build:1,nginx:0' pins every thread of a target (and nginx's workers) to a CPU:
  // is a process's kernel time per GiB its CPU placement's?
  for (const spec of (process.env['AB_PIN'] ?? '').split(',').filter(Boolean)) {
    const [label, cpu] = spec.split(':') as [string, string];
    if (label === 'curl') continue;
    const t = label === 'backend' ? { label, pid: backend.child.pid, tree: true } : targets.find((x) => x.label === label);
    if (!t) throw new Error(`AB_PIN: no target ${label}`);
    for (const pid of t.tree ? [t.pid, ...childPids(t.pid)] : [t.pid]) await run('taskset', ['-a', '-c', '-p', cpu, String(pid)], 10_000);
    log(`pinned ${label} to CPU ${cpu}`);
  }
  // AB_WARM=N: N unmeasured GETs through each target first (a fresh process may not have had a
  // mark-compact yet, so its old-generation limit is still V8's initial one).
  for (let i = 0; i < Number(process.env['AB_WARM'] ?? 0); i++) for (const t of targets) await transfer('GET', t, file);
  // AB_WRK_WARM=S: S seconds of 4 KiB GETs (wrk, 32 connections) through each proxy first, as a proxy
  // that has served small requests before a large one.
  const wrkWarm = Number(process.env['AB_WRK_WARM'] ?? 0);
  if (wrkWarm > 0 && which('wrk')) {
    const script = writeWrkScript(WORK, 'get', 'GET', '/bench/obj-4k', 0);
    for (const t of targets) if (!t.tree) await runWrk('wrk', t.url, script, 32, wrkWarm);
  }
  // Idle cost of each proxy (the audit side's timers), to tell apart from streaming.
  const idle0 = targets.map((t) => stat(t.pid, t.tree));
  await new Promise((r) => setTimeout(r, 3000));
  log(`idle CPU over 3 s: ${targets.map((t, i) => { const b = stat(t.pid, t.tree); return `${t.label} ${(b.user + b.sys - idle0[i]!.user - idle0[i]!.sys).toFixed(2)} s`; }).join(', ')}`);
  const samples = new Map<string, Sample[]>();
  const raw: string[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of CASES) {
      // every target takes every position in turn (rotation), reversed on odd reps
      const rot = targets.map((_, i) => targets[(i + rep) % targets.length]!);
      const order = rep % 2 === 0 ? rot : rot.reverse();
      for (const t of order) {
        const s = await transfer(kind, t, file);
        rmSync(join(backend.www, 'bench', 'upload', 'big'), { force: true });
        const key = `${kind}|${t.label}`;
        if (!samples.has(key)) samples.set(key, []);
        samples.get(key)!.push(s);
        const line = `rep ${rep + 1} ${kind} ${t.label}: ${s.cpu.toFixed(3)} s/GiB (user ${s.user.toFixed(3)}, sys ${s.sys.toFixed(3)}), ${s.vcsw.toFixed(1)} vcsw/MiB, ${s.flt.toFixed(1)} faults/MiB, ${Math.round(s.mbps)} MB/s, GCs per GiB: ${s.scavenge} scavenges, ${s.major} mark-compacts`;
        raw.push(line);
        log(line);
      }
    }
  }
  const lines = ['| case | target | CPU s/GiB min / median / max | user | sys | vcsw per MiB | page faults per MiB | mark-compacts per GiB (AB_FLAGS=--trace-gc) | MB/s (noisy) |', '|---|---|---|---|---|---|---|---|---|'];
  for (const kind of CASES) {
    for (const t of targets) {
      const s = samples.get(`${kind}|${t.label}`)!;
      lines.push(`| ${kind} | ${t.label} | ${q(s.map((x) => x.cpu))} | ${q(s.map((x) => x.user))} | ${q(s.map((x) => x.sys))} | ${t.tree ? '-' : q(s.map((x) => x.vcsw))} | ${q(s.map((x) => x.flt))} | ${t.gc ? q(s.map((x) => x.major)) : '-'} | ${q(s.map((x) => x.mbps)).replace(/\.00/g, '')} |`);
    }
    const b = samples.get(`${kind}|base`)!;
    const m = samples.get(`${kind}|this build`)!;
    const ratios = b.map((x, i) => m[i]!.cpu / x.cpu);
    lines.push(`| ${kind} | this build / base CPU, per pair | ${q(ratios)} | | | | | | |`);
  }
  if (process.env['AB_STRACE'] === '1' && which('strace')) {
    lines.push('', 'Syscalls per GiB (`strace -c -f`, one transfer each):', '');
    for (const kind of CASES) {
      for (const t of targets) {
        if (t.tree) continue;
        lines.push(`- ${kind} ${t.label}: ${await straceCounts(kind, t, file)}`);
        rmSync(join(backend.www, 'bench', 'upload', 'big'), { force: true });
      }
    }
  }
  if (process.env['AB_PERF'] === '1' && which('perf')) {
    // On-CPU samples (kernel included) of one transfer per proxy: where the CPU per GiB goes.
    for (const kind of CASES) {
      for (const t of targets) {
        if (t.tree) continue;
        const data = join(WORK, 'perf.data');
        const pr = spawn('perf', ['record', '-e', process.env['AB_PERF_EVENT'] ?? 'cpu-clock', ...(process.env['AB_PERF_EVENT'] ? [] : ['-F', '1999']), '-g', '-o', data, '-p', String(t.pid)], { stdio: 'ignore' });
        await new Promise((r) => setTimeout(r, 500));
        await runCurl(curlArgs(kind, t.url, file));
        pr.kill('SIGINT');
        await new Promise((r) => pr.once('exit', r));
        rmSync(join(backend.www, 'bench', 'upload', 'big'), { force: true });
        const rep = await run('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'sym', '--percent-limit', '0.8', ...(process.env['AB_PERF_EVENT'] ? ['-g', 'caller,0.5,callee', '--max-stack', '24'] : ['-g', 'none'])], 120_000);
        const clean = rep.stdout.split('\n').filter((l) => l.trim() && !l.startsWith('#')).slice(0, 40).join('\n');
        lines.push('', `perf, ${kind} ${t.label} (self, by symbol):`, '', '```', clean, '```');
      }
    }
  }
  lines.push('', `Peak RSS (VmHWM): base ${((statusKiB(base.pid, 'VmHWM') ?? 0) / 1024).toFixed(1)} MiB, this build ${((statusKiB(mine.pid, 'VmHWM') ?? 0) / 1024).toFixed(1)} MiB.`);
  const md = `${lines.join('\n')}\n\nRaw:\n\n\`\`\`\n${raw.join('\n')}\n\`\`\`\n`;
  process.stdout.write(`\n${md}`);
  if (process.env['AB_OUT']) writeFileSync(process.env['AB_OUT'], md);
  await base.stop();
  await mine.stop();
} finally {
  for (const c of children.reverse()) await c.stop(3000).catch(() => {});
  rmSync(WORK, { recursive: true, force: true });
}
