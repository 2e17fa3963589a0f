// The driver's liveness net (driver-watchdog.ts checkOverdue): a due memory batch with no send
// scheduled (a lost wake-up) is sent by the watchdog within its period, counted and said once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBuffer } from '../../src/dispatch/buffer.js';
import { assertBalanced, assertExactlyOnceInOrder, seqs, setupDispatch, testEvent, waitSettled } from '../helpers/dispatch-fixtures.js';

/** Loses the driver's batch timer, as a lost wake-up would: the timer is cancelled, its handle kept. */
function loseBatchTimer(d: object): void {
  const driver = (d as { webhook: { driver: { batchTimer: NodeJS.Timeout | null } } }).webhook.driver;
  assert.ok(driver.batchTimer, 'the push armed the batch timer');
  clearTimeout(driver.batchTimer);
}

test('a due batch whose wake-up was lost is sent by the watchdog, counted and logged once', async (t) => {
  const { r, d, logs } = await setupDispatch(t, { webhook: { batchMaxWaitMs: 30 } });
  d.enqueue(testEvent(0));
  loseBatchTimer(d);
  await r.waitForEvents(1, 3000);
  await waitSettled(d); // nothing in flight: only the timer (or the watchdog) can send the next one
  d.enqueue(testEvent(1));
  loseBatchTimer(d);
  await r.waitForEvents(2, 3000);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 2);
  assertBalanced(d.counters());
  const text = await d.prometheus();
  assert.match(text, /^s3ap_audit_watchdog_sends_total 2$/m);
  assert.equal(logs.count('sent by the watchdog'), 1, 'said once, counted every time');
  const said = logs.lines.find((l) => String(l['msg']).includes('sent by the watchdog'))!;
  assert.equal((said['scheduler'] as { batchTimer: boolean }).batchTimer, true, 'the log shows the scheduler state (the lost timer still looked armed)');
});

test('a healthy run never needs the watchdog', async (t) => {
  const { r, d, logs } = await setupDispatch(t, { webhook: { batchMaxWaitMs: 30 } });
  for (let i = 0; i < 20; i++) {
    d.enqueue(testEvent(i));
    await r.waitForEvents(i + 1);
  }
  await waitSettled(d);
  assert.match(await d.prometheus(), /^s3ap_audit_watchdog_sends_total 0$/m);
  assert.equal(logs.count('sent by the watchdog'), 0);
});

test('a batch that falls due between the check and the re-arm is still sent on time (no lost wake-up)', async (t) => {
  // The batch timer fires a little early by the clock the buffer reads (libuv's cached loop time
  // is behind it), so the buffer says "not due yet"; right after that the clock jumps past the wait
  // time, as when the process loses the CPU between the check and the re-arm on a busy machine.
  const real = performance.now.bind(performance);
  let skew = 0;
  performance.now = () => real() + skew;
  const { push, next } = EventBuffer.prototype;
  EventBuffer.prototype.push = function (this: EventBuffer, ...a: Parameters<typeof push>) {
    const refused = push.apply(this, a);
    skew -= 5; // the wait starts 5 ms "later" than the timer's
    return refused;
  };
  EventBuffer.prototype.next = function (this: EventBuffer, ...a: Parameters<typeof next>) {
    const batch = next.apply(this, a);
    if (batch === null && this.mq.length > 0) skew += 1000;
    return batch;
  };
  t.after(() => {
    performance.now = real;
    Object.assign(EventBuffer.prototype, { push, next });
  });
  const { r, d, logs } = await setupDispatch(t, { webhook: { batchMaxWaitMs: 30 } });
  for (let i = 0; i < 5; i++) {
    d.enqueue(testEvent(i));
    await r.waitForEvents(i + 1, 5000);
  }
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 5);
  const said = logs.lines.filter((l) => String(l['msg']).includes('watchdog')).map((l) => JSON.stringify(l)).join('\n');
  assert.match(await d.prometheus(), /^s3ap_audit_watchdog_sends_total 0$/m, said);
});
