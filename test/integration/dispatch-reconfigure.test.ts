// Live reconfiguration: switching receivers under load, disabling and re-enabling, shutting down
// with the receiver away. Nothing is lost in any of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditDispatcher } from '../../src/dispatch/dispatcher.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { assertBalanced, assertExactlyOnceInOrder, captureLogger, defer, seqs, setupDispatch, sleep, testEvent, TOKEN, waitSettled, waitUntil } from '../helpers/dispatch-fixtures.js';

for (const concurrency of [1, 3]) {
  test(`reconfiguration under load to a second receiver (concurrency ${concurrency}): every event delivered exactly once`, async (t) => {
    const { r: a, d, webhook } = await setupDispatch(t, { webhook: { batchMaxEvents: 100, concurrency } });
    const b = await startHecReceiver({ token: 'SECOND' });
    defer(t, () => b.close());
    const N = 20_000;
    let seq = 0;
    const producer = (async () => {
      while (seq < N) {
        for (let k = 0; k < 500 && seq < N; k++) d.enqueue(testEvent(seq++));
        await sleep(2);
      }
    })();
    await waitUntil(() => seq >= N / 3, 5000, 'producer running');
    await d.setWebhook({ ...webhook, endpoint: `${b.url}/services/collector/raw`, authToken: 'SECOND' });
    await producer;
    await waitSettled(d, 8000);
    const ga = seqs(a.events);
    const gb = seqs(b.events);
    assert.ok(gb.length > 0, 'second receiver got events');
    assertExactlyOnceInOrder([...ga, ...gb].sort((x, y) => x - y), N);
    if (concurrency === 1) {
      // one request at a time: strict order on each receiver, and the old one only got older events
      assert.deepEqual(ga, [...ga].sort((x, y) => x - y), 'order kept on the old receiver');
      assert.deepEqual(gb, [...gb].sort((x, y) => x - y), 'order kept on the new receiver');
    }
    for (const q of b.requests) assert.equal(q.headers['authorization'], 'Splunk SECOND');
    assertBalanced(d.counters());
    assert.equal(d.counters().dropped, 0);
  });
}

test('reconfiguration while the old receiver is down: queued and spooled events go to the new one', async (t) => {
  const { r: a, d, webhook } = await setupDispatch(t);
  await a.setMode('down');
  for (let i = 0; i < 1000; i++) d.enqueue(testEvent(i));
  await waitUntil(() => d.status().spooled === 1000, 5000, 'spooled');
  const b = await startHecReceiver({ token: TOKEN });
  defer(t, () => b.close());
  await d.setWebhook({ ...webhook, endpoint: b.eventUrl });
  assert.equal(d.status().state, 'healthy', 'a new target starts healthy');
  await b.waitForEvents(1000);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(b.events), 1000);
  assertBalanced(d.counters());
});

test('disable keeps events on disk (memory-queued ones included); enabling again delivers them', async (t) => {
  const { r, d, webhook } = await setupDispatch(t, { webhook: { batchMaxWaitMs: 60_000, batchMaxEvents: 10_000 } });
  for (let i = 0; i < 300; i++) d.enqueue(testEvent(i)); // waits in memory (long batch wait)
  assert.equal(d.status().queued, 300);
  await d.setWebhook(null);
  assert.equal(d.active, false);
  await waitUntil(() => d.status().spooled === 300 && d.status().queued === 0, 5000, 'memory written to the spool');
  d.enqueue(testEvent(999)); // not collected while disabled
  assert.equal(d.counters().generated, 300);
  await d.setWebhook({ ...webhook, batchMaxWaitMs: 10 });
  await r.waitForEvents(300);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 300);
  assertBalanced(d.counters());
});

test('close(deadline) with the receiver down spools everything; a new dispatcher on the same dataDir delivers it', async (t) => {
  const { r, d, dataDir, webhook } = await setupDispatch(t, { webhook: { batchMaxWaitMs: 60_000, batchMaxEvents: 10_000 } });
  await r.setMode('down');
  for (let i = 0; i < 700; i++) d.enqueue(testEvent(i));
  const before = d.counters();
  assert.equal(before.queued, 700);
  await d.close(300);
  d.enqueue(testEvent(5000)); // after close: counted as dropped "closed", never thrown
  const c1 = d.counters();
  assert.equal(c1.spoolEvents, 700);
  assert.equal(c1.droppedByReason['closed'], 1);

  await r.setMode('up');
  const { logger } = captureLogger('warn');
  const d2 = new AuditDispatcher({ dataDir, logger, retryBaseMs: 20, retryMaxMs: 200 });
  defer(t, () => d2.close(0));
  await d2.start();
  assert.equal(d2.counters().recovered, 700);
  await d2.setWebhook({ ...webhook, batchMaxWaitMs: 10 });
  await r.waitForEvents(700);
  await waitSettled(d2);
  assertExactlyOnceInOrder(seqs(r.events), 700);
  const c2 = d2.counters();
  assert.equal(c2.delivered, 700);
  assertBalanced(c2);
  // across both processes: generated = delivered + dropped
  assert.equal(c1.generated, c2.delivered + c1.dropped);
});

test('close(deadline) with the receiver up delivers what is queued before returning', async (t) => {
  const { r, d } = await setupDispatch(t, { webhook: { batchMaxWaitMs: 60_000, batchMaxEvents: 100 } });
  for (let i = 0; i < 1000; i++) d.enqueue(testEvent(i));
  await d.close(5000);
  assertExactlyOnceInOrder(seqs(r.events), 1000);
  assertBalanced(d.counters());
});
