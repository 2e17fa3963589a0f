// The driver's liveness net (driver.ts checkOverdue): a due memory batch with no send scheduled (a
// lost wake-up) is sent by the watchdog within its period, counted and said once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
