// Open-loop load at a fixed rate (what wrk2 does; Debian has no wrk2): requests are sent on a fixed
// schedule whatever the replies do, over an undici Pool with more connections than the rate needs,
// and each latency is taken two ways: from the moment the request is handed to the pool to the last
// body byte ("service", what the added-latency targets use), and from the scheduled send time
// ("scheduled": includes timer lateness, so a stall is not hidden by the generator: no coordinated
// omission).
// Usage: node dist/bench/open-loop.js '<json {url,path,rate,durationS,warmupS}>'; prints "RESULT <json>".
import { Pool } from 'undici';
import { S3_HEADERS } from './lib/wrk.js';

interface Args { url: string; path: string; rate: number; durationS: number; warmupS: number }
const a = JSON.parse(process.argv[2] ?? '{}') as Args;
const pool = new Pool(a.url, { connections: 64, pipelining: 1, keepAliveTimeout: 10_000 });
const headers = { ...S3_HEADERS };

async function phase(seconds: number): Promise<{ lat: Float64Array; sched: Float64Array; n: number; errors: number; late: number }> {
  const total = Math.round(a.rate * seconds);
  const lat = new Float64Array(total);
  const sched = new Float64Array(total);
  const interval = 1000 / a.rate;
  let sent = 0;
  let done = 0;
  let errors = 0;
  let late = 0;
  const t0 = performance.now() + 5;
  await new Promise<void>((resolve) => {
    const fire = (i: number, scheduled: number): void => {
      const start = performance.now();
      const end = (): void => {
        const now = performance.now();
        lat[i] = now - start;
        sched[i] = now - scheduled;
      };
      pool.request({ path: a.path, method: 'GET', headers }).then(async (res) => {
        for await (const _ of res.body) { /* drain */ }
        end();
        if (res.statusCode !== 200) errors++;
      }, () => {
        end();
        errors++;
      }).finally(() => {
        if (++done === total) resolve();
      });
    };
    const loop = (): void => {
      const now = performance.now();
      while (sent < total && t0 + sent * interval <= now) {
        const scheduled = t0 + sent * interval;
        if (now - scheduled > 1) late++;
        fire(sent, scheduled);
        sent++;
      }
      if (sent < total) {
        const next = t0 + sent * interval - performance.now();
        setTimeout(loop, Math.max(0, Math.floor(next)));
      }
    };
    loop();
  });
  return { lat, sched, n: total, errors, late };
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

if (a.warmupS > 0) await phase(a.warmupS);
const r = await phase(a.durationS);
const sorted = r.lat.slice().sort();
const sortedSched = r.sched.slice().sort();
const round = (x: number): number => Math.round(x * 1000) / 1000;
process.stdout.write(`RESULT ${JSON.stringify({
  requests: r.n, errors: r.errors, lateSends: r.late, rate: a.rate,
  p50: round(pct(sorted, 50)), p90: round(pct(sorted, 90)), p99: round(pct(sorted, 99)), p999: round(pct(sorted, 99.9)), max: round(sorted[sorted.length - 1] ?? NaN),
  scheduled: { p50: round(pct(sortedSched, 50)), p99: round(pct(sortedSched, 99)), max: round(sortedSched[sortedSched.length - 1] ?? NaN) },
  samples: Array.from(r.lat, round),
  scheduledSamples: Array.from(r.sched, round),
})}\n`);
await pool.close();
process.exit(0);
