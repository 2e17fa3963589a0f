// What serve --audit-required costs: (1) the reservation itself, in-process: EventBuffer.push() vs
// reserve() + pushReserved(), ns per event; (2) CPU per PUT of the real proxy process, with and
// without the flag, the webhook enabled to a HEC receiver that keeps up (so nothing is refused and
// both runs do the same work). Writes bench/results/audit-required/latest.{md,json}.
//
// Usage: npm run build && node dist/bench/audit-required.js [--puts N] [--rounds R]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { EventBuffer } from '../src/dispatch/buffer.js';
import { projectRoot } from '../src/paths.js';
import { cpuSeconds, spawnReady, type Child } from './lib/proc.js';
import { startSink, sinkStats, type Sink } from './lib/sink.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const PUTS = arg('puts', 20_000);
const ROUNDS = arg('rounds', 3);
const CONCURRENCY = 16;
const BODY = Buffer.alloc(1024, 'a');
const HEC_TOKEN = 'bench-audit-required';
const ADMIN_TOKEN = 'bench-audit-required-admin';
const root = projectRoot();
const dist = join(root, 'dist');

// ---- (1) the reservation, in-process -------------------------------------------------------

function microNs(reserved: boolean, n: number): number {
  const b = new EventBuffer(1_000_000, 1024 ** 3);
  const json = Buffer.from(JSON.stringify({ version: '1', id: 'x'.repeat(36), kind: 's3', pad: 'y'.repeat(900) }));
  const CHUNK = 10_000;
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < n; done += CHUNK) {
    if (reserved) {
      for (let i = 0; i < CHUNK; i++) {
        if (b.reserve() !== null) throw new Error('no room');
        b.pushReserved(json, 0, json.length);
      }
    } else {
      for (let i = 0; i < CHUNK; i++) if (b.push(json, 0, json.length) !== null) throw new Error('no room');
    }
    b.mq.takeAll();
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

function micro(): { pushNs: number; reserveAndPushNs: number; overheadNs: number } {
  const N = 2_000_000;
  microNs(false, N); microNs(true, N); // warm up
  const push: number[] = [];
  const res: number[] = [];
  for (let r = 0; r < 5; r++) {
    push.push(microNs(false, N));
    res.push(microNs(true, N));
  }
  const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const p = med(push);
  const q = med(res);
  return { pushNs: round(p, 1), reserveAndPushNs: round(q, 1), overheadNs: round(q - p, 1) };
}

// ---- (2) CPU per PUT of the proxy process ---------------------------------------------------

interface Run { flag: boolean; puts: number; failed: number; cpuSeconds: number; cpuUsPerPut: number; wallSeconds: number; refused: number }

async function startBackend(dir: string): Promise<Child> {
  const r = await spawnReady('node-backend', process.execPath, [join(dist, 'bench', 'node-backend.js'), dir], (l) => (l.startsWith('LISTENING ') ? l.slice(10) : undefined));
  return r.child;
}

async function startProxy(backendPort: string, flag: boolean, work: string): Promise<{ child: Child; url: string; admin: string }> {
  const dataDir = mkdtempSync(join(work, 'data-'));
  let admin = '';
  const args = [join(dist, 'src', 'cli', 'main.js'), 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--backend', `http://127.0.0.1:${backendPort}`,
    '--data-dir', dataDir, '--log-level', 'info', '--shutdown-timeout', '2s', ...(flag ? ['--audit-required'] : [])];
  const r = await spawnReady(flag ? 's3ap-required' : 's3ap-open', process.execPath, args, (line) => {
    try {
      const rec = JSON.parse(line) as { msg?: string; listen?: string; admin?: string };
      if (rec.msg === 'admin API listening' && rec.admin) admin = rec.admin;
      if (rec.msg === 's3-audit-proxy listening' && rec.listen) return rec.listen;
    } catch { /* not JSON */ }
    return undefined;
  }, { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], S3AP_ADMIN_TOKEN: ADMIN_TOKEN } });
  return { child: r.child, url: r.value, admin };
}

async function adminJson(admin: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${admin}${path}`, {
    method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const doc = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(doc)}`);
  return doc;
}

async function putLoad(url: string, n: number, prefix: string): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1 });
  let next = 0;
  let failed = 0;
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++;
        const r = await pool.request({ method: 'PUT', path: `/bench/${prefix}/${i}`, body: BODY, headers: { 'content-length': String(BODY.length) } });
        await r.body.dump();
        if (r.statusCode !== 200 && r.statusCode !== 201 && r.statusCode !== 204) failed++;
      }
    }));
  } finally {
    await pool.close();
  }
  return failed;
}

async function oneRun(sink: Sink, backendPort: string, flag: boolean, work: string, rnd: number): Promise<Run> {
  const p = await startProxy(backendPort, flag, work);
  try {
    await adminJson(p.admin, 'POST', '/api/v1/audit-webhook/enable', { endpoint: `${sink.url}/services/collector/event`, authToken: HEC_TOKEN });
    await putLoad(p.url, 2000, `warm-${rnd}-${flag}`); // JIT, connections
    const before = (await sinkStats(sink)).events;
    const c0 = cpuSeconds(p.child.pid);
    const t0 = performance.now();
    const failed = await putLoad(p.url, PUTS, `r${rnd}-${flag}`);
    const wall = (performance.now() - t0) / 1000;
    // the events of these PUTs delivered: the delivery CPU belongs to them
    const want = before + PUTS;
    const end = Date.now() + 30_000;
    while ((await sinkStats(sink)).events < want && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const cpu = cpuSeconds(p.child.pid) - c0;
    const st = (await adminJson(p.admin, 'GET', '/api/v1/audit-webhook'))['status'] as { refusedRequests?: number };
    return { flag, puts: PUTS, failed, cpuSeconds: round3(cpu), cpuUsPerPut: round(cpu / PUTS * 1e6, 1), wallSeconds: round3(wall), refused: st.refusedRequests ?? 0 };
  } finally {
    await p.child.stop(8000);
  }
}

const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;
const round3 = (v: number): number => round(v, 3);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 's3ap-bench-required-'));
  const outDir = join(root, 'bench', 'results', 'audit-required');
  mkdirSync(outDir, { recursive: true });
  let sink: Sink | null = null;
  let backend: Child | null = null;
  try {
    const m = micro();
    console.log(`reservation: push ${m.pushNs} ns, reserve+pushReserved ${m.reserveAndPushNs} ns (+${m.overheadNs} ns)`);
    sink = await startSink(process.execPath, dist, HEC_TOKEN);
    const objects = join(work, 'objects');
    mkdirSync(objects);
    backend = await startBackend(objects);
    const backendPort = backend.lines.find((l) => l.startsWith('LISTENING '))!.slice(10);
    const runs: Run[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // alternate the order so that drift on a shared machine does not favour one side
      for (const flag of r % 2 === 0 ? [false, true] : [true, false]) {
        const run = await oneRun(sink, backendPort, flag, work, r);
        console.log(`round ${r + 1} ${flag ? '--audit-required' : 'fail-open      '}: ${run.cpuUsPerPut} µs CPU/PUT (${run.cpuSeconds} s for ${run.puts}), ${run.wallSeconds} s wall, failed ${run.failed}, refused ${run.refused}`);
        runs.push(run);
      }
    }
    const med = (flag: boolean): number => {
      const v = runs.filter((x) => x.flag === flag).map((x) => x.cpuUsPerPut).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)]!;
    };
    const spread = (flag: boolean): string => {
      const v = runs.filter((x) => x.flag === flag).map((x) => x.cpuUsPerPut);
      return `${Math.min(...v)}–${Math.max(...v)}`;
    };
    const off = med(false);
    const on = med(true);
    const result = {
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', node: process.version, loadavg1: round(loadavg()[0]!, 2) },
      command: `node dist/bench/audit-required.js --puts ${PUTS} --rounds ${ROUNDS}`,
      micro: m,
      puts: { perRun: PUTS, concurrency: CONCURRENCY, bodyBytes: BODY.length, rounds: ROUNDS },
      runs,
      medianCpuUsPerPut: { failOpen: off, auditRequired: on },
      ratio: round(on / off, 3),
    };
    writeFileSync(join(outDir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
    const md = [
      '# serve --audit-required: what the admission costs',
      '',
      `Run ${result.when} on ${result.machine.cpus} × ${result.machine.model}, Node ${result.machine.node}, load average ${result.machine.loadavg1} at the end (a shared machine: other work ran meanwhile).`,
      `Command: \`npm run build && ${result.command}\``,
      '',
      '## The reservation (in-process, EventBuffer, 2,000,000 events of 1 KiB, median of 5)',
      '',
      '| | ns per event |',
      '|---|---:|',
      `| push() | ${m.pushNs} |`,
      `| reserve() + pushReserved() | ${m.reserveAndPushNs} |`,
      `| difference | ${m.overheadNs} |`,
      '',
      `## CPU per PUT of the proxy process (${PUTS} PUTs of 1 KiB per run, ${CONCURRENCY} connections, webhook to a HEC receiver that keeps up, node backend)`,
      '',
      '| round | mode | CPU µs per PUT | wall s | refused |',
      '|---:|---|---:|---:|---:|',
      ...runs.map((r, i) => `| ${Math.floor(i / 2) + 1} | ${r.flag ? '--audit-required' : 'fail-open (default)'} | ${r.cpuUsPerPut} | ${r.wallSeconds} | ${r.refused} |`),
      '',
      `Median: fail-open ${off} µs, --audit-required ${on} µs: ratio **${result.ratio}** (from this one run).`,
      '',
      'CPU is utime+stime of the proxy process from /proc, from the first PUT to the delivery of the last event.',
      'Nothing is refused in these runs (the receiver keeps up): the difference is the reservation and its bookkeeping.',
      `Spread of the runs of one mode: fail-open ${spread(false)}, --audit-required ${spread(true)} µs. On a shared machine a difference smaller than the spread is noise, not a cost.`,
      '',
    ].join('\n');
    writeFileSync(join(outDir, 'latest.md'), md);
    console.log(`median CPU/PUT: fail-open ${off} µs, --audit-required ${on} µs, ratio ${result.ratio}`);
  } finally {
    await backend?.stop();
    await sink?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
