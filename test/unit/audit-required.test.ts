// Fail-closed admission (serve --audit-required) below the proxy: reservations in the memory queue,
// the buffer and the dispatcher; refused events; worker credits. The end-to-end proof with real
// processes is test/integration/audit-required.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryQueue } from '../../src/dispatch/memory-queue.js';
import { NOT_RESERVED } from '../../src/dispatch/dispatcher.js';
import { RefusalTracker } from '../../src/dispatch/refusals.js';
import { CreditLedger, WorkerCredits, creditAllowance } from '../../src/workers/credits.js';
import { WorkerEventChannel, type IpcPort } from '../../src/workers/event-channel.js';
import type { EventsMessage, WorkerToPrimary } from '../../src/workers/messages.js';
import { setupDispatch, tempDir, testEvent, waitUntil } from '../helpers/dispatch-fixtures.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sampleEvent } from '../../bench/sample-event.js';

/** A data dir whose spool cannot open (a file where its directory goes): memory is all there is. */
async function noSpoolDir(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'spool'), 'not a directory');
  return dir;
}

test('memory queue: a reservation takes a slot by count; pushReserved is never refused; release gives the slot back', () => {
  const q = new MemoryQueue(3, 1_000_000);
  assert.equal(q.push('a', 1, 1), true);
  assert.equal(q.reserve(), true);
  assert.equal(q.reserve(), true);
  assert.equal(q.reserve(), false, 'count + reserved at the bound');
  assert.equal(q.push('b', 2, 1), false, 'an unreserved push does not take a promised slot');
  q.pushReserved('c', 3, 1);
  assert.equal(q.length, 2);
  assert.equal(q.reserved, 1);
  q.release();
  assert.equal(q.reserved, 0);
  assert.equal(q.push('d', 4, 1), true);
  assert.deepEqual(q.takeAll().json, ['a', 'c', 'd']);
});

test('memory queue: no reservation while the bytes are at their bound; a reserved event may pass it', () => {
  const q = new MemoryQueue(100, 10);
  assert.equal(q.push('x'.repeat(10), 0, 10), true);
  assert.equal(q.reserve(), false);
  q.takeAll();
  assert.equal(q.reserve(), true);
  q.pushReserved('y'.repeat(50), 0, 50);
  assert.equal(q.bytes, 50);
});

test('refusal tracker: counts by reason, coalesces into one record per reason until taken', () => {
  const r = new RefusalTracker(null);
  r.add('spool_full', 1, 1000);
  r.add('spool_full', 2, 900, 1500);
  r.add('spool_error', 1, 2000);
  assert.equal(r.total, 4);
  assert.deepEqual(r.take(), [
    { reason: 'spool_full', count: 3, firstTime: 900, lastTime: 1500 },
    { reason: 'spool_error', count: 1, firstTime: 2000, lastTime: 2000 },
  ]);
  assert.equal(r.pending, false);
  assert.equal(r.total, 4, 'the counter keeps counting');
});

test('dispatcher: with no spool and a full memory queue, admit() refuses and counts; a reserved event is kept; the refusal is evented once there is room', async (t) => {
  const made: unknown[] = [];
  const { r, d } = await setupDispatch(t, {
    receiverDown: true,
    dataDir: await noSpoolDir(t),
    dispatcher: {
      queueMaxEvents: 4,
      refusedEvent: (info) => {
        made.push(info);
        return { json: JSON.stringify({ version: '1', id: 'refused', kind: 'refused', refused: info }), timeMs: Date.now(), sequence: 0, instance: 'x' };
      },
    },
  });
  const tokens: number[] = [];
  for (let i = 0; i < 4; i++) tokens.push(d.admit());
  assert.ok(tokens.every((x) => x > 0), `four slots: ${tokens}`);
  assert.equal(d.admit(), NOT_RESERVED);
  assert.equal(d.admit(), NOT_RESERVED);
  assert.equal(d.status().refusedRequests, 2);
  assert.equal(d.lastRefusal, 'queue_full');
  assert.match(await d.prometheus(), /^s3ap_audit_requests_refused_total\{reason="queue_full"\} 2$/m);
  // three events come against their reservations, one request gives its slot back
  for (let i = 0; i < 3; i++) d.enqueueSerialized(JSON.stringify(testEvent(i + 1)), Date.now(), -1, null, tokens[i]!);
  d.release(tokens[3]!);
  assert.equal(d.counters().dropped, 0);
  assert.ok(d.admit() > 0, 'the released slot is free again');
  assert.equal(made.length, 0, 'no refused event while there is no room');
  await r.setMode('up');
  await waitUntil(() => r.events.some((e) => (e as { kind?: string }).kind === 'refused'), 10_000, 'the refused event arrives');
  await waitUntil(() => r.events.length >= 4, 10_000, () => `events: ${r.events.length}`);
  assert.equal(d.counters().dropped, 0);
  const ev = r.events.find((e) => (e as { kind?: string }).kind === 'refused') as { refused: { count: number } };
  assert.equal(ev.refused.count, 2);
});

test('dispatcher: without admission nothing changes (reserve is never called: push refuses as before)', async (t) => {
  const { d } = await setupDispatch(t, { receiverDown: true, dataDir: await noSpoolDir(t), dispatcher: { queueMaxEvents: 2 } });
  for (let i = 0; i < 5; i++) d.enqueueSerialized(JSON.stringify(testEvent(i + 1)), Date.now());
  assert.ok(d.counters().dropped >= 1);
  assert.equal(d.status().refusedRequests, 0);
  assert.doesNotMatch(await d.prometheus(), /requests_refused_total\{/);
});

test('worker credits: spend until none, then refuse and count; give back; the ledger holds one reservation per credit', async (t) => {
  assert.equal(creditAllowance(50, 2), 6);
  assert.equal(creditAllowance(100_000, 2), 256);
  assert.equal(creditAllowance(3, 8), 1);
  const c = new WorkerCredits();
  c.grant(2);
  assert.equal(c.spend(), 1);
  assert.equal(c.spend(), 1);
  assert.equal(c.spend(), -1);
  assert.equal(c.spend(), -1);
  c.giveBack();
  assert.equal(c.available, 1);
  const r = c.takeRefusals()!;
  assert.equal(r.count, 2);
  assert.ok(r.firstTime <= r.lastTime);
  assert.equal(c.takeRefusals(), null);

  const { d } = await setupDispatch(t, { receiverDown: true, dataDir: await noSpoolDir(t), dispatcher: { queueMaxEvents: 5 } });
  const l = new CreditLedger(d, 3);
  assert.equal(l.topUp(), 3);
  assert.equal(l.topUp(), 0, 'at its allowance');
  const other = new CreditLedger(d, 3);
  assert.equal(other.topUp(), 2, 'only the room left');
  assert.equal(d.admit(), NOT_RESERVED);
  const tok = l.spend();
  assert.ok(tok > 0);
  d.enqueueSerialized(JSON.stringify(testEvent(1)), Date.now(), -1, null, tok);
  l.releaseAll();
  other.releaseAll();
  assert.equal(d.counters().dropped, 0);
  assert.equal(new CreditLedger(d, 10).topUp(), 4, 'every slot but the one event is free again');
});

test('worker channel: admit spends credits; events that spent one are marked, never dropped by the channel bound; refusals ride along', async () => {
  const sent: EventsMessage[] = [];
  const port: IpcPort = { send(m: WorkerToPrimary, cb) { if (m.t === 'events') sent.push(m); setImmediate(() => cb(null)); return true; } };
  const credits = new WorkerCredits();
  const ch = new WorkerEventChannel(port, true, 10, undefined, credits); // a 10-byte channel bound
  credits.grant(1);
  const tok = ch.admit();
  assert.equal(tok, 1);
  assert.equal(ch.admit(), -1);
  ch.enqueue(sampleEvent(1), Date.now(), tok); // far over 10 bytes: kept because it spent a credit
  ch.enqueue(sampleEvent(2), Date.now()); // no credit: the bound applies
  await ch.drain();
  const m = sent[0]!;
  assert.equal(m.times.length, 1);
  assert.deepEqual(m.reserved, [1]);
  assert.equal(m.refused?.count, 1);
  assert.equal(m.dropped, 1);
  ch.close();
  // without credits (flag off) the message has no admission fields at all
  const plain: EventsMessage[] = [];
  const ch2 = new WorkerEventChannel({ send(m: WorkerToPrimary, cb) { if (m.t === 'events') plain.push(m); setImmediate(() => cb(null)); return true; } }, true);
  assert.equal(ch2.admit(), 0);
  ch2.enqueue(sampleEvent(3), Date.now());
  await ch2.drain();
  assert.equal('reserved' in plain[0]!, false);
  assert.equal('refused' in plain[0]!, false);
  ch2.close();
});
