import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckTracker } from '../../src/dispatch/ack-tracker.js';
import { Batch } from '../../src/dispatch/batch.js';
import { EventBuffer } from '../../src/dispatch/buffer.js';
import { Spool } from '../../src/dispatch/spool.js';
import type { QueueItems } from '../../src/dispatch/memory-queue.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

function items(from: number, to: number): QueueItems {
  const json: string[] = [];
  for (let i = from; i < to; i++) json.push(JSON.stringify({ seq: i }));
  return { json, bytes: json.map((j) => Buffer.byteLength(j)), timeMs: json.map(() => 1_700_000_000_000) };
}

/** A spool holding `n` events and a buffer over it, read as batches of 10 (real files in a temp dir). */
async function spooledBatches(t: { after: (fn: () => unknown) => void }, n: number): Promise<{ open: () => Promise<Spool>; buf: EventBuffer; batches: Batch[] }> {
  const dir = await tempDir(t);
  const { logger } = captureLogger();
  const open = (): Promise<Spool> => Spool.open({ dir, maxBytes: 10_000_000, fsyncIntervalMs: 0, logger });
  const sp = await open();
  const buf = new EventBuffer(1000, 1 << 20);
  buf.attachSpool(sp);
  assert.equal(sp.append(items(0, n)), n);
  await sp.flush();
  const limits = { maxEvents: 10, maxBytes: 1 << 20, maxWaitMs: 0, cost: (b: number) => b };
  const batches: Batch[] = [];
  for (let guard = 0; batches.length < n / 10 && guard < 1000; guard++) {
    const b = buf.next(limits, 0, true);
    if (b) batches.push(b);
    else await new Promise((r) => setTimeout(r, 2));
  }
  return { open, buf, batches };
}

const memBatch = (seq: number, n: number): Batch => new Batch(seq, items(seq * 100, seq * 100 + n), 'memory');

test('ack tracker: acknowledged ids leave in any order, unknown and repeated ids are ignored', () => {
  const t = new AckTracker({ maxPendingBatches: 64, timeoutMs: 1000, now: () => 0 });
  const [a, b, c] = [memBatch(0, 5), memBatch(1, 3), memBatch(2, 2)];
  for (const [bt, id] of [[a, 0], [b, 1], [c, 2]] as const) {
    bt.settle(0, bt.n);
    t.add(bt, 0, bt.n, id);
  }
  assert.deepEqual(t.ids(), [0, 1, 2], 'polled oldest first');
  assert.equal(t.pendingBatches, 3);
  assert.equal(t.pendingEvents, 10);
  const done = t.acknowledged([2, 7, 2]);
  assert.deepEqual(done.map((e) => e.batch), [c], 'id 2 once; 7 is unknown');
  assert.equal(c.awaitingAck, 0);
  assert.equal(a.awaitingAck, 1);
  assert.deepEqual(t.ids(), [0, 1]);
  assert.deepEqual(t.acknowledged([0, 1]).map((e) => e.batch), [a, b]);
  assert.equal(t.pendingBatches, 0);
  assert.equal(t.pendingEvents, 0);
});

test('ack tracker: a batch accepted in several requests waits until every one is acknowledged', () => {
  const t = new AckTracker({ maxPendingBatches: 64, timeoutMs: 1000, now: () => 0 });
  const a = memBatch(0, 10);
  a.settle(0, 4);
  t.add(a, 0, 4, 10);
  a.settle(4, 10);
  t.add(a, 4, 10, 11);
  assert.equal(t.pendingBatches, 1, 'one batch, two ranges');
  assert.equal(t.pendingRanges, 2);
  t.acknowledged([11]);
  assert.equal(a.awaitingAck, 1, 'still waiting for the first range');
  t.acknowledged([10]);
  assert.equal(a.awaitingAck, 0);
});

test('ack tracker: unacknowledged after the timeout, ranges are handed back oldest first; a late ack is ignored', () => {
  let now = 0;
  const t = new AckTracker({ maxPendingBatches: 64, timeoutMs: 5000, now: () => now });
  const [a, b] = [memBatch(0, 4), memBatch(1, 4)];
  a.settle(0, 4);
  t.add(a, 0, 4, 0);
  now = 3000;
  b.settle(0, 4);
  t.add(b, 0, 4, null); // accepted without an ackId (acknowledgement off on the token)
  assert.equal(t.hasUnnumbered, true);
  assert.deepEqual(t.ids(), [0], 'a range without an ackId is never polled');
  now = 4999;
  assert.deepEqual(t.expired(), []);
  assert.equal(t.oldestAgeMs(), 4999);
  now = 5000;
  const e1 = t.expired();
  assert.deepEqual(e1.map((e) => e.batch), [a]);
  assert.equal(a.awaitingAck, 0);
  assert.equal(a.unsettle(e1[0].from, e1[0].to), 4, 'the caller sends them again');
  assert.deepEqual(t.acknowledged([0]), [], 'id 0 came true too late: it is no longer known');
  now = 8000;
  assert.deepEqual(t.expired().map((e) => e.batch), [b]);
  assert.equal(t.pendingRanges, 0);
  assert.equal(t.oldestAgeMs(), 0);
});

test('ack tracker: full at the bound of distinct batches; room again once one is acknowledged', () => {
  const t = new AckTracker({ maxPendingBatches: 4, timeoutMs: 1000, now: () => 0 });
  const bs = [0, 1, 2, 3].map((i) => memBatch(i, 2));
  for (const [i, b] of bs.entries()) {
    assert.equal(t.full, false);
    b.settle(0, 1);
    t.add(b, 0, 1, i * 2);
  }
  assert.equal(t.full, true);
  bs[1].settle(1, 2);
  t.add(bs[1], 1, 2, 99); // a second range of a batch already counted
  assert.equal(t.pendingBatches, 4);
  t.acknowledged([2]);
  assert.equal(t.full, true, 'batch 1 still waits for its second range');
  t.acknowledged([99]);
  assert.equal(t.full, false);
  assert.deepEqual(t.takeAll().length, 3);
  assert.equal(t.full, false);
});

test('acknowledgements out of order move the spool cursor only past the contiguous acknowledged prefix', async (t) => {
  const { open, buf, batches } = await spooledBatches(t, 30);
  let sp = buf.spoolRef!;
  assert.equal(batches.length, 3);
  const tracker = new AckTracker({ maxPendingBatches: 64, timeoutMs: 60_000 });
  for (const [i, b] of batches.entries()) {
    b.settle(0, b.n);
    tracker.add(b, 0, b.n, i);
    buf.settle(b);
  }
  assert.equal(sp.events, 30, 'accepted but not acknowledged: nothing leaves the spool');
  for (const e of tracker.acknowledged([2, 1])) buf.settle(e.batch);
  assert.equal(sp.events, 30, 'batches 2 and 3 acknowledged, batch 1 not: the cursor stays');
  for (const e of tracker.acknowledged([0])) buf.settle(e.batch);
  assert.equal(sp.events, 0, 'batch 1 acknowledged: all three leave together');
  await sp.close();
  sp = await open();
  t.after(() => sp.close());
  assert.equal(sp.recovered, 0, 'the persisted cursor is past all three');
});

test('a crash with acknowledgements pending keeps the unacknowledged batches in the spool', async (t) => {
  const { open, buf, batches } = await spooledBatches(t, 20);
  let sp = buf.spoolRef!;
  const tracker = new AckTracker({ maxPendingBatches: 64, timeoutMs: 60_000 });
  for (const [i, b] of batches.entries()) {
    b.settle(0, b.n);
    tracker.add(b, 0, b.n, i);
  }
  for (const e of tracker.acknowledged([1])) buf.settle(e.batch); // only the second: out of order
  await sp.close(); // the process ends here
  sp = await open();
  t.after(() => sp.close());
  assert.equal(sp.recovered, 20, 'both batches are read again after the restart (the second one a duplicate)');
});
