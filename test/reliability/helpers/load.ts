// Full-load machinery of scenarios 10-13: a fast S3-like backend in its own process, the real CLI
// (`serve`) as a child with the dispatcher's DEFAULT settings (the webhook enabled through the admin
// API with nothing but endpoint and token), a bounded closed-loop load generator (N concurrent
// requests on a raw undici Pool, as fast as the box goes), and a sampler of the child's /metrics.
// Everything bounded in count and time, 127.0.0.1 only; everything started is closed by the caller's
// cleanup stack.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { adminCall } from '../../helpers/admin.js';
import type { TestBackend } from '../../helpers/backend.js';
import type { HecReceiver } from '../../helpers/hec-receiver.js';
import { spawnProxy, type ChildProxy } from '../../helpers/proxy.js';
import { s3Client } from '../../helpers/s3.js';
import { childCounters, HEC_TOKEN, presign, scrapeMetrics } from './harness.js';

const FAST_CHILD = fileURLToPath(new URL('./fast-backend-child.js', import.meta.url));

export interface FastBackend extends TestBackend {
  pid: number;
}

/** The fast backend child (GET/HEAD: an object of `size` bytes, or `bigSize` for keys containing "big"; PUT: 200). */
export async function startFastBackend(defer: (fn: () => unknown) => void, size = 4096, bigSize?: number): Promise<FastBackend> {
  const c: ChildProcess = spawn(process.execPath, [FAST_CHILD, JSON.stringify({ size, ...(bigSize ? { bigSize } : {}) })], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  c.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fast backend did not start: ${out}`)), 10_000);
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
      reject(new Error(`fast backend exited (${code}): ${out}`));
    });
  });
  const close = async (): Promise<void> => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  defer(close);
  return { url: `http://127.0.0.1:${port}`, accessKeyId: 'FASTBACKENDKEY', secretAccessKey: 'fast-backend-secret', kind: 'external', pid: c.pid!, close };
}

/**
 * The real CLI as a child on its own (or the given) data dir, audit webhook enabled through the
 * admin API with only endpoint + token: every dispatcher setting is the default (queue 100000 events /
 * 64 MiB, spool 1 GiB unless `args` says otherwise, request timeout 15 s, concurrency 2, batch
 * 500 / 1 MiB / 1 s, retry 1 s doubling to 30 s).
 */
export async function spawnDefaultProxy(
  defer: (fn: () => unknown) => void,
  o: { backendUrl: string; receiver: HecReceiver; adminToken: string; args?: string[]; dataDir?: string; enable?: boolean; logLevel?: string },
): Promise<{ p: ChildProxy; dataDir: string; args: string[] }> {
  let dataDir = o.dataDir;
  if (!dataDir) {
    const dd = mkdtempSync(join(tmpdir(), 's3ap-rel-load-'));
    defer(() => rmSync(dd, { recursive: true, force: true }));
    dataDir = dd;
  }
  const args = ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dataDir, '--backend', o.backendUrl, '--log-level', o.logLevel ?? 'info', ...(o.args ?? [])];
  const p = await spawnProxy(args, { S3AP_ADMIN_TOKEN: o.adminToken });
  defer(() => p.stop('SIGKILL'));
  if (o.enable !== false) {
    const en = await adminCall(p.adminUrl!, 'POST', '/api/v1/audit-webhook/enable', { token: o.adminToken, body: { endpoint: o.receiver.eventUrl, authToken: HEC_TOKEN } });
    assert.equal(en.status, 200, en.text);
  }
  return { p, dataDir, args };
}

export interface LoadStats {
  /** Requests started (each reaching the proxy is one audit event). */
  sent: number;
  byStatus: Record<string, number>;
  /** performance.now() at each completion, and each latency (ms), in completion order. */
  doneAt: number[];
  latencies: number[];
}

export interface Load {
  stats: LoadStats;
  /** Completions per second in [from, to) (performance.now() values). */
  rate(from: number, to: number): number;
  /** Latency percentile (ms) of the requests completed in [from, to). */
  latency(p: number, from: number, to: number): number;
  stop(): Promise<LoadStats>;
}

/**
 * Closed-loop load: `concurrency` loops, each sending its next request as soon as the previous one
 * is answered, on one undici Pool of that many connections. Every `putEvery`-th request is a PUT of
 * 512 bytes, the others GETs (of a 4 KiB object with the fast backend); presigned (SigV4) URLs.
 * Ends at stop(), after maxSeconds or after maxRequests, whichever first.
 */
export async function startLoad(o: {
  url: string; backend: TestBackend; bucket: string; concurrency: number; maxSeconds: number; maxRequests: number; putEvery?: number;
}): Promise<Load> {
  const client = s3Client(o.url, o.backend);
  const getUrl = (await presign(client, o.bucket, 'load/object-4k')).get;
  const putUrls: string[] = [];
  for (let i = 0; i < 16; i++) putUrls.push((await presign(client, o.bucket, `load/put-${i}`)).put);
  client.destroy();
  const paths = { get: new URL(getUrl), puts: putUrls.map((u) => new URL(u)) };
  const putBody = Buffer.alloc(512, 'p');
  const pool = new Pool(o.url, { connections: o.concurrency, keepAliveTimeout: 60_000, pipelining: 1 });
  const stats: LoadStats = { sent: 0, byStatus: {}, doneAt: [], latencies: [] };
  const putEvery = o.putEvery ?? 8;
  let stopped = false;
  const hardEnd = performance.now() + o.maxSeconds * 1000;
  const loop = async (): Promise<void> => {
    while (!stopped && performance.now() < hardEnd && stats.sent < o.maxRequests) {
      const i = stats.sent++;
      const put = i % putEvery === putEvery - 1;
      const u = put ? paths.puts[i % paths.puts.length] : paths.get;
      const s = performance.now();
      let key: string;
      try {
        const res = await pool.request({
          method: put ? 'PUT' : 'GET', path: u.pathname + u.search,
          body: put ? putBody : undefined, headers: put ? { 'content-length': String(putBody.length) } : {},
          headersTimeout: 30_000, bodyTimeout: 30_000,
        });
        await res.body.dump({ limit: 1 << 20 });
        key = String(res.statusCode);
      } catch (err) {
        key = (err as { code?: string }).code ?? 'error';
      }
      const now = performance.now();
      stats.doneAt.push(now);
      stats.latencies.push(now - s);
      stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
    }
  };
  const all = Promise.all(Array.from({ length: o.concurrency }, () => loop()));
  let stopping: Promise<LoadStats> | null = null;
  const inRange = (from: number, to: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < stats.doneAt.length; i++) if (stats.doneAt[i] >= from && stats.doneAt[i] < to) out.push(i);
    return out;
  };
  return {
    stats,
    rate(from, to) {
      return to > from ? inRange(from, to).length / ((to - from) / 1000) : 0;
    },
    latency(p, from, to) {
      const v = inRange(from, to).map((i) => stats.latencies[i]).sort((a, b) => a - b);
      return v.length ? v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] : 0;
    },
    stop() {
      stopped = true;
      stopping ??= all.then(() => pool.close()).then(() => stats);
      return stopping;
    },
  };
}

export type ChildCounters = Awaited<ReturnType<typeof childCounters>>;

export interface ChildWatch {
  peakSpool: number;
  peakSpoolBytes: number;
  peakQueued: number;
  peakQueuedBytes: number;
  /** The first sample that showed a drop (what the spool and queue held then). */
  firstDrop: { atMs: number; spool: number; spoolBytes: number; queued: number; dropped: number; byReason: Record<string, number> } | null;
  /** The first sample with something in the spool (ms after the watch started). */
  firstSpoolAtMs: number | null;
  last: ChildCounters | null;
  samples: number;
  stop(): Promise<void>;
}

/** Samples the child's /metrics every intervalMs (sequentially; one scrape at a time). */
export function watchChild(adminUrl: string, intervalMs = 250): ChildWatch {
  const t0 = performance.now();
  let stopped = false;
  const w: ChildWatch = {
    peakSpool: 0, peakSpoolBytes: 0, peakQueued: 0, peakQueuedBytes: 0, firstDrop: null, firstSpoolAtMs: null, last: null, samples: 0,
    async stop() {
      stopped = true;
      await done;
    },
  };
  const done = (async () => {
    while (!stopped) {
      try {
        const m = await scrapeMetrics(adminUrl);
        const c = await countersFrom(m);
        const spoolBytes = m.get('s3ap_audit_spool_bytes') ?? 0;
        const queuedBytes = m.get('s3ap_audit_queue_bytes') ?? 0;
        w.samples++;
        w.last = c;
        w.peakSpool = Math.max(w.peakSpool, c.spool);
        w.peakSpoolBytes = Math.max(w.peakSpoolBytes, spoolBytes);
        w.peakQueued = Math.max(w.peakQueued, c.queued);
        w.peakQueuedBytes = Math.max(w.peakQueuedBytes, queuedBytes);
        if (c.spool > 0 && w.firstSpoolAtMs === null) w.firstSpoolAtMs = Math.round(performance.now() - t0);
        if (c.dropped > 0 && !w.firstDrop) {
          w.firstDrop = { atMs: Math.round(performance.now() - t0), spool: c.spool, spoolBytes, queued: c.queued, dropped: c.dropped, byReason: c.droppedByReason };
        }
      } catch {
        /* a scrape failing under load: the next one counts */
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return w;
}

/** childCounters() from an already scraped page (same fields). */
function countersFrom(m: Map<string, number>): ChildCounters {
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
    dropped, droppedByReason, deadLettered: dead,
    queued: m.get('s3ap_audit_queue_events') ?? NaN,
    spool: m.get('s3ap_audit_spool_events') ?? NaN,
    inFlight: m.get('s3ap_audit_in_flight_requests') ?? NaN,
    spooledTotal: m.get('s3ap_audit_events_spooled_total') ?? NaN,
  };
}

/** Receiver-side ids: unique, duplicates (and how many distinct ids were seen more than once). */
export function receivedIds(r: HecReceiver): { ids: Set<string>; s3: number; admin: number; gaps: number; duplicates: number; duplicatedIds: number } {
  const ids = new Set<string>();
  const dupIds = new Set<string>();
  let duplicates = 0;
  let s3 = 0;
  let admin = 0;
  /** The dispatcher's own gap events, declaring what was lost. */
  let gaps = 0;
  for (const raw of r.events) {
    const e = raw as { id: string; kind: string };
    if (ids.has(e.id)) {
      duplicates++;
      dupIds.add(e.id);
      continue;
    }
    ids.add(e.id);
    if (e.kind === 'admin') admin++;
    else if (e.kind === 'gap') gaps++;
    else s3++;
  }
  return { ids, s3, admin, gaps, duplicates, duplicatedIds: dupIds.size };
}
