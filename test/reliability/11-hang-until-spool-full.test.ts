// Scenario 11: the webhook hangs "forever" (accepts connections, never answers; for the test: until
// the spool is full and drops have gone on for 5 s) under full S3 load through the real CLI (child),
// with the DEFAULT queue (100000 events / 64 MiB), request timeout (15 s) and batch settings, and a
// smaller spool, --spool-max-bytes 32MiB, so that it fills within about a minute on a small box.
//
// Promise: events are kept (memory, then the spool) until the spool is full; only then are drops
// counted, all as `spool_full` (never `queue_full`: memory overflows to the spool while it has room);
// S3 throughput during the hang stays within a reasonable ratio of before (asserted >= 0.5x, loose for
// a shared box; reported); after the receiver answers, every event not counted dropped arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { childCounters, cleanupStack, HEC_TOKEN, r1, sleep, summary, waitChildSettled, waitFor } from './helpers/harness.js';
import { receivedIds, spawnDefaultProxy, startFastBackend, startLoad, watchChild, type ChildCounters } from './helpers/load.js';

const ADMIN_TOKEN = 'reliability-admin-token-11-0123456789a';
const SPOOL_MAX = 32 * 1024 * 1024;
const CONCURRENCY = 32;
const WARM_MS = 5000;
const FILL_LIMIT_MS = 150_000;
const AFTER_FIRST_DROP_MS = 5000;

test('11. receiver hangs until the 32 MiB spool is full, default queue, full load: drops only spool_full and only once the spool is full, S3 throughput kept, the rest delivered', { timeout: 420_000 }, async (t) => {
  const started = Date.now();
  const defer = cleanupStack(t);
  const backend = await startFastBackend(defer);
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  const { p } = await spawnDefaultProxy(defer, { backendUrl: backend.url, receiver: r, adminToken: ADMIN_TOKEN, args: ['--spool-max-bytes', '32MiB'] });
  const adminUrl = p.adminUrl!;
  const watch = watchChild(adminUrl, 250);
  defer(() => watch.stop());
  const load = await startLoad({ url: p.url, backend, bucket: 'audit-load', concurrency: CONCURRENCY, maxSeconds: (WARM_MS + FILL_LIMIT_MS + AFTER_FIRST_DROP_MS) / 1000 + 10, maxRequests: 3_000_000 });
  defer(() => load.stop());

  const t0 = performance.now();
  await sleep(WARM_MS);
  const hangAt = performance.now();
  await r.setMode('hang');
  let filled = true;
  try {
    await waitFor(() => watch.firstDrop !== null, FILL_LIMIT_MS, () => `the spool to fill and drops to start: ${JSON.stringify(watch.last)}`);
  } catch {
    filled = false;
  }
  const firstDropAt = performance.now();
  await sleep(filled ? AFTER_FIRST_DROP_MS : 0);
  const hangEnd = performance.now();
  const stats = await load.stop();
  const atHangEnd = await childCounters(adminUrl);
  await r.setMode('ok');
  const upAt = performance.now();
  let c: ChildCounters | null = null;
  let settleError = '';
  try {
    c = await waitChildSettled(adminUrl, 180_000);
  } catch (err) {
    settleError = (err as Error).message;
    c = await childCounters(adminUrl);
  }
  const drainMs = r1(performance.now() - upAt);
  await watch.stop();
  const got = receivedIds(r);
  const ok2xx = Object.entries(stats.byStatus).filter(([k]) => /^2\d\d$/.test(k)).reduce((a, [, v]) => a + v, 0);
  const before = load.rate(t0 + 1000, hangAt);
  const during = load.rate(hangAt, hangEnd);
  const ratio = before > 0 ? Math.round((during / before) * 100) / 100 : 0;
  const reasons = Object.keys(c.droppedByReason).filter((k) => c.droppedByReason[k] > 0);
  t.diagnostic(summary({
    scenario: '11-hang-until-spool-full', spool_max: SPOOL_MAX, s3_sent: stats.sent, s3_by_status: stats.byStatus,
    req_per_s_before: Math.round(before), req_per_s_hang: Math.round(during), throughput_ratio: ratio,
    s3_p99_ms_before: r1(load.latency(99, t0 + 1000, hangAt)), s3_p99_ms_hang: r1(load.latency(99, hangAt, hangEnd)),
    hang_s: r1((hangEnd - hangAt) / 1000), first_drop_after_hang_s: filled ? r1((firstDropAt - hangAt) / 1000) : null, first_drop: watch.firstDrop,
    generated: c.generated, delivered: c.delivered, dropped: c.dropped, dropped_by_reason: c.droppedByReason, deadLettered: c.deadLettered,
    received_unique: got.ids.size, received_s3: got.s3, duplicates: got.duplicates,
    at_hang_end: { queued: atHangEnd.queued, spool: atHangEnd.spool, dropped: atHangEnd.dropped }, queued_peak: watch.peakQueued, queued_bytes_peak: watch.peakQueuedBytes,
    spool_peak: watch.peakSpool, spool_bytes_peak: watch.peakSpoolBytes, drain_ms: drainMs, settled: settleError === '', duration_s: r1((Date.now() - started) / 1000),
  }));

  assert.ok(filled, 'the spool filled and drops started within the time limit');
  assert.equal(settleError, '', 'every event settled after the receiver answered');
  assert.equal(ok2xx, stats.sent, `every S3 request answered 2xx: ${JSON.stringify(stats.byStatus)}`);
  assert.equal(c.generated, stats.sent + 1 + got.gaps, 'one event per S3 request + the admin enable + the gap events declaring the drops');
  assert.ok(got.gaps >= 1, 'the drops were declared by gap events');
  assert.ok(c.dropped > 0, 'drops once the spool was full');
  assert.deepEqual(reasons, ['spool_full'], `drops only as spool_full, never queue_full: ${JSON.stringify(c.droppedByReason)}`);
  assert.ok(watch.firstDrop && watch.firstDrop.spoolBytes >= SPOOL_MAX * 0.9, `the first drop only once the spool was full: ${JSON.stringify(watch.firstDrop)}`);
  assert.ok(ratio >= 0.5, `S3 throughput during the hang ${Math.round(during)} req/s >= 0.5 x before (${Math.round(before)} req/s): ratio ${ratio}`);
  assert.equal(c.deadLettered, 0);
  assert.equal(c.delivered + c.dropped + c.deadLettered, c.generated, 'delivered + dropped + deadLettered = generated');
  assert.equal(got.ids.size, c.delivered, 'every event counted delivered is at the receiver (distinct ids)');
  assert.equal(got.s3 + c.dropped, stats.sent, 'every S3 request: its event delivered, or counted dropped');
});
