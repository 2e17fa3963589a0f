// Normal delivery against a real HEC receiver: every event exactly once, in order, with the right
// Authorization and channel, in each format, gzip on and off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditDispatcher } from '../../src/dispatch/dispatcher.js';
import { PROCESS_CHANNEL } from '../../src/dispatch/sender.js';
import { assertBalanced, assertExactlyOnceInOrder, captureLogger, defer, seqs, setupDispatch, tempDir, testEvent, TOKEN, waitSettled } from '../helpers/dispatch-fixtures.js';

const FORMATS = [
  { name: 'hec-event', path: '/services/collector/event' },
  { name: 'hec-event (/services/collector)', path: '/services/collector' },
  { name: 'hec-raw', path: '/services/collector/raw' },
  { name: 'ndjson', path: '/ingest/audit' },
] as const;

for (const f of FORMATS) {
  for (const gzip of [false, true]) {
    test(`delivers every event exactly once and in order: ${f.name}, gzip ${gzip ? 'on' : 'off'}`, async (t) => {
      const { r, d } = await setupDispatch(t, { path: f.path, webhook: { gzip, batchMaxEvents: 100, index: 'audit' } });
      const N = 1000;
      for (let i = 0; i < N; i++) d.enqueue(testEvent(i));
      await r.waitForEvents(N);
      await waitSettled(d);
      assertExactlyOnceInOrder(seqs(r.events), N);
      assert.equal(d.counters().dropped, 0);
      assertBalanced(d.counters());

      const posts = r.requests.filter((q) => q.method === 'POST');
      assert.ok(posts.length >= N / 100, 'batched');
      for (const q of posts) {
        assert.ok(q.events <= 100, 'batch closes at batchMaxEvents');
        assert.equal(q.status, 200);
        assert.equal(q.gzip, gzip);
        assert.equal(q.headers['content-encoding'], gzip ? 'gzip' : undefined);
        if (f.name === 'ndjson') {
          assert.equal(q.headers['authorization'], `Bearer ${TOKEN}`);
          assert.equal(q.headers['content-type'], 'application/x-ndjson');
          assert.equal(q.headers['x-splunk-request-channel'], undefined);
        } else {
          assert.equal(q.headers['authorization'], `Splunk ${TOKEN}`);
          assert.equal(q.headers['x-splunk-request-channel'], PROCESS_CHANNEL, 'stable per-process channel');
        }
        if (f.name === 'hec-raw') {
          assert.equal(q.query['sourcetype'], '_json');
          assert.equal(q.query['channel'], PROCESS_CHANNEL);
          assert.equal(q.query['index'], 'audit');
          assert.ok(q.query['host']);
        }
      }
      if (f.name.startsWith('hec-event')) {
        const env = r.envelopes[5];
        assert.equal(env['sourcetype'], '_json');
        assert.equal(env['index'], 'audit');
        assert.equal(env['source'], 's3-audit-proxy');
        assert.equal(env['time'], (1_732_530_000_000 + 5) / 1000);
        assert.equal(typeof env['host'], 'string');
      }
      assert.equal(d.status().state, 'healthy');
    });
  }
}

test('concurrency 4: every event exactly once, each request in order', async (t) => {
  const { r, d } = await setupDispatch(t, { webhook: { concurrency: 4, batchMaxEvents: 50 } });
  const N = 5000;
  for (let i = 0; i < N; i++) d.enqueue(testEvent(i));
  await r.waitForEvents(N);
  await waitSettled(d);
  const got = seqs(r.events);
  assert.deepEqual([...got].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), 'exactly once');
  let k = 0;
  for (const q of r.requests) {
    const part = got.slice(k, k + q.events);
    k += q.events;
    assert.deepEqual(part, [...part].sort((a, b) => a - b), 'in order within a request');
  }
  assertBalanced(d.counters());
});

test('a batch closes at the byte budget (formatted bytes) and at the wait time', async (t) => {
  const { r, d } = await setupDispatch(t, { webhook: { batchMaxEvents: 10_000, batchMaxBytes: 8 * 1024, batchMaxWaitMs: 30 } });
  for (let i = 0; i < 300; i++) d.enqueue(testEvent(i, 200));
  await r.waitForEvents(300);
  for (const q of r.requests) assert.ok(q.bodyBytes <= 8 * 1024, `body ${q.bodyBytes} within budget`);
  assert.ok(r.requests.length > 5);
  // a lone event is sent once the wait time is up, without more events arriving
  d.enqueue(testEvent(300));
  await r.waitForEvents(301);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 301);
  assertBalanced(d.counters());
});

test('sendTestEvent bypasses the queue and reports the reply; without a webhook it throws', async (t) => {
  const { r, d } = await setupDispatch(t);
  const res = await d.sendTestEvent();
  assert.equal(res.ok, true);
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /Success/);
  assert.ok(res.latencyMs >= 0);
  assert.equal((r.events[0] as { kind: string }).kind, 'test');
  assert.equal(d.counters().generated, 0, 'not counted as an audit event');
  assertBalanced(d.counters());
  r.setToken('other');
  const bad = await d.sendTestEvent();
  assert.equal(bad.ok, false);
  assert.equal(bad.statusCode, 403);
  assert.match(bad.body, /Invalid token/);
  await r.setMode('down');
  const down = await d.sendTestEvent();
  assert.equal(down.ok, false);
  assert.equal(down.statusCode, null);
  assert.match(down.body, /ECONNREFUSED|UND_ERR_SOCKET|ECONNRESET/);
  await d.setWebhook(null);
  await assert.rejects(() => d.sendTestEvent(), /no audit webhook is configured/);
  assert.equal(d.status().state, 'disabled');
  assert.equal(d.active, false);
});

test('the local audit log is a second target fed by the same dispatcher', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'audit.jsonl');
  const { r, d } = await setupDispatch(t, { dispatcher: { auditLogFile: file } });
  for (let i = 0; i < 500; i++) d.enqueue(testEvent(i));
  await r.waitForEvents(500);
  await waitSettled(d);
  await d.close(1000);
  const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq);
  assertExactlyOnceInOrder(lines, 500);
  assert.equal(d.counters().fileWritten, 500);
  assertExactlyOnceInOrder(seqs(r.events), 500);

  // with only the file target, the dispatcher is still active
  const { logger } = captureLogger('warn');
  const only = new AuditDispatcher({ dataDir: join(dir, 'd2'), logger, auditLogFile: join(dir, 'only.jsonl') });
  defer(t, () => only.close(0));
  assert.equal(only.active, false, 'nothing enabled before start');
  await only.start();
  assert.equal(only.active, true);
  only.enqueue(testEvent(1));
  await only.close(1000);
  assert.equal((await readFile(join(dir, 'only.jsonl'), 'utf8')).trim().split('\n').length, 1);
});

test('status and Prometheus metrics expose counters, gauges and histograms', async (t) => {
  const { r, d } = await setupDispatch(t);
  for (let i = 0; i < 50; i++) d.enqueue(testEvent(i));
  await r.waitForEvents(50);
  await waitSettled(d);
  const s = d.status();
  assert.equal(s.state, 'healthy');
  assert.equal(s.delivered, 50);
  assert.equal(s.consecutiveFailures, 0);
  assert.ok(s.lastSuccess);
  assert.equal(typeof s.lastLatencyMs, 'number');
  const text = await d.prometheus();
  for (const name of [
    's3ap_audit_events_enqueued_total 50',
    's3ap_audit_events_delivered_total{target="webhook"} 50',
    's3ap_audit_events_dropped_total{reason="queue_full"} 0',
    's3ap_audit_events_dropped_total{reason="spool_full"} 0',
    's3ap_audit_queue_events 0',
    's3ap_audit_queue_bytes 0',
    's3ap_audit_in_flight_requests 0',
    's3ap_audit_spool_bytes',
    's3ap_audit_spool_events 0',
    's3ap_audit_target_up{state="healthy"} 1',
    's3ap_audit_batch_events_bucket{le="+Inf"}',
    's3ap_audit_delivery_latency_seconds_count',
    's3ap_audit_events_retried_total 0',
    's3ap_audit_events_spooled_total 0',
  ]) {
    assert.ok(text.includes(name), `metrics include ${name}`);
  }
  for (const line of text.split('\n').filter(Boolean)) { // prom-client puts a blank line between metrics
    assert.match(line, /^(# (HELP|TYPE) s3ap_audit_\w+ .+|s3ap_audit_\w+(\{[a-z]+="[^"]*"\})? [-+\dInfNa.e]+)$/, line);
  }
  assert.ok(!text.includes(TOKEN));
});
