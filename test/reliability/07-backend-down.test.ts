// Scenario 7: the S3 backend goes away (its process is killed: connections reset, port closed) under
// traffic and comes back on the same port with the same data. Promise: while it is away, clients get
// S3 errors (503 ServiceUnavailable, with Retry-After) and every such request is audited with
// outcome "backend-unreachable"; once it is back, requests succeed again; audit delivery is unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent } from '../../src/audit/event.js';
import { s3Client } from '../helpers/s3.js';
import {
  assertBalanced, percentile, r1, received, sleep, startBackendProcess, startRig, startTraffic, summary, waitFor, waitSettled, type S3Result,
} from './helpers/harness.js';

test('7. backend down and back on the same port: S3 503 ServiceUnavailable audited as backend-unreachable, then 2xx again', { timeout: 90_000 }, async (t) => {
  const started = Date.now();
  const backend = await startBackendProcess(t);
  const rig = await startRig(t, { backend, webhook: { concurrency: 1, batchMaxWaitMs: 50 } });
  const { r, d } = rig;
  const seed = s3Client(backend.url, backend);
  rig.defer(() => seed.destroy());
  const traffic = await startTraffic({ url: rig.proxy.url, client: rig.client, bucket: rig.bucket, rate: 60, workers: 4, maxSeconds: 60, timeoutMs: 10_000, seed });
  rig.defer(() => traffic.stop());
  await sleep(2000);

  const stopAt = performance.now();
  await backend.stop();
  await sleep(4000);
  const restartAt = performance.now();
  await backend.start();
  assert.equal(backend.url, `http://127.0.0.1:${backend.port}`);
  let firstOkAfter = 0;
  await waitFor(() => {
    const ok = traffic.results.find((x) => x.at - x.ms > restartAt && x.status >= 200 && x.status < 300);
    if (ok) firstOkAfter = ok.at - restartAt;
    return ok !== undefined;
  }, 10_000, () => 'a 2xx after the backend came back');
  await sleep(3000);
  const results = await traffic.stop();
  const c = await waitSettled(d, 20_000);

  // S3 side
  const unavailable: S3Result[] = [];
  const cutMidResponse: S3Result[] = [];
  let ok = 0;
  for (const x of results) {
    if (x.status >= 200 && x.status < 300) ok++;
    // HEAD replies carry no body: the S3 code is only in the status there
    else if (x.status === 503 && (x.code === 'ServiceUnavailable' || (x.op === 'head' && x.code === 'HTTP503'))) unavailable.push(x);
    else if (x.status === 0 && x.at >= stopAt && x.at - x.ms <= stopAt + 50) cutMidResponse.push(x); // answered while the backend was killed
    else assert.fail(`unexpected S3 response: ${JSON.stringify(x)}`);
  }
  assert.ok(unavailable.length > 0, 'clients got 503 ServiceUnavailable while the backend was away');
  for (const x of unavailable) {
    assert.ok(x.at >= stopAt && x.at - x.ms <= restartAt + 2000, `503 only while the backend was away: ${JSON.stringify(x)}`);
  }
  const late = results.filter((x) => x.at - x.ms > restartAt + 2000);
  assert.ok(late.length > 0 && late.every((x) => x.status >= 200 && x.status < 300), 'all 2xx again once the backend is back');

  // audit side
  const got = received(r);
  const events = [...got.s3].map((id) => got.byId.get(id) as AuditEvent);
  const unreachable = events.filter((e) => e.outcome === 'backend-unreachable');
  const byReqId = new Map(events.map((e) => [e.request.id, e]));
  for (const x of unavailable) {
    const e = x.requestId ? byReqId.get(x.requestId) : undefined;
    assert.ok(e, `the 503 ${x.requestId} has its event`);
    assert.equal(e.outcome, 'backend-unreachable');
    assert.equal(e.response.statusCode, 503);
    assert.equal(e.response.errorCode, 'ServiceUnavailable');
    assert.ok(e.outcomeDetail && /ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET|UND_ERR_CLOSED|EPIPE/.test(e.outcomeDetail), `outcomeDetail ${e.outcomeDetail}`);
  }
  assert.equal(unreachable.length, unavailable.length, 'one backend-unreachable event per 503');
  assert.equal(events.filter((e) => e.outcome === 'completed').length, ok, 'one completed event per 2xx');
  assert.equal(c.generated, traffic.sent());
  assert.equal(got.s3.size, traffic.sent(), 'every request (2xx or 503) has its event at the receiver');
  assertBalanced(c);
  const details: Record<string, number> = {};
  for (const e of unreachable) details[e.outcomeDetail ?? 'null'] = (details[e.outcomeDetail ?? 'null'] ?? 0) + 1;
  t.diagnostic(summary({
    generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered, duplicates: got.duplicates,
    s3_2xx: ok, s3_503: unavailable.length, s3_cut_at_kill: cutMidResponse.length, backend_unreachable_events: unreachable.length,
    outcome_details: details, first_2xx_after_restart_ms: r1(firstOkAfter),
    s3_503_p99_ms: r1(percentile(unavailable.map((x) => x.ms), 99)), duration_s: r1((Date.now() - started) / 1000),
  }));
});
