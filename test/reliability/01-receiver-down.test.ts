// Scenario 1: the receiver goes down for a while under steady S3 traffic, then comes back.
// Promise: zero events lost (the spool had room), every S3 request answered 2xx, and (concurrency 1)
// the receiver gets the events in exactly the order the proxy enqueued them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertBalanced, assertS3Ok, assertSameOrder, assertWorkerTimeOrder, percentile, r1, received, sampler, sleep, startRig, startTraffic, summary, waitFor, waitSettled,
} from './helpers/harness.js';

const UP_BEFORE_MS = 3000;
const DOWN_MS = 10_000;
const UP_AFTER_MS = 3000;

test('1. receiver down for 10 s under steady S3 traffic, then back: zero loss, order kept', { timeout: 90_000 }, async (t) => {
  const started = Date.now();
  const rig = await startRig(t, { webhook: { concurrency: 1, batchMaxWaitMs: 50 } });
  const { r, d } = rig;
  const peaks = sampler(d);
  rig.defer(() => peaks.stop());
  const traffic = await startTraffic({ url: rig.proxy.url, client: rig.client, bucket: rig.bucket, rate: 150, workers: 6, maxSeconds: 40 });
  rig.defer(() => traffic.stop());

  await sleep(UP_BEFORE_MS);
  const beforeDown = received(r).unique;
  await r.setMode('down');
  const downAt = performance.now();
  await waitFor(() => d.status().state === 'down', 5000, () => `state down: ${JSON.stringify(d.status())}`);
  await sleep(DOWN_MS - (performance.now() - downAt));
  const st = d.status();
  assert.ok(st.spooled > 0, `events held in the spool while down: ${JSON.stringify(st)}`);
  assert.match(st.lastError ?? '', /ECONNREFUSED/);
  await r.setMode('up');
  const upAt = performance.now();
  await sleep(UP_AFTER_MS);
  const results = await traffic.stop();
  const c = await waitSettled(d, 30_000);
  const recoveredAfterMs = r1(performance.now() - upAt);

  const s3 = assertS3Ok(results);
  const got = received(r);
  assert.equal(c.generated, traffic.sent(), 'one event per S3 request');
  assert.equal(got.s3.size, traffic.sent(), 'every S3 request has its event at the receiver (unique ids)');
  assert.equal(c.delivered, c.generated);
  assertBalanced(c);
  assertSameOrder(got.firstOrder, rig.rec.order);
  assertWorkerTimeOrder(got.firstOrder, got.byId, 'w');
  assert.equal(d.status().state, 'healthy');
  const downLat = results.filter((x) => x.at - x.ms >= downAt && x.at <= upAt).map((x) => x.ms);
  const upLat = results.filter((x) => x.at - x.ms < downAt).map((x) => x.ms);
  t.diagnostic(summary({
    generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered,
    duplicates: got.duplicates, spooled_total: c.spooled, spooled_peak: peaks.peakSpool, queued_peak: peaks.peakQueued,
    retried: c.retried, s3_2xx: s3.ok, delivered_before_down: beforeDown,
    s3_p99_ms_up: r1(percentile(upLat, 99)), s3_p99_ms_down: r1(percentile(downLat, 99)),
    settled_after_up_ms: recoveredAfterMs, duration_s: r1((Date.now() - started) / 1000),
  }));
});
