import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryQueue } from '../../src/dispatch/memory-queue.js';

test('memory queue: bounded by event count', () => {
  const q = new MemoryQueue(3, 1_000_000);
  assert.equal(q.push('a', 1, 1), true);
  assert.equal(q.push('b', 2, 1), true);
  assert.equal(q.push('c', 3, 1), true);
  assert.equal(q.push('d', 4, 1), false);
  assert.equal(q.length, 3);
  assert.deepEqual(q.take(2).json, ['a', 'b']);
  assert.equal(q.push('d', 4, 1), true);
  assert.deepEqual(q.takeAll(), { json: ['c', 'd'], timeMs: [3, 4], bytes: [1, 1] });
  assert.ok(q.capacity <= 4);
});

test('memory queue: bounded by bytes; an oversized event still enters an empty queue', () => {
  const q = new MemoryQueue(100, 10);
  assert.equal(q.push('aaaaaa', 0, 6), true);
  assert.equal(q.push('bbbbb', 0, 5), false);
  assert.equal(q.push('cccc', 0, 4), true);
  assert.equal(q.bytes, 10);
  q.takeAll();
  assert.equal(q.bytes, 0);
  assert.equal(q.push('x'.repeat(50), 0, 50), true, 'alone it fits');
  assert.equal(q.push('y', 0, 1), false);
});

test('memory queue: take honours an event and a byte budget (first event always taken)', () => {
  const q = new MemoryQueue(100, 1000);
  for (let i = 0; i < 10; i++) q.push(`e${i}`, i, 10);
  assert.deepEqual(q.take(3).json, ['e0', 'e1', 'e2']);
  assert.deepEqual(q.take(100, 25).json, ['e3', 'e4']);
  assert.deepEqual(q.take(100, 5).json, ['e5'], 'over budget alone: still taken');
  assert.deepEqual(q.take(100, 100, (b) => b * 3).json, ['e6', 'e7', 'e8']);
  assert.equal(q.length, 1);
});

test('memory queue: unshift puts events back in front, in order', () => {
  const q = new MemoryQueue(100, 1000);
  for (let i = 0; i < 5; i++) q.push(`e${i}`, i, 1);
  const b = q.take(3);
  q.push('e5', 5, 1);
  q.unshift(b, 1);
  assert.deepEqual(q.takeAll().json, ['e1', 'e2', 'e3', 'e4', 'e5']);
});

test('memory queue behaves like a bounded FIFO model (property, with wrap-around and growth)', () => {
  type Op = { op: 'push'; size: number } | { op: 'take'; n: number; budget: number } | { op: 'unshift'; n: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('push' as const), size: fc.integer({ min: 1, max: 40 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('take' as const), n: fc.integer({ min: 1, max: 50 }), budget: fc.integer({ min: 1, max: 500 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('unshift' as const), n: fc.integer({ min: 1, max: 10 }) }) },
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 5000 }), fc.array(opArb, { maxLength: 400 }), (maxEvents, maxBytes, ops) => {
      const q = new MemoryQueue(maxEvents, maxBytes);
      const model: Array<{ s: string; size: number }> = [];
      let next = 0;
      for (const o of ops) {
        if (o.op === 'push') {
          const s = `e${next++}`;
          const bytes = model.reduce((a, x) => a + x.size, 0);
          const fits = model.length < maxEvents && (model.length === 0 || bytes + o.size <= maxBytes);
          assert.equal(q.push(s, next, o.size), fits);
          if (fits) model.push({ s, size: o.size });
        } else if (o.op === 'take') {
          const got = q.take(o.n, o.budget);
          let k = 0;
          let sum = 0;
          while (k < Math.min(o.n, model.length) && (k === 0 || sum + model[k].size <= o.budget)) sum += model[k++].size;
          assert.deepEqual(got.json, model.splice(0, k).map((x) => x.s));
        } else {
          const got = q.take(o.n);
          const taken = model.splice(0, got.json.length);
          q.unshift(got);
          model.unshift(...taken);
        }
        assert.equal(q.length, model.length);
        assert.equal(q.bytes, model.reduce((a, x) => a + x.size, 0));
      }
      assert.deepEqual(q.takeAll().json, model.map((x) => x.s));
    }),
    { numRuns: 150 },
  );
});
