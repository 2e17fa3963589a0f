// serve --audit-required (fail closed), with real processes: the proxy as a child process, the
// SigV4-verifying s3rver as backend, the real HEC receiver, the AWS SDK as client. While no event can
// be kept, requests get 503 SlowDown before they reach the backend; every request that reached the
// backend has its event (no gap), the refusals are declared by `refused` events, `verify` exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { adminCall } from '../helpers/admin.js';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { startHecReceiver, type HecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, type ChildProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { verifyCli } from '../helpers/verify-cli.js';

const HEC_TOKEN = 'audit-required-hec-token';
const ADMIN_TOKEN = 'audit-required-admin-token';

interface Ev { kind: string; sequence?: number; api?: { name: string; object: string | null }; response?: { statusCode: number }; refused?: { count: number; reason: string; firstTime: string; lastTime: string } }


async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Setup { dir: string; backend: TestBackend; r: HecReceiver; proxy: ChildProxy; client: S3Client; bucket: string; status(): Promise<Record<string, number | string | null>> }

async function setUp(t: { after(fn: () => unknown): void }, extra: string[], opts: { fileSizeLimitKiB?: number } = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 's3ap-required-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const backend = await startBackend();
  t.after(() => backend.close());
  const r = await startHecReceiver({ token: HEC_TOKEN });
  t.after(() => r.close());
  const proxy = await spawnProxy(['--backend', backend.url, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--audit-required', '--queue-max-events', '50', '--spool-max-bytes', '262144', ...extra],
    { S3AP_ADMIN_TOKEN: ADMIN_TOKEN }, 30_000, opts);
  t.after(() => proxy.stop());
  const en = await adminCall(proxy.adminUrl!, 'POST', '/api/v1/audit-webhook/enable', {
    token: ADMIN_TOKEN, body: { endpoint: r.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs: 50, healthCheckIntervalMs: 1000 },
  });
  assert.equal(en.status, 200, en.text);
  const client = s3Client(proxy.url, backend);
  t.after(() => client.destroy());
  const bucket = bucketName('req');
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const status = async (): Promise<Record<string, number | string | null>> => {
    const g = await adminCall(proxy.adminUrl!, 'GET', '/api/v1/audit-webhook', { token: ADMIN_TOKEN });
    return (g.json as { status: Record<string, number | string | null> }).status;
  };
  return { dir, backend, r, proxy, client, bucket, status };
}

/** `n` PUTs, 16 at a time; returns the keys that succeeded and the 503 SlowDown count (any other outcome fails). */
async function putMany(s: Setup, n: number, prefix: string): Promise<{ ok: Set<string>; slowDown: number }> {
  const ok = new Set<string>();
  let slowDown = 0;
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < n) {
      const key = `${prefix}/${next++}`;
      try {
        await s.client.send(new PutObjectCommand({ Bucket: s.bucket, Key: key, Body: 'x' }));
        ok.add(key);
      } catch (err) {
        const e = err as S3ServiceException;
        assert.equal(e.name, 'SlowDown', `PUT ${key}: ${e.name} ${e.message}`);
        assert.equal(e.$metadata.httpStatusCode, 503);
        assert.match(e.$metadata.requestId ?? '', /\S/, 'the 503 carries a request id');
        slowDown++;
      }
    }
  }));
  return { ok, slowDown };
}

async function storedKeys(s: Setup, prefix: string): Promise<Set<string>> {
  const direct = s3Client(s.backend.url, s.backend);
  try {
    const keys = new Set<string>();
    let token: string | undefined;
    do {
      const page = await direct.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
      for (const o of page.Contents ?? []) keys.add(o.Key!);
      token = page.NextContinuationToken;
    } while (token);
    return keys;
  } finally {
    direct.destroy();
  }
}

async function verifyReceived(s: Setup, t: { diagnostic(m: string): void }): Promise<string> {
  const file = join(s.dir, 'received.ndjson');
  writeFileSync(file, s.r.envelopes.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const v = await verifyCli([file]);
  t.diagnostic(v.out);
  assert.equal(v.code, 0, v.out);
  return v.out;
}

test('--audit-required, receiver down during 1,500 PUTs (--queue-max-events 50 --spool-max-bytes 262144): the rest get 503 SlowDown before the backend, every stored object has its event, no gap, the refusals are evented, verify exits 0', { timeout: 240_000 }, async (t) => {
  const s = await setUp(t, []);
  await s.r.waitForEvents(2, 30_000); // admin enable + CreateBucket
  await s.r.setMode('down');
  const { ok, slowDown } = await putMany(s, 1500, 'k');
  t.diagnostic(`PUTs: ${ok.size} succeeded, ${slowDown} refused with 503 SlowDown`);
  assert.ok(ok.size > 0, 'some PUTs succeed while there is room');
  assert.ok(slowDown > 0, 'the rest are refused once memory and spool are full');
  assert.equal(ok.size + slowDown, 1500);
  // The backend holds exactly the admitted PUTs: nothing refused reached it.
  const stored = await storedKeys(s, 'k');
  assert.deepEqual([...stored].sort(), [...ok].sort());
  const st = await s.status();
  assert.equal(st['dropped'], 0, `no event dropped: ${JSON.stringify(st)}`);
  assert.equal(st['refusedRequests'], slowDown);
  const metrics = await adminCall(s.proxy.adminUrl!, 'GET', '/metrics', {});
  assert.match(metrics.text, new RegExp(`^s3ap_audit_requests_refused_total\\{reason="(spool_full|queue_full)"\\} \\d+`, 'm'));

  await s.r.setMode('up');
  const events = (): Ev[] => s.r.events as Ev[];
  const refusedCount = (): number => events().filter((e) => e.kind === 'refused').reduce((n, e) => n + e.refused!.count, 0);
  await waitFor(async () => {
    const putEvents = events().filter((e) => e.api?.name === 'PutObject' && e.api.object?.startsWith('k/')).length;
    return putEvents >= ok.size && refusedCount() >= slowDown;
  }, 120_000, () => `delivery after the outage: ${events().length} events, refused declared ${refusedCount()}`);
  // Every admitted request's event, exactly the stored keys; every refusal declared; no gap event.
  const putKeys = new Set(events().filter((e) => e.api?.name === 'PutObject' && e.response?.statusCode === 200 && e.api.object?.startsWith('k/')).map((e) => e.api!.object!));
  assert.deepEqual([...putKeys].sort(), [...stored].sort());
  assert.equal(events().filter((e) => e.api?.name === 'PutObject' && e.api.object?.startsWith('k/')).length, ok.size, 'no event for a refused request');
  assert.equal(events().filter((e) => e.kind === 'gap').length, 0, 'no gap event: nothing was dropped');
  assert.equal(refusedCount(), slowDown);
  const refused = events().find((e) => e.kind === 'refused')!;
  assert.match(refused.refused!.reason, /^(spool_full|queue_full)$/);
  assert.ok(Date.parse(refused.refused!.firstTime) <= Date.parse(refused.refused!.lastTime));
  const out = await verifyReceived(s, t);
  assert.match(out, /OK: every event accounted for/);
});

test('--audit-required with a spool that fails to write (EFBIG, ulimit -f): requests are refused with 503 SlowDown, not forwarded unaudited; verify exits 0', { timeout: 180_000 }, async (t) => {
  const s = await setUp(t, ['--spool-max-bytes', '64m'], { fileSizeLimitKiB: 64 });
  await s.r.waitForEvents(2, 30_000);
  await s.r.setMode('down');
  const { ok, slowDown } = await putMany(s, 600, 'e');
  t.diagnostic(`PUTs: ${ok.size} succeeded, ${slowDown} refused with 503 SlowDown`);
  assert.ok(slowDown > 0, 'a failing spool refuses requests');
  const stored = await storedKeys(s, 'e');
  assert.deepEqual([...stored].sort(), [...ok].sort());
  const metrics = await adminCall(s.proxy.adminUrl!, 'GET', '/metrics', {});
  assert.match(metrics.text, /^s3ap_audit_requests_refused_total\{reason="spool_error"\} [1-9]/m);
  await s.r.setMode('up');
  const events = (): Ev[] => s.r.events as Ev[];
  const refusedCount = (): number => events().filter((e) => e.kind === 'refused').reduce((n, e) => n + e.refused!.count, 0);
  await waitFor(() => refusedCount() >= slowDown, 120_000, () => `refused declared ${refusedCount()} of ${slowDown}`);
  // What reached the backend has its event unless the failing spool write lost it, and then a gap
  // event declares the loss: verify accounts for every number.
  const putKeys = new Set(events().filter((e) => e.api?.name === 'PutObject' && e.api.object?.startsWith('e/')).map((e) => e.api!.object!));
  const lost = events().filter((e) => e.kind === 'gap').reduce((n, e) => n + ((e as unknown as { gap: { count: number } }).gap.count ?? 0), 0);
  t.diagnostic(`events of stored objects: ${putKeys.size} of ${stored.size}; lost in the failing spool write and declared: ${lost}`);
  assert.ok(putKeys.size + lost >= stored.size, 'every stored object has its event or a declared loss');
  await verifyReceived(s, t);
});

test('--audit-required --workers 2: workers admit on credits granted by the primary; refused requests get 503 SlowDown, every stored object has its event, no gap, verify exits 0', { timeout: 240_000 }, async (t) => {
  const s = await setUp(t, ['--workers', '2']);
  await s.r.waitForEvents(2, 30_000);
  await s.r.setMode('down');
  const { ok, slowDown } = await putMany(s, 1500, 'w');
  t.diagnostic(`PUTs: ${ok.size} succeeded, ${slowDown} refused with 503 SlowDown`);
  assert.ok(ok.size > 0 && slowDown > 0, `some succeed, some are refused: ${ok.size} / ${slowDown}`);
  const stored = await storedKeys(s, 'w');
  assert.deepEqual([...stored].sort(), [...ok].sort());
  // the workers report their refusals with their next message
  await waitFor(async () => (await s.status())['refusedRequests'] === slowDown, 30_000, () => `refusedRequests reaches ${slowDown}`);
  assert.equal((await s.status())['dropped'], 0);
  await s.r.setMode('up');
  const events = (): Ev[] => s.r.events as Ev[];
  const refusedCount = (): number => events().filter((e) => e.kind === 'refused').reduce((n, e) => n + e.refused!.count, 0);
  const puts = (): Ev[] => events().filter((e) => e.api?.name === 'PutObject' && e.api.object?.startsWith('w/'));
  await waitFor(() => puts().length >= ok.size && refusedCount() >= slowDown, 120_000, () => `delivery: ${puts().length} of ${ok.size}, refused ${refusedCount()} of ${slowDown}`);
  assert.deepEqual(puts().map((e) => e.api!.object!).sort(), [...stored].sort());
  assert.equal(events().filter((e) => e.kind === 'gap').length, 0);
  assert.equal(refusedCount(), slowDown);
  await verifyReceived(s, t);
});
