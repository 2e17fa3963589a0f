// The receiver goes away, starts away, answers 503, or hangs: nothing is lost while there is room,
// order is kept, intake never waits, and the target always comes back by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertBalanced, assertExactlyOnceInOrder, seqs, setupDispatch, sleep, testEvent, waitSettled, waitUntil } from '../helpers/dispatch-fixtures.js';

test('receiver down then up: nothing lost, order kept, spool drained before newer events', async (t) => {
  const { r, d, logs } = await setupDispatch(t, { webhook: { batchMaxEvents: 100 } });
  let seq = 0;
  for (; seq < 300; seq++) d.enqueue(testEvent(seq));
  await r.waitForEvents(300);
  await r.setMode('down');
  for (; seq < 2300; seq++) d.enqueue(testEvent(seq));
  await waitUntil(() => d.status().state === 'down', 5000, () => `state down (is ${d.status().state})`);
  await waitUntil(() => d.status().spooled === 2000 && d.status().queued === 0, 5000, () => `events spooled: ${JSON.stringify(d.status())}`);
  const s = d.status();
  assert.ok(s.consecutiveFailures >= 3);
  assert.match(s.lastError ?? '', /ECONNREFUSED/);
  assert.ok(s.lastFailure);
  // more events while down, then up: spool first (in order), then memory
  for (; seq < 2500; seq++) d.enqueue(testEvent(seq));
  await r.setMode('up');
  for (; seq < 3000; seq++) d.enqueue(testEvent(seq));
  await r.waitForEvents(3000, 8000);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 3000);
  const c = d.counters();
  assert.equal(c.dropped, 0);
  assert.ok(c.spooled >= 2000);
  assert.ok(c.retried > 0);
  assertBalanced(c);
  assert.equal(d.status().state, 'healthy');
  // failures are logged on state changes, not per attempt
  const failLines = logs.count('audit webhook failing');
  assert.ok(failLines >= 1 && failLines <= 2, `failure log lines: ${failLines}`);
  assert.equal(logs.count('reachable again'), 1);
});

test('receiver down when the dispatcher starts: events are delivered once it comes up', async (t) => {
  const { r, d } = await setupDispatch(t, { receiverDown: true });
  for (let i = 0; i < 500; i++) d.enqueue(testEvent(i));
  await waitUntil(() => d.status().state === 'down', 5000, 'state down');
  await waitUntil(() => d.status().spooled === 500, 5000, 'spooled');
  await sleep(100); // a few probes fail
  await r.setMode('up');
  await r.waitForEvents(500, 5000);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 500);
  assertBalanced(d.counters());
  assert.equal(d.counters().dropped, 0);
});

test('503 busy with Retry-After: events are retried, not lost', async (t) => {
  const { r, d } = await setupDispatch(t);
  await r.setMode('503', { retryAfterSec: 0 });
  for (let i = 0; i < 200; i++) d.enqueue(testEvent(i));
  await waitUntil(() => d.status().consecutiveFailures >= 2, 5000, 'failures');
  assert.equal(d.status().state === 'degraded' || d.status().state === 'down', true);
  assert.match(d.status().lastError ?? '', /503 code 9/);
  await r.setMode('ok');
  await r.waitForEvents(200);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 200);
  assert.ok(d.counters().retried > 0);
  assertBalanced(d.counters());
});

test('receiver hanging: enqueue returns at once, drops are counted by reason once buffers fill, logs do not flood', async (t) => {
  const { r, d, logs } = await setupDispatch(t, {
    dispatcher: { queueMaxEvents: 200, queueMaxBytes: 1_000_000, spoolMaxBytes: 64 * 1024, dropLogIntervalMs: 60_000 },
    webhook: { requestTimeoutMs: 300, batchMaxEvents: 50 },
  });
  await r.setMode('hang');
  const N = 20_000;
  let slowest = 0;
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    d.enqueue(testEvent(i));
    slowest = Math.max(slowest, performance.now() - t0);
    if (i % 2000 === 1999) await sleep(20); // let the dispatcher run between bursts
  }
  await waitUntil(() => d.status().state !== 'healthy', 5000, 'timeouts noticed');
  const c = d.counters();
  assert.equal(c.generated, N);
  assert.ok(c.dropped > 0, 'drops once memory and spool are full');
  const reasons = c.droppedByReason;
  assert.equal((reasons['queue_full'] ?? 0) + (reasons['spool_full'] ?? 0), c.dropped, JSON.stringify(reasons));
  const dropLines = logs.count('audit events lost, counted by reason');
  assert.ok(dropLines >= 1 && dropLines <= 2, `drops are logged, throttled: ${dropLines} log lines`);
  assert.match(d.status().lastError ?? '', /no reply within 300 ms/);
  t.diagnostic(`slowest enqueue ${slowest.toFixed(3)} ms; dropped ${JSON.stringify(reasons)}`);
  // the receiver answers again: whatever was kept is delivered, once and in order
  await r.setMode('ok');
  await waitSettled(d, 8000);
  const got = seqs(r.events);
  assert.equal(new Set(got).size, got.length, 'no duplicates');
  assert.deepEqual(got, [...got].sort((a, b) => a - b), 'in order');
  const after = d.counters();
  assert.equal(after.delivered, got.length);
  assertBalanced(after, { dropsExpected: true });
});

test('spool unusable (dataDir is a file): failed batches wait in memory, queue_full drops are counted, delivery resumes', async (t) => {
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tempDir } = await import('../helpers/dispatch-fixtures.js');
  const dir = await tempDir(t);
  await writeFile(join(dir, 'spool'), 'not a directory');
  const { r, d, logs } = await setupDispatch(t, { dataDir: dir, dispatcher: { queueMaxEvents: 300 }, receiverDown: true });
  assert.ok(logs.count('spool unavailable') === 1);
  for (let i = 0; i < 1000; i++) d.enqueue(testEvent(i));
  const c = d.counters();
  assert.equal(c.droppedByReason['queue_full'], 700);
  await waitUntil(() => d.status().state === 'down', 5000, 'down');
  await r.setMode('up');
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 300);
  assertBalanced(d.counters(), { dropsExpected: true });
});

test('slow receiver: the backlog overflows from memory into the spool and is delivered in order, nothing dropped', async (t) => {
  // Intake (about 20 events/ms) far above what the receiver takes (50 events per 30 ms reply); the
  // queue (2000) absorbs one reply's worth of intake above its half-way mark, then moves to the spool.
  const { r, d } = await setupDispatch(t, {
    dispatcher: { queueMaxEvents: 2000 },
    webhook: { batchMaxEvents: 50, concurrency: 1 },
  });
  await r.setMode('slow', { delayMs: 30 });
  const N = 6000;
  for (let i = 0; i < N; i++) {
    d.enqueue(testEvent(i));
    if (i % 100 === 99) await sleep(5);
  }
  await waitUntil(() => d.counters().spooled > 0, 5000, 'overflow into the spool');
  await r.setMode('ok');
  await r.waitForEvents(N, 8000);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), N);
  assert.equal(d.status().state, 'healthy', 'slow is not failing');
  assertBalanced(d.counters());
});
