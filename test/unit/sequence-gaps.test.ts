// Gap coalescing (src/dispatch/gaps.ts), the stamper's numbering and chain (src/audit/sequence.ts)
// and the verifier (src/audit/verify.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GapTracker, MAX_RANGES } from '../../src/dispatch/gaps.js';
import { EventStamper, gapEventBuilder, keyIdOf } from '../../src/audit/sequence.js';
import { Verifier } from '../../src/audit/verify.js';

test('gap tracker: adjacent numbers merge, counts exact, count-only losses unlocated, one record per reason and instance', () => {
  const g = new GapTracker();
  for (const s of [5, 6, 7, 9, 10, 7]) g.lost('spool_full', 1, s, 'A', 1000 + s);
  g.lost('spool_error', 3);
  g.lost('spool_full', 1, 3, 'B', 2000);
  g.lost('spool_full', 1, 2, 'A', 999); // older than the last range: inserted
  assert.ok(g.pending);
  const out = g.take();
  assert.equal(g.pending, false);
  const a = out.find((x) => x.reason === 'spool_full' && x.instance === 'A')!;
  assert.deepEqual(a.ranges, [[2, 2], [5, 7], [9, 10]]);
  assert.equal(a.count, 7);
  assert.equal(a.exact, true);
  assert.equal(a.firstTime, 999);
  assert.equal(a.lastTime, 1010);
  const e = out.find((x) => x.reason === 'spool_error')!;
  assert.deepEqual([e.ranges, e.count, e.unlocated, e.instance], [[], 3, 3, null]);
  assert.deepEqual(out.find((x) => x.instance === 'B')!.ranges, [[3, 3]]);
});

test('gap tracker: bounded: past MAX_RANGES ranges widen (covering every lost number), count stays exact', () => {
  const g = new GapTracker();
  const lost: number[] = [];
  for (let i = 0; i < MAX_RANGES * 5; i++) { lost.push(i * 2 + 1); g.lost('queue_full', 1, i * 2 + 1, 'A'); }
  const [r] = g.take();
  assert.ok(r!.ranges.length <= MAX_RANGES, `${r!.ranges.length} ranges`);
  assert.equal(r!.count, MAX_RANGES * 5);
  assert.equal(r!.exact, false);
  for (const s of lost) assert.ok(r!.ranges.some(([f, t]) => f <= s && s <= t), `${s} covered`);
});

const KEY = Buffer.from('k'.repeat(32));

function stream(n: number, key: Buffer | null): { lines: string[]; stamper: EventStamper } {
  const stamper = new EventStamper(key ? { key, keyId: keyIdOf(key) } : null, { hostName: 'h' });
  const lines: string[] = [];
  stamper.handOver = (json) => lines.push(json);
  for (let i = 0; i < n; i++) {
    lines.push(stamper.stampObject({ version: '1', id: `id-${i}`, kind: 's3', time: new Date(0).toISOString(), api: { object: `key-${i}\u2028` } }, 0).json);
  }
  return { lines, stamper };
}

function verify(lines: string[], key: Buffer | null = KEY) {
  const v = new Verifier(key);
  lines.forEach((l, i) => v.addLine(l, `f:${i + 1}`));
  return v.finish();
}

test('stamper: 1, 2, 3 ... per instance; with a key the first event announces it and starts the chain', () => {
  const { lines, stamper } = stream(3, KEY);
  const evs = lines.map((l) => JSON.parse(l) as { sequence: number; kind: string; proxy: { instance: string }; integrity: { prev: string; mac: string } });
  assert.deepEqual(evs.map((e) => e.sequence), [1, 2, 3, 4]);
  assert.equal(evs[0]!.kind, 'integrity');
  assert.ok(evs.every((e) => e.proxy.instance === stamper.instance));
  assert.equal(evs[0]!.integrity.prev, '');
  assert.equal(evs[1]!.integrity.prev, evs[0]!.integrity.mac);
  assert.ok(!/[\u2028]/.test(lines[1]!), 'line separators escaped');
});

test('verify: complete stream OK, in any order, duplicates harmless', () => {
  const { lines } = stream(50, KEY);
  const shuffled = [...lines].reverse();
  const r = verify([...shuffled, lines[3]!]);
  assert.equal(r.problems, 0, JSON.stringify(r.firstProblems));
  assert.equal(r.duplicates, 1);
  assert.equal(r.instances[0]!.events, 51);
});

test('verify: a removed event is an undeclared gap naming instance and sequence; an edited one breaks the mac; reordering lines is fine but swapping sequences is not', () => {
  const { lines, stamper } = stream(20, KEY);
  const removed = lines.filter((_, i) => i !== 10);
  let r = verify(removed);
  assert.equal(r.firstProblems[0]!.kind, 'undeclared_gap');
  assert.equal(r.firstProblems[0]!.sequence, 11);
  assert.equal(r.firstProblems[0]!.instance, stamper.instance);
  const edited = [...lines];
  edited[5] = edited[5]!.replace('key-4', 'key-X');
  r = verify(edited);
  assert.equal(r.firstProblems[0]!.kind, 'mac_mismatch');
  assert.equal(r.firstProblems[0]!.sequence, 6);
  assert.equal(r.firstProblems[0]!.eventId, 'id-4');
  // without the key the same edit is not visible, the removal is
  assert.equal(verify(edited, null).problems, 0);
  assert.equal(verify(removed, null).problems, 1);
  // same sequence, different content: tampering even without the key
  r = verify([...lines, edited[5]!], null);
  assert.equal(r.firstProblems[0]!.kind, 'tampered_duplicate');
});

test('verify: declared gaps (ranges, count-only, crash) account for missing numbers; HEC envelopes are unwrapped', () => {
  const { lines, stamper } = stream(30, KEY);
  const kept = lines.filter((_, i) => i < 10 || i >= 15); // sequences 11..15 lost
  const gap = gapEventBuilder(stamper)({ reason: 'spool_full', instance: stamper.instance, ranges: [[11, 15]], count: 5, unlocated: 0, exact: true, firstTime: 0, lastTime: 0 });
  const env = (l: string): string => JSON.stringify({ time: 0, host: 'h', event: JSON.parse(l) as unknown });
  let r = verify([...kept, gap.json].map(env));
  assert.equal(r.problems, 0, JSON.stringify(r.firstProblems));
  assert.deepEqual(r.declaredByReason, { spool_full: 5 });
  assert.equal(r.instances[0]!.declaredMissing, 5);
  // a count-only declaration covers that many
  const { lines: l2, stamper: s2 } = stream(10, KEY);
  const g2 = gapEventBuilder(s2)({ reason: 'spool_error', instance: null, ranges: [], count: 2, unlocated: 2, exact: true, firstTime: 0, lastTime: 0 });
  r = verify([...l2.filter((_, i) => i !== 3 && i !== 4), g2.json]);
  assert.equal(r.problems, 0, JSON.stringify(r.firstProblems));
  r = verify([...l2.filter((_, i) => i !== 3 && i !== 4 && i !== 5), g2.json]);
  assert.equal(r.problems, 1);
  // a crash of an instance covers its missing numbers up to lastSequence
  const { lines: l3, stamper: s3 } = stream(10, KEY);
  const other = new EventStamper({ key: KEY, keyId: keyIdOf(KEY) }, { hostName: 'h' });
  const lines4: string[] = [];
  other.handOver = (json) => lines4.push(json);
  lines4.push(gapEventBuilder(other)({ reason: 'crash', instance: s3.instance, ranges: [], count: null, unlocated: 0, exact: false, firstTime: 0, lastTime: 0, lastSequence: 14 }).json);
  r = verify([...l3.slice(0, 6), ...lines4]);
  assert.equal(r.problems, 0, JSON.stringify(r.firstProblems));
  assert.equal(r.instances.find((i) => i.instance === s3.instance)!.declaredMissing, 8);
});
