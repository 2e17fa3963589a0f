// HEC indexer acknowledgement end to end, as an operator runs it: the real CLI proxy (a child
// process) on a real s3rver backend, the webhook enabled with `audit-webhook enable --ack`, and the
// test HEC receiver withholding its acknowledgements during a few hundred S3 PUTs. Nothing may count
// as delivered while Splunk has not said "indexed": the events stay in the spool, and `show`, the
// status JSON and /metrics count the pending acknowledgements. Once the receiver acknowledges, every
// event is delivered (generated = delivered, counted by event id at the receiver).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { startHecReceiver, type HecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, tempDir, type ChildProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { adminCall, loadOpenApi, runCli, waitUntil } from '../helpers/admin.js';

const HEC_TOKEN = randomUUID().toUpperCase();
const PUTS = 300;

interface Env {
  backend: TestBackend;
  hec: HecReceiver;
  dir: { path: string; remove(): void };
  proxy: ChildProxy;
  s3: S3Client;
  bucket: string;
  adminToken: string;
}
let env: Env;

const cli = (verb: string, args: string[] = []): ReturnType<typeof runCli> =>
  runCli(['audit-webhook', verb, '--admin', env.proxy.adminUrl!, '--data-dir', env.dir.path, ...args]);

async function metrics(): Promise<Map<string, number>> {
  const res = await fetch(`${env.proxy.adminUrl!}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function status(): Promise<Record<string, any>> {
  const r = await adminCall(env.proxy.adminUrl!, 'GET', '/api/v1/audit-webhook', { token: env.adminToken });
  assert.equal(r.status, 200, r.text);
  return (r.json as Record<string, any>)['status'];
}

/** Unique event ids the receiver got, and how many arrived more than once. */
function receivedIds(): { ids: Set<string>; duplicates: number } {
  const ids = new Set<string>();
  let duplicates = 0;
  for (const e of env.hec.events as Array<{ id: string }>) {
    if (ids.has(e.id)) duplicates++;
    ids.add(e.id);
  }
  return { ids, duplicates };
}

describe('HEC indexer acknowledgement (real processes)', () => {
  before(async () => {
    const backend = await startBackend();
    const hec = await startHecReceiver({ token: HEC_TOKEN });
    const dir = tempDir('s3ap-ack-');
    const proxy = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', backend.url]);
    const adminToken = readFileSync(join(dir.path, 'admin-token'), 'utf8').trim();
    env = { backend, hec, dir, proxy, s3: s3Client(proxy.url, backend), bucket: bucketName('ack'), adminToken };
    await env.s3.send(new CreateBucketCommand({ Bucket: env.bucket }));
  });

  after(async () => {
    env.s3.destroy();
    await env.proxy.stop('SIGTERM');
    await env.hec.close();
    await env.backend.close();
    env.dir.remove();
  });

  test('--ack is refused for a non-HEC endpoint, and the ack timings without --ack, with a 400 naming the field', async () => {
    const nd = await cli('enable', ['--endpoint', `${env.hec.url}/ingest`, '--auth-token', HEC_TOKEN, '--format', 'ndjson', '--ack']);
    assert.notEqual(nd.code, 0);
    assert.match(nd.stderr, /ack.*HEC/);
    const r = await adminCall(env.proxy.adminUrl!, 'POST', '/api/v1/audit-webhook/enable', { token: env.adminToken, body: { endpoint: env.hec.eventUrl, authToken: HEC_TOKEN, ackTimeoutMs: 60_000 } });
    assert.equal(r.status, 400, r.text);
    assert.equal((r.json as { error: { field?: string } }).error.field, 'ackTimeoutMs', r.text);
    const bad = await adminCall(env.proxy.adminUrl!, 'POST', '/api/v1/audit-webhook/enable', { token: env.adminToken, body: { endpoint: env.hec.eventUrl, authToken: HEC_TOKEN, ack: 'yes' } });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /"ack"/);
  });

  test('withheld acknowledgements keep events spooled and undelivered; once acknowledged, all are delivered', { timeout: 120_000 }, async () => {
    env.hec.setAckMode('withhold');
    const en = await cli('enable', ['--endpoint', env.hec.eventUrl, '--auth-token', HEC_TOKEN, '--ack', '--ack-timeout', '10m', '--ack-poll-interval', '200ms', '--batch-max-wait', '100ms', '--batch-max-events', '50']);
    assert.equal(en.code, 0, en.stderr);
    const shown = await cli('show', ['--json']);
    const doc = JSON.parse(shown.stdout) as Record<string, unknown>;
    assert.equal(doc['ack'], true, 'persisted and shown with the settings');
    assert.equal(doc['ackTimeoutMs'], 600_000);
    assert.equal(doc['ackPollIntervalMs'], 200);

    for (let i = 0; i < PUTS; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, PUTS - i) }, (_, k) => env.s3.send(new PutObjectCommand({ Bucket: env.bucket, Key: `ack/${i + k}`, Body: 'x' }))));
    }
    const m0 = await metrics();
    const generated = m0.get('s3ap_audit_events_enqueued_total')!;
    assert.ok(generated >= PUTS, `one event per PUT at least: ${generated}`);
    // every event reaches the receiver (accepted, HTTP 200 with an ackId) ...
    await waitUntil(() => receivedIds().ids.size >= generated, 60_000, `receiver got ${generated} events`);
    await waitUntil(async () => (await status())['ack']?.['pendingEvents'] >= generated, 30_000, 'all accepted events pending acknowledgement');
    // ... but nothing is delivered while Splunk has not said "indexed": the spool keeps them
    const st = await status();
    const m = await metrics();
    const full = await adminCall(env.proxy.adminUrl!, 'GET', '/api/v1/audit-webhook', { token: env.adminToken });
    assert.equal(loadOpenApi().validate('WebhookDocument', full.json), null, 'the document with ack settings and status.ack is the documented one');
    assert.equal(st['delivered'], 0, JSON.stringify(st));
    assert.equal(m.get('s3ap_audit_events_delivered_total{target="webhook"}'), 0);
    assert.ok(st['spooled'] >= generated, `events stay in the spool: ${JSON.stringify(st)}`);
    assert.ok(['waiting', 'not_acknowledging', 'backlog_full'].includes(st['ack']['state']), JSON.stringify(st['ack']));
    assert.ok(st['ack']['pendingBatches'] >= Math.ceil(generated / 50) && st['ack']['pendingBatches'] <= 64, JSON.stringify(st['ack']));
    assert.equal(m.get('s3ap_audit_ack_pending_events'), st['ack']['pendingEvents']);
    assert.equal(m.get('s3ap_audit_ack_pending_batches'), st['ack']['pendingBatches']);
    assert.ok((m.get('s3ap_audit_ack_polls_total{outcome="ok"}') ?? 0) > 0, 'the ack endpoint is polled');
    assert.equal(m.get('s3ap_audit_ack_timeouts_total'), 0);
    assert.ok(env.hec.ack.waiting() > 0, 'the receiver holds unacknowledged ids');
    const text = await cli('show');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Indexer acknowledgement:/);
    assert.match(text.stdout, new RegExp(`pending\\s+${st['ack']['pendingBatches']} batches, \\d+ events`));
    assert.match(text.stdout, /delivered\s+0\b/);

    // the receiver acknowledges: everything is delivered and leaves the spool
    env.hec.setAckMode('on');
    await waitUntil(async () => {
      const s = await status();
      return s['delivered'] >= generated && s['spooled'] === 0 && s['ack']['pendingEvents'] === 0;
    }, 60_000, 'everything delivered once acknowledged');
    const end = await metrics();
    const gen = end.get('s3ap_audit_events_enqueued_total')!;
    const del = end.get('s3ap_audit_events_delivered_total{target="webhook"}')!;
    const dropped = [...end].filter(([k]) => k.startsWith('s3ap_audit_events_dropped_total')).reduce((a, [, v]) => a + v, 0);
    assert.equal(dropped, 0);
    assert.equal(del, gen, 'generated = delivered');
    const got = receivedIds();
    assert.ok(got.ids.size >= gen, `every event id at the receiver: ${got.ids.size} of ${gen} (duplicates ${got.duplicates})`);
    assert.equal(end.get('s3ap_audit_ack_acknowledged_events_total'), del);
    const fin = await status();
    assert.equal(fin['ack']['state'], 'idle');
    console.log(`# ack: generated ${gen}, delivered ${del}, receiver unique ${got.ids.size}, duplicates ${got.duplicates}, pending at peak ${st['ack']['pendingBatches']} batches / ${st['ack']['pendingEvents']} events`);
  });

  test('an ack endpoint that fails shows poll_failing and delivers nothing; a short timeout sends again (duplicates, not loss)', { timeout: 60_000 }, async () => {
    env.hec.setAckMode('error');
    const en = await cli('enable', ['--endpoint', env.hec.eventUrl, '--auth-token', HEC_TOKEN, '--ack', '--ack-timeout', '2s', '--ack-poll-interval', '200ms', '--batch-max-wait', '100ms']);
    assert.equal(en.code, 0, en.stderr);
    const before = await status();
    await Promise.all(Array.from({ length: 20 }, (_, k) => env.s3.send(new PutObjectCommand({ Bucket: env.bucket, Key: `err/${k}`, Body: 'x' }))));
    await waitUntil(async () => (await status())['ack']?.['state'] === 'poll_failing', 20_000, 'state poll_failing');
    const s = await status();
    assert.equal(s['delivered'], before['delivered'], 'a 200 is never taken for delivered');
    assert.match(s['ack']['lastPollError'], /503/);
    await waitUntil(async () => (await status())['ack']['timedOut'] > 0, 20_000, 'a timed-out batch is sent again');
    env.hec.setAckMode('on');
    await waitUntil(async () => {
      const x = await status();
      return x['spooled'] === 0 && x['ack']['pendingEvents'] === 0 && x['queued'] === 0;
    }, 30_000, 'delivered once acknowledged');
    const m = await metrics();
    assert.equal(m.get('s3ap_audit_events_delivered_total{target="webhook"}'), m.get('s3ap_audit_events_enqueued_total'));
    assert.ok((m.get('s3ap_audit_ack_timeouts_total') ?? 0) > 0);
    assert.ok(receivedIds().duplicates > 0, 're-sent events arrive twice (receivers de-duplicate by id)');
  });

  test('a token without acknowledgement (no ackId in replies) is not_acknowledging: a 200 never counts as delivered', { timeout: 60_000 }, async () => {
    env.hec.setAckMode('off');
    const en = await cli('enable', ['--endpoint', env.hec.eventUrl, '--auth-token', HEC_TOKEN, '--ack', '--ack-timeout', '1s', '--ack-poll-interval', '200ms', '--batch-max-wait', '100ms']);
    assert.equal(en.code, 0, en.stderr);
    const before = await status();
    const seen = env.hec.events.length;
    await Promise.all(Array.from({ length: 10 }, (_, k) => env.s3.send(new PutObjectCommand({ Bucket: env.bucket, Key: `off/${k}`, Body: 'x' }))));
    await waitUntil(() => env.hec.events.length >= seen + 10, 20_000, 'the receiver accepted the events');
    await waitUntil(async () => (await status())['ack']['state'] === 'not_acknowledging', 20_000, 'state not_acknowledging');
    await waitUntil(async () => (await status())['ack']['timedOut'] > before['ack']['timedOut'], 20_000, 'sent again after the timeout');
    assert.equal((await status())['delivered'], before['delivered'], 'accepted without ackId: not delivered');
    env.hec.setAckMode('on');
    await waitUntil(async () => {
      const x = await status();
      return x['spooled'] === 0 && x['ack']['pendingEvents'] === 0 && x['queued'] === 0;
    }, 30_000, 'delivered once the token acknowledges');
    const m = await metrics();
    assert.equal(m.get('s3ap_audit_events_delivered_total{target="webhook"}'), m.get('s3ap_audit_events_enqueued_total'));
  });
});
