// Scenario 4 alone, for quick iterations and before/after comparisons in one run: runs
// bench/dispatcher-bench.js from one or more builds (dist directories), interleaved A B .. B A, against
// one HEC receiver, and prints events/s and dispatcher CPU µs per event for each phase.
// Usage: node dist/bench/dispatcher-ab.js [--runs N] [--events N] [--phases plain,plainSerialised,gzip,spool]
//          [--prof DIR] <dist> [<dist> ...]
//   e.g. node dist/bench/dispatcher-ab.js --runs 3 /tmp/base/dist dist
//   A build may carry environment variables for its runs: dist@NAME=VALUE[,NAME=VALUE]
// --prof passes --cpu-prof to the dispatcher process (profiles land in DIR; summarise them with
// bench/cpuprofile-summary.ts).
import { resolve } from 'node:path';
import { join } from 'node:path';
import { spawnReady } from './lib/proc.js';
import { startSink } from './lib/sink.js';

const HEC_TOKEN = '9d1b3c2e-bench-4f00-8000-000000000001';
const PHASES = ['plain', 'plainSerialised', 'gzip', 'spoolWrite', 'spoolDrain'] as const;

const argv = process.argv.slice(2);
let runs = 3;
let events = 100_000;
let prof: string | null = null;
let phases: string[] | undefined;
const dists: string[] = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '--runs') runs = Number(argv[++i]);
  else if (a === '--events') events = Number(argv[++i]);
  else if (a === '--prof') prof = resolve(argv[++i]!);
  else if (a === '--phases') phases = argv[++i]!.split(',');
  else dists.push(a);
}
if (dists.length === 0) dists.push('dist');
/** `<dist>[@NAME=VALUE[,NAME=VALUE]]`: the build, and environment variables set for its runs (variants of one build). */
const variant = (spec: string): { dist: string; env: NodeJS.ProcessEnv } => {
  const [dist, kv] = spec.split('@') as [string, string | undefined];
  const env = { ...process.env };
  for (const one of kv ? kv.split(',') : []) env[one.slice(0, one.indexOf('='))] = one.slice(one.indexOf('=') + 1);
  return { dist: resolve(dist), env };
};

const sink = await startSink(process.execPath, variant(dists[dists.length - 1]!).dist, HEC_TOKEN);
type Phase = { eventsPerSec?: number; cpuUsPerEvent?: number };
const rows: Array<{ dist: string; run: number; r: Record<string, Phase | string> }> = [];
try {
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? dists : [...dists].reverse();
    for (const dist of order) {
      const arg = JSON.stringify({ endpoint: `${sink.url}/services/collector/event`, token: HEC_TOKEN, control: sink.control, events, spoolEvents: events, phases });
      const nodeArgs = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
      const v = variant(dist);
      const r = await spawnReady('dispatcher-bench', process.execPath, [...nodeArgs, join(v.dist, 'bench', 'dispatcher-bench.js'), arg],
        (l) => (l.startsWith('RESULT ') ? (JSON.parse(l.slice(7)) as Record<string, Phase | string>) : undefined), { timeoutMs: 240_000, env: v.env });
      await r.child.exited;
      rows.push({ dist, run, r: r.value });
      const line = PHASES.map((p) => {
        const x = r.value[p] as Phase | undefined;
        return `${p} ${Math.round(x?.eventsPerSec ?? 0)} ev/s ${x?.cpuUsPerEvent?.toFixed(2) ?? '-'} µs`;
      }).join(' | ');
      process.stdout.write(`run ${run} ${dist}: ${line}${r.value['error'] ? ' ERROR ' + String(r.value['error']) : ''}\n`);
    }
  }
} finally {
  await sink.stop();
}

// Medians per build and phase, and the ratio of each build to the first.
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN; };
const med = (dist: string, p: string, k: keyof Phase): number => median(rows.filter((x) => x.dist === dist).map((x) => (x.r[p] as Phase | undefined)?.[k] ?? NaN));
process.stdout.write('\nmedians (events/s, CPU µs per event; ratio to the first build)\n');
for (const dist of dists) {
  const parts = PHASES.map((p) => {
    const e = med(dist, p, 'eventsPerSec');
    const c = med(dist, p, 'cpuUsPerEvent');
    return `${p} ${Math.round(e)} (${(e / med(dists[0]!, p, 'eventsPerSec')).toFixed(2)}x) ${c.toFixed(2)} µs`;
  });
  process.stdout.write(`${dist}: ${parts.join(' | ')}\n`);
}
process.stdout.write(`RESULT ${JSON.stringify(rows)}\n`);
