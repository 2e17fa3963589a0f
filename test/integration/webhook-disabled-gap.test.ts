// With the audit log on, events are numbered while the webhook is disabled (before its first enable,
// or between a disable and the next enable): they never reach the webhook's receiver. Its trail must
// still account for every number: the dispatcher declares them to the webhook as a `webhook_disabled`
// gap once it is enabled, so `verify` over what the receiver got exits 0 (no undeclared gap), and
// `verify` over the audit log, which got everything, exits 0 too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { adminCall } from '../helpers/admin.js';
import { startBackend, bucketName } from '../helpers/backend.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { startInProcessProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { verifyCli } from '../helpers/verify-cli.js';

const TOKEN = 'webhook-disabled-gap-token';


interface Ev { kind: string; sequence?: number; gap?: { reason: string; count: number; ranges: number[][] } }

test('events numbered while the webhook is disabled are declared to it as a webhook_disabled gap: verify over the receiver exits 0', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 's3ap-whgap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'integrity.key');
  writeFileSync(keyFile, 'a-secret-integrity-key-for-the-test\n', { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  const auditLog = join(dir, 'audit.jsonl');
  const backend = await startBackend();
  t.after(() => backend.close());
  const r = await startHecReceiver({ token: TOKEN });
  t.after(() => r.close());
  const proxy = await startInProcessProxy(['--backend', backend.url, '--audit-log', auditLog, '--integrity-key-file', keyFile], { logLevel: 'warn' });
  let closed = false;
  t.after(async () => { if (!closed) await proxy.close(); });
  const adminToken = readFileSync(join(proxy.dataDir, 'admin-token'), 'utf8').trim();
  const client = s3Client(proxy.url, backend);
  t.after(() => client.destroy());
  const bucket = bucketName('whgap');
  const put = async (prefix: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${i}`, Body: 'x' }));
  };
  const enable = async (): Promise<void> => {
    const en = await adminCall(proxy.admin.url, 'POST', '/api/v1/audit-webhook/enable', {
      token: adminToken, body: { endpoint: r.eventUrl, authToken: TOKEN, batchMaxWaitMs: 50, healthCheckIntervalMs: 1000 },
    });
    assert.equal(en.status, 200, en.text);
  };
  const s3Seen = (): number => (r.events as Ev[]).filter((e) => e.kind === 's3').length;
  const waitS3 = async (n: number): Promise<void> => {
    const end = Date.now() + 30_000;
    while (s3Seen() < n) {
      if (Date.now() > end) throw new Error(`receiver has ${s3Seen()} S3 events, waited for ${n}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };

  // 1. before the first enable: the audit log only
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await put('before', 5);
  // 2. enabled
  await enable();
  await put('on', 5);
  await waitS3(5);
  // 3. disabled for a while, then enabled again
  const dis = await adminCall(proxy.admin.url, 'POST', '/api/v1/audit-webhook/disable', { token: adminToken });
  assert.equal(dis.status, 200, dis.text);
  await put('off', 4);
  await enable();
  await put('again', 3);
  await waitS3(8);
  const gapsSeen = (): Ev[] => (r.events as Ev[]).filter((e) => e.kind === 'gap' && e.gap?.reason === 'webhook_disabled');
  const end = Date.now() + 30_000;
  while (gapsSeen().length < 2 && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
  await proxy.close();
  closed = true;

  const gaps = gapsSeen();
  assert.equal(gaps.length, 2, `one gap per disabled period: ${JSON.stringify(gaps)}`);
  assert.ok(gaps[0]!.gap!.count >= 6, `CreateBucket + 5 PUTs before the first enable: ${JSON.stringify(gaps[0])}`);
  assert.ok(gaps[1]!.gap!.count >= 4, `4 PUTs while disabled (plus the disable's own admin event): ${JSON.stringify(gaps[1])}`);
  assert.equal(r.events.filter((e) => (e as { api?: { object?: string } }).api?.object?.startsWith('off/')).length, 0, 'nothing reached the receiver while disabled');

  const received = join(dir, 'received.ndjson');
  writeFileSync(received, r.envelopes.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const ok = await verifyCli(['--key-file', keyFile, received]);
  t.diagnostic(ok.out);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /webhook_disabled/);
  assert.match(ok.out, /OK: every event accounted for/);

  // without the declaration the same trail is an undeclared gap: the check can fail
  const stripped = join(dir, 'stripped.ndjson');
  writeFileSync(stripped, r.envelopes.filter((e) => !JSON.stringify(e).includes('"reason":"webhook_disabled"')).map((e) => JSON.stringify(e)).join('\n') + '\n');
  const bad = await verifyCli(['--key-file', keyFile, stripped]);
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, /undeclared_gap/);

  // the audit log got every event, the gap events included
  const logged = await verifyCli(['--key-file', keyFile, auditLog]);
  assert.equal(logged.code, 0, logged.out);
});
