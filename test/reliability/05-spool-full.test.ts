// Scenario 5: the spool runs out of room while the receiver is down.
//   5a. the limit: `--spool-max-bytes 192KiB --queue-max-events 600` through the real serve wiring
//       (the dispatcher serve builds from its flags). Drops counted as `spool_full`, only once the
//       spool is full; no crash; S3 unaffected; after the receiver is back, everything not dropped
//       is delivered.
//   5b. a real disk full: the dispatcher's data dir on a 2 MiB tmpfs (mounted here when running as
//       root; skipped otherwise, 5a covers the limit). A failed spool write is counted
//       (`spool_error`), spooling stops, later overflow is `queue_full`; the same end state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { adminCall } from '../helpers/admin.js';
import { bucketName } from '../helpers/backend.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { startInProcessProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import {
  assertBalanced, assertS3Ok, cleanupStack, HEC_TOKEN, percentile, r1, received, sampler, sleep, startBackendProcess, startRig, startTraffic, summary, waitFor, waitSettled,
} from './helpers/harness.js';

const DOWN_MS = 10_000;

test('5a. spool full (--spool-max-bytes 192KiB) with the receiver down: spool_full drops counted, no crash, S3 fine, the rest delivered', { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const SPOOL_MAX = 192 * 1024;
  const defer = cleanupStack(t);
  const backend = await startBackendProcess(t);
  const bucket = bucketName('rel');
  const direct = s3Client(backend.url, backend);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
  direct.destroy();
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  // the real serve wiring: the dispatcher is built from the flags
  const proxy = await startInProcessProxy(['--backend', backend.url, '--spool-max-bytes', '192KiB', '--queue-max-events', '600'], { logLevel: 'warn' });
  defer(() => proxy.close());
  const d = proxy.dispatcher!;
  assert.ok(d, 'serve built its dispatcher');
  const adminToken = readFileSync(join(proxy.dataDir, 'admin-token'), 'utf8').trim();
  // serve's dispatcher retries at 1 s doubling to 30 s; the HEC health check (1 s) ends the wait early
  const en = await adminCall(proxy.admin.url, 'POST', '/api/v1/audit-webhook/enable', {
    token: adminToken, body: { endpoint: r.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs: 100, healthCheckIntervalMs: 1000 },
  });
  assert.equal(en.status, 200, en.text);
  const client = s3Client(proxy.url, backend);
  defer(() => client.destroy());
  const peaks = sampler(d);
  defer(() => peaks.stop());
  const traffic = await startTraffic({ url: proxy.url, client, bucket, rate: 100, workers: 5, maxSeconds: 60 });
  defer(() => traffic.stop());

  await sleep(2000);
  await r.setMode('down');
  const downAt = performance.now();
  await waitFor(() => d.status().dropped > 0, DOWN_MS, () => `drops once the spool is full: ${JSON.stringify(d.status())}`);
  await sleep(DOWN_MS - (performance.now() - downAt));
  const during = d.status();
  assert.ok(during.spoolBytes > SPOOL_MAX * 0.9, `spool at its limit: ${during.spoolBytes} of ${SPOOL_MAX}`);
  const ready = await fetch(`${proxy.admin.url}/healthz`);
  assert.equal(ready.status, 200, 'the proxy is alive');
  await r.setMode('up');
  const upAt = performance.now();
  await sleep(2000);
  const results = await traffic.stop();
  const c = await waitSettled(d, 45_000);
  const settleMs = r1(performance.now() - upAt);

  const s3 = assertS3Ok(results);
  const got = received(r);
  assert.equal(c.generated, traffic.sent() + 1, 'one event per S3 request + the admin enable');
  assertBalanced(c, true);
  assert.ok(c.dropped > 0);
  assert.deepEqual(Object.keys(c.droppedByReason).filter((k) => c.droppedByReason[k] > 0), ['spool_full'], JSON.stringify(c.droppedByReason));
  assert.ok(peaks.firstDrop && peaks.firstDrop.spoolBytes > SPOOL_MAX * 0.9, `first drop only once the spool was full: ${JSON.stringify(peaks.firstDrop)}`);
  assert.equal(got.s3.size + got.admin.size, c.delivered, 'every event counted delivered is at the receiver');
  assert.equal(got.s3.size + got.admin.size + c.dropped, c.generated, 'everything not dropped was delivered');
  assert.equal(d.status().state, 'healthy');
  t.diagnostic(summary({
    generated: c.generated, delivered: c.delivered, dropped: c.dropped, dropped_by_reason: c.droppedByReason, deadLettered: c.deadLettered,
    duplicates: got.duplicates, spooled_total: c.spooled, spool_bytes_peak: peaks.peakSpoolBytes, spool_max: SPOOL_MAX,
    spooled_peak: peaks.peakSpool, queued_peak: peaks.peakQueued, settled_after_up_ms: settleMs, s3_2xx: s3.ok,
    s3_p99_ms: r1(percentile(results.map((x) => x.ms), 99)), duration_s: r1((Date.now() - started) / 1000),
  }));
});

test('5b. disk really full (data dir on a 2 MiB tmpfs) with the receiver down: drops counted, no crash, S3 fine, the rest delivered', { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const mnt = mkdtempSync(join(tmpdir(), 's3ap-rel-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    rmSync(mnt, { recursive: true, force: true });
    t.diagnostic(`tmpfs mount not possible (${(err as Error).message.split('\n')[0]}): 5a covers the spool limit`);
    t.skip('cannot mount a tmpfs (needs root)');
    return;
  }
  // first on the LIFO stack: unmounted after the rig's parts are closed
  const defer = cleanupStack(t);
  defer(() => {
    try {
      execFileSync('umount', [mnt], { stdio: 'pipe' });
    } finally {
      rmSync(mnt, { recursive: true, force: true });
    }
  });
  const dataDir = join(mnt, 'data');
  const rig = await startRig(t, {
    defer,
    dataDir,
    dispatcher: { queueMaxEvents: 1000, dropLogIntervalMs: 60_000 }, // spoolMaxBytes stays 1 GiB: the disk fills first
    webhook: { concurrency: 1, batchMaxWaitMs: 100 },
  });
  const { r, d } = rig;
  const peaks = sampler(d);
  rig.defer(() => peaks.stop());
  const traffic = await startTraffic({ url: rig.proxy.url, client: rig.client, bucket: rig.bucket, rate: 120, workers: 6, maxSeconds: 60 });
  rig.defer(() => traffic.stop());
  await sleep(1500);
  await r.setMode('down');
  await waitFor(() => d.status().dropped > 0, 30_000, () => `drops once the disk is full: ${JSON.stringify(d.status())}`);
  await sleep(3000);
  const during = d.status();
  const df = execFileSync('df', ['-k', mnt]).toString().trim().split('\n').pop();
  assert.ok(rig.logs.count('spool: write failed') >= 1, 'the failed spool write is logged');
  await r.setMode('up');
  await sleep(1500);
  const results = await traffic.stop();
  const c = await waitSettled(d, 45_000);

  const s3 = assertS3Ok(results);
  const got = received(r);
  assert.equal(c.generated, traffic.sent());
  assertBalanced(c, true);
  assert.ok((c.droppedByReason['spool_error'] ?? 0) > 0, `the events of the failed write are counted spool_error: ${JSON.stringify(c.droppedByReason)}`);
  for (const k of Object.keys(c.droppedByReason)) assert.ok(['spool_error', 'queue_full'].includes(k), `drop reason ${k}`);
  assert.equal(got.s3.size, c.delivered, 'every event counted delivered is at the receiver');
  assert.equal(got.s3.size + c.dropped, traffic.sent(), 'everything not dropped was delivered');
  t.diagnostic(summary({
    generated: c.generated, delivered: c.delivered, dropped: c.dropped, dropped_by_reason: c.droppedByReason, deadLettered: c.deadLettered,
    duplicates: got.duplicates, spooled_total: c.spooled, spooled_peak: peaks.peakSpool, spool_bytes_peak: peaks.peakSpoolBytes,
    queued_peak: peaks.peakQueued, state_during: during.state, tmpfs_df: df, s3_2xx: s3.ok,
    s3_p99_ms: r1(percentile(results.map((x) => x.ms), 99)), duration_s: r1((Date.now() - started) / 1000),
  }));
});
