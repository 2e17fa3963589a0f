// Where the proxy allocates under load: bytes allocated per request, by function, for audit off or
// on (not part of `npm run bench`; run after a build):
//   node dist/bench/alloc-profile.js <off|on|file> [GET|PUT] [seconds] [connections] [dist dir]
// (on = the webhook to a HEC receiver, file = the JSONL audit log; SERVE_ARGS adds serve flags,
// e.g. SERVE_ARGS=--v8-pretenuring; with GC_TRACE=1: SHOW_STATUS=1 prints the delivery status,
// GC_DUMP=<file> the --trace-gc-nvp lines, GC_DUMP_ALL=<file> all of the proxy's output lines)
// The proxy runs under wrk with bench/lib/alloc-sampler.ts preloaded (V8's sampling heap profiler,
// collected objects included). Prints the bytes per request by function (self) and by function
// including its callees (inclusive), and writes bench/results/alloc-<mode>-<method>.md unless
// PROFILE_OUT_DIR says elsewhere. A different [dist dir] profiles another build (before/after).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { projectRoot } from '../src/paths.js';
import { startProfileBackend } from './lib/nginx.js';
import { sleep, cpuSeconds, type Child } from './lib/proc.js';
import { runWrk, writeWrkScript } from './lib/wrk.js';
import { startS3ap } from './lib/s3ap.js';
import { startSink } from './lib/sink.js';

interface Frame { functionName: string; url: string; lineNumber: number }
interface HeapNode { callFrame: Frame; selfSize: number; children: HeapNode[] }

const mode = process.argv[2] === 'off' ? 'off' : process.argv[2] === 'file' ? 'file' : 'on';
const method = (process.argv[3] ?? 'GET').toUpperCase() as 'GET' | 'PUT';
const seconds = Number(process.argv[4] ?? 8);
const conns = Number(process.argv[5] ?? 32);
const ROOT = projectRoot();
const DIST = resolve(process.argv[6] ?? join(ROOT, 'dist'));
const NODE = process.execPath;
const WORK = mkdtempSync(join(os.platform() === 'linux' ? '/dev/shm' : os.tmpdir(), 's3ap-alloc-'));
const children: Child[] = [];
const log = (m: string): void => { process.stdout.write(`[alloc] ${m}\n`); };
const outDir = process.env['PROFILE_OUT_DIR'] ?? join(ROOT, 'bench', 'results');

const short = (f: Frame): string => {
  const file = f.url.replace(/^file:\/\//, '').replace(DIST + '/', '').replace(/^node:/, 'node:');
  return `${f.functionName || '(anonymous)'} ${file}${file ? ':' + (f.lineNumber + 1) : ''}`;
};

/**
 * Adds the bytes under `root` to `incl` by function (a function counted once per call path, so
 * recursion does not count twice) and, when given, each node's own bytes to `self`; returns the total.
 */
function tally(root: HeapNode, incl: Map<string, number>, self: Map<string, number> | null): number {
  const walk = (n: HeapNode, onPath: Set<string>): number => {
    const k = short(n.callFrame);
    if (self !== null) self.set(k, (self.get(k) ?? 0) + n.selfSize);
    let sum = n.selfSize;
    const fresh = !onPath.has(k);
    if (fresh) onPath.add(k);
    for (const c of n.children) sum += walk(c, onPath);
    if (fresh) { onPath.delete(k); incl.set(k, (incl.get(k) ?? 0) + sum); }
    return sum;
  };
  return walk(root, new Set());
}

function summarise(root: HeapNode, requests: number, top = 45): string {
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const total = tally(root, incl, self);
  const per = (b: number): string => (b / requests).toFixed(0);
  const table = (m: Map<string, number>): string => [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, v]) => `| ${per(v)} | ${(100 * v / total).toFixed(1)} % | \`${k}\` |`).join('\n');
  // Inside the functions named in ALLOC_FOCUS (default onDone: the audit step), inclusive by function.
  const focus = (process.env['ALLOC_FOCUS'] ?? 'onDone').split(',');
  let focusText = '';
  for (const name of focus) {
    const sub = new Map<string, number>();
    let subTotal = 0;
    const find = (n: HeapNode): void => {
      if (n.callFrame.functionName === name) { subTotal += tally(n, sub, null); return; }
      for (const c of n.children) find(c);
    };
    find(root);
    focusText += `\n### Inside \`${name}\`: ${per(subTotal)} bytes per request, inclusive by function\n\n| B/req | function |\n|---|---|\n` +
      [...sub].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `| ${per(v)} | \`${k}\` |`).join('\n') + '\n';
  }
  return `Allocated: ${per(total)} bytes per request (${(total / 1e6).toFixed(1)} MB over ${requests} requests).\n\n` +
    `### By function, self (bytes per request)\n\n| B/req | share | function |\n|---|---|---|\n${table(self)}\n\n` +
    `### By function, inclusive (bytes per request)\n\n| B/req | share | function |\n|---|---|---|\n${table(incl)}\n${focusText}`;
}

try {
  const backend = await startProfileBackend(WORK);
  children.push(backend.child);
  const sink = await startSink(NODE, join(ROOT, 'dist'), 'alloc-hec-token');
  children.push(sink.child);
  const sampler = join(ROOT, 'dist', 'bench', 'lib', 'alloc-sampler.js');
  // PROMOTED=1: only objects the scavenger did not collect (promoted to the old generation, or still live).
  writeFileSync(join(os.tmpdir(), 's3ap-alloc-options.json'), JSON.stringify({ promotedOnly: process.env['PROMOTED'] === '1' }));
  // GC_TRACE=1: no sampler; --trace-gc instead, and the collections of the measured run counted.
  const trace = process.env['GC_TRACE'] === '1';
  const extra = (process.env['EXTRA_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
  const p = await startS3ap({ node: NODE, dist: DIST, work: WORK, hecUrl: sink.url, hecToken: 'alloc-hec-token', adminToken: 'alloc-admin', register: (c) => { children.push(c); }, log },
    mode === 'on' ? 'webhook' : mode, backend.url, [...extra, ...(trace ? ['--trace-gc'] : ['--import', sampler])], 1,
    (process.env['SERVE_ARGS'] ?? '').split(' ').filter(Boolean));
  const script = method === 'GET' ? writeWrkScript(WORK, 'get', 'GET', '/bench/obj-4k', 0) : writeWrkScript(WORK, 'put', 'PUT', '/bench/put/obj-4k', 4096);
  await runWrk('wrk', p.url, script, 32, 3); // warm-up: optimised code before sampling
  if (!trace) process.kill(p.pid, 'SIGUSR2');
  const line0 = p.child.lines.length;
  const cpu0 = cpuSeconds(p.pid);
  const w = await runWrk('wrk', p.url, script, conns, seconds);
  const cpu = cpuSeconds(p.pid) - cpu0;
  if (trace) {
    const gc = p.child.lines.slice(line0).filter((l) => / ms: (Scavenge|Mark-Compact|Mark-sweep|Minor)/.test(l));
    const kinds = new Map<string, { n: number; ms: number }>();
    for (const l of gc) {
      const kind = / ms: ([A-Za-z-]+)/.exec(l)![1]!;
      const pause = Number(/MB, ([\d.]+) \//.exec(l)?.[1] ?? 0);
      const k = kinds.get(kind) ?? { n: 0, ms: 0 };
      k.n++; k.ms += pause;
      kinds.set(kind, k);
    }
    // With EXTRA_NODE_FLAGS=--trace-gc-nvp: bytes promoted by scavenges and allocated, per request.
    const nvp = p.child.lines.slice(line0).filter((l) => l.includes('promoted='));
    if (process.env['GC_DUMP_ALL']) writeFileSync(process.env['GC_DUMP_ALL'], p.child.lines.join('\n') + '\n');
    if (process.env['GC_DUMP']) writeFileSync(process.env['GC_DUMP'], nvp.join('\n') + '\n');
    const sum = (re: RegExp): number => nvp.reduce((acc, l) => acc + Number(re.exec(l)?.[1] ?? 0), 0);
    if (nvp.length) {
      const kindsNvp = nvp.map((l) => / gc=(\w+)/.exec(l)?.[1] ?? '?').join('');
      process.stdout.write(`nvp: ${nvp.length} collections (${kindsNvp.replace(/(.)\1*/g, (m) => m[0] + m.length + ' ')}), promoted ${(sum(/ promoted=(\d+)/) / w.requests).toFixed(0)} B/request, ` +
        `allocated ${(sum(/ allocated=(\d+)/) / w.requests).toFixed(0)} B/request\n`);
    }
    // GC_GREP=<regex>: the proxy's output lines of the measured run that match, counted by text
    // (e.g. EXTRA_NODE_FLAGS=--trace-incremental-marking GC_GREP='Start \(' for why marking starts).
    const grep = process.env['GC_GREP'];
    if (grep) {
      const counts = new Map<string, number>();
      for (const l of p.child.lines.slice(process.env['GC_ALL'] === '1' ? 0 : line0)) if (new RegExp(grep).test(l)) { const k = l.replace(/^\[[^\]]*\]\s*/, '').replace(/[\d.]+ ms/g, 'N ms'); counts.set(k, (counts.get(k) ?? 0) + 1); }
      for (const [k, n] of counts) process.stdout.write(`${n} x ${k}\n`);
    }
    const per = [...kinds].map(([k, v]) => `${k}: ${v.n} (${(v.n * 1000 / w.requests).toFixed(2)} per 1000 requests, ${(v.ms * 1000 / w.requests).toFixed(2)} µs pause per request)`).join('; ');
    process.stdout.write(`GC during ${w.requests} requests (${Math.round(w.rps)} req/s, CPU ${(cpu / w.requests * 1e6).toFixed(1)} µs per request): ${per}\nlast: ${gc.at(-1) ?? '-'}\n`);
    if (process.env['SHOW_STATUS'] === '1') process.stdout.write(`status: ${JSON.stringify(await p.status())}\n`);
    await p.stop();
    await cleanup(); // exit() skips the finally below: without this the backend and the sink outlived every GC_TRACE run
    process.exit(0);
  }
  process.kill(p.pid, 'SIGUSR2');
  const file = join(os.tmpdir(), `s3ap-alloc-${p.pid}.heapprofile`);
  for (let i = 0; i < 200 && !existsSync(file); i++) await sleep(50);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };
  rmSync(file, { force: true });
  await p.stop();
  const title = `Allocation profile: s3-audit-proxy (${DIST}), audit ${mode}, 4 KiB ${method}, ${conns} connections, ${seconds} s`;
  const md = `# ${title}\n\nCommand: \`node dist/bench/alloc-profile.js ${process.argv.slice(2).join(' ')}\`. wrk: ${Math.round(w.rps)} req/s; ` +
    `proxy CPU ${(cpu / w.requests * 1e6).toFixed(1)} µs per request (the sampler's own cost included).\n\n${summarise(profile.head, w.requests)}`;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `alloc-${mode}-${method.toLowerCase()}.md`), md);
  process.stdout.write(md);
} finally {
  await cleanup();
}

async function cleanup(): Promise<void> {
  for (const c of children.splice(0).reverse()) await c.stop(3000).catch(() => {});
  rmSync(WORK, { recursive: true, force: true });
}
