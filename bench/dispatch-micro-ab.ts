// Two builds' serializer and HEC body code side by side in one process (no network, no receiver):
// the parts of scenario 4 that a loaded box cannot resolve end to end. Alternates old and new
// several times and prints medians of CPU µs per event; checks first that both write the same bytes.
// Usage: node dist/bench/dispatch-micro-ab.js <old dist> <new dist>
import { resolve, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sampleEvent } from './sample-event.js';
import type { AuditEvent } from '../src/audit/event.js';
import type { Formatter, FormatMeta } from '../src/dispatch/formats.js';

type Serialize = (e: AuditEvent) => string;
type CreateFormatter = (format: 'hec-event', meta: FormatMeta) => Formatter;

const [oldDist, newDist] = process.argv.slice(2).map((d) => resolve(d));
if (!oldDist || !newDist) throw new Error('usage: dispatch-micro-ab.js <old dist> <new dist>');
const load = async <T>(dist: string, file: string, name: string): Promise<T> =>
  ((await import(pathToFileURL(join(dist, file)).href)) as Record<string, T>)[name]!;
const ser = { old: await load<Serialize>(oldDist, 'src/audit/serialize.js', 'serializeEvent'), new: await load<Serialize>(newDist, 'src/audit/serialize.js', 'serializeEvent') };
const fmt = { old: await load<CreateFormatter>(oldDist, 'src/dispatch/formats.js', 'createFormatter'), new: await load<CreateFormatter>(newDist, 'src/dispatch/formats.js', 'createFormatter') };

// The bench's events, with timings rounded to 3 decimals as buildEvent does.
const events = Array.from({ length: 4096 }, (_, i) => {
  const e = sampleEvent(i);
  e.timing.totalMs = Math.round(e.timing.totalMs * 1000) / 1000;
  return e;
});
for (const e of events) if (ser.old(e) !== ser.new(e)) throw new Error(`serializers differ on ${e.id}`);

const cpuPer = (n: number, fn: () => void): number => {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ROUNDS = 7;

// Serialise, then UTF-8 into a reused buffer (what the slab does, without its allocation).
const out = Buffer.allocUnsafeSlow(1 << 20);
const serialiseRun = (f: Serialize): number => cpuPer(400_000, () => {
  for (let i = 0; i < 400_000; i++) out.write(f(events[i & 4095]!), 0, 'utf8');
});
// HEC bodies of 500 events held as bytes, as the memory queue holds them.
const json = events.slice(0, 500).map((e) => Buffer.from(ser.new(e), 'utf8'));
const bytes = json.map((b) => b.length);
const times = json.map((_, i) => Date.UTC(2026, 0, 1) + i * 3);
const meta = { host: 'bench-host' };
const f = { old: fmt.old('hec-event', meta), new: fmt.new('hec-event', meta) };
if (!f.old.body(json, bytes, times).equals(f.new.body(json, bytes, times))) throw new Error('HEC bodies differ');
const bodyRun = (x: Formatter): number => cpuPer(200_000, () => {
  for (let k = 0; k < 400; k++) x.body(json, bytes, times);
});
const writeRun = (x: Formatter): number => cpuPer(200_000, () => {
  for (let k = 0; k < 400; k++) {
    let off = 0;
    for (let i = 0; i < 500; i++) {
      x.size(bytes[i]!, times[i]!);
      off = x.write(out, off, json[i]!, bytes[i]!, times[i]!);
    }
  }
});

const rows: Array<[string, (v: 'old' | 'new') => number]> = [
  ['serializeEvent + UTF-8 write', (v) => serialiseRun(ser[v])],
  ['HEC body() of 500 events (fresh body buffer)', (v) => bodyRun(f[v])],
  ['HEC size() + write() into a reused buffer', (v) => writeRun(f[v])],
];
for (const [name, run] of rows) {
  run('old');
  run('new'); // warm-up
  const r = { old: [] as number[], new: [] as number[] };
  for (let k = 0; k < ROUNDS; k++) {
    r.old.push(run('old'));
    r.new.push(run('new'));
  }
  const o = median(r.old);
  const n = median(r.new);
  process.stdout.write(`${name}: old ${o.toFixed(3)} µs, new ${n.toFixed(3)} µs per event (${(n / o).toFixed(2)}x), median of ${ROUNDS}\n`);
}
