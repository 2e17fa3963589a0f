// Scenario 9: a soak at moderate load through the real CLI (child process): ~200 req/s of PUT/GET/HEAD
// (SigV4-presigned) for S3AP_SOAK_SECONDS (default 180) with auditing on. Promise: nothing leaks:
// the proxy's RSS (VmRSS) and open file descriptors (/proc/<pid>/fd), sampled every 2 s, are flat:
// the highest value of the last 16 s against the highest of the 16 s up to minute 1 (or a third of
// the run for short soaks), within a tolerance; every event delivered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { s3Client } from '../helpers/s3.js';
import {
  assertS3Ok, cleanupStack, fdCount, HEC_TOKEN, percentile, r1, received, rssKiB, sleep, startBackendProcess, startTraffic, summary, waitChildSettled, createBucket, spawnAuditedProxy,
} from './helpers/harness.js';

const ADMIN_TOKEN = 'reliability-admin-token-9-0123456789ab';
const SOAK_S = Math.max(30, Number(process.env['S3AP_SOAK_SECONDS'] ?? 180) || 180);
const RATE = 200;
/** RSS at the end may exceed the mark by this much (MiB) or this fraction, whichever is larger. */
const RSS_TOL_MIB = 24;
const RSS_TOL_FRAC = 0.15;
const FD_TOL = 10;

test(`9. soak: ${SOAK_S} s at ~${RATE} req/s with audit on: RSS and open fds flat, every event delivered`, { timeout: (SOAK_S + 120) * 1000 }, async (t) => {
  const started = Date.now();
  const defer = cleanupStack(t);
  const backend = await startBackendProcess(t);
  const bucket = await createBucket(backend);
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  const p = await spawnAuditedProxy(defer, backend, r, ADMIN_TOKEN, 500, 's3ap-rel-soak-');
  const pid = p.child.pid!;
  const client = s3Client(p.url, backend);
  defer(() => client.destroy());

  const samples: Array<{ s: number; rssKiB: number; fds: number }> = [];
  const t0 = performance.now();
  const sample = (): void => {
    samples.push({ s: (performance.now() - t0) / 1000, rssKiB: rssKiB(pid), fds: fdCount(pid) });
  };
  const timer = setInterval(sample, 2000);
  defer(() => clearInterval(timer));
  const traffic = await startTraffic({ url: p.url, client, bucket, rate: RATE, workers: 8, maxSeconds: SOAK_S + 30, timeoutMs: 10_000 });
  defer(() => traffic.stop());
  // connections open and close all the time (keep-alive timeouts): compare the highest value of a
  // 16 s window at minute 1 with the highest of the last 16 s, not two single samples
  const markS = Math.min(60, SOAK_S / 3);
  await sleep(markS * 1000);
  sample();
  const win = (from: number, to: number): { s: number; rssKiB: number; fds: number } => {
    const w = samples.filter((x) => x.s >= from && x.s <= to);
    return { s: to, rssKiB: Math.max(...w.map((x) => x.rssKiB)), fds: Math.max(...w.map((x) => x.fds)) };
  };
  const mark = win(markS - 16, markS + 1);
  await sleep(Math.max(0, SOAK_S * 1000 - (performance.now() - t0)));
  sample();
  const end = win(SOAK_S - 16, SOAK_S + 1);
  const results = await traffic.stop();
  clearInterval(timer);
  const c = await waitChildSettled(p.adminUrl!, 60_000);

  const s3 = assertS3Ok(results);
  const got = received(r);
  assert.equal(c.generated, traffic.sent() + 1, 'one event per S3 request + the admin enable');
  assert.equal(c.delivered + c.dropped + c.deadLettered, c.generated);
  assert.equal(c.dropped, 0);
  assert.equal(got.s3.size, traffic.sent(), 'every S3 event at the receiver');
  const rssGrowthMiB = (end.rssKiB - mark.rssKiB) / 1024;
  const rssTolMiB = Math.max(RSS_TOL_MIB, (mark.rssKiB / 1024) * RSS_TOL_FRAC);
  const rates = `achieved ${Math.round(traffic.sent() / SOAK_S)} req/s`;
  t.diagnostic(summary({
    soak_s: SOAK_S, generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered, duplicates: got.duplicates,
    s3_2xx: s3.ok, req_per_s: Math.round(traffic.sent() / SOAK_S), s3_p99_ms: r1(percentile(results.map((x) => x.ms), 99)),
    mark_s: r1(mark.s), rss_mark_mib: r1(mark.rssKiB / 1024), rss_end_mib: r1(end.rssKiB / 1024), rss_growth_mib: r1(rssGrowthMiB),
    rss_peak_mib: r1(Math.max(...samples.map((x) => x.rssKiB)) / 1024), fd_mark: mark.fds, fd_end: end.fds,
    duration_s: r1((Date.now() - started) / 1000),
  }));
  t.diagnostic(`samples (s:rssMiB/fds, every 2 s) ${samples.filter((_, i) => i % 5 === 0 || i === samples.length - 1).map((x) => `${Math.round(x.s)}:${r1(x.rssKiB / 1024)}/${x.fds}`).join(' ')}`);
  assert.ok(rssGrowthMiB <= rssTolMiB, `RSS flat: ${r1(mark.rssKiB / 1024)} MiB at ${r1(mark.s)} s -> ${r1(end.rssKiB / 1024)} MiB at the end (tolerance ${r1(rssTolMiB)} MiB; ${rates})`);
  assert.ok(end.fds - mark.fds <= FD_TOL, `open fds flat: ${mark.fds} -> ${end.fds} (tolerance ${FD_TOL})`);
});
