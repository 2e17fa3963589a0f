// Summarises a V8 .cpuprofile (node --cpu-prof): top functions by self time, top project functions
// by inclusive time, and self time by area (node http, undici, pino, src/proxy, src/audit, ...).
// Usage: node dist/bench/cpuprofile-summary.js <file.cpuprofile> [topN]
import { readFileSync } from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface SummaryLine { name: string; where: string; ms: number; pct: number }
export interface Summary { totalMs: number; idleMs: number; busyMs: number; self: SummaryLine[]; inclusive: SummaryLine[]; areas: SummaryLine[] }

function shortUrl(url: string): string {
  if (!url) return '';
  return url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(/^.*\/dist\//, 'dist/');
}

export function area(cf: CallFrame): string {
  const u = cf.url;
  const fn = cf.functionName;
  if (fn === '(idle)') return '(idle)';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return '(program: native, not attributed)';
  if (!u) return `native/builtin`;
  if (u.includes('/dist/src/proxy/')) return 'src/proxy';
  if (u.includes('/dist/src/audit/')) return 'src/audit';
  if (u.includes('/dist/src/s3/')) return 'src/s3';
  if (u.includes('/dist/src/dispatch/')) return 'src/dispatch';
  if (u.includes('/dist/src/')) return 'src (other)';
  if (u.includes('/node_modules/undici/')) return 'undici';
  if (u.includes('/node_modules/pino')) return 'pino';
  if (u.includes('/node_modules/')) return 'node_modules (other)';
  if (u.startsWith('node:internal/http') || u.startsWith('node:_http') || u === 'node:http') return 'node http';
  if (u.startsWith('node:internal/streams') || u.startsWith('node:stream')) return 'node streams';
  if (u.startsWith('node:net') || u.startsWith('node:internal/stream_base') || u.startsWith('node:internal/net')) return 'node net';
  if (u.startsWith('node:internal/timers') || u.startsWith('node:timers')) return 'node timers';
  if (u.startsWith('node:events') || u.startsWith('node:internal/event')) return 'node events';
  if (u.startsWith('node:internal/process')) return 'node process/ticks';
  if (u.startsWith('node:')) return 'node (other)';
  return 'other';
}

/** fromUs/toUs: only samples taken within [fromUs, toUs] of the monotonic clock (process.hrtime, µs). */
export function summarise(p: Profile, topN = 25, fromUs = 0, toUs = Infinity): Summary {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to sample i (V8's convention in DevTools).
  let ts = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    ts += p.timeDeltas[i] ?? 0;
    if (ts < fromUs || ts > toUs) continue;
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const key = (cf: CallFrame): string => `${cf.functionName || '(anonymous)'}\u0000${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
  const selfBy = new Map<string, number>();
  const inclBy = new Map<string, number>();
  const areaBy = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    total += us;
    if (n.callFrame.functionName === '(idle)') idle += us;
    const k = key(n.callFrame);
    selfBy.set(k, (selfBy.get(k) ?? 0) + us);
    const a = area(n.callFrame);
    areaBy.set(a, (areaBy.get(a) ?? 0) + us);
    // inclusive: each distinct function on the stack once
    const seen = new Set<string>();
    let cur: number | undefined = id;
    let guard = 0;
    while (cur !== undefined && guard++ < 10_000) {
      const cn: ProfileNode = byId.get(cur)!;
      const ck = key(cn.callFrame);
      if (!seen.has(ck)) {
        seen.add(ck);
        inclBy.set(ck, (inclBy.get(ck) ?? 0) + us);
      }
      cur = parent.get(cur);
    }
  }
  const busy = total - idle;
  const lines = (m: Map<string, number>, filter: (k: string) => boolean, denom: number): SummaryLine[] =>
    [...m.entries()].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, topN).map(([k, us]) => {
      const [name, where] = k.split('\u0000') as [string, string];
      return { name, where, ms: Math.round(us / 100) / 10, pct: Math.round((us / denom) * 1000) / 10 };
    });
  return {
    totalMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    busyMs: Math.round(busy / 1000),
    self: lines(selfBy, (k) => !k.startsWith('(idle)'), busy),
    inclusive: lines(inclBy, (k) => k.includes('dist/src/'), busy),
    areas: [...areaBy.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).map(([k, us]) => ({ name: k, where: '', ms: Math.round(us / 1000), pct: Math.round((us / busy) * 1000) / 10 })),
  };
}

export function renderSummary(s: Summary, title: string): string {
  const out = [`## ${title}`, '', `Sampled ${s.totalMs} ms, busy (not idle) ${s.busyMs} ms. Percentages are of busy time.`, '', '### Self time by area', '', '| area | ms | % |', '|---|---|---|'];
  for (const l of s.areas) out.push(`| ${l.name} | ${l.ms} | ${l.pct} |`);
  out.push('', '### Top functions by self time', '', '| function | where | ms | % |', '|---|---|---|---|');
  for (const l of s.self) out.push(`| ${l.name} | ${l.where} | ${l.ms} | ${l.pct} |`);
  out.push('', '### Project functions by inclusive time (self + callees)', '', '| function | where | ms | % |', '|---|---|---|---|');
  for (const l of s.inclusive) out.push(`| ${l.name} | ${l.where} | ${l.ms} | ${l.pct} |`);
  return out.join('\n');
}

// CLI
if (process.argv[1] && /cpuprofile-summary\.js$/.test(process.argv[1])) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: cpuprofile-summary <file.cpuprofile> [topN]\n');
    process.exit(2);
  }
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  process.stdout.write(renderSummary(summarise(p, Number(process.argv[3] ?? 25)), file) + '\n');
}
