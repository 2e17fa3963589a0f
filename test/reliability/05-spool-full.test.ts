// Scenario 5: the spool runs out of room while the receiver is down.
//   5a. the limit: `--spool-max-bytes 192KiB --queue-max-events 600` through the real serve wiring
//       (the dispatcher serve builds from its flags). Drops counted as `spool_full`, only once the
//       spool is full; no crash; S3 unaffected; after the receiver is back, everything not dropped
//       is delivered.
//   5b. a real disk full, in a child proxy (`serve`): its data dir on a 2 MiB tmpfs (mounted here
//       when running as root), or else under a 1 MiB file-size limit (RLIMIT_FSIZE: the write fails
//       with EFBIG, the same code path as ENOSPC). A failed spool write is counted (`spool_error`),
//       spooling stops until restart, later overflow is `queue_full`; the proxy keeps serving S3,
//       and after the receiver is back everything not dropped is delivered.
//   5c. the same failure at the Spool level, in a child process, fast: after a write failed, the
//       process's event loop must stay alive (fsync tick; retiring the segment after delivery).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminCall } from '../helpers/admin.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { startInProcessProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import {
  alive, assertBalanced, assertS3Ok, childCounters, childLogs, cleanupStack, HEC_TOKEN, percentile, r1, received, sampler, sleep, spawnProxyLimited,
  startBackendProcess, startTraffic, summary, waitChildSettled, waitFor, waitSettled, createBucket } from './helpers/harness.js';

const ADMIN_TOKEN = 'reliability-admin-token-5b-0123456789';

/** Mounts a tmpfs of `size` at a new directory; null when not possible (not root). */
function mountTmpfs(size: string): string | null {
  const mnt = mkdtempSync(join(tmpdir(), 's3ap-rel-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'pipe' });
    return mnt;
  } catch {
    rmSync(mnt, { recursive: true, force: true });
    return null;
  }
}

function unmount(mnt: string): void {
  try {
    execFileSync('umount', [mnt], { stdio: 'pipe' });
  } finally {
    rmSync(mnt, { recursive: true, force: true });
  }
}

const DOWN_MS = 10_000;

test('5a. spool full (--spool-max-bytes 192KiB) with the receiver down: spool_full drops counted, no crash, S3 fine, the rest delivered', { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const SPOOL_MAX = 192 * 1024;
  const defer = cleanupStack(t);
  const backend = await startBackendProcess(t);
  const bucket = await createBucket(backend);
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
  // on a slow shared box the traffic may need longer than DOWN_MS to fill queue and spool
  await waitFor(() => d.status().dropped > 0, DOWN_MS * 4, () => `drops once the spool is full: ${JSON.stringify(d.status())}`);
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
  assert.equal(c.generated, traffic.sent() + 1 + got.gaps.size, 'one event per S3 request + the admin enable + the gap events declaring the drops');
  assert.ok(got.gaps.size >= 1, 'the drops were declared by gap events');
  assertBalanced(c, true);
  assert.ok(c.dropped > 0);
  assert.deepEqual(Object.keys(c.droppedByReason).filter((k) => c.droppedByReason[k] > 0), ['spool_full'], JSON.stringify(c.droppedByReason));
  assert.ok(peaks.firstDrop && peaks.firstDrop.spoolBytes > SPOOL_MAX * 0.9, `first drop only once the spool was full: ${JSON.stringify(peaks.firstDrop)}`);
  assert.equal(got.s3.size + got.admin.size + got.gaps.size, c.delivered, 'every event counted delivered is at the receiver');
  assert.equal(got.s3.size + got.admin.size + got.gaps.size + c.dropped, c.generated, 'everything not dropped was delivered');
  assert.equal(d.status().state, 'healthy');
  t.diagnostic(summary({
    generated: c.generated, delivered: c.delivered, dropped: c.dropped, dropped_by_reason: c.droppedByReason, deadLettered: c.deadLettered,
    duplicates: got.duplicates, spooled_total: c.spooled, spool_bytes_peak: peaks.peakSpoolBytes, spool_max: SPOOL_MAX,
    spooled_peak: peaks.peakSpool, queued_peak: peaks.peakQueued, settled_after_up_ms: settleMs, s3_2xx: s3.ok,
    s3_p99_ms: r1(percentile(results.map((x) => x.ms), 99)), duration_s: r1((Date.now() - started) / 1000),
  }));
});

test('5b. disk really full (2 MiB tmpfs, or a 1 MiB file-size limit) under a child proxy with the receiver down: drops counted, proxy keeps serving, the rest delivered', { timeout: 150_000 }, async (t) => {
  const started = Date.now();
  const defer = cleanupStack(t);
  // S3AP_REL_NO_TMPFS=1 forces the file-size-limit variant (what non-root runs get)
  const mnt = process.env['S3AP_REL_NO_TMPFS'] ? null : mountTmpfs('2m');
  let dataDir: string;
  let how: string;
  if (mnt) {
    defer(() => unmount(mnt));
    dataDir = join(mnt, 'data');
    how = 'tmpfs 2 MiB (ENOSPC)';
  } else {
    const dir = mkdtempSync(join(tmpdir(), 's3ap-rel-fsize-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    dataDir = dir;
    how = 'RLIMIT_FSIZE 1 MiB (EFBIG)';
  }
  const backend = await startBackendProcess(t);
  const bucket = await createBucket(backend);
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  const child = await spawnProxyLimited(
    ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dataDir, '--backend', backend.url, '--queue-max-events', '1000', '--log-level', 'info'],
    { S3AP_ADMIN_TOKEN: ADMIN_TOKEN }, mnt ? null : 1024,
  );
  defer(() => child.stop('SIGKILL'));
  const adminUrl = child.adminUrl!;
  const en = await adminCall(adminUrl, 'POST', '/api/v1/audit-webhook/enable', {
    token: ADMIN_TOKEN, body: { endpoint: r.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs: 100, healthCheckIntervalMs: 1000 },
  });
  assert.equal(en.status, 200, en.text);
  const client = s3Client(child.url, backend);
  defer(() => client.destroy());
  const traffic = await startTraffic({ url: child.url, client, bucket, rate: 120, workers: 6, maxSeconds: 90, timeoutMs: 5000 });
  defer(() => traffic.stop());

  await sleep(1500);
  await r.setMode('down');
  let during: Awaited<ReturnType<typeof childCounters>> | null = null;
  await waitFor(async () => {
    try {
      during = await childCounters(adminUrl);
    } catch {
      return false;
    }
    return during.dropped > 0;
  }, 60_000, () => `drops once the disk is full: ${JSON.stringify(during)}`);
  const failedAt = performance.now();
  // the spool's fsync tick (1 s) and more S3 traffic after the failed write
  await sleep(3000);
  const liveAfterFailure = await alive(adminUrl);
  assert.ok(liveAfterFailure, 'the proxy still answers (admin /healthz) 3 s after the spool write failed: event loop alive');
  await r.setMode('up');
  await sleep(2000);
  const results = await traffic.stop();
  const c = await waitChildSettled(adminUrl, 45_000);

  const s3 = assertS3Ok(results);
  const logs = childLogs(child.output);
  assert.ok(logs.some((l) => String(l['msg']).includes('spool: write failed')), 'the failed spool write is logged');
  assert.equal(child.child.exitCode, null, 'no crash');
  const got = received(r);
  assert.equal(c.generated, traffic.sent() + 1 + got.gaps.size, 'one event per S3 request + the admin enable + the gap events declaring the drops');
  assert.ok(got.gaps.size >= 1, 'the drops were declared by gap events');
  assert.ok((c.droppedByReason['spool_error'] ?? 0) > 0, `the events of the failed write are counted spool_error: ${JSON.stringify(c.droppedByReason)}`);
  for (const k of Object.keys(c.droppedByReason)) assert.ok(['spool_error', 'queue_full'].includes(k), `drop reason ${k}`);
  assert.equal(c.delivered + c.dropped + c.deadLettered, c.generated, 'delivered + dropped + deadLettered = generated');
  assert.equal(got.s3.size + got.admin.size + got.gaps.size, c.delivered, 'every event counted delivered is at the receiver');
  t.diagnostic(summary({
    disk: how, generated: c.generated, delivered: c.delivered, dropped: c.dropped, dropped_by_reason: c.droppedByReason,
    deadLettered: c.deadLettered, duplicates: got.duplicates, spooled_total: c.spooledTotal, s3_2xx: s3.ok,
    s3_p99_ms: r1(percentile(results.map((x) => x.ms), 99)), s3_after_failure: results.filter((x) => x.at > failedAt).length,
    duration_s: r1((Date.now() - started) / 1000),
  }));
});

const SPOOL_CHILD = fileURLToPath(new URL('./helpers/spool-child.js', import.meta.url));

/** Runs the spool child under a 256 KiB file-size limit; resolves its output lines (bounded: killed after 10 s). */
function runSpoolChild(dir: string, fsyncMs: number, mode: 'sync' | 'retire'): Promise<{ lines: string[]; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', 'ulimit -f 256 && exec "$0" "$@"', process.execPath, SPOOL_CHILD, JSON.stringify({ dir, fsyncMs, mode })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, 10_000);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({ lines: out.split('\n').filter(Boolean), killed });
    });
  });
}

for (const [mode, fsyncMs, what] of [['sync', 200, 'the next fsync tick'], ['retire', 0, 'retiring the segment once everything was delivered']] as const) {
  test(`5c. spool write failed (EFBIG, like ENOSPC): the process stays alive through ${what}`, { timeout: 30_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 's3ap-rel-spoolfail-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { lines, killed } = await runSpoolChild(join(dir, 'spool'), fsyncMs, mode);
    const broken = lines.find((l) => l.startsWith('BROKEN '));
    assert.ok(broken, `the spool write failed: ${lines.slice(0, 5).join(' | ')}`);
    const ticks = lines.filter((l) => l.startsWith('TICK ')).length;
    t.diagnostic(summary({ mode, fsync_ms: fsyncMs, broken: broken.slice(7), ticks_in_1s: ticks, killed_after_10s: killed }));
    assert.ok(!killed && ticks >= 10, `event loop alive after the failed write (${ticks} timer ticks in 1 s, expected ~20${killed ? '; the child hung and was killed after 10 s' : ''})`);
  });
}
