// Scenario 14: HEC indexer acknowledgement under full load. The webhook is enabled with `ack: true`
// and otherwise DEFAULT settings, except the two ack timings the scenario needs (ack timeout 5 s,
// poll interval 500 ms, so that the withheld phase outlasts the timeout within a test run). The
// receiver accepts every request but withholds its acknowledgements for 15 s (three ack timeouts)
// while 32 closed-loop S3 requests go through the proxy (the real CLI, a child process) as fast as
// the box goes; then it acknowledges.
//
// Promise (docs/dispatcher.md, "HEC indexer acknowledgement"): nothing counts as delivered while
// Splunk has not said "indexed"; batches awaiting acknowledgement stay bounded (64) and sending
// pauses at the bound while events keep going to the spool (nothing dropped because of ack); a batch
// unacknowledged after the timeout is sent again; once acknowledged, every event is delivered:
// delivered + dropped + deadLettered = generated, and every S3 request's event id is at the receiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminCall } from '../helpers/admin.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { childCounters, cleanupStack, HEC_TOKEN, r1, scrapeMetrics, sleep, summary, waitChildSettled } from './helpers/harness.js';
import { receivedIds, spawnDefaultProxy, startFastBackend, startLoad, watchChild, type ChildCounters } from './helpers/load.js';

const ADMIN_TOKEN = 'reliability-admin-token-14-0123456789a';
const CONCURRENCY = 32;
const WARM_MS = 3000;
const WITHHOLD_MS = 15_000;
const ACK_TIMEOUT_MS = 5000;

test('14. --ack under full load: acknowledgements withheld for 15 s (3 ack timeouts), then given: nothing delivered meanwhile, nothing dropped, then everything delivered', { timeout: 300_000 }, async (t) => {
  const started = Date.now();
  const defer = cleanupStack(t);
  const backend = await startFastBackend(defer);
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  r.setAckMode('on');
  const { p } = await spawnDefaultProxy(defer, { backendUrl: backend.url, receiver: r, adminToken: ADMIN_TOKEN, enable: false });
  const adminUrl = p.adminUrl!;
  const en = await adminCall(adminUrl, 'POST', '/api/v1/audit-webhook/enable', {
    token: ADMIN_TOKEN, body: { endpoint: r.eventUrl, authToken: HEC_TOKEN, ack: true, ackTimeoutMs: ACK_TIMEOUT_MS, ackPollIntervalMs: 500 },
  });
  assert.equal(en.status, 200, en.text);
  const watch = watchChild(adminUrl, 250);
  defer(() => watch.stop());
  const load = await startLoad({ url: p.url, backend, bucket: 'audit-load', concurrency: CONCURRENCY, maxSeconds: (WARM_MS + WITHHOLD_MS) / 1000 + 20, maxRequests: 2_000_000 });
  defer(() => load.stop());

  const t0 = performance.now();
  await sleep(WARM_MS);
  const deliveredBefore = (await childCounters(adminUrl)).delivered;
  r.setAckMode('withhold');
  // what the receiver took before: the most that can still be acknowledged (and delivered) from now on
  const acceptedBeforeWithhold = r.events.length;
  const withheldAt = performance.now();
  let peakPendingBatches = 0;
  let peakPendingEvents = 0;
  let backlogFullSeen = false;
  while (performance.now() - withheldAt < WITHHOLD_MS) {
    await sleep(250);
    const m = await scrapeMetrics(adminUrl);
    peakPendingBatches = Math.max(peakPendingBatches, m.get('s3ap_audit_ack_pending_batches') ?? 0);
    peakPendingEvents = Math.max(peakPendingEvents, m.get('s3ap_audit_ack_pending_events') ?? 0);
    if (m.get('s3ap_audit_ack_state{state="backlog_full"}') === 1) backlogFullSeen = true;
  }
  const stats = await load.stop();
  const loadEnd = performance.now();
  const atEnd = await childCounters(adminUrl);
  const mEnd = await scrapeMetrics(adminUrl);
  // delivered while withheld: only what was acknowledged before the switch (polled a little later)
  const deliveredWhileWithheld = atEnd.delivered - deliveredBefore;
  r.setAckMode('on');
  const ackAt = performance.now();
  let c: ChildCounters | null = null;
  let settleError = '';
  try {
    c = await waitChildSettled(adminUrl, 180_000);
  } catch (err) {
    settleError = (err as Error).message;
    c = await childCounters(adminUrl);
  }
  const drainMs = r1(performance.now() - ackAt);
  await watch.stop();
  const mFin = await scrapeMetrics(adminUrl);
  const got = receivedIds(r);
  const ok2xx = Object.entries(stats.byStatus).filter(([k]) => /^2\d\d$/.test(k)).reduce((a, [, v]) => a + v, 0);
  t.diagnostic(summary({
    s3_sent: stats.sent, req_per_s: Math.round(stats.sent / ((loadEnd - t0) / 1000)), req_per_s_withheld: Math.round(load.rate(withheldAt, loadEnd)),
    s3_p99_ms_before: r1(load.latency(99, t0 + 1000, withheldAt)), s3_p99_ms_withheld: r1(load.latency(99, withheldAt, loadEnd)),
    generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered,
    delivered_before_withhold: deliveredBefore, accepted_before_withhold: acceptedBeforeWithhold, delivered_while_withheld: deliveredWhileWithheld,
    spool_at_withhold_end: atEnd.spool, spool_peak: watch.peakSpool, spool_bytes_peak: watch.peakSpoolBytes,
    ack_pending_batches_peak: peakPendingBatches, ack_pending_events_peak: peakPendingEvents, backlog_full_seen: backlogFullSeen,
    ack_timeouts: mFin.get('s3ap_audit_ack_timeouts_total'), ack_timeouts_at_withhold_end: mEnd.get('s3ap_audit_ack_timeouts_total'),
    received_unique: got.ids.size, duplicates: got.duplicates, duplicated_ids: got.duplicatedIds, drain_ms: drainMs,
    settled: settleError === '', duration_s: r1((Date.now() - started) / 1000),
  }));

  assert.equal(settleError, '', 'every event settled once the receiver acknowledged');
  assert.equal(ok2xx, stats.sent, `every S3 request answered 2xx: ${JSON.stringify(stats.byStatus)}`);
  assert.ok(atEnd.delivered <= acceptedBeforeWithhold, `while withheld, only events accepted before can be delivered: ${atEnd.delivered} > ${acceptedBeforeWithhold}`);
  assert.ok(peakPendingBatches > 0 && peakPendingBatches <= 64, `batches awaiting acknowledgement stay bounded: ${peakPendingBatches}`);
  assert.ok((mEnd.get('s3ap_audit_ack_timeouts_total') ?? 0) > 0, 'withheld longer than the ack timeout: batches were sent again');
  assert.ok(atEnd.spool > 0, 'events waited in the spool');
  assert.equal(c.dropped, 0, `nothing dropped because of ack (the 1 GiB spool had room): ${JSON.stringify(c.droppedByReason)}`);
  assert.equal(c.deadLettered, 0);
  assert.equal(c.delivered + c.dropped + c.deadLettered, c.generated, 'delivered + dropped + deadLettered = generated');
  assert.equal(c.generated, stats.sent + 1, 'one event per S3 request + the admin enable');
  assert.equal(got.s3, stats.sent, 'the receiver has one distinct event per S3 request (duplicates allowed)');
});
