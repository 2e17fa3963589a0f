// Scenario 4: the receiver answers 503 with Retry-After, then refuses the token (401, then the token
// is rotated at the receiver: 403 for the old one), then an admin fixes it with `enable` and the new
// token through the admin API. Promise: Retry-After is honoured (no hammering), state `unauthorized`
// while refused, events kept (spooled) meanwhile, and everything is delivered after the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminCall } from '../helpers/admin.js';
import {
  assertBalanced, assertS3Ok, HEC_TOKEN, HEC_TOKEN_2, percentile, r1, received, sampler, sleep, startRig, startTraffic, summary, waitFor, waitSettled,
} from './helpers/harness.js';

test('4. receiver 503 + Retry-After, then 401/403 (token revoked: unauthorized, events kept), then enable with the right token via the admin API: all delivered', { timeout: 90_000 }, async (t) => {
  const started = Date.now();
  const rig = await startRig(t, { enable: false });
  const { r, d } = rig;
  const admin = rig.proxy.admin.url;
  const peaks = sampler(d);
  rig.defer(() => peaks.stop());
  const body = { endpoint: r.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs: 50, concurrency: 1, requestTimeoutMs: 5000 };
  const en1 = await adminCall(admin, 'POST', '/api/v1/audit-webhook/enable', { token: rig.adminToken, body });
  assert.equal(en1.status, 200, en1.text);
  const traffic = await startTraffic({ url: rig.proxy.url, client: rig.client, bucket: rig.bucket, rate: 80, workers: 4, maxSeconds: 60 });
  rig.defer(() => traffic.stop());
  await sleep(2000);

  // 503 busy, Retry-After: 2 s
  await r.setMode('503', { retryAfterSec: 2 });
  const reqsBefore503 = r.requests.length;
  await waitFor(() => d.status().consecutiveFailures >= 1, 5000, () => `a 503 was seen: ${JSON.stringify(d.status())}`);
  await sleep(6000);
  const st503 = d.status();
  const attempts503 = r.requests.length - reqsBefore503;
  assert.match(st503.lastError ?? '', /503/);
  assert.ok(st503.state === 'degraded' || st503.state === 'down', st503.state);
  // 6 s at Retry-After 2 s: about 3-4 attempts (retryBaseMs is 50 ms: without Retry-After it would be dozens)
  assert.ok(attempts503 <= 6, `Retry-After honoured: ${attempts503} attempts in ~6 s`);

  // token refused: 401 (HEC code 3), then the token is rotated at the receiver (old one: 403 code 4)
  await r.setMode('401');
  await waitFor(() => d.status().state === 'unauthorized', 8000, () => `state unauthorized: ${JSON.stringify(d.status())}`);
  await sleep(2000);
  r.setToken(HEC_TOKEN_2);
  await r.setMode('ok');
  await sleep(3000);
  const doc = await adminCall(admin, 'GET', '/api/v1/audit-webhook', { token: rig.adminToken });
  assert.equal(doc.status, 200);
  assert.equal(doc.json.status.state, 'unauthorized', `admin status while the token is refused: ${doc.text}`);
  assert.ok(doc.json.status.spooled > 0, 'events are kept in the spool meanwhile');
  assert.equal(doc.json.status.dropped, 0);
  assert.ok(!doc.text.includes(HEC_TOKEN), 'the token never appears in the admin document');
  const heldAtFix = doc.json.status.spooled + doc.json.status.queued;

  // fixed by an admin: enable with the new token
  const fixedAt = performance.now();
  const en2 = await adminCall(admin, 'POST', '/api/v1/audit-webhook/enable', { token: rig.adminToken, body: { ...body, authToken: HEC_TOKEN_2 } });
  assert.equal(en2.status, 200, en2.text);
  await waitFor(() => d.status().state === 'healthy' && d.status().spooled === 0, 15_000, () => `delivered after the fix: ${JSON.stringify(d.status())}`);
  const drainMs = r1(performance.now() - fixedAt);
  await sleep(1000);
  const results = await traffic.stop();
  const c = await waitSettled(d, 20_000);

  const s3 = assertS3Ok(results);
  const got = received(r);
  assert.equal(got.admin.size, 2, 'both admin enable events delivered');
  assert.equal(c.generated, traffic.sent() + 2, 'one event per S3 request + one per admin enable');
  assert.equal(got.s3.size, traffic.sent(), 'every S3 event reached the receiver');
  assert.equal(c.delivered, c.generated);
  assertBalanced(c);
  t.diagnostic(summary({
    generated: c.generated, s3_events: traffic.sent(), admin_events: got.admin.size, delivered: c.delivered, dropped: c.dropped,
    deadLettered: c.deadLettered, duplicates: got.duplicates, attempts_during_503: attempts503, held_at_fix: heldAtFix,
    spooled_peak: peaks.peakSpool, drain_after_enable_ms: drainMs, s3_2xx: s3.ok, s3_p99_ms: r1(percentile(results.map((x) => x.ms), 99)),
    duration_s: r1((Date.now() - started) / 1000),
  }));
});
