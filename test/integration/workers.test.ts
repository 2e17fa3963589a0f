// `serve --workers N` as real processes: the primary (dispatcher, admin API, embedded store) and its
// node:cluster S3 listener workers, the real HEC receiver and the AWS SDK. One event per request
// whichever worker served it; the admin API's webhook enable/disable replies only once every worker
// knows; a worker killed with SIGKILL is replaced; SIGTERM lets in-flight requests finish and their
// events reach the audit log; bad --workers values are refused.
//
// Which worker served a request: with --log-level debug each worker logs one "request" line per
// request carrying its own pid (pino's base field) and the request id, and the request id is in the
// event. No socket tables (/proc/net, ss) are needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { ConfigError } from '../../src/errors.js';
import { startHecReceiver, type HecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, tempDir, type ChildProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import type { TestBackend } from '../helpers/backend.js';
import { validateEvent } from '../helpers/collecting-sink.js';
import { adminCall, CLI_MAIN, logRecords, sleep, waitUntil, type AdminReply } from '../helpers/admin.js';
import { startSniffBackend } from '../helpers/sniff-backend.js';
import { environOf } from '../helpers/environ.js';

type TestContext = { after(fn: () => unknown): void; skip(msg?: string): void };
type Rec = Record<string, any>;

const HEC_TOKEN = randomUUID().toUpperCase();
/** The embedded store's fixed credentials (logged by the proxy at start-up). */
const EMBEDDED: TestBackend = { url: '', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', kind: 's3rver', close: async () => {} };

/** Process ids of `pid`'s children: /proc/<pid>/task/<tid>/children, else `pgrep -P`; null if neither works. */
function childPids(pid: number): number[] | null {
  try {
    const out = new Set<number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/)) if (c) out.add(Number(c));
    }
    return [...out].sort((a, b) => a - b);
  } catch { /* no /proc children file: try pgrep */ }
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8', timeout: 5000 });
  if (r.error || (r.status !== 0 && r.status !== 1)) return null;
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
}

/** Running (a zombie is not: an orphaned worker may wait a while for a PID 1 that reaps late). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch { /* gone, or no /proc */ }
  try {
    process.kill(pid, 0);
    return existsSync('/proc') ? false : true;
  } catch {
    return false;
  }
}

/** Still one of our proxy processes (not a recycled pid): only those are killed in clean-up. */
function isOurProxy(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes(CLI_MAIN) && argv.includes('serve');
  } catch {
    return false;
  }
}

/** Value of an unlabelled Prometheus sample, or null. */
function metric(text: string, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

interface WorkersProxy {
  p: ChildProxy;
  dir: string;
  primaryPid: number;
  admin(method: string, path: string, body?: unknown): Promise<AdminReply>;
  metrics(): Promise<string>;
  /** Worker pid of each request id, from the workers' debug "request" log lines. */
  requestPids(): Map<string, number>;
  /** Pids the primary's children list shows now. */
  workers(): number[];
}

/** `serve --workers 2` on ephemeral ports, torn down (SIGKILL, workers too) after the test. */
async function startWorkersProxy(t: TestContext, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<WorkersProxy> {
  const dir = tempDir('s3ap-workers-');
  let p: ChildProxy | null = null;
  const seen = new Set<number>();
  t.after(async () => {
    if (p) {
      const pid = p.child.pid!;
      for (const w of childPids(pid) ?? []) seen.add(w);
      await p.stop('SIGKILL');
      // The workers exit when their channel to the primary closes; make sure no stray one is left.
      const end = Date.now() + 5000;
      while ([...seen].some(alive) && Date.now() < end) await sleep(25);
      for (const w of seen) if (alive(w) && isOurProxy(w)) try { process.kill(w, 'SIGKILL'); } catch { /* gone */ }
    }
    dir.remove();
  });
  p = await spawnProxy(['--workers', '2', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, ...args], env);
  // The primary logs "s3-audit-proxy listening" (with --log-level debug the workers' own lines may
  // come first, so not simply the first line).
  const listening = logRecords(p.output).find((r) => r['msg'] === 's3-audit-proxy listening');
  const primaryPid = Number(listening?.['pid']);
  assert.equal(primaryPid, p.child.pid, 'the primary is the process spawned');
  assert.equal(listening?.['workers'], 2);
  const token = readFileSync(join(dir.path, 'admin-token'), 'utf8').trim();
  const proxy = p;
  const wp: WorkersProxy = {
    p: proxy, dir: dir.path, primaryPid,
    admin: (method, path, body) => adminCall(proxy.adminUrl!, method, path, { token, ...(body !== undefined ? { body } : {}) }),
    async metrics() {
      const r = await adminCall(proxy.adminUrl!, 'GET', '/metrics');
      assert.equal(r.status, 200);
      return r.text;
    },
    requestPids() {
      const m = new Map<string, number>();
      for (const r of logRecords(proxy.output)) if (r['msg'] === 'request' && typeof r['reqId'] === 'string') m.set(r['reqId'], Number(r['pid']));
      return m;
    },
    workers() {
      const w = childPids(primaryPid) ?? [];
      for (const x of w) seen.add(x);
      return w;
    },
  };
  wp.workers();
  return wp;
}

async function enableWebhook(wp: WorkersProxy, hec: HecReceiver): Promise<void> {
  const r = await wp.admin('POST', '/api/v1/audit-webhook/enable', { endpoint: hec.eventUrl, authToken: `Splunk ${HEC_TOKEN}`, batchMaxWaitMs: 50 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.enabled, true);
}

async function startHec(t: TestContext): Promise<HecReceiver> {
  const hec = await startHecReceiver({ token: HEC_TOKEN });
  t.after(() => hec.close());
  return hec;
}

/** S3 client through the proxy. keepAlive false: one connection per request, so the primary's
 * round-robin hands consecutive requests to alternate workers. */
function client(t: TestContext, url: string, opts: { keepAlive: boolean; maxSockets?: number }): S3Client {
  const agent = new http.Agent({ keepAlive: opts.keepAlive, maxSockets: opts.maxSockets ?? 64 });
  const s3 = s3Client(url, EMBEDDED, { requestHandler: new NodeHttpHandler({ httpAgent: agent, connectionTimeout: 5000, requestTimeout: 10_000 }) });
  t.after(() => { s3.destroy(); agent.destroy(); });
  return s3;
}

const s3Events = (hec: HecReceiver): Rec[] => (hec.events as Rec[]).filter((e) => e['kind'] === 's3');
const eventsFor = (hec: HecReceiver, api: string, key: string): Rec[] => s3Events(hec).filter((e) => e['api']['name'] === api && e['api']['object'] === key);

/** Bounded: until the admin status says every event handed to the webhook is delivered and the receiver has them all. */
async function settled(wp: WorkersProxy, hec: HecReceiver, timeoutMs = 10_000): Promise<Rec> {
  let last: Rec = {};
  await waitFor(async () => {
    const r = await wp.admin('GET', '/api/v1/audit-webhook');
    last = r.json.status;
    return last['queued'] === 0 && last['inFlight'] === 0 && last['delivered'] === hec.events.length;
  }, timeoutMs, () => `delivered == events at the receiver (status ${JSON.stringify(last)}, receiver ${hec.events.length})`);
  return last;
}

/** waitUntil, with a failure message built when it fails (e.g. holding the log lines up to then). */
async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  try {
    await waitUntil(cond, timeoutMs, 'the condition');
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${what()}`);
  }
}

async function runBatches<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += width) out.push(...await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, j) => fn(i + j))));
  return out;
}

test('--workers 2 with the embedded store: every request yields exactly one event at HEC, from both workers', async (t) => {
  const hec = await startHec(t);
  const wp = await startWorkersProxy(t, ['--log-level', 'debug']);
  const workers = wp.workers();
  assert.equal(workers.length, 2, `two worker processes (children of ${wp.primaryPid}): ${workers.join(',')}`);
  assert.equal(metric(await wp.metrics(), 's3ap_workers'), 2);
  assert.equal(metric(await wp.metrics(), 's3ap_worker_restarts_total'), 0);
  await enableWebhook(wp, hec);

  // Many connections at once: the primary's round-robin spreads them over both workers.
  const s3 = client(t, wp.p.url, { keepAlive: true, maxSockets: 32 });
  const bucket = 'workers-a';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const N = 100;
  await runBatches(N, 25, (i) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `obj/${i}`, Body: `body ${i}` })));
  const bodies = await runBatches(N, 25, async (i) => {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `obj/${i}` }));
    return (got.Body as { transformToString(): Promise<string> }).transformToString();
  });
  assert.deepEqual(bodies, Array.from({ length: N }, (_, i) => `body ${i}`));

  const expected = 1 + 2 * N;
  await waitUntil(() => s3Events(hec).length >= expected, 10_000, `${expected} S3 events at the receiver (have ${s3Events(hec).length})`);
  const status = await settled(wp, hec);
  await sleep(300); // a duplicate would show up by now
  const evs = s3Events(hec);
  assert.equal(evs.length, expected, 'exactly one event per request');
  assert.equal(new Set(evs.map((e) => e['id'])).size, expected, 'unique event ids');
  assert.equal(new Set(evs.map((e) => e['request']['id'])).size, expected, 'unique request ids');
  assert.equal(evs.filter((e) => e['api']['name'] === 'CreateBucket' && e['api']['bucket'] === bucket).length, 1);
  for (let i = 0; i < N; i++) {
    for (const api of ['PutObject', 'GetObject']) {
      const m = eventsFor(hec, api, `obj/${i}`);
      assert.equal(m.length, 1, `${api} obj/${i}: ${m.length} events`);
      assert.equal(m[0]!['response']['statusCode'], 200);
      assert.equal(m[0]!['api']['bucket'], bucket);
    }
  }
  for (const e of evs) assert.ok(validateEvent(e), JSON.stringify(validateEvent.errors));
  assert.equal(status['delivered'], hec.events.length, 'admin status: delivered == events received (S3 and admin events)');
  assert.equal(status['dropped'], 0);

  // The request metrics crossed the IPC channel too (summed in the workers, sent with the events).
  let m = '';
  const requests = (api: string): number | null => metric(m, `s3ap_requests_total\\{api="${api}",status_class="2xx"\\}`);
  await waitFor(async () => {
    m = await wp.metrics();
    return requests('PutObject') === N && requests('GetObject') === N;
  }, 5000, () => `s3ap_requests_total of ${N} PutObject and GetObject:\n${m.split('\n').filter((l) => l.startsWith('s3ap_requests_total')).join('\n')}`);
  assert.equal(metric(m, 's3ap_workers'), 2);
  assert.equal(metric(m, 's3ap_worker_restarts_total'), 0);

  // Both workers served requests: each event's request id maps (through its worker's log line) to a
  // worker pid, and both pids occur.
  const pidOf = wp.requestPids();
  const servedBy = new Set<number>();
  for (const e of evs) {
    const pid = pidOf.get(e['request']['id']);
    assert.ok(pid !== undefined, `a worker logged request ${e['request']['id']}`);
    servedBy.add(pid);
  }
  assert.deepEqual([...servedBy].sort((a, b) => a - b), workers, 'both worker processes served requests');
  assert.ok(!servedBy.has(wp.primaryPid), 'the primary serves no S3 request itself');
});

test('receiver down with --workers 2: events of both workers are spooled by the primary, then all delivered, each worker\'s in order', async (t) => {
  const hec = await startHec(t);
  const wp = await startWorkersProxy(t, ['--log-level', 'debug']);
  const workers = wp.workers();
  await enableWebhook(wp, hec);
  const s3 = client(t, wp.p.url, { keepAlive: false });
  const bucket = 'workers-outage';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await waitUntil(() => s3Events(hec).length === 1, 5000, 'the CreateBucket event');

  await hec.setMode('down');
  const N = 60;
  // One request at a time on new connections: alternate workers, and a known order within each.
  for (let i = 0; i < N; i++) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `k/${String(i).padStart(3, '0')}`, Body: String(i) }));
  let st: Rec = {};
  await waitFor(async () => {
    st = (await wp.admin('GET', '/api/v1/audit-webhook')).json.status;
    return st['state'] === 'down' && st['spooled'] > 0;
  }, 10_000, () => `the webhook down and events spooled (status ${JSON.stringify(st)})`);
  assert.equal(s3Events(hec).length, 1, 'nothing delivered while down');

  await hec.setMode('up');
  await wp.admin('POST', '/api/v1/audit-webhook/test', {}); // wakes the retry probe now
  await waitUntil(() => s3Events(hec).length >= 1 + N, 15_000, `${1 + N} S3 events after the receiver came back (have ${s3Events(hec).length})`);
  // (not settled(): the admin test event reaches the receiver without counting as delivered)
  let status: Rec = {};
  await waitFor(async () => {
    status = (await wp.admin('GET', '/api/v1/audit-webhook')).json.status;
    return status['queued'] === 0 && status['inFlight'] === 0 && status['spooled'] === 0;
  }, 10_000, () => `queue and spool empty (status ${JSON.stringify(status)})`);
  assert.equal(status['dropped'], 0);
  assert.equal(status['state'], 'healthy');
  const puts = s3Events(hec).filter((e) => e['api']['name'] === 'PutObject');
  assert.equal(puts.length, N, 'one event per request, none lost, none doubled');
  assert.equal(new Set(puts.map((e) => e['api']['object'])).size, N);
  // Per worker, the receiver has the events in the order the requests were made.
  const pidOf = wp.requestPids();
  const byWorker = new Map<number, string[]>();
  for (const e of puts) {
    const pid = pidOf.get(e['request']['id']);
    assert.ok(pid !== undefined, `a worker logged request ${e['request']['id']}`);
    byWorker.set(pid, [...(byWorker.get(pid) ?? []), e['api']['object']]);
  }
  assert.deepEqual([...byWorker.keys()].sort((a, b) => a - b), workers, 'both workers served requests during the outage');
  for (const [pid, keys] of byWorker) assert.deepEqual(keys, [...keys].sort(), `worker ${pid}'s events arrive in request order`);
});

/**
 * Runs an admin call while worker `pid` is stopped (SIGSTOP) for `ms`: a primary that waits for every
 * worker's acknowledgement cannot answer before the worker runs again (SIGCONT).
 */
async function withWorkerStopped<T>(pid: number, ms: number, call: () => Promise<T>): Promise<{ reply: T; answeredWhileStopped: boolean }> {
  process.kill(pid, 'SIGSTOP');
  try {
    let answered = false;
    const pending = call().then((r) => { answered = true; return r; });
    pending.catch(() => {}); // awaited below
    await sleep(ms);
    const answeredWhileStopped = answered;
    process.kill(pid, 'SIGCONT');
    return { reply: await pending, answeredWhileStopped };
  } finally {
    try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  }
}

/** The admin call's reply, made while worker `pid` (if any) is stopped: it must wait for that worker. */
async function answeredAfter(pid: number | null, call: () => Promise<AdminReply>, what: string): Promise<AdminReply> {
  if (pid === null) return call();
  const r = await withWorkerStopped(pid, 500, call);
  assert.equal(r.answeredWhileStopped, false, `${what} answered while worker ${pid} could not have acknowledged`);
  return r.reply;
}

test('disable and enable through the admin API reply only after every worker acknowledged', async (t) => {
  const hec = await startHec(t);
  // No local audit log (the embedded store's default): disabling the webhook must turn auditing off.
  const wp = await startWorkersProxy(t, ['--log-level', 'debug', '--audit-log', 'none']);
  const workers = wp.workers();
  await enableWebhook(wp, hec);
  const pooled = client(t, wp.p.url, { keepAlive: true, maxSockets: 8 });
  const fresh = client(t, wp.p.url, { keepAlive: false });
  const bucket = 'workers-b';
  await pooled.send(new CreateBucketCommand({ Bucket: bucket }));
  // Open pooled connections to both workers.
  await runBatches(8, 8, (i) => pooled.send(new PutObjectCommand({ Bucket: bucket, Key: `warm/${i}`, Body: 'w' })));
  await waitUntil(() => eventsFor(hec, 'PutObject', 'warm/7').length === 1, 5000, 'the warm-up events');

  const onKeys: string[] = [];
  const offKeys: string[] = [];
  const enableBody = { endpoint: hec.eventUrl, authToken: `Splunk ${HEC_TOKEN}`, batchMaxWaitMs: 50 };
  const CYCLES = 3;
  for (let c = 0; c < CYCLES; c++) {
    // In the first cycle one worker is stopped for a while, for disable and for enable: the reply must
    // wait for it (it comes well within the primary's 2 s acknowledgement timeout).
    const stopped = c === 0 && workers.length === 2 ? workers[0]! : null;
    const disable = (): Promise<AdminReply> => wp.admin('POST', '/api/v1/audit-webhook/disable', {});
    const off = await answeredAfter(stopped, disable, 'disable');
    assert.equal(off.status, 200, off.text);
    assert.equal(off.json.enabled, false);
    // Right after the reply, on pooled connections to both workers and on new ones.
    const keys = Array.from({ length: 8 }, (_, i) => `off/${c}/${i}`);
    offKeys.push(...keys);
    await Promise.all(keys.map((k, i) => (i % 2 ? pooled : fresh).send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }))));

    const enable = (): Promise<AdminReply> => wp.admin('POST', '/api/v1/audit-webhook/enable', enableBody);
    const other = stopped === null ? null : workers.find((w) => w !== stopped)!;
    const on = await answeredAfter(other, enable, 'enable');
    assert.equal(on.status, 200, on.text);
    assert.equal(on.json.enabled, true);
    // The very next requests, two at once on new connections (so one on each worker), are audited.
    const next = [`on/${c}/0`, `on/${c}/1`];
    onKeys.push(...next);
    await Promise.all(next.map((k) => fresh.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }))));
    await waitUntil(() => next.every((k) => eventsFor(hec, 'PutObject', k).length === 1), 5000, `the events of ${next.join(', ')} right after enable`);
  }
  await settled(wp, hec);
  await sleep(300);
  for (const k of offKeys) assert.equal(eventsFor(hec, 'PutObject', k).length, 0, `${k} was sent while auditing was off`);
  for (const k of onKeys) assert.equal(eventsFor(hec, 'PutObject', k).length, 1, `${k}: one event`);
  // The first requests after each enable reached both workers, and both had the news.
  const pidOf = wp.requestPids();
  const onPids = new Set(onKeys.map((k) => pidOf.get(eventsFor(hec, 'PutObject', k)[0]!['request']['id']) ?? 0));
  assert.deepEqual([...onPids].sort((a, b) => a - b), workers, 'requests right after enable were served by both workers');
  const admin = (hec.events as Rec[]).filter((e) => e['kind'] === 'admin').map((e) => e['api']['name']);
  // Each enable's event (recorded once it succeeded; the first enable's too) reaches the new webhook;
  // a successful disable's is recorded with the webhook already off.
  assert.equal(admin.filter((n) => n === 's3ap:EnableAuditWebhook').length, CYCLES + 1, admin.join(','));
  assert.equal(admin.filter((n) => n === 's3ap:DisableAuditWebhook').length, 0, admin.join(','));
});

test('a worker killed with SIGKILL is replaced: the proxy keeps answering and auditing, and /metrics counts the restart', async (t) => {
  const hec = await startHec(t);
  const wp = await startWorkersProxy(t, ['--log-level', 'debug']);
  if (childPids(wp.primaryPid) === null) {
    t.skip('cannot list the primary\'s children here (no /proc/<pid>/task/*/children, no pgrep)');
    return;
  }
  const before = wp.workers();
  assert.equal(before.length, 2, `two workers: ${before.join(',')}`);
  await enableWebhook(wp, hec);
  const s3 = client(t, wp.p.url, { keepAlive: false });
  const bucket = 'workers-c';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));

  const [victim, survivor] = before as [number, number];
  const mark = wp.p.output.length;
  process.kill(victim, 'SIGKILL');
  await waitUntil(() => logRecords(wp.p.output.slice(mark)).some((r) => r['msg'] === 'S3 listener worker died; starting another'), 5000,
    'the primary to notice the worker died');
  assert.equal(alive(survivor), true);

  // Served meanwhile (new connections: the dead worker's pooled sockets are gone with it).
  await runBatches(6, 3, (i) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `during/${i}`, Body: 'd' })));

  // The replacement: a new child of the primary, listening on the shared port.
  let replacement = 0;
  await waitFor(() => {
    const now = wp.workers();
    replacement = now.find((p) => p !== survivor && p !== victim) ?? 0;
    return now.length === 2 && !now.includes(victim) && replacement !== 0
      && logRecords(wp.p.output.slice(mark)).some((r) => r['msg'] === 'worker listening' && Number(r['pid']) === replacement);
  }, 10_000, () => `a replacement worker listening (children now ${wp.workers().join(',')}); log since the kill:\n${wp.p.output.slice(mark).join('\n')}`);
  let m = '';
  await waitFor(async () => {
    m = await wp.metrics();
    return metric(m, 's3ap_workers') === 2 && metric(m, 's3ap_worker_restarts_total') === 1;
  }, 10_000, () => `s3ap_workers 2 and s3ap_worker_restarts_total 1:\n${m.split('\n').filter((l) => l.startsWith('s3ap_worker')).join('\n')}`);

  // After the restart: still audited, and the new worker takes its share of connections.
  const after = Array.from({ length: 6 }, (_, i) => `after/${i}`);
  await runBatches(after.length, 2, (i) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: after[i]!, Body: 'a' })));
  await waitUntil(() => after.every((k) => eventsFor(hec, 'PutObject', k).length === 1), 5000, 'events of the requests after the restart');
  for (let i = 0; i < 6; i++) assert.equal(eventsFor(hec, 'PutObject', `during/${i}`).length, 1, `during/${i}`);
  const pidOf = wp.requestPids();
  const servedBy = new Set(after.map((k) => pidOf.get(eventsFor(hec, 'PutObject', k)[0]!['request']['id'])));
  assert.ok(servedBy.has(replacement), `the replacement worker ${replacement} served some of ${[...servedBy].join(',')}`);

  // Still one restart: the replacement did not die in turn.
  await sleep(500);
  m = await wp.metrics();
  assert.equal(metric(m, 's3ap_worker_restarts_total'), 1, m);
  assert.equal(metric(m, 's3ap_workers'), 2);
  assert.deepEqual(wp.workers(), [survivor, replacement].sort((a, b) => a - b));
});

test('SIGTERM with requests in flight on both workers: they complete, their events reach --audit-log, exit 0', async (t) => {
  const backend = await startSniffBackend();
  t.after(() => backend.close());
  backend.respond = (_req, res) => setTimeout(() => { res.writeHead(200, { 'content-length': '4', 'x-amz-request-id': 'SLOW' }); res.end('done'); }, 400);
  const auditDir = tempDir('s3ap-workers-log-');
  t.after(() => auditDir.remove());
  const auditLog = join(auditDir.path, 'audit.jsonl');
  const wp = await startWorkersProxy(t, ['--backend', backend.url, '--audit-log', auditLog, '--log-level', 'debug']);

  const get = (path: string): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
    // agent: false — a connection each, so the two requests go to the two workers.
    http.get(`${wp.p.url}${path}`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
  const replies = [get('/b/slow-1'), get('/b/slow-2')];
  await backend.waitFor(2, 5000);
  // Both requests are at the backend (which answers 400 ms later): now ask the proxy to stop.
  const code = wp.p.stop('SIGTERM');
  assert.deepEqual(await Promise.all(replies), [{ status: 200, body: 'done' }, { status: 200, body: 'done' }]);
  assert.equal(await code, 0);

  const recs = logRecords(wp.p.output);
  const msgs = recs.map((r) => String(r['msg']));
  assert.ok(msgs.includes('shutting down') && msgs.includes('shutdown complete'), msgs.join(' | '));
  assert.ok(!msgs.includes('workers ended without sending their last events'), msgs.join(' | '));
  assert.ok(!msgs.includes('workers did not stop in time: killing them'), msgs.join(' | '));
  const servedBy = new Set(recs.filter((r) => r['msg'] === 'request').map((r) => Number(r['pid'])));
  assert.equal(servedBy.size, 2, 'one request on each worker');

  assert.ok(existsSync(auditLog), 'the audit log exists');
  const lines = readFileSync(auditLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec);
  for (const key of ['slow-1', 'slow-2']) {
    const evs = lines.filter((e) => e['api']?.['object'] === key);
    assert.equal(evs.length, 1, `${key}: one event in the audit log (${lines.length} lines)`);
    const e = evs[0]!;
    assert.equal(e['api']['name'], 'GetObject');
    assert.equal(e['response']['statusCode'], 200);
    assert.equal(e['response']['requestId'], 'SLOW');
    assert.equal(e['outcome'], 'completed');
    assert.ok(e['timing']['totalMs'] >= 350, `the event covers the whole slow request (${e['timing']['totalMs']} ms)`);
    assert.ok(validateEvent(e), JSON.stringify(validateEvent.errors));
  }
});


test('the workers stream bodies with the malloc settings the image sets; an environment with its own malloc settings is left alone', async (t) => {
  if (!existsSync('/proc/self/environ')) return t.skip('no /proc here');
  // A clean environment (spawnProxy passes only PATH and HOME): the primary hands the settings to its workers.
  const tuned = await startWorkersProxy(t);
  const workers = tuned.workers();
  assert.equal(workers.length, 2);
  for (const w of workers) {
    const env = environOf(w);
    assert.equal(env.get('MALLOC_TRIM_THRESHOLD_'), String(32 * 1024 * 1024), `worker ${w}`);
    assert.equal(env.get('MALLOC_MMAP_THRESHOLD_'), String(4 * 1024 * 1024), `worker ${w}`);
  }
  assert.equal(environOf(tuned.primaryPid).get('MALLOC_TRIM_THRESHOLD_'), undefined, 'the primary itself is not re-executed');
  assert.equal(logRecords(tuned.p.output).find((r) => r['msg'] === 's3-audit-proxy listening')?.['malloc'], 'tuned');
  // Someone else's malloc setting: nothing is added to it, and the log says so.
  const own = await startWorkersProxy(t, [], { MALLOC_ARENA_MAX: '2' });
  const ownWorkers = own.workers();
  assert.equal(ownWorkers.length, 2);
  for (const w of ownWorkers) {
    const env = environOf(w);
    assert.equal(env.get('MALLOC_ARENA_MAX'), '2', `worker ${w}`);
    assert.equal(env.get('MALLOC_TRIM_THRESHOLD_'), undefined, `worker ${w}`);
  }
  assert.equal(logRecords(own.p.output).find((r) => r['msg'] === 's3-audit-proxy listening')?.['malloc'], 'custom');
});

test('bad --workers values stop start-up naming the flag or S3AP_WORKERS (exit 2); auto is accepted', (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [CLI_MAIN, 'serve', ...args, '--data-dir', dir.path, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
    { encoding: 'utf8', env: { PATH: process.env['PATH'], ...env }, timeout: 20_000 });
  for (const bad of ['0', 'two', '65', '1.5', '-1']) {
    const r = run(['--workers', bad]);
    assert.equal(r.status, 2, `--workers ${bad}: exit 2 (${r.stderr})`);
    assert.match(r.stderr, /--workers: expected a whole number from 1 to 64 or auto/, `--workers ${bad}`);
    assert.ok(r.stderr.includes(JSON.stringify(bad)), `the message quotes ${bad}: ${r.stderr}`);
  }
  const env = run([], { S3AP_WORKERS: 'zero' });
  assert.equal(env.status, 2, env.stderr);
  assert.match(env.stderr, /S3AP_WORKERS: expected a whole number from 1 to 64 or auto, got "zero"/, 'the environment variable is named');

  const auto = loadServeConfig([], { S3AP_WORKERS: 'auto' });
  assert.ok(Number.isInteger(auto.workers) && auto.workers >= 1 && auto.workers <= 64, String(auto.workers));
  assert.equal(auto.workers, Math.min(64, availableParallelism()));
  assert.equal(loadServeConfig(['--workers', 'auto'], {}).workers, auto.workers);
  assert.equal(loadServeConfig([], {}).workers, 1, 'default: one process');
  const file = join(dir.path, 'config.json');
  writeFileSync(file, JSON.stringify({ workers: 3 }));
  assert.equal(loadServeConfig(['--config', file], {}).workers, 3, 'a number in the config file');
  writeFileSync(file, JSON.stringify({ workers: 'auto' }));
  assert.equal(loadServeConfig(['--config', file], {}).workers, auto.workers, '"auto" in the config file');
  assert.equal(loadServeConfig(['--workers', '64'], {}).workers, 64);
  assert.throws(() => loadServeConfig(['--workers', '0'], {}), (err: unknown) => err instanceof ConfigError && err.setting === '--workers');
});

test('primary killed with SIGKILL: the workers finish their in-flight requests, then exit (no orphan keeps serving)', async (t) => {
  const backend = await startSniffBackend();
  t.after(() => backend.close());
  backend.respond = (_req, res) => setTimeout(() => { res.writeHead(200, { 'content-length': '4' }); res.end('done'); }, 600);
  const wp = await startWorkersProxy(t, ['--backend', backend.url]);
  const workers = wp.workers();
  assert.equal(workers.length, 2, `two workers (${workers.join(',')})`);
  const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
    http.get(`${wp.p.url}/b/slow`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
  await backend.waitFor(1, 5000);
  process.kill(wp.primaryPid, 'SIGKILL');
  assert.deepEqual(await reply, { status: 200, body: 'done' }, 'the in-flight request is answered');
  await waitFor(() => !workers.some(alive), 8000, () => `workers still running: ${workers.filter(alive).join(',')}`);
  const msgs = logRecords(wp.p.output).map((r) => String(r['msg']));
  assert.ok(msgs.includes('the primary process is gone: this worker stops'), msgs.join(' | '));
});
