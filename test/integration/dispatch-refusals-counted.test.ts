// Refusals by the receiver, with every request to it counted (in-process AuditDispatcher, real HTTP
// HEC receiver; a few seconds in all). See docs/reliability.md, "Refusals, counted".
//   C1. one poison event among 500 in a batch, the receiver answering 400 code 6 "Invalid data
//       format" WITHOUT invalid-event-number to any request containing it: the other 499 delivered,
//       the poison one dead-lettered, in at most 1 + 2 * ceil(log2(500)) = 19 requests (a bisection).
//   C2. a generic (non-HEC, ndjson) endpoint answering 400 with no HEC code to everything: that is the
//       endpoint refusing, not the data: nothing dead-lettered one by one; the target state becomes
//       `rejecting`; events kept in the spool and delivered once the receiver accepts again.
//   C3. 413 for bodies above 64 KiB: everything delivered, in smaller requests, nothing dead-lettered.
//   C4. HEC invalid-event-number replies: only the named events dead-lettered, nothing re-sent twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HecReceiver } from '../helpers/hec-receiver.js';
import { assertBalanced, assertExactlyOnceInOrder, seqs, setupDispatch, sleep, testEvent, waitSettled, waitUntil } from '../helpers/dispatch-fixtures.js';

async function deadLetters(dataDir: string): Promise<Array<Record<string, unknown>>> {
  const dir = join(dataDir, 'dead-letter');
  const out: Array<Record<string, unknown>> = [];
  let files: string[] = [];
  try {
    files = await readdir(dir);
  } catch {
    return out;
  }
  for (const f of files) {
    for (const l of (await readFile(join(dir, f), 'utf8')).split('\n').filter(Boolean)) out.push(JSON.parse(l) as Record<string, unknown>);
  }
  return out;
}

/** Requests that carried events (not health checks). */
function dataRequests(r: HecReceiver): number {
  return r.requests.filter((q) => q.method === 'POST' && !q.path.includes('/health')).length;
}

function line(fields: Record<string, unknown>): string {
  return Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
}

test('C1. one poison event among 500 (400 code 6, no invalid-event-number): 499 delivered, 1 dead-lettered, <= 19 requests', async (t) => {
  const N = 500;
  const POISON = 137;
  const MAX_REQUESTS = 1 + 2 * Math.ceil(Math.log2(N));
  const { r, d, dataDir } = await setupDispatch(t, { webhook: { batchMaxEvents: N, batchMaxWaitMs: 200 } });
  r.setPoison(POISON);
  for (let i = 0; i < N; i++) d.enqueue(testEvent(i));
  let settled = true;
  try {
    await waitSettled(d, 20_000);
  } catch {
    settled = false;
  }
  const c = d.counters();
  const requests = dataRequests(r);
  await d.close(1000);
  const dl = await deadLetters(dataDir);
  t.diagnostic(line({
    scenario: 'C1-poison', generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered,
    received: r.events.length, duplicates: r.events.length - new Set(seqs(r.events)).size, requests, max_requests: MAX_REQUESTS,
    by_status: r.requests.reduce<Record<number, number>>((a, q) => ((a[q.status] = (a[q.status] ?? 0) + 1), a), {}),
    dead_letter_seqs: dl.map((x) => (x['event'] as { seq: number }).seq), settled,
  }));
  assert.ok(settled, `all settled: ${JSON.stringify(c)}`);
  assertExactlyOnceInOrder(seqs(r.events), N, new Set([POISON]));
  assert.equal(c.deadLettered, 1, 'only the poison event dead-lettered');
  assert.equal(c.delivered, N - 1);
  assertBalanced(c);
  assert.deepEqual(dl.map((x) => (x['event'] as { seq: number }).seq), [POISON]);
  assert.ok(requests <= MAX_REQUESTS, `requests spent ${requests} <= 1 + 2 * ceil(log2(${N})) = ${MAX_REQUESTS}`);
});

test('C2. generic ndjson endpoint answering 400 (no HEC code) to everything: state rejecting, nothing dead-lettered, events spooled, delivered once it accepts', async (t) => {
  const N = 300;
  const { r, d, dataDir } = await setupDispatch(t, { path: '/ingest', webhook: { format: 'ndjson', batchMaxEvents: 100 } });
  await r.setMode('reject400');
  for (let i = 0; i < N; i++) d.enqueue(testEvent(i));
  // the new state, or (old behaviour) everything dead-lettered one by one: whichever comes first
  let reached = true;
  try {
    await waitUntil(() => String(d.status().state) === 'rejecting' && d.counters().spoolEvents === N || d.counters().deadLettered >= N, 10_000, 'state rejecting with every event spooled');
  } catch {
    reached = false;
  }
  const during = d.status();
  const cd = d.counters();
  const reqAt = dataRequests(r);
  await sleep(2000);
  const probes2s = dataRequests(r) - reqAt;
  await r.setMode('ok');
  let settled = true;
  try {
    await waitSettled(d, 20_000);
  } catch {
    settled = false;
  }
  const c = d.counters();
  const after = d.status();
  await d.close(1000);
  const dl = await deadLetters(dataDir);
  t.diagnostic(line({
    scenario: 'C2-reject400', state_during: during.state, last_error: during.lastError, during: { deadLettered: cd.deadLettered, spool: cd.spoolEvents, queued: cd.queued, delivered: cd.delivered },
    requests_while_rejecting: reqAt, probes_in_2s: probes2s, generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered,
    dead_letter_lines: dl.length, received: r.events.length, state_after: after.state, reached, settled,
  }));
  assert.equal(cd.deadLettered, 0, 'a 400 without a HEC code from a generic endpoint is not a verdict on each event: nothing dead-lettered');
  assert.equal(String(during.state), 'rejecting', `target state rejecting: ${JSON.stringify(during)}`);
  assert.equal(cd.spoolEvents, N, 'every event kept in the spool while the endpoint rejects');
  assert.equal(cd.dropped, 0);
  assert.ok(settled, `all delivered once the endpoint accepts: ${JSON.stringify(c)}`);
  // Exactly once. The order holds too, except within the one batch whose attempt straddled the
  // moment the endpoint changed its mind (its first event, refused just before, is confirmed and
  // sent after the rest: docs/dispatcher.md, "Bisect").
  assert.deepEqual([...seqs(r.events)].sort((a, b) => a - b), [...Array(N).keys()], 'every event exactly once');
  assert.equal(c.deadLettered, 0);
  assert.equal(dl.length, 0, 'no dead-letter file lines');
  assertBalanced(c);
  assert.equal(after.state, 'healthy');
});

test('C3. 413 above 64 KiB: everything delivered in smaller requests, nothing dead-lettered', async (t) => {
  const N = 1000;
  const LIMIT = 64 * 1024;
  const { r, d, dataDir } = await setupDispatch(t, { webhook: { batchMaxEvents: 500, batchMaxWaitMs: 200 } });
  r.setMaxContentLength(LIMIT);
  for (let i = 0; i < N; i++) d.enqueue(testEvent(i, 1000));
  let settled = true;
  try {
    await waitSettled(d, 20_000);
  } catch {
    settled = false;
  }
  const c = d.counters();
  await d.close(1000);
  const dl = await deadLetters(dataDir);
  const accepted = r.requests.filter((q) => q.status === 200);
  const n413 = r.requests.filter((q) => q.status === 413).length;
  t.diagnostic(line({
    scenario: 'C3-413', generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered, requests: dataRequests(r),
    requests_413: n413, requests_200: accepted.length, largest_accepted_body: Math.max(0, ...accepted.map((q) => q.bodyBytes)), limit: LIMIT, settled,
  }));
  assert.ok(settled, JSON.stringify(c));
  assert.ok(n413 > 0, 'the receiver did refuse large bodies');
  assertExactlyOnceInOrder(seqs(r.events), N);
  assert.equal(c.deadLettered, 0);
  assert.equal(dl.length, 0);
  assertBalanced(c);
  for (const q of accepted) assert.ok(q.bodyBytes <= LIMIT, `accepted body ${q.bodyBytes} <= ${LIMIT}`);
});

test('C4. invalid-event-number replies: only the named events dead-lettered, the rest delivered once', async (t) => {
  const N = 500;
  const { r, d, dataDir } = await setupDispatch(t, { webhook: { batchMaxEvents: N, batchMaxWaitMs: 200 } });
  r.rejectEventNumber(250);
  for (let i = 0; i < N; i++) d.enqueue(testEvent(i));
  await waitSettled(d, 20_000);
  const firstRequests = dataRequests(r);
  r.rejectEventNumber(N + 277);
  for (let i = N; i < 2 * N; i++) d.enqueue(testEvent(i));
  let settled = true;
  try {
    await waitSettled(d, 20_000);
  } catch {
    settled = false;
  }
  const c = d.counters();
  const requests = dataRequests(r);
  await d.close(1000);
  const dl = await deadLetters(dataDir);
  t.diagnostic(line({
    scenario: 'C4-invalid-event-number', generated: c.generated, delivered: c.delivered, dropped: c.dropped, deadLettered: c.deadLettered,
    received: r.events.length, requests_batch1: firstRequests, requests_total: requests, dead_letter_seqs: dl.map((x) => (x['event'] as { seq: number }).seq), settled,
  }));
  assert.ok(settled, JSON.stringify(c));
  assertExactlyOnceInOrder(seqs(r.events), 2 * N, new Set([250, N + 277]));
  assert.equal(c.deadLettered, 2);
  assertBalanced(c);
  assert.deepEqual(dl.map((x) => (x['event'] as { seq: number }).seq), [250, N + 277]);
  for (const x of dl) assert.match(String(x['reply']), /invalid-event-number/);
  assert.ok(requests <= 4, `two requests per batch with one refused event (the events before it indexed, the rest re-sent once): ${requests}`);
});
