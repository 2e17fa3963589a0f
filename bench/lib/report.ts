// Result types and their rendering (console table and bench/results/latest.md).
import type { MachineInfo } from './machine.js';

export interface LoadRow {
  id: string;
  label: string;
  method: 'GET' | 'PUT';
  connections: number;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  errors: number;
  /** CPU seconds (utime+stime) of the proxy process per 10k requests; null for direct. */
  cpuPer10k: number | null;
  /** The same in µs per request. */
  cpuUsPerReq: number | null;
  /** Proxy CPU during the run, % of one core. */
  cpuPct: number | null;
  /** Same for the HEC receiver process (audit on rows). */
  hecCpuPer10k: number | null;
  rssMiB: number | null;
  /** CPU used by processes that are not the benchmark's, in cores, during the row (shared machine). */
  foreignCores: number;
  /** Audit-on rows: the webhook's delivery status right after the cell (admin API). */
  delivery?: Record<string, unknown>;
  ratioVsNginx?: number | null;
  ratioVsDirect?: number | null;
}

export interface LatencyRow {
  label: string;
  requests: number;
  errors: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  scheduledP50: number;
  scheduledP99: number;
  addedP50: number | null;
  addedP99: number | null;
  foreignCores: number;
  /** utime+stime of the proxy per request at this rate, µs (null for direct). */
  cpuUsPerReq: number | null;
}

export interface LargeRow {
  label: string;
  getMBps: number;
  putMBps: number;
  /** CPU seconds of the proxy per GiB moved (best transfer); null without a process to read. */
  getCpuSPerGiB: number | null;
  putCpuSPerGiB: number | null;
  getRatioVsNginx: number | null;
  putRatioVsNginx: number | null;
  getRatioVsDirect: number | null;
  putRatioVsDirect: number | null;
  peakRssMiB: number | null;
  /** Minor page faults of the proxy per MiB moved, each transfer in order (GET then PUT per rep); null without a process. */
  faultsPerMiB?: number[] | null;
  problems: string | null;
  /** Most CPU used by other processes during one of this row's transfers, cores. */
  foreignCores: number;
}

export interface DegradedRow {
  mode: 'healthy' | 'down' | 'hang' | 'recovering';
  rps: number;
  p99: number;
  errors: number;
  ratioVsHealthy: number | null;
  cpuPer10k: number | null;
  rssMiB: number | null;
  foreignCores: number;
  detail: string;
}

export interface TargetCheck {
  name: string;
  value: number | null;
  op: '>=' | '<' | '<=';
  threshold: number;
  unit: string;
  /** null = not measured in this run (skipped). */
  met: boolean | null;
  detail: string;
  /** Other processes used more than 0.5 cores during the rows behind it. */
  noisy: boolean;
  foreignCores: number | null;
}

export interface Results {
  date: string;
  command: string;
  machine: MachineInfo;
  config: Record<string, unknown>;
  backend: string;
  auditTransport: string | null;
  skipped: string[];
  load: LoadRow[];
  latency: LatencyRow[];
  large: LargeRow[];
  largeBytes: number;
  dispatcher: Record<string, unknown> | null;
  /** Reading a 1000-key DeleteObjects exchange: event-loop block per chunk and in all, ms (bench/delete-objects-block.ts). */
  deleteObjectsBlock?: Record<string, number>;
  degraded: DegradedRow[];
  auditDelivery: Record<string, unknown> | null;
  peakRssSmallMiB: number | null;
  /** Scenario 1, each of the BENCH_RUNS runs on its own (the spread of the headline ratios). */
  runs: Array<{ key: string; id: string; method: string; connections: number; rps: number[]; cpuUsPerReq: number[]; p99: number[] }>;
  targets: TargetCheck[];
  durationS: number;
  /** Cores' worth of CPU used by other processes on the machine over the whole run. */
  foreignCoresOverall: number | null;
  notes: string[];
}

const f = (x: number | null | undefined, d = 2): string => (x === null || x === undefined || Number.isNaN(x) ? '-' : Number.isInteger(x) && d > 0 ? String(x) : x.toFixed(d));
const x = (r: number | null | undefined): string => (r === null || r === undefined ? '-' : `${r.toFixed(2)}x`);

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function targetTable(r: Results): string {
  return table(['target', 'measured', 'threshold', 'result', 'detail'], r.targets.map((t) => [
    t.name,
    t.value === null ? '-' : `${t.unit === 'x' ? t.value.toFixed(2) : t.value}${t.unit === 'x' ? 'x' : ' ' + t.unit}`,
    `${t.op} ${t.threshold}${t.unit === 'x' ? 'x' : ' ' + t.unit}`,
    (t.met === null ? 'skipped' : t.met ? '**met**' : '**MISSED**') + (t.noisy ? ' (noisy)' : ''),
    t.detail,
  ]));
}

function loadTable(r: Results): string {
  return table(['row', 'req', 'conns', 'req/s', 'vs nginx proxy', 'vs direct', 'p50 ms', 'p99 ms', 'p99.9 ms', 'proxy CPU µs/req', 'proxy CPU %', 'errors', 'foreign load (cores)'],
    r.load.map((l) => [l.label, l.method, String(l.connections), String(l.rps), x(l.ratioVsNginx), x(l.ratioVsDirect), f(l.p50), f(l.p99), f(l.p999), f(l.cpuUsPerReq ?? (l.cpuPer10k === null ? null : l.cpuPer10k * 100), 1), l.cpuPct === null ? '-' : String(l.cpuPct), String(l.errors), f(l.foreignCores)]));
}

function runsTable(r: Results): string {
  const n = Math.max(0, ...r.runs.map((x) => x.rps.length));
  const head = ['row', 'req', 'conns', ...Array.from({ length: n }, (_, i) => `run ${i + 1} req/s · µs/req · p99 ms`)];
  return table(head, r.runs.map((x) => [x.id, x.method, String(x.connections), ...x.rps.map((v, i) => `${v} · ${Number.isNaN(x.cpuUsPerReq[i]) || x.cpuUsPerReq[i] === null ? '-' : x.cpuUsPerReq[i]} · ${x.p99[i]}`)]));
}

function latencyTable(r: Results): string {
  return table(['row', 'p50 ms', 'p99 ms', 'p99.9 ms', 'added p50 ms', 'added p99 ms', 'proxy CPU µs/req', 'errors', 'foreign load (cores)'],
    r.latency.map((l) => [l.label, f(l.p50, 3), f(l.p99, 3), f(l.p999, 3), f(l.addedP50, 3), f(l.addedP99, 3), f(l.cpuUsPerReq ?? null, 1), String(l.errors), f(l.foreignCores)]));
}

function largeTable(r: Results): string {
  return table(['row', 'GET MB/s', 'GET vs nginx', 'GET vs direct', 'GET proxy CPU s/GiB', 'PUT MB/s', 'PUT vs nginx', 'PUT vs direct', 'PUT proxy CPU s/GiB', 'peak RSS MiB', 'page faults per MiB, each transfer', 'foreign load (cores, worst transfer)'],
    r.large.map((l) => [l.label, String(l.getMBps), x(l.getRatioVsNginx), x(l.getRatioVsDirect), f(l.getCpuSPerGiB ?? null, 3), String(l.putMBps), x(l.putRatioVsNginx), x(l.putRatioVsDirect), f(l.putCpuSPerGiB ?? null, 3), f(l.peakRssMiB, 1),
      l.faultsPerMiB ? l.faultsPerMiB.map((n) => n.toFixed(1)).join(' / ') : '-', f(l.foreignCores)]));
}

function dispatcherTable(r: Results): string {
  const d = r.dispatcher as Record<string, Record<string, number> | number | string> | null;
  if (!d) return '(not run)';
  if (typeof d['error'] === 'string') return `FAILED: ${d['error']}`;
  const p = d['plain'] as Record<string, number> | undefined;
  const g = d['gzip'] as Record<string, number> | undefined;
  const ps = d['plainSerialised'] as Record<string, number> | undefined;
  const w = d['spoolWrite'] as Record<string, number> | undefined;
  const dr = d['spoolDrain'] as Record<string, number> | undefined;
  const rows: string[][] = [];
  if (p) rows.push(['delivered, plain (enqueue to HEC ack)', String(Math.round(p['eventsPerSec']!)), `${f(p['wireBodyBytesPerEvent'], 0)} body B/ev (${f(p['wireTotalBytesPerEvent'], 0)} with HTTP headers)`, `${p['events']} events, ${p['requests']} requests, dropped ${p['dropped']}`]);
  if (ps) rows.push(['delivered, plain, events handed over as JSON text (serialisation left to the request path)', String(Math.round(ps['eventsPerSec']!)), `${f(ps['wireBodyBytesPerEvent'], 0)} body B/ev`, `${ps['events']} events, ${ps['requests']} requests, dropped ${ps['dropped']}`]);
  if (g) rows.push(['delivered, gzip', String(Math.round(g['eventsPerSec']!)), `${f(g['wireBodyBytesPerEvent'], 0)} body B/ev (${f(g['wireTotalBytesPerEvent'], 0)} with HTTP headers; ${f(g['bodyBytesPerEvent'], 0)} uncompressed)`, `${g['events']} events, ${g['requests']} requests, dropped ${g['dropped']}`]);
  if (w) rows.push(['spool write (receiver down)', String(Math.round(w['eventsPerSec']!)), '-', `${w['events']} events in ${f(w['seconds'])} s, dropped ${w['dropped']}`]);
  if (dr) rows.push(['spool drain (receiver back)', String(Math.round(dr['eventsPerSec']!)), '-', `${dr['events']} events, ${f(dr['secondsFromFirstDelivery'])} s from first delivery (${f(dr['secondsFromUp'])} s from receiver up)`]);
  return table(['phase', 'events/s', 'bytes on the wire per event', 'detail'], rows) + `\n\nEvent JSON: ${d['eventJsonBytes']} bytes (bench/sample-event.ts). Dispatcher process CPU: ${d['dispatcherProcessCpuSeconds']} s, ${d['cpuUsPerEvent'] ?? '-'} µs per event over the delivered and spooled phases (process total, start-up included). Receiver CPU during scenario 4: ${d['receiverCpuSeconds']} s. Other processes used ${f(d['foreignCores'] as number)} cores meanwhile.`;
}

function degradedTable(r: Results): string {
  return table(['receiver', 'GET req/s (32 conns)', 'vs healthy', 'p99 ms', 'errors', 'proxy CPU µs/req', 'proxy RSS MiB', 'foreign load (cores)', 'detail'],
    r.degraded.map((d) => [d.mode === 'healthy' ? 'healthy (mean of before and after)' : d.mode === 'recovering' ? 'receiver back, spool draining (no target)' : `receiver ${d.mode}`, String(d.rps), x(d.ratioVsHealthy), f(d.p99), String(d.errors), f(d.cpuPer10k === null ? null : d.cpuPer10k * 100, 1), f(d.rssMiB, 1), f(d.foreignCores), d.detail]));
}

export function renderMarkdown(r: Results): string {
  const m = r.machine;
  const out: string[] = [];
  out.push('# s3-audit-proxy benchmark: latest run', '');
  out.push(`- Date: ${r.date} (took ${r.durationS} s)`);
  out.push(`- Command: \`${r.command}\``);
  out.push(`- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memGiB} GiB RAM, ${m.kernel}`);
  out.push(`- Versions: node ${m.node}, nginx ${m.nginx ?? 'missing'}, wrk ${m.wrk ?? 'missing'}, ${m.curl ?? 'curl missing'}`);
  out.push(`- Load average at start ${m.loadAvgStart.join(' ')}, at end ${m.loadAvgEnd?.join(' ') ?? '-'}; CPU used by other processes during the run: ${f(r.foreignCoresOverall)} of ${m.cores} cores (the machine may be shared: compare ratios, not absolutes; rows are interleaved so load changes hit all rows alike)`);
  out.push(`- Backend: ${r.backend}. Everything on 127.0.0.1; wrk -t2, ${String(r.config['durationS'])} s per cell and run (two interleaved rounds of half that), ${String(r.config['runs'] ?? 1)} run(s): rows aggregate the runs, the targets give each run's ratio as a spread.`);
  out.push(`- Audit on: ${r.auditTransport ?? 'not run'}`);
  if (r.config['nodeProxyEnv'] !== undefined) out.push(`- Node proxies (s3-audit-proxy, minimal http-proxy) run with: ${String(r.config['nodeProxyEnv']) || 'glibc malloc defaults (BENCH_MALLOC=glibc)'} (what the image sets: src/proxy/malloc-env.ts)`);
  if (r.skipped.length) out.push('', '**Skipped:**', ...r.skipped.map((s) => `- ${s}`));
  out.push('', '## Targets (ratios measured in this run)', '', targetTable(r));
  out.push('', '## 1. Small objects (4 KiB), wrk closed loop', '', r.load.length ? loadTable(r) : '(not run)');
  if (r.runs.length) out.push('', 'Each run on its own (req/s · proxy CPU µs per request · p99 ms):', '', runsTable(r));
  if (r.auditDelivery) out.push('', `Audit delivery check: ${JSON.stringify(r.auditDelivery)}`);
  const dl = r.load.filter((l) => l.delivery);
  if (dl.length) {
    out.push('', 'Webhook status after each audit-on cell (admin API, cumulative counters):', '',
      table(['proxy', 'cell', 'state', 'delivered', 'queued', 'spooled', 'dropped', 'retried', 'last latency ms'], dl.map((l) => {
        const d = l.delivery!;
        return [l.label, `${l.method} c=${l.connections}`, String(d['state']), String(d['delivered']), String(d['queued']), String(d['spooled']), String(d['dropped']), String(d['retried']), String(d['lastLatencyMs'])];
      })));
  }
  if (r.peakRssSmallMiB !== null) out.push('', `Peak RSS of the audit-on proxy after the small-object runs: ${r.peakRssSmallMiB} MiB.`);
  out.push('', `## 2. Added latency, open loop at ${String(r.config['rate'])} req/s (4 KiB GET)`, '', r.latency.length ? latencyTable(r) : '(not run)');
  out.push('', `## 3. Large objects (${Math.round(r.largeBytes / 1024 / 1024)} MiB GET and PUT, best of ${String(r.config['largeReps'])}, ${m.curl ? 'curl' : 'node http client'})`, '', r.large.length ? largeTable(r) : '(not run)');
  out.push('', '## 4. Dispatcher alone (AuditDispatcher in its own process, HEC receiver in another)', '', dispatcherTable(r));
  out.push('', '## 5. Degraded receiver (audit on, 4 KiB GET, 32 connections)', '', r.degraded.length ? degradedTable(r) : '(not run)');
  if (r.notes.length) out.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  out.push('', 'Methodology and analysis: docs/performance.md.', '');
  return out.join('\n');
}

export function renderConsole(r: Results): string {
  return [
    'TARGETS', targetTable(r), '',
    'SMALL OBJECTS', r.load.length ? loadTable(r) : '(not run)', '',
    ...(r.runs.length ? ['PER RUN', runsTable(r), ''] : []),
    'ADDED LATENCY', r.latency.length ? latencyTable(r) : '(not run)', '',
    'LARGE OBJECTS', r.large.length ? largeTable(r) : '(not run)', '',
    'DISPATCHER', dispatcherTable(r), '',
    'DEGRADED RECEIVER', r.degraded.length ? degradedTable(r) : '(not run)',
    ...(r.skipped.length ? ['', 'SKIPPED', ...r.skipped] : []),
  ].join('\n');
}
