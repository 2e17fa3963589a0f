// The receiver refuses: a revoked token (kept, state unauthorized, restored by reconfiguration),
// one invalid event in a batch (dead-lettered, the rest delivered once), bodies too large (split).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertBalanced, assertExactlyOnceInOrder, seqs, setupDispatch, testEvent, TOKEN, waitSettled, waitUntil } from '../helpers/dispatch-fixtures.js';

async function deadLetters(dataDir: string): Promise<Array<Record<string, unknown>>> {
  const dir = join(dataDir, 'dead-letter');
  const out: Array<Record<string, unknown>> = [];
  for (const f of await readdir(dir)) {
    assert.match(f, /^\d{4}-\d{2}-\d{2}\.ndjson$/);
    for (const l of (await readFile(join(dir, f), 'utf8')).split('\n').filter(Boolean)) out.push(JSON.parse(l) as Record<string, unknown>);
  }
  return out;
}

test('token revoked (403) then restored via setWebhook: events kept, state unauthorized, nothing lost', async (t) => {
  const { r, d, webhook, logs } = await setupDispatch(t, { webhook: { batchMaxEvents: 50 } });
  for (let i = 0; i < 100; i++) d.enqueue(testEvent(i));
  await r.waitForEvents(100);
  r.setToken('NEW-TOKEN-0001');
  for (let i = 100; i < 600; i++) d.enqueue(testEvent(i));
  await waitUntil(() => d.status().state === 'unauthorized', 5000, 'unauthorized');
  await waitUntil(() => d.status().spooled === 500, 5000, () => `kept in the spool: ${JSON.stringify(d.status())}`);
  const s = d.status();
  const why = JSON.stringify(s);
  assert.match(s.lastError ?? '', /403 code 4/, why);
  assert.ok(!(s.lastError ?? '').includes(TOKEN), 'no token in lastError');
  assert.equal(s.deadLettered, 0, why);
  assert.equal(s.dropped, 0, why);
  // keeps probing at backoff
  const before = r.requests.length;
  await waitUntil(() => r.requests.length > before + 2, 5000, 'probes continue');
  await d.setWebhook({ ...webhook, authToken: 'Splunk NEW-TOKEN-0001' });
  await r.waitForEvents(600);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 600);
  assertBalanced(d.counters());
  assert.equal(d.status().state, 'healthy', JSON.stringify(d.status()));
  assert.ok(!JSON.stringify(logs.lines).includes(TOKEN), 'token never logged');
  assert.equal(d.webhookConfig()?.authToken, 'Splunk NEW-TOKEN-0001');
});

test('401 from the receiver: state unauthorized, then recovery without reconfiguration', async (t) => {
  const { r, d } = await setupDispatch(t);
  await r.setMode('401');
  for (let i = 0; i < 100; i++) d.enqueue(testEvent(i));
  await waitUntil(() => d.status().state === 'unauthorized', 5000, 'unauthorized');
  await r.setMode('ok');
  await r.waitForEvents(100);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 100);
  assertBalanced(d.counters());
});

test('invalid-event-number: the refused event is dead-lettered with the reply, the rest delivered once', async (t) => {
  const { r, d, dataDir } = await setupDispatch(t, { webhook: { batchMaxEvents: 40 } });
  r.rejectEventNumber(57);
  for (let i = 0; i < 200; i++) d.enqueue(testEvent(i));
  await r.waitForEvents(199);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 200, new Set([57]));
  const c = d.counters();
  assert.equal(c.deadLettered, 1);
  assert.equal(c.dropped, 0);
  assertBalanced(c);
  await d.close(1000);
  const dl = await deadLetters(dataDir);
  assert.equal(dl.length, 1);
  assert.equal((dl[0]['event'] as { seq: number }).seq, 57);
  assert.equal(dl[0]['reason'], 'invalid_event');
  assert.equal(dl[0]['statusCode'], 400);
  assert.match(String(dl[0]['reply']), /invalid-event-number/);
  assert.match(await d.prometheus(), /s3ap_audit_events_dead_lettered_total\{reason="invalid_event"\} 1/);
});

test('413: a batch is split until it fits; an event too large alone is dead-lettered', async (t) => {
  const { r, d, dataDir } = await setupDispatch(t, { receiver: { maxContentLength: 4000 }, webhook: { batchMaxEvents: 64 } });
  for (let i = 0; i < 100; i++) d.enqueue(testEvent(i, i === 70 ? 5000 : 150));
  await r.waitForEvents(99);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 100, new Set([70]));
  assert.ok(r.requests.some((q) => q.status === 413));
  const c = d.counters();
  assert.equal(c.deadLettered, 1);
  assertBalanced(c);
  await d.close(1000);
  const dl = await deadLetters(dataDir);
  assert.equal(dl[0]['reason'], 'too_large');
  assert.equal((dl[0]['event'] as { seq: number }).seq, 70);
});

test('setWebhook refuses a bad endpoint or unreadable TLS files with a clear message and keeps the current target', async (t) => {
  const { r, d, webhook } = await setupDispatch(t);
  await assert.rejects(() => d.setWebhook({ ...webhook, endpoint: 'not a url' }), /not a valid URL/);
  await assert.rejects(() => d.setWebhook({ ...webhook, endpoint: 'ftp://x/services/collector' }), /http:\/\/ or https:\/\//);
  await assert.rejects(() => d.setWebhook({ ...webhook, endpoint: 'https://127.0.0.1:1/services/collector', caFile: '/nonexistent/ca.pem' }), /cannot read webhook CA file/);
  assert.equal(d.webhookConfig()?.endpoint, webhook.endpoint);
  d.enqueue(testEvent(0));
  await r.waitForEvents(1);
  await waitSettled(d);
  assertBalanced(d.counters());
});
