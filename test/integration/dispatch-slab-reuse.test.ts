// Event slabs are reused once every event in them was delivered (event-slab.ts, delivery-loop.ts
// `retired`): a reused slab must never change the bytes of an event still queued, in flight or
// being retried.
// Each test sends several MiB of events (several slabs), checks that slabs were reused, and that the
// receiver got every event exactly once (in order within each request: two are in flight at a
// time, as by default) with exactly the fields it was enqueued with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertBalanced, assertExactlyOnceInOrder, seqs, setupDispatch, sleep, tempDir, testEvent, waitSettled, waitUntil } from '../helpers/dispatch-fixtures.js';
import type { HecReceiver } from '../helpers/hec-receiver.js';

const N = 6000; // ~1.7 KB each: about 10 MiB, ten slabs
const PAD = 1500;

function assertSameEvents(r: HecReceiver): void {
  const got = seqs(r.events);
  assertExactlyOnceInOrder([...got].sort((a, b) => a - b), N);
  let k = 0;
  for (const q of r.requests) {
    if (q.status !== 200) continue;
    const part = got.slice(k, k + q.events);
    k += q.events;
    assert.deepEqual(part, [...part].sort((a, b) => a - b), 'in order within a request');
  }
  for (let i = 0; i < r.events.length; i++) {
    const want = JSON.parse(JSON.stringify(testEvent(got[i]!, PAD))) as unknown;
    assert.deepEqual(r.events[i], want, `event ${got[i]} arrived with other bytes than it was enqueued with`);
  }
}

test('slab reuse: events in flight while slabs roll over and come back keep their bytes', async (t) => {
  const { r, d } = await setupDispatch(t, { webhook: { batchMaxEvents: 200, concurrency: 2 } });
  await r.setMode('slow', { delayMs: 5 }); // requests stay in flight while later events are encoded
  for (let i = 0; i < N; i++) {
    d.enqueue(testEvent(i, PAD));
    if (i % 500 === 499) await sleep(5); // let batches go out and come back between slabs
  }
  await r.waitForEvents(N, 30_000);
  await waitSettled(d, 30_000);
  assert.ok(d.slabReuse().reused > 0, `slabs were reused: ${JSON.stringify(d.slabReuse())}`);
  assertSameEvents(r);
  assertBalanced(d.counters());
});

test('slab reuse: a batch that failed is retried with the same bytes while other slabs are reused', async (t) => {
  const { r, d } = await setupDispatch(t, { webhook: { batchMaxEvents: 200, concurrency: 2 } });
  // first third delivered as it goes: its slabs come back to the pool
  for (let i = 0; i < 2000; i++) {
    d.enqueue(testEvent(i, PAD));
    if (i % 250 === 249) await waitUntil(() => r.events.length > i - 250, 10_000, 'delivery keeps up');
  }
  const pooled = d.slabReuse();
  // then the receiver answers 503 while the next third is written into reused slabs: batches fail,
  // are kept (memory or spool) and retried
  await r.setMode('503', { retryAfterSec: 0 });
  for (let i = 2000; i < 4000; i++) {
    d.enqueue(testEvent(i, PAD));
    if (i % 500 === 499) await sleep(5);
  }
  await r.setMode('ok');
  for (let i = 4000; i < N; i++) {
    d.enqueue(testEvent(i, PAD));
    if (i % 500 === 499) await sleep(5);
  }
  await r.waitForEvents(N, 30_000);
  await waitSettled(d, 30_000);
  assert.ok(pooled.pooled + pooled.reused > 0, `slabs came back while delivery kept up: ${JSON.stringify(pooled)}`);
  assert.ok(d.slabReuse().reused > pooled.reused, `slabs were reused after the failures began: ${JSON.stringify(d.slabReuse())}`);
  assert.ok(d.counters().retried > 0, 'some batches were retried');
  assertSameEvents(r);
  assertBalanced(d.counters());
});

test('slab reuse: with the audit log as a second target, a slab comes back only when both targets are done', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'audit.jsonl');
  const { r, d } = await setupDispatch(t, { dispatcher: { auditLogFile: file }, webhook: { batchMaxEvents: 200, concurrency: 2 } });
  await r.setMode('slow', { delayMs: 5 }); // the webhook lags the file: the file's releases alone must not free a slab
  for (let i = 0; i < N; i++) {
    d.enqueue(testEvent(i, PAD));
    if (i % 500 === 499) await sleep(5);
  }
  await r.waitForEvents(N, 30_000);
  await waitSettled(d, 30_000);
  await waitUntil(() => d.counters().fileWritten >= N, 30_000, 'the audit log has every event');
  assert.ok(d.slabReuse().reused > 0, `slabs were reused: ${JSON.stringify(d.slabReuse())}`);
  assertSameEvents(r);
  await d.close(1000);
  const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
  assertExactlyOnceInOrder(seqs(lines), N);
  for (let i = 0; i < N; i++) assert.deepEqual(lines[i], JSON.parse(JSON.stringify(testEvent(i, PAD))) as unknown, `audit log event ${i}`);
});
