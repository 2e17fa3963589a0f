// Shared machinery of the reliability scenarios (test/reliability/*.test.ts): a proxy wired to a real
// S3 backend and a real HEC receiver, S3 traffic generators (AWS SDK v3 and a raw undici Pool with
// presigned URLs), the accounting every scenario prints and checks, and /proc sampling of a child
// proxy. Everything here is bounded in count and in time, and everything started is closed in t.after.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Pool } from 'undici';
import type { Registry } from 'prom-client';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '../../../src/audit/event.js';
import { AuditDispatcher, type AuditDispatcherOptions, type DispatcherCounters } from '../../../src/dispatch/dispatcher.js';
import type { AuditControl, TargetStatus, TestEventResult, WebhookTargetConfig } from '../../../src/dispatch/types.js';
import type { AuditSink } from '../../../src/audit/sink.js';
import { createLogger } from '../../../src/log.js';
import { bucketName, type TestBackend } from '../../helpers/backend.js';
import { startHecReceiver, type HecReceiver } from '../../helpers/hec-receiver.js';
import { spawnProxy, startInProcessProxy, type ChildProxy, type InProcessProxy } from '../../helpers/proxy.js';
import { adminCall } from '../../helpers/admin.js';
import { s3Client } from '../../helpers/s3.js';

export const HEC_TOKEN = '5C2B1E0A-7D3F-4E8B-9A61-0F2D4C6B8E10';
export const HEC_TOKEN_2 = 'A1F3C5E7-2B4D-4F60-8C9E-1D3B5A7C9E20';

export type Ctx = { after: (fn: () => unknown) => void; diagnostic: (msg: string) => void };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms; throws with `what()` after timeoutMs. Bounded. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(20);
  }
}

/**
 * A LIFO cleanup list hooked on t.after: things are closed in the reverse order they were started
 * (node:test runs t.after hooks in registration order). Every step runs, errors are reported after.
 */
export function cleanupStack(t: Ctx): (fn: () => unknown) => void {
  const fns: Array<() => unknown> = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const fn of fns.reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length) throw errors[0];
  });
  return (fn) => void fns.push(fn);
}

/** Collects pino's JSON lines (the dispatcher we construct logs here). */
export class Lines extends Writable {
  lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const l of chunk.toString('utf8').split('\n')) {
      if (!l) continue;
      try {
        this.lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        /* not JSON */
      }
    }
    cb();
  }
  count(substr: string): number {
    return this.lines.filter((l) => String(l['msg']).includes(substr)).length;
  }
}

/**
 * The proxy's audit sink: the real AuditDispatcher, seen through a transparent recorder that notes
 * the id of every event in the order the proxy enqueued it (the order the dispatcher promises to keep
 * with concurrency 1). Also the admin API's control (isAuditControl), so enable/disable work.
 */
export class RecordingSink implements AuditSink, AuditControl {
  readonly order: string[] = [];
  constructor(readonly d: AuditDispatcher) {}
  get active(): boolean {
    return this.d.active;
  }
  enqueue(event: AuditEvent): void {
    this.order.push(event.id);
    this.d.enqueue(event);
  }
  webhookConfig(): WebhookTargetConfig | null {
    return this.d.webhookConfig();
  }
  setWebhook(config: WebhookTargetConfig | null): Promise<void> {
    return this.d.setWebhook(config);
  }
  status(): TargetStatus {
    return this.d.status();
  }
  sendTestEvent(): Promise<TestEventResult> {
    return this.d.sendTestEvent();
  }
  metricsRegistry(): Registry {
    return this.d.metricsRegistry();
  }
}

export interface Rig {
  backend: TestBackend;
  bucket: string;
  r: HecReceiver;
  d: AuditDispatcher;
  rec: RecordingSink;
  proxy: InProcessProxy;
  client: S3Client;
  adminToken: string;
  webhook: WebhookTargetConfig;
  logs: Lines;
  dataDir: string;
  /** Adds a cleanup step to the rig's LIFO list (runs before the rig's own parts are closed). */
  defer: (fn: () => unknown) => void;
}

export interface RigOptions {
  dispatcher?: Partial<AuditDispatcherOptions>;
  webhook?: Partial<WebhookTargetConfig>;
  /** Enable the webhook at start (default true). */
  enable?: boolean;
  proxyArgs?: string[];
  /** A backend to use instead of a fresh s3rver process (the caller closes it). */
  backend?: TestBackend;
  dataDir?: string;
  /** A cleanup stack to use (its earlier entries run after the rig's parts are closed). */
  defer?: (fn: () => unknown) => void;
}

/**
 * s3rver backend + bucket (created directly at the backend: every request through the proxy is test
 * traffic), HEC receiver, AuditDispatcher with small retry bases, in-process proxy using it (through a
 * RecordingSink), admin API on an ephemeral port. All closed in t.after, in reverse order.
 */
/** A fresh bucket, created at the backend directly so every proxied request is test traffic. */
export async function createBucket(backend: TestBackend): Promise<string> {
  const bucket = bucketName('rel');
  const direct = s3Client(backend.url, backend);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
  direct.destroy();
  return bucket;
}

export async function startRig(t: Ctx, o: RigOptions = {}): Promise<Rig> {
  const defer = o.defer ?? cleanupStack(t);
  const backend = o.backend ?? (await startBackendProcess(t));
  const bucket = await createBucket(backend);
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  let dataDir = o.dataDir;
  if (!dataDir) {
    const dd = mkdtempSync(join(tmpdir(), 's3ap-rel-'));
    dataDir = dd;
    defer(() => rmSync(dd, { recursive: true, force: true }));
  }
  const logs = new Lines();
  const logger = createLogger('info', logs);
  const d = new AuditDispatcher({ dataDir, logger, retryBaseMs: 50, retryMaxMs: 1000, ...o.dispatcher });
  defer(() => d.close(0));
  await d.start();
  const rec = new RecordingSink(d);
  const proxy = await startInProcessProxy(['--backend', backend.url, ...(o.proxyArgs ?? [])], { logLevel: 'warn', parts: { sink: rec } });
  defer(() => proxy.close());
  const adminToken = readFileSync(join(proxy.dataDir, 'admin-token'), 'utf8').trim();
  const client = s3Client(proxy.url, backend);
  defer(() => client.destroy());
  const webhook: WebhookTargetConfig = { endpoint: r.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs: 50, concurrency: 1, requestTimeoutMs: 5000, ...o.webhook };
  if (o.enable !== false) await d.setWebhook(webhook);
  return { backend, bucket, r, d, rec, proxy, client, adminToken, webhook, logs, dataDir, defer };
}

// ---- S3 backend in its own process --------------------------------------------------------------

export interface BackendProcess extends TestBackend {
  port: number;
  pid(): number;
  /** SIGKILL the backend (connections reset, port closed). */
  stop(): Promise<void>;
  /** Start it again on the same port with the same data. */
  start(): Promise<void>;
}

const S3RVER_CHILD = fileURLToPath(new URL('./s3rver-child.js', import.meta.url));

/** A real s3rver in a child process (own event loop); stop()/start() keep its port and data. */
export async function startBackendProcess(t: Ctx): Promise<BackendProcess> {
  const dir = mkdtempSync(join(tmpdir(), 's3ap-rel-s3rver-'));
  let child: ChildProcess | null = null;
  let port = 0;
  const launch = async (): Promise<void> => {
    const c = spawn(process.execPath, [S3RVER_CHILD, JSON.stringify({ port, dir })], { stdio: ['pipe', 'pipe', 'pipe'] });
    child = c;
    let out = '';
    c.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3rver child did not start: ${out}`)), 15_000);
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver child exited (${code}): ${out}`));
      });
    });
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await launch();
  const b: BackendProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    kind: 's3rver',
    pid: () => child?.pid ?? 0,
    stop,
    start: launch,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t.after(() => b.close());
  return b;
}

// ---- S3 traffic ---------------------------------------------------------------------------------

export type Op = 'put' | 'get' | 'head';

export interface S3Result {
  /** performance.now() when the client had the whole response (or the error). */
  at: number;
  worker: number;
  op: Op;
  key: string;
  /** HTTP status; 0 = no response (network error). */
  status: number;
  /** S3 error code from the XML body (or the network error code), null on 2xx. */
  code: string | null;
  /** x-amz-request-id of the response. */
  requestId: string | null;
  ms: number;
}

export interface Traffic {
  results: S3Result[];
  /** Requests started (each one that reached the proxy is one audit event). */
  sent(): number;
  stop(): Promise<S3Result[]>;
}

const BODY = Buffer.alloc(200, 'a');

/** Presigned URLs (through the proxy) so a raw undici Pool sends real, signed S3 requests cheaply. */
export async function presign(client: S3Client, bucket: string, key: string): Promise<{ get: string; head: string; put: string }> {
  const opts = { expiresIn: 3600 };
  return {
    get: await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), opts),
    head: await getSignedUrl(client, new HeadObjectCommand({ Bucket: bucket, Key: key }), opts),
    put: await getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: key }), opts),
  };
}

/** One S3 request on a raw undici Pool, body read whole. Never throws (status 0 = network error). */
export async function s3Once(pool: Pool, op: Op, url: string, worker: number, key: string, timeoutMs = 30_000): Promise<S3Result> {
  const u = new URL(url);
  const s = performance.now();
  const method = op === 'put' ? 'PUT' : op === 'get' ? 'GET' : 'HEAD';
  try {
    const res = await pool.request({
      method, path: u.pathname + u.search,
      body: op === 'put' ? BODY : undefined,
      headers: op === 'put' ? { 'content-length': String(BODY.length) } : {},
      headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    const code = res.statusCode >= 300 ? (/<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP${res.statusCode}`) : null;
    const rid = res.headers['x-amz-request-id'];
    return { at: performance.now(), worker, op, key, status: res.statusCode, code, requestId: typeof rid === 'string' ? rid : null, ms: performance.now() - s };
  } catch (err) {
    return { at: performance.now(), worker, op, key, status: 0, code: (err as { code?: string }).code ?? 'error', requestId: null, ms: performance.now() - s };
  }
}

/**
 * Steady S3 traffic: `workers` sequential loops (one keep-alive connection each), together about
 * `rate` req/s, each cycling PUT -> GET -> HEAD over its own 8 keys (`<prefix><worker>/k<n>`), with
 * presigned (SigV4) URLs the backend verifies. Ends on stop() or after maxSeconds. With `seed` (a client
 * of the backend itself) every key is written first, directly, not through the proxy.
 */
export async function startTraffic(o: { url: string; client: S3Client; bucket: string; rate: number; workers: number; maxSeconds: number; prefix?: string; ops?: Op[]; timeoutMs?: number; seed?: S3Client }): Promise<Traffic> {
  const results: S3Result[] = [];
  const ops = o.ops ?? ['put', 'get', 'head'];
  const prefix = o.prefix ?? 'w';
  const KEYS = 8;
  const urls: Array<Array<{ get: string; head: string; put: string }>> = [];
  for (let w = 0; w < o.workers; w++) {
    const list = [];
    for (let k = 0; k < KEYS; k++) {
      list.push(await presign(o.client, o.bucket, `${prefix}${w}/k${k}`));
      // seed: every key exists before the traffic starts (a failed PUT then never causes a 404)
      if (o.seed) await o.seed.send(new PutObjectCommand({ Bucket: o.bucket, Key: `${prefix}${w}/k${k}`, Body: BODY }));
    }
    urls.push(list);
  }
  const pool = new Pool(o.url, { connections: o.workers, keepAliveTimeout: 30_000 });
  let started = 0;
  let stopped = false;
  const hardEnd = performance.now() + o.maxSeconds * 1000;
  const interval = (1000 * o.workers) / o.rate;
  const worker = async (w: number): Promise<void> => {
    const t0 = performance.now() + (interval * w) / o.workers;
    for (let i = 0; !stopped && performance.now() < hardEnd; i++) {
      const wait = t0 + i * interval - performance.now();
      if (wait > 0) await sleep(wait);
      if (stopped) break;
      const op = ops[i % ops.length];
      const k = Math.floor(i / ops.length) % KEYS;
      started++;
      results.push(await s3Once(pool, op, urls[w][k][op], w, `${prefix}${w}/k${k}`, o.timeoutMs));
    }
  };
  const all = Promise.all(Array.from({ length: o.workers }, (_, w) => worker(w)));
  let stopping: Promise<S3Result[]> | null = null;
  return {
    results,
    sent: () => started,
    stop() {
      stopped = true;
      stopping ??= all.then(() => pool.close()).then(() => results);
      return stopping;
    },
  };
}

export { Pool };

export interface RawStats {
  sent: number;
  byStatus: Record<string, number>;
  latencies: number[];
}

export function newRawStats(): RawStats {
  return { sent: 0, byStatus: {}, latencies: [] };
}

/** One request on a raw undici Pool, body read whole; counted by status (or network error code). Never throws. */
export async function rawOnce(pool: Pool, method: 'GET' | 'HEAD', url: string, stats: RawStats, timeoutMs = 30_000): Promise<number> {
  const u = new URL(url);
  const s = performance.now();
  stats.sent++;
  let key: string;
  let status = 0;
  try {
    const res = await pool.request({ method, path: u.pathname + u.search, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    await res.body.dump({ limit: 1 << 20 });
    status = res.statusCode;
    key = String(status);
  } catch (err) {
    key = (err as { code?: string }).code ?? 'error';
  }
  stats.latencies.push(performance.now() - s);
  stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
  return status;
}

// ---- accounting ---------------------------------------------------------------------------------

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export const r1 = (n: number): number => Math.round(n * 10) / 10;

/** Receiver-side view: unique event ids by kind, duplicates, first-occurrence order. */
export function received(r: HecReceiver): { s3: Set<string>; admin: Set<string>; gaps: Set<string>; unique: number; duplicates: number; firstOrder: string[]; byId: Map<string, AuditEvent> } {
  const s3 = new Set<string>();
  const admin = new Set<string>();
  /** The dispatcher's own gap events (declared losses, a crash at the previous run). */
  const gaps = new Set<string>();
  const seen = new Set<string>();
  const firstOrder: string[] = [];
  const byId = new Map<string, AuditEvent>();
  let duplicates = 0;
  for (const raw of r.events) {
    const e = raw as AuditEvent;
    if (seen.has(e.id)) {
      duplicates++;
      continue;
    }
    seen.add(e.id);
    firstOrder.push(e.id);
    byId.set(e.id, e);
    if (e.kind === 'admin') admin.add(e.id);
    else if ((e.kind as string) === 'gap') gaps.add(e.id);
    else s3.add(e.id);
  }
  return { s3, admin, gaps, unique: seen.size, duplicates, firstOrder, byId };
}

/** Samples the dispatcher every 50 ms for peaks (spool, memory queue) and the first drop. */
export function sampler(d: AuditDispatcher): { peakSpool: number; peakSpoolBytes: number; peakQueued: number; firstDrop: { spoolBytes: number; spool: number; queued: number } | null; stop(): void } {
  const s = {
    peakSpool: 0, peakSpoolBytes: 0, peakQueued: 0, firstDrop: null as { spoolBytes: number; spool: number; queued: number } | null,
    stop: () => clearInterval(timer),
  };
  const timer = setInterval(() => {
    const st = d.status();
    s.peakSpool = Math.max(s.peakSpool, st.spooled);
    s.peakSpoolBytes = Math.max(s.peakSpoolBytes, st.spoolBytes);
    s.peakQueued = Math.max(s.peakQueued, st.queued);
    if (st.dropped > 0 && !s.firstDrop) s.firstDrop = { spoolBytes: st.spoolBytes, spool: st.spooled, queued: st.queued };
  }, 50);
  timer.unref();
  return s;
}

/** Waits (bounded) until every generated event is delivered, dropped or dead-lettered, nothing pending. */
export async function waitSettled(d: AuditDispatcher, timeoutMs: number): Promise<DispatcherCounters> {
  await waitFor(() => {
    const c = d.counters();
    return c.queued === 0 && c.spoolEvents === 0 && c.inFlight === 0 && c.delivered + c.dropped + c.deadLettered === c.generated + c.recovered;
  }, timeoutMs, () => `all events settled: ${JSON.stringify(d.counters())}`);
  return d.counters();
}

/** delivered + dropped + deadLettered = generated (+ recovered), nothing pending; drops only if expected. */
export function assertBalanced(c: DispatcherCounters, dropsExpected = false): void {
  const j = JSON.stringify(c);
  assert.equal(c.queued, 0, `nothing left in memory ${j}`);
  assert.equal(c.spoolEvents, 0, `nothing left in the spool ${j}`);
  assert.equal(c.inFlight, 0, `nothing in flight ${j}`);
  assert.equal(c.delivered + c.dropped + c.deadLettered, c.generated + c.recovered, `delivered + dropped + deadLettered = generated (+ recovered): ${j}`);
  if (!dropsExpected) assert.equal(c.dropped, 0, `no drops while the spool had room: ${j}`);
}

/** Each S3 result was 2xx, or one of the expected S3 errors (by status and code). */
export function assertS3Ok(results: S3Result[], expected: Array<{ status: number; code: string }> = []): { ok: number; expectedErrors: number } {
  let ok = 0;
  let exp = 0;
  const bad: S3Result[] = [];
  for (const x of results) {
    if (x.status >= 200 && x.status < 300) ok++;
    else if (expected.some((e) => e.status === x.status && e.code === x.code)) exp++;
    else bad.push(x);
  }
  assert.equal(bad.length, 0, `unexpected S3 responses: ${JSON.stringify(bad.slice(0, 5))}`);
  return { ok, expectedErrors: exp };
}

/** With concurrency 1 the receiver sees the events in exactly the order the proxy enqueued them. */
export function assertSameOrder(firstOrder: string[], enqueued: string[], skip: ReadonlySet<string> = new Set()): void {
  const want = skip.size ? enqueued.filter((id) => !skip.has(id)) : enqueued;
  const at = firstOrder.findIndex((id, i) => id !== want[i]);
  assert.ok(at === -1 && firstOrder.length === want.length,
    `receiver order = enqueue order: ${firstOrder.length} received vs ${want.length} enqueued, first difference at ${at}`);
}

/**
 * With concurrency N > 1 only the order inside each request is promised: every request's events form
 * an increasing run of enqueue positions.
 */
export function assertOrderWithinRequests(r: HecReceiver, enqueued: string[]): number {
  const pos = new Map<string, number>();
  enqueued.forEach((id, i) => pos.set(id, i));
  let k = 0;
  let requests = 0;
  for (const req of r.requests) {
    if (req.events === 0) continue;
    requests++;
    let last = -1;
    for (let i = 0; i < req.events; i++) {
      const e = r.events[k++] as AuditEvent;
      const p = pos.get(e.id);
      assert.ok(p !== undefined, `received event ${e.id} was enqueued`);
      assert.ok(p > last, `events inside one request keep enqueue order (request ${requests}, event ${i})`);
      last = p;
    }
  }
  assert.equal(k, r.events.length, 'every received event belongs to a request');
  return requests;
}

/** Per S3 worker (a sequential client), the receiver has its events in request order (event time). */
export function assertWorkerTimeOrder(firstOrder: string[], byId: Map<string, AuditEvent>, prefix: string): void {
  const lastTime = new Map<string, string>();
  for (const id of firstOrder) {
    const e = byId.get(id)!;
    if (e.kind !== 's3' || !e.api.object) continue;
    const w = e.api.object.split('/')[0];
    if (!w.startsWith(prefix)) continue;
    const prev = lastTime.get(w);
    assert.ok(prev === undefined || prev <= e.time, `events of ${w} in time order: ${prev} then ${e.time}`);
    lastTime.set(w, e.time);
  }
}

export function summary(fields: Record<string, unknown>): string {
  return Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
}

// ---- child processes: /proc and metrics ---------------------------------------------------------

export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Numbers from the admin /metrics page: `name` or `name{label="v"}` -> value. */
export async function scrapeMetrics(adminUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** The dispatcher counters of a child proxy, from its /metrics. */
export async function childCounters(adminUrl: string): Promise<{ generated: number; delivered: number; dropped: number; droppedByReason: Record<string, number>; deadLettered: number; queued: number; spool: number; inFlight: number; spooledTotal: number }> {
  const m = await scrapeMetrics(adminUrl);
  let dropped = 0;
  let dead = 0;
  const droppedByReason: Record<string, number> = {};
  for (const [k, v] of m) {
    const dm = /^s3ap_audit_events_dropped_total\{reason="([^"]+)"\}$/.exec(k);
    if (dm) {
      dropped += v;
      if (v) droppedByReason[dm[1]] = v;
    }
    if (k.startsWith('s3ap_audit_events_dead_lettered_total')) dead += v;
  }
  return {
    generated: m.get('s3ap_audit_events_enqueued_total') ?? NaN,
    delivered: m.get('s3ap_audit_events_delivered_total{target="webhook"}') ?? NaN,
    dropped,
    droppedByReason,
    deadLettered: dead,
    queued: m.get('s3ap_audit_queue_events') ?? NaN,
    spool: m.get('s3ap_audit_spool_events') ?? NaN,
    inFlight: m.get('s3ap_audit_in_flight_requests') ?? NaN,
    spooledTotal: m.get('s3ap_audit_events_spooled_total') ?? NaN,
  };
}


/**
 * The real CLI (`serve`) as a child, like test/helpers/proxy.ts spawnProxy, optionally under a
 * file-size limit (RLIMIT_FSIZE, KiB): a write past it fails with EFBIG, as a full disk fails with
 * ENOSPC. Resolves once it logs "s3-audit-proxy listening" (bounded).
 */
export async function spawnProxyLimited(args: string[], env: NodeJS.ProcessEnv, fileSizeLimitKiB: number | null, timeoutMs = 15_000): Promise<ChildProxy> {
  return spawnProxy(args, env, timeoutMs, fileSizeLimitKiB === null ? {} : { fileSizeLimitKiB });
}

/** Log records of a child proxy (JSON lines only). */
export function childLogs(output: string[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const l of output) {
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* not JSON */
    }
  }
  return out;
}

/** True when the child's admin /healthz answers within timeoutMs (its event loop is alive). */
export async function alive(adminUrl: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const res = await fetch(`${adminUrl}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Waits (bounded) until a child's dispatcher has settled: nothing queued, spooled or in flight, all accounted. */
export async function waitChildSettled(adminUrl: string, timeoutMs: number): Promise<Awaited<ReturnType<typeof childCounters>>> {
  let last: Awaited<ReturnType<typeof childCounters>> | null = null;
  let lastErr = '';
  await waitFor(async () => {
    try {
      last = await childCounters(adminUrl);
    } catch (err) {
      lastErr = (err as Error).message;
      return false;
    }
    const c = last;
    return c.queued === 0 && c.spool === 0 && c.inFlight === 0 && c.delivered + c.dropped + c.deadLettered === c.generated;
  }, timeoutMs, () => `child dispatcher settled: ${JSON.stringify(last)} ${lastErr}`);
  return last!;
}

/**
 * The real CLI as a child process (own data dir) with the webhook enabled through the admin API:
 * the set-up of the load scenarios that watch the child's memory and file descriptors.
 */
export async function spawnAuditedProxy(
  defer: (fn: () => unknown) => void, backend: TestBackend, receiver: HecReceiver, adminToken: string, batchMaxWaitMs: number, prefix: string,
): Promise<ChildProxy> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  defer(() => rmSync(dataDir, { recursive: true, force: true }));
  const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dataDir, '--backend', backend.url, '--log-level', 'info'], { S3AP_ADMIN_TOKEN: adminToken });
  defer(() => p.stop());
  const en = await adminCall(p.adminUrl!, 'POST', '/api/v1/audit-webhook/enable', {
    token: adminToken, body: { endpoint: receiver.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs },
  });
  assert.equal(en.status, 200, en.text);
  return p;
}
