// Scenario 2: the receiver flaps (down 2-3 s, up 2-3 s) for 50 s under steady S3 traffic, with the
// default delivery concurrency (2). Promise: zero loss, S3 unaffected; order is promised only inside
// each request with concurrency > 1 (checked), plus per-client request order at the receiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertBalanced, assertOrderWithinRequests, assertS3Ok, percentile, r1, received, sampler, sleep, startRig, startTraffic, summary, waitSettled,
} from './helpers/harness.js';

const FLAP_MS = 50_000;

test('2. receiver flapping (down/up every 2-3 s) for 50 s under traffic: zero loss', { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const rig = await startRig(t, { webhook: { concurrency: 2, batchMaxWaitMs: 100, batchMaxEvents: 200 } });
  const { r, d } = rig;
  const peaks = sampler(d);
  rig.defer(() => peaks.stop());
  const traffic = await startTraffic({ url: rig.proxy.url, client: rig.client, bucket: rig.bucket, rate: 100, workers: 5, maxSeconds: 90 });
  rig.defer(() => traffic.stop());

  // deterministic 2-3 s phases
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let flaps = 0;
  let sawDown = 0;
  const end = performance.now() + FLAP_MS;
  while (performance.now() < end) {
    await r.setMode('down');
    flaps++;
    await sleep(Math.min(2000 + rnd() * 1000, Math.max(0, end - performance.now())));
    if (d.status().state !== 'healthy') sawDown++;
    await r.setMode('up');
    await sleep(Math.min(2000 + rnd() * 1000, Math.max(0, end - performance.now())));
  }
  await sleep(1000);
  const results = await traffic.stop();
  const c = await waitSettled(d, 30_000);

  const s3 = assertS3Ok(results);
  const got = received(r);
  assert.equal(c.generated, traffic.sent(), 'one event per S3 request');
  assert.equal(got.s3.size, traffic.sent(), 'every S3 request has its event at the receiver');
  assert.equal(c.delivered, c.generated);
  assertBalanced(c);
  const requests = assertOrderWithinRequests(r, rig.rec.order);
  assert.ok(sawDown >= flaps / 2, `the dispatcher noticed most outages (${sawDown}/${flaps})`);
  assert.ok(c.spooled > 0, 'events went through the spool');
  t.diagnostic(summary({
    generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered,
    duplicates: got.duplicates, flaps, outages_noticed: sawDown, spooled_total: c.spooled, spooled_peak: peaks.peakSpool,
    retried: c.retried, webhook_requests: requests, s3_2xx: s3.ok, s3_p99_ms: r1(percentile(results.map((x) => x.ms), 99)),
    duration_s: r1((Date.now() - started) / 1000),
  }));
});
