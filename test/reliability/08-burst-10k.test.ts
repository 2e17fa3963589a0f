// Scenario 8: a burst of 10,000 S3 requests (GET and HEAD of a small object, SigV4-presigned) over
// 200 concurrent connections through the real CLI (child process) with auditing on. Promise: every
// request answered 200, every event delivered (or counted), the proxy's RSS bounded (VmRSS sampled
// from /proc/<pid>/status every 100 ms; asserted under 300 MiB, peak reported).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { bucketName } from '../helpers/backend.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { s3Client } from '../helpers/s3.js';
import {
  cleanupStack, fdCount, HEC_TOKEN, newRawStats, percentile, Pool, presign, r1, rawOnce, received, rssKiB, startBackendProcess, summary, waitChildSettled, spawnAuditedProxy,
} from './helpers/harness.js';

const ADMIN_TOKEN = 'reliability-admin-token-8-0123456789ab';
const TOTAL = 10_000;
const CONNECTIONS = 200;
const RSS_LIMIT_MIB = 300;

test('8. burst of 10,000 S3 requests over 200 connections with audit on: all answered, all events delivered, RSS bounded', { timeout: 240_000 }, async (t) => {
  const started = Date.now();
  const defer = cleanupStack(t);
  const backend = await startBackendProcess(t);
  const bucket = bucketName('rel');
  const direct = s3Client(backend.url, backend);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
  await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'small.txt', Body: Buffer.alloc(1024, 's') }));
  direct.destroy();
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  const p = await spawnAuditedProxy(defer, backend, r, ADMIN_TOKEN, 200, 's3ap-rel-burst-');
  const pid = p.child.pid!;
  const client = s3Client(p.url, backend);
  const urls = await presign(client, bucket, 'small.txt');
  client.destroy();

  const rssStart = rssKiB(pid);
  const fdStart = fdCount(pid);
  let rssPeak = rssStart;
  let fdPeak = fdStart;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssKiB(pid));
    fdPeak = Math.max(fdPeak, fdCount(pid));
  }, 100);
  defer(() => clearInterval(sampler));

  const pool = new Pool(p.url, { connections: CONNECTIONS, keepAliveTimeout: 60_000 });
  defer(() => pool.destroy());
  const stats = newRawStats();
  let next = 0;
  const t0 = performance.now();
  const hardEnd = t0 + 180_000;
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < hardEnd) {
      const i = next++;
      if (i >= TOTAL) return;
      await rawOnce(pool, i % 2 === 0 ? 'GET' : 'HEAD', i % 2 === 0 ? urls.get : urls.head, stats);
    }
  }));
  const burstMs = performance.now() - t0;
  const c = await waitChildSettled(p.adminUrl!, 60_000);
  clearInterval(sampler);
  const rssEnd = rssKiB(pid);

  assert.equal(stats.sent, TOTAL, 'all requests sent');
  assert.deepEqual(stats.byStatus, { 200: TOTAL }, 'every request answered 200');
  const got = received(r);
  assert.equal(c.generated, TOTAL + 1, 'one event per S3 request + the admin enable');
  assert.equal(c.delivered + c.dropped + c.deadLettered, c.generated, 'delivered + dropped + deadLettered = generated');
  assert.equal(c.dropped, 0, 'no drops: the queue and spool had room');
  assert.equal(got.s3.size, TOTAL, 'every S3 event at the receiver (unique ids)');
  assert.ok(rssPeak / 1024 < RSS_LIMIT_MIB, `proxy RSS peak ${r1(rssPeak / 1024)} MiB < ${RSS_LIMIT_MIB} MiB`);
  t.diagnostic(summary({
    generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered, duplicates: got.duplicates,
    spooled_total: c.spooledTotal, s3_200: stats.byStatus[200] ?? 0, burst_s: r1(burstMs / 1000), req_per_s: Math.round(TOTAL / (burstMs / 1000)),
    p50_ms: r1(percentile(stats.latencies, 50)), p99_ms: r1(percentile(stats.latencies, 99)), max_ms: r1(Math.max(...stats.latencies)),
    rss_start_mib: r1(rssStart / 1024), rss_peak_mib: r1(rssPeak / 1024), rss_end_mib: r1(rssEnd / 1024), fd_start: fdStart, fd_peak: fdPeak,
    duration_s: r1((Date.now() - started) / 1000),
  }));
});
