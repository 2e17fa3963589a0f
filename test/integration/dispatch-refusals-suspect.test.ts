// A suspect refused again without proof (docs/dispatcher.md, "What a refusal means"). The first
// event ever sent to a fresh target is refused alone (400 code 6 without invalid-event-number: no
// proof that the receiver takes data): it is a suspect and the attempt ends `rejecting`. The next
// attempt sends it alone again and it is refused again, still without proof, and its batch holds
// nothing else that could prove the receiver takes data. Before the fix that attempt ended as if the
// batch were finished: the event was neither delivered nor dead-lettered, and as a spool batch it
// pinned the spool (never acknowledged, `spoolEvents` stuck at 50 while 49 were delivered).
// Now the batch is kept (`rejecting`, probed at backoff) until the receiver takes it or, after
// REJECTING_BLAME_MS, the suspect is blamed (dead-lettered) and the events behind it flow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch } from '../../src/dispatch/batch.js';
import { deliverBatch, REJECTING_BLAME_MS, type DeliveryHooks } from '../../src/dispatch/batch-delivery.js';
import { WebhookSink } from '../../src/dispatch/webhook-sink.js';
import { assertBalanced, assertExactlyOnceInOrder, defer, seqs, setupDispatch, testEvent, TOKEN, waitSettled, waitUntil } from '../helpers/dispatch-fixtures.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';

const N = 50;
const POISON = 0;

test('a suspect refused again without proof, alone in its batch: kept (rejecting, re-probed), nothing lost, all delivered once it is taken', async (t) => {
  const { r, d } = await setupDispatch(t, { webhook: { batchMaxEvents: 10 } });
  r.setPoison(POISON);
  d.enqueue(testEvent(POISON));
  const refusals = (): number => r.requests.filter((q) => q.status === 400).length;
  // refused alone: once to become a suspect, once more as the suspect's own attempt
  await waitUntil(() => refusals() >= 2, 10_000, () => `two refusals of the suspect: ${JSON.stringify(d.status())}`);
  for (let i = 1; i < N; i++) d.enqueue(testEvent(i));
  // the batch is not finished: it is sent again at backoff, and every event is accounted for meanwhile
  await waitUntil(() => refusals() >= 4 && d.counters().spoolEvents === N, 10_000, () => `the suspect's batch probed again, all held: ${refusals()} refusals, ${JSON.stringify(d.counters())}`);
  const c1 = d.counters();
  const s1 = d.status();
  t.diagnostic(`held: generated=${c1.generated} delivered=${c1.delivered} deadLettered=${c1.deadLettered} dropped=${c1.dropped} spoolEvents=${c1.spoolEvents} queued=${c1.queued} inFlightEvents=${c1.inFlightEvents} state=${s1.state} refusals=${refusals()}`);
  assert.equal(s1.state, 'rejecting', JSON.stringify(s1));
  assert.equal(c1.deadLettered + c1.dropped, 0, 'nothing dead-lettered without proof, nothing dropped');
  assert.equal(c1.delivered, 0, 'the events behind it wait, in order');
  assert.equal(c1.spoolEvents, c1.generated, `every event held in the spool: ${JSON.stringify(c1)}`);
  // the receiver takes it after all: everything delivered once, in order, nothing pinned
  r.setPoison(null);
  await waitSettled(d, 15_000);
  const c = d.counters();
  t.diagnostic(`after: generated=${c.generated} delivered=${c.delivered} deadLettered=${c.deadLettered} dropped=${c.dropped} spoolEvents=${c.spoolEvents} received=${r.events.length} requests=${r.requests.length} state=${d.status().state}`);
  assertExactlyOnceInOrder(seqs(r.events), N);
  assertBalanced(c);
  assert.equal(d.status().state, 'healthy');
});

test('a suspect refused again without proof after REJECTING_BLAME_MS of rejecting: blamed (dead-lettered), the batch settled', async (t) => {
  const r = await startHecReceiver({ token: TOKEN });
  defer(t, () => r.close());
  r.setPoison(POISON);
  const sink = await WebhookSink.create({ endpoint: r.eventUrl, authToken: TOKEN, requestTimeoutMs: 2000 }, 'test-host', { baseMs: 20, maxMs: 200 });
  defer(t, () => sink.close());
  const json = [Buffer.from(JSON.stringify(testEvent(POISON)))];
  const seen = { accepted: 0, deadLettered: [] as string[] };
  const hooks: DeliveryHooks = {
    attempt: () => 0,
    accepted: (bb, from, to) => void (seen.accepted += bb.settle(from, to)),
    accepting: () => {},
    refused: () => {},
    deadLetter: (bb, from, to, reason) => void (bb.settle(from, to), seen.deadLettered.push(`${from}-${to}:${reason}`)),
    proof: () => false,
    doubt: () => {},
    latency: () => {},
  };
  const b = new Batch(0, { json, timeMs: [0], bytes: [json[0]!.length] }, 'spool');
  // attempt 1: refused alone without proof, a suspect; attempt 2, at once: refused again, kept
  const f1 = await deliverBatch(b, sink, hooks);
  assert.equal(f1?.kind, 'rejecting');
  b.rewind();
  const f2 = await deliverBatch(b, sink, hooks);
  assert.equal(f2?.kind, 'rejecting', 'refused again without proof: the batch is kept, not finished');
  assert.equal(b.done, false);
  assert.deepEqual(seen.deadLettered, []);
  // rejecting for REJECTING_BLAME_MS: the next refusal blames it
  b.rejectingSince = Date.now() - REJECTING_BLAME_MS - 1;
  b.rewind();
  const f3 = await deliverBatch(b, sink, hooks);
  assert.equal(f3, null);
  assert.equal(b.done, true);
  assert.deepEqual(seen.deadLettered, ['0-1:invalid_event']);
  assert.equal(seen.accepted, 0);
  assert.equal(r.requests.filter((q) => q.status === 400).length, 3);
});
