// Cluster mode (--cluster-store): replicas in separate processes with separate data directories
// share one store in the backend (a standalone s3rver here; Ceph RGW in the Ceph tier). Every
// replica reaches the backend through a TCP relay the test can cut, so "store unreachable" is real
// (connections refused) on any backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, tempDir, type ChildProxy } from '../helpers/proxy.js';
import { adminCall, CLI_MAIN, runCli, waitUntil } from '../helpers/admin.js';
import { spawn } from 'node:child_process';
import { s3Client } from '../helpers/s3.js';

/** A TCP relay to the backend that can be cut (connections refused) and restored on the same port. */
interface Relay { url: string; port: number; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function startRelay(target: string, port: number, listening = true): Promise<Relay> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const open = async (): Promise<void> => {
    server = createServer((c) => {
      const up = connect(Number(t.port || 80), t.hostname);
      sockets.add(c); sockets.add(up);
      c.pipe(up); up.pipe(c);
      const done = (): void => { c.destroy(); up.destroy(); sockets.delete(c); sockets.delete(up); };
      c.on('error', done); up.on('error', done); c.on('close', done); up.on('close', done);
    });
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', () => r()));
  };
  const shut = async (): Promise<void> => {
    const s = server;
    server = null;
    for (const k of sockets) k.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  if (listening) await open();
  return { url: `http://127.0.0.1:${port}`, port, cut: shut, restore: open, close: shut };
}

interface Replica { proxy: ChildProxy; admin: string; url: string; host: string; dir: { path: string; remove(): void } }

const TOKEN_ID = randomUUID().toUpperCase();
const HEC_TOKEN = `Splunk ${TOKEN_ID}`;
const ADMIN_TOKEN = randomBytes(24).toString('hex');

test('three replicas share one audit configuration through the cluster store', { timeout: 300_000 }, async (t) => {
  const backend: TestBackend = await startBackend();
  const receiver = await startHecReceiver({ token: TOKEN_ID });
  const files = tempDir('s3ap-cluster-files-');
  const relay = await startRelay(backend.url, await freePort());
  const replicas: Replica[] = [];
  t.after(async () => {
    for (const r of replicas) { await r.proxy.stop(); r.dir.remove(); }
    await relay.close();
    await receiver.close();
    await backend.close();
    files.remove();
  });
  const keyFile = join(files.path, 'cluster.key');
  writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const credsFile = join(files.path, 'cluster-credentials.json');
  writeFileSync(credsFile, JSON.stringify({ accessKeyId: backend.accessKeyId, secretAccessKey: backend.secretAccessKey }), { mode: 0o600 });
  const adminTokenFile = join(files.path, 'admin-token');
  writeFileSync(adminTokenFile, ADMIN_TOKEN, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  const storeBucket = bucketName('s3ap-cluster');
  const dataBucket = bucketName('data');
  const client = s3Client(backend.url, backend);
  await client.send(new CreateBucketCommand({ Bucket: dataBucket }));

  const clusterArgs = (backendUrl: string): string[] => [
    '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--backend', backendUrl,
    '--cluster-store', `s3://${storeBucket}/fleet`, '--cluster-credentials-file', credsFile, '--cluster-key-file', keyFile,
    '--admin-token-file', adminTokenFile,
  ];
  const start = async (n: number, extra: string[] = [], backendUrl = relay.url, opts: { onLine?: (l: string) => void; timeoutMs?: number } = {}): Promise<Replica> => {
    const dir = tempDir(`s3ap-replica${n}-`);
    const host = `replica-${n}`;
    const proxy = await spawnProxy([...clusterArgs(backendUrl), '--data-dir', dir.path, '--host-name', host, ...extra], {}, opts.timeoutMs ?? 30_000,
      opts.onLine ? { onLine: opts.onLine } : {});
    const r = { proxy, admin: proxy.adminUrl!, url: proxy.url, host, dir };
    replicas.push(r);
    return r;
  };
  const get = async (r: Replica): Promise<Record<string, any>> => (await adminCall(r.admin, 'GET', '/api/v1/audit-webhook', { token: ADMIN_TOKEN })).json as Record<string, any>;
  const putThrough = async (r: Replica, key: string): Promise<void> => {
    await s3Client(r.url, backend).send(new PutObjectCommand({ Bucket: dataBucket, Key: key, Body: 'x' }));
  };
  const eventsFor = (key: string): Array<Record<string, any>> => (receiver.events as Array<Record<string, any>>).filter((e) => e?.['api']?.['object'] === key);
  const cli = (r: Replica, args: string[]) => runCli(['audit-webhook', ...args, '--admin', r.admin, '--admin-token-file', adminTokenFile]);

  const [r1, r2, r3] = [await start(1), await start(2), await start(3)];

  await t.test('enable through one replica (Weka\'s step 4 typed as printed) reaches every replica', async () => {
    // Typed in a shell exactly as Weka's guide prints it: bash hands the CLI `"Splunk <token>"`,
    // quotes included, and one layer is removed.
    const line = `"$0" "$1" audit-webhook enable --admin ${r1.admin} --admin-token-file ${adminTokenFile} --endpoint ${receiver.eventUrl} --batch-max-wait 100ms --auth_token="\\"Splunk ${TOKEN_ID}\\""`;
    // Not spawnSync: this process runs the relay the replica reaches the store through.
    const child = spawn('bash', ['-c', line, process.execPath, CLI_MAIN], { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const code = await new Promise<number | null>((res) => child.once('close', res));
    assert.equal(code, 0, stderr);
    for (const r of [r1, r2, r3]) {
      await waitUntil(async () => (await get(r))['enabled'] === true, 20_000, `${r.host} to apply the enable`);
    }
    for (const r of [r1, r2, r3]) await putThrough(r, `after-enable-${r.host}`);
    // Delivery is at least once (a re-send after a lost reply repeats an id): one event per request means one id.
    const ids = (key: string): Set<string> => new Set(eventsFor(key).map((e) => e['id'] as string));
    try {
      await waitUntil(() => [r1, r2, r3].every((r) => ids(`after-enable-${r.host}`).size >= 1), 30_000, 'one event per replica at the receiver');
    } catch (err) {
      const seen = await Promise.all([r1, r2, r3].map(async (r) => ({ host: r.host, events: eventsFor(`after-enable-${r.host}`).length, status: (await get(r))['status'] })));
      throw new Error(`${(err as Error).message}: ${JSON.stringify(seen)}; receiver requests ${receiver.requests.map((q) => q.status).join(',')}`);
    }
    for (const r of [r1, r2, r3]) {
      assert.equal(ids(`after-enable-${r.host}`).size, 1, `one event for ${r.host}'s request`);
      assert.equal(eventsFor(`after-enable-${r.host}`)[0]!['proxy']['host'], r.host);
    }
    assert.ok(receiver.requests.every((q) => q.status === 200), 'the receiver accepted every request (the token is right, without quotes)');
  });

  await t.test('batch-config through another replica applies everywhere, live', async () => {
    const res = await cli(r2, ['batch-config', '--batch-count', '50', '--batch-size', '64KiB', '--batch-time', '200ms']);
    assert.equal(res.code, 0, res.stderr);
    for (const r of [r1, r2, r3]) {
      await waitUntil(async () => { const d = await get(r); return d['batchMaxEvents'] === 50 && d['batchMaxBytes'] === 65536 && d['batchMaxWaitMs'] === 200; }, 20_000, `${r.host} to apply batch-config`);
    }
    assert.equal((await get(r3))['enabled'], true);
  });

  let r4: Replica;
  await t.test('a fourth replica started later audits its very first S3 request', async () => {
    r4 = await start(4);
    await putThrough(r4, 'first-request-of-replica-4');
    await waitUntil(() => eventsFor('first-request-of-replica-4').length >= 1, 60_000, 'the first request of replica 4 at the receiver');
    assert.equal(new Set(eventsFor('first-request-of-replica-4').map((e) => e['id'])).size, 1, 'one event (one id; a re-send repeats it) for first-request-of-replica-4');
  });

  await t.test('any replica lists every member with its status (API and CLI)', async () => {
    // Each replica lists the store's heartbeats on its own schedule: wait until both replicas asked below see all four.
    for (const r of [r3, r2]) await waitUntil(async () => ((await get(r))['members'] as unknown[]).length >= 4, 20_000, `four heartbeats listed by ${r.host}`);
    const members = (await get(r3))['members'] as Array<Record<string, any>>;
    assert.deepEqual(members.map((m) => m['host']).sort(), ['replica-1', 'replica-2', 'replica-3', 'replica-4']);
    for (const m of members) {
      assert.equal(m['state'], 'up');
      for (const k of ['instance', 'version', 'startedAt', 'queued', 'spooled', 'dropped', 'lastError', 'delivery']) assert.ok(k in m, k);
    }
    // Bounded retry: on a loaded box one listing of the store may time out (show then says so).
    let show = await cli(r2, ['show']);
    for (let i = 0; i < 5 && show.stdout.includes('the members cannot be listed'); i++) show = await cli(r2, ['show']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^ENABLED\s+ENDPOINT\s+AUTH TOKEN\nTrue\s+http/);
    assert.ok(!show.stdout.includes(TOKEN_ID), 'show never prints the token');
    assert.match(show.stdout, /INSTANCE\s+HOST\s+VERSION\s+STARTED\s+STATE\s+QUEUED\s+SPOOLED\s+DROPPED\s+LAST ERROR/);
    for (const h of ['replica-1', 'replica-2', 'replica-3', 'replica-4']) assert.match(show.stdout, new RegExp(`\\b${h}\\b`));
  });

  await t.test('the store failing mid-run keeps the last known settings, and show, logs and metrics say so', async () => {
    await relay.cut();
    await waitUntil(async () => (await get(r1))['cluster']?.['state'] === 'unreachable', 30_000, 'replica 1 to notice the store is unreachable');
    const d = await get(r1);
    assert.equal(d['enabled'], true, 'still enabled: the last known settings stay in force');
    const show = await cli(r1, ['show']);
    assert.match(show.stdout, /UNREACHABLE since .*keeping the last known settings/);
    const metrics = (await adminCall(r1.admin, 'GET', '/metrics')).text;
    assert.match(metrics, /^s3ap_cluster_store_up 0$/m);
    assert.ok(r1.proxy.output.some((l) => l.includes('cluster: store cannot be read; the last known audit settings stay in force')));
    await relay.restore();
    await waitUntil(async () => (await get(r1))['cluster']?.['state'] === 'ok', 30_000, 'replica 1 to read the store again');
    assert.match((await adminCall(r1.admin, 'GET', '/metrics')).text, /^s3ap_cluster_store_up 1$/m);
  });

  await t.test('disable through another replica stops auditing on every replica', async () => {
    const res = await cli(r3, ['disable']);
    assert.equal(res.code, 0, res.stderr);
    for (const r of [r1, r2, r3, r4]) await waitUntil(async () => (await get(r))['enabled'] === false, 20_000, `${r.host} to apply the disable`);
    const before = receiver.events.length;
    for (const r of [r1, r2, r3, r4]) await putThrough(r, `after-disable-${r.host}`);
    // A marker through an enabled path proves the receiver would have seen events by now: re-enable
    // through replica 1 and send one more request; only it may arrive.
    const again = await cli(r1, ['enable', '--endpoint', receiver.eventUrl, '--auth-token', HEC_TOKEN, '--batch-max-wait', '100ms']);
    assert.equal(again.code, 0, again.stderr);
    await putThrough(r1, 'marker-after-disable');
    await waitUntil(() => eventsFor('marker-after-disable').length >= 1, 60_000, 'the marker event');
    assert.equal(new Set(eventsFor('marker-after-disable').map((e) => e['id'])).size, 1, 'one event (one id; a re-send repeats it) for marker-after-disable');
    for (const r of [r1, r2, r3, r4]) assert.equal(eventsFor(`after-disable-${r.host}`).length, 0, `${r.host} audited nothing while disabled`);
    assert.ok(receiver.events.length > before);
  });

  await t.test('the store holds no token in clear, and keeps who changed what', async () => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: storeBucket, ContinuationToken: token }));
      for (const c of page.Contents ?? []) keys.push(c.Key!);
      token = page.NextContinuationToken;
    } while (token);
    assert.ok(keys.includes('fleet/settings/current.json'), keys.join(', '));
    assert.ok(keys.filter((k) => k.startsWith('fleet/settings/history/')).length >= 4, 'one history object per change');
    assert.ok(keys.filter((k) => k.startsWith('fleet/members/')).length >= 4);
    for (const key of keys) {
      const body = await (await client.send(new GetObjectCommand({ Bucket: storeBucket, Key: key }))).Body!.transformToString();
      assert.ok(!body.includes(TOKEN_ID) && !body.includes(TOKEN_ID.toLowerCase()), `${key} holds the token in clear`);
      assert.ok(!body.includes(ADMIN_TOKEN), `${key} holds the admin token`);
    }
    const current = JSON.parse(await (await client.send(new GetObjectCommand({ Bucket: storeBucket, Key: 'fleet/settings/current.json' }))).Body!.transformToString());
    assert.equal(current.webhook.authToken.alg, 'AES-256-GCM');
    assert.equal(current.changedBy.host, 'replica-1');
    assert.equal(current.action, 'enable');
    // The proxies' own store requests go straight to the backend: never audited as client traffic.
    assert.ok(receiver.events.length > 0);
    assert.ok((receiver.events as Array<Record<string, any>>).every((e) => e?.['api']?.['bucket'] !== storeBucket), 'no event for the store bucket');
  });

  await t.test('store unreachable at start: not ready (S3 port closed) until it can be read; with the flag, ready at once', async () => {
    const closedPort = await freePort();
    const late = await startRelay(backend.url, closedPort, false);
    t.after(() => late.close());
    let waiting = false;
    const pending = start(5, [], late.url, { timeoutMs: 90_000, onLine: (l) => { if (l.includes('store cannot be read at start: not ready')) waiting = true; } });
    let listened = false;
    void pending.then(() => { listened = true; }, () => {});
    await waitUntil(() => waiting, 30_000, 'replica 5 to say it waits for the store');
    assert.equal(listened, false, 'no S3 listener while the store cannot be read');
    await late.restore();
    const r5 = await pending;
    await putThrough(r5, 'first-request-of-replica-5');
    await waitUntil(() => eventsFor('first-request-of-replica-5').length >= 1, 60_000, 'replica 5 audits its first request once the store was read');
    assert.equal(new Set(eventsFor('first-request-of-replica-5').map((e) => e['id'])).size, 1, 'one event (one id; a re-send repeats it) for first-request-of-replica-5');

    const deadPort = await freePort();
    const r6 = await start(6, ['--cluster-start-without-store'], `http://127.0.0.1:${deadPort}`);
    const d = await get(r6);
    assert.equal(d['cluster']['state'], 'unreachable');
    assert.ok(r6.proxy.output.some((l) => l.includes('--cluster-start-without-store')));
  });
});
