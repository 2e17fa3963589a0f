// What the audit step costs the request thread, step by step, as `serve` runs it (not part of
// `npm run bench`; run after a build with large young-generation semi-spaces so that no scavenge
// falls inside a measured batch):
//   node --max-semi-space-size=64 --min-semi-space-size=64 dist/bench/audit-path-cost.js
// Steps, each including the ones before it (the proxy's order):
//   build      buildEvent(observation)                       src/audit/build-event.ts
//   stamp      + EventStamper.stampEvent (number, serialise)  src/audit/sequence.ts, serialize.ts
//   encode     + EventSlab.encode (UTF-8 into the slab)       src/dispatch/event-slab.ts
//   queue      + MemoryQueue.push                              src/dispatch/memory-queue.ts
// For each: CPU ns per event (utime+stime of this process, median of 7 batches) and bytes allocated
// on the V8 heap per event (new-space growth over a batch without GC, median). Allocation is what
// the proxy later pays as scavenges: V8's "(garbage collector)" share of a profile.
import v8 from 'node:v8';
import { buildEvent } from '../src/audit/build-event.js';
import { EventStamper } from '../src/audit/sequence.js';
import { EventSlab } from '../src/dispatch/event-slab.js';
import { MemoryQueue } from '../src/dispatch/memory-queue.js';
import { sampleContext, sampleObservation } from './lib/sample-observation.js';

const obs = Array.from({ length: 1024 }, (_, i) => sampleObservation(i));
const stamper = new EventStamper(null, { instance: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', hostName: 'bench-host' });
const slab = new EventSlab();
const queue = new MemoryQueue(1 << 20, 4 * 1024 ** 3);

type Step = (i: number) => unknown;
const steps: Array<[string, Step]> = [
  ['build', (i) => buildEvent(obs[i & 1023]!, sampleContext)],
  ['build + stamp (serialise)', (i) => stamper.stampEvent(buildEvent(obs[i & 1023]!, sampleContext), 1_765_000_000_000 + i)],
  ['build + stamp + encode', (i) => slab.encode(stamper.stampEvent(buildEvent(obs[i & 1023]!, sampleContext), 1_765_000_000_000 + i).json)],
  ['build + stamp + encode + queue', (i) => {
    const s = stamper.stampEvent(buildEvent(obs[i & 1023]!, sampleContext), 1_765_000_000_000 + i);
    const b = slab.encode(s.json);
    queue.push(b, s.timeMs, b.length);
    if (queue.length >= 500) queue.take(500); // what a delivered batch takes (default batch size)
    return b;
  }],
];

const newSpaceUsed = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? NaN;
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const BATCH = Number(process.argv[2] ?? 2000);
const CPU_N = Number(process.argv[3] ?? 100_000);

const out: Record<string, { cpuNsPerEvent: number; heapBytesPerEvent: number; json?: number }> = {};
for (const [name, fn] of steps) {
  for (let i = 0; i < 50_000; i++) fn(i); // warm-up (optimised code)
  const cpu: number[] = [];
  for (let r = 0; r < 7; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < CPU_N; i++) fn(i);
    const c = process.cpuUsage(c0);
    cpu.push(((c.user + c.system) * 1000) / CPU_N);
  }
  const alloc: number[] = [];
  for (let r = 0; r < 15; r++) {
    const h0 = newSpaceUsed();
    for (let i = 0; i < BATCH; i++) fn(i);
    const h1 = newSpaceUsed();
    if (h1 > h0) alloc.push((h1 - h0) / BATCH); // a batch during which a scavenge ran reads lower: skipped
  }
  out[name] = { cpuNsPerEvent: Math.round(median(cpu)), heapBytesPerEvent: alloc.length ? Math.round(median(alloc)) : NaN };
  process.stdout.write(`${name.padEnd(34)} ${String(out[name]!.cpuNsPerEvent).padStart(6)} ns CPU/event  ${String(out[name]!.heapBytesPerEvent).padStart(6)} B allocated/event (${alloc.length}/15 batches without GC)\n`);
}
const j = stamper.stampEvent(buildEvent(obs[0]!, sampleContext), 0).json;
process.stdout.write(`event JSON: ${Buffer.byteLength(j)} bytes\nRESULT ${JSON.stringify(out)}\n`);
