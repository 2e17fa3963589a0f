// Scenario 6: `kill -9` of the proxy (the real CLI, a child process) during an S3 burst, with the
// receiver down (events going to the spool) and `--spool-fsync-interval 0`; restart on the same data
// dir with the receiver up.
//
// What docs/dispatcher.md ("What kill -9 can cost") promises, with the target failing:
//   - spool, written: kept (whatever the fsync interval); so every spooled event is delivered after
//     the restart, once (the receiver was down the whole first run: nothing was sent twice);
//   - memory queue: lost, at most the events enqueued since the last drain (batchMaxWaitMs, or one
//     batch worth); spool write not yet completed: lost (the write follows within milliseconds).
// So, asserted exactly: every event whose S3 response the client had received more than
// W = batchMaxWaitMs + 300 ms (write + timer allowance) before the kill is delivered; the events lost
// (response received, never delivered) are all younger than W and fewer than batchMaxEvents plus
// the requests of that window; nothing is delivered twice; everything the restart found is delivered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/audit/event.js';
import { adminCall } from '../helpers/admin.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy } from '../helpers/proxy.js';
import { signedHeaders } from '../helpers/raw-http.js';
import { childCounters, childLogs, cleanupStack, HEC_TOKEN, Pool, r1, received, sleep, startBackendProcess, summary, waitFor, createBucket } from './helpers/harness.js';

const ADMIN_TOKEN = 'reliability-admin-token-6-0123456789ab';
const BATCH_WAIT_MS = 200;
const BATCH_MAX_EVENTS = 500;
const WINDOW_MS = BATCH_WAIT_MS + 300;
const WORKERS = 16;

test('6. kill -9 during a burst with events spooled (fsync 0), restart on the same data dir: every spooled event delivered; loss only inside the documented window', { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const defer = cleanupStack(t);
  const dataDir = mkdtempSync(join(tmpdir(), 's3ap-rel-kill-'));
  defer(() => rmSync(dataDir, { recursive: true, force: true }));
  const backend = await startBackendProcess(t);
  const bucket = await createBucket(backend);
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  await r.setMode('down');
  const args = ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dataDir, '--backend', backend.url, '--spool-fsync-interval', '0', '--log-level', 'info'];
  const p1 = await spawnProxy(args, { S3AP_ADMIN_TOKEN: ADMIN_TOKEN });
  defer(() => p1.stop('SIGKILL'));
  const en = await adminCall(p1.adminUrl!, 'POST', '/api/v1/audit-webhook/enable', {
    token: ADMIN_TOKEN, body: { endpoint: r.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs: BATCH_WAIT_MS, batchMaxEvents: BATCH_MAX_EVENTS, concurrency: 1 },
  });
  assert.equal(en.status, 200, en.text);

  // burst: PUTs of unique keys (SigV4-signed), WORKERS at a time, until the kill
  const pool = new Pool(p1.url, { connections: WORKERS });
  defer(() => pool.destroy());
  const creds = { accessKeyId: backend.accessKeyId, secretAccessKey: backend.secretAccessKey };
  const body = Buffer.alloc(100, 'k');
  const responses = new Map<string, { at: number; status: number }>();
  const cut: string[] = [];
  let sent = 0;
  let stop = false;
  const hardEnd = performance.now() + 40_000;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; !stop && performance.now() < hardEnd && i < 20_000; i++) {
      const path = `/${bucket}/burst/${w}-${i}`;
      const url = `${p1.url}${path}`;
      const headers = await signedHeaders(url, 'PUT', creds);
      sent++;
      try {
        const res = await pool.request({ method: 'PUT', path, headers: { ...headers, 'content-length': String(body.length) }, body, headersTimeout: 10_000, bodyTimeout: 10_000 });
        await res.body.dump();
        responses.set(path, { at: performance.now(), status: res.statusCode });
      } catch {
        cut.push(path); // no response: the proxy died under it
        if (stop) return;
        await sleep(5);
      }
    }
  };
  const burst = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  defer(async () => {
    stop = true;
    await burst;
  });

  // let the spool fill, then kill wherever it is
  let spooledBeforeKill = 0;
  await waitFor(async () => {
    const doc = await adminCall(p1.adminUrl!, 'GET', '/api/v1/audit-webhook', { token: ADMIN_TOKEN });
    spooledBeforeKill = doc.json?.status?.spooled ?? 0;
    return spooledBeforeKill >= 1000;
  }, 30_000, () => `1000 events spooled (have ${spooledBeforeKill}, ${responses.size} responses)`);
  await sleep(300 + Math.floor(Math.random() * 300));
  const killAt = performance.now();
  p1.child.kill('SIGKILL');
  await p1.exited;
  assert.equal(p1.child.signalCode, 'SIGKILL');
  stop = true;
  await burst;
  const okAtKill = [...responses].filter(([, v]) => v.status === 200);
  assert.equal(okAtKill.length, responses.size, 'every S3 response before the kill was 200');
  const segments = readdirSync(join(dataDir, 'spool')).filter((n) => n.endsWith('.seg'));
  assert.ok(segments.length > 0, 'spool segments on disk after the kill');

  // restart on the same data dir, receiver up: the saved webhook is restored, the spool delivered
  await r.setMode('up');
  const p2 = await spawnProxy(args, { S3AP_ADMIN_TOKEN: ADMIN_TOKEN });
  defer(() => p2.stop('SIGKILL'));
  const rec = childLogs(p2.output).find((l) => l['msg'] === 'spool: events waiting from an earlier run');
  assert.ok(rec, `the restart found the spool: ${p2.output.slice(0, 10).join('\n')}`);
  const recovered = Number(rec['events']);
  await waitFor(() => received(r).unique >= recovered, 30_000, () => `${recovered} recovered events delivered (have ${received(r).unique})`);
  await sleep(500);
  const c2 = await childCounters(p2.adminUrl!);

  const got = received(r);
  assert.equal(got.duplicates, 0, 'nothing delivered twice');
  // The restart also declares the crash: one gap event (reason "crash") for the previous instance.
  const gapReasons = [...got.gaps].map((id) => (got.byId.get(id) as unknown as { gap?: { reason?: string } }).gap?.reason);
  assert.ok(gapReasons.includes('crash'), `the crash was declared: ${JSON.stringify(gapReasons)}`);
  assert.equal(got.unique - got.gaps.size, recovered, 'every event the restart found in the spool was delivered');
  assert.equal(c2.delivered, recovered + got.gaps.size, 'the restarted dispatcher delivered exactly what it recovered, and its gap event');
  assert.equal(c2.generated, got.gaps.size, 'it generated only the gap event');
  assert.equal(c2.spool, 0);
  assert.equal(c2.dropped, 0);
  assert.equal(got.admin.size, 1, 'the admin enable event (spooled in the first run) was delivered');
  const deliveredPaths = new Set<string>();
  for (const id of got.s3) deliveredPaths.add((got.byId.get(id) as AuditEvent).request.path);
  for (const p of deliveredPaths) assert.ok(responses.has(p) || cut.includes(p), `delivered event ${p} belongs to a request sent`);
  // the promise
  const lost = okAtKill.filter(([p]) => !deliveredPaths.has(p));
  const oldestLostAgeMs = lost.length ? Math.max(...lost.map(([, v]) => killAt - v.at)) : 0;
  const mustKeep = okAtKill.filter(([, v]) => killAt - v.at > WINDOW_MS);
  const lostOld = mustKeep.filter(([p]) => !deliveredPaths.has(p));
  assert.equal(lostOld.length, 0, `every event answered more than ${WINDOW_MS} ms before the kill was delivered; lost: ${JSON.stringify(lostOld.slice(0, 5).map(([p, v]) => [p, r1(killAt - v.at)]))}`);
  const answeredInWindow = okAtKill.length - mustKeep.length;
  assert.ok(lost.length <= Math.max(BATCH_MAX_EVENTS, answeredInWindow), `lost ${lost.length} <= one batch / the window's requests (${answeredInWindow})`);
  const deliveredWithoutResponse = [...deliveredPaths].filter((p) => !responses.has(p)).length;
  t.diagnostic(summary({
    s3_sent: sent, s3_200_before_kill: okAtKill.length, cut_by_kill: cut.length, spooled_seen_before_kill: spooledBeforeKill,
    recovered, delivered: got.unique, delivered_s3: got.s3.size, delivered_admin: got.admin.size, duplicates: got.duplicates,
    lost_answered: lost.length, lost_oldest_age_ms: r1(oldestLostAgeMs), window_ms: WINDOW_MS, answered_in_window: answeredInWindow,
    delivered_without_response: deliveredWithoutResponse, segments: segments.length, duration_s: r1((Date.now() - started) / 1000),
  }));
});
