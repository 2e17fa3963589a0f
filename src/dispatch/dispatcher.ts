// AuditDispatcher: from enqueue() on the request path to the webhook (and the local audit log).
//
//   enqueue ─► MemoryQueue ─► batch ─► Sender ─► webhook
//                  │   ▲                  │ failure (retry / 401 / 403)
//                  ▼   │ (no spool)       ▼
//                 Spool (disk) ◄──────────┘  and, while the target fails, the memory queue
//                  │                         is drained into the spool too
//                  └─► read in order, full batches back-to-back ─► Sender
//
// Ordering invariant: everything in the spool is older than every memory-queued or memory-in-flight
// event. Failed memory batches are appended to the spool (in order) only once no memory batch is in
// flight any more, and the memory queue is drained into the spool only then too. New batches come
// from the spool while it holds unread events; from memory once it is empty. While the target is
// failing, nothing is sent but one probe at a time, at exponential backoff with full jitter.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../audit/event.js';
import type { Logger } from '../log.js';
import type { AuditControl, AuditSink, TargetStatus, TestEventResult, WebhookFormat, WebhookTargetConfig } from './types.js';
import { MemoryQueue, type QueueItems } from './memory-queue.js';
import { EventSlab } from './event-slab.js';
import { Spool } from './spool.js';
import { FileTarget } from './file-target.js';
import { DeadLetter, type DeadLetterReason } from './dead-letter.js';
import { createFormatter, eventTimeMs, formatFromEndpoint, isHecFormat, type Formatter } from './formats.js';
import { Sender, DEFAULT_CONCURRENCY } from './sender.js';
import { backoffDelay, decide, parseHecReply, type BackoffOptions, type Decision, type SendResult } from './retry-policy.js';
import { redactToken } from './auth-header.js';
import { Liveness } from './liveness.js';
import { Counter, Gauge, Histogram, Registry, METRIC_PREFIX } from './metrics.js';

export interface AuditDispatcherOptions {
  /** Directory for spool/ and dead-letter/. */
  dataDir: string;
  logger: Logger;
  /** HEC `host` (default: os.hostname()). */
  hostName?: string;
  /** Memory queue bound, events (default 100000). */
  queueMaxEvents?: number;
  /** Memory queue bound, bytes of event JSON (default 64 MiB). */
  queueMaxBytes?: number;
  /** Disk spool bound, bytes (default 1 GiB). */
  spoolMaxBytes?: number;
  deadLetterMaxBytes?: number;
  /** Spool fdatasync interval, ms (default 1000; 0 = after every write). */
  spoolFsyncIntervalMs?: number;
  /** Spool segment size before rotation, bytes (default 8 MiB). */
  spoolSegmentMaxBytes?: number;
  /** Local JSONL audit log, a second target (default none). */
  auditLogFile?: string | null;
  auditLogMaxBytes?: number;
  auditLogMaxFiles?: number;
  /** Retry backoff: first delay bound and cap, ms (defaults 1000 and 30000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Interval of the "events dropped" log line, ms (default 10000). */
  dropLogIntervalMs?: number;
  /**
   * Event to JSON text, run once per event in enqueue (default JSON.stringify). The proxy passes
   * serializeEvent (src/audit/serialize.ts): same bytes for real events, 2.5-3x faster. The
   * default keeps the dispatcher opaque to the event's shape (its tests enqueue partial events).
   */
  serialize?: (event: AuditEvent) => string;
}

export const DEFAULTS = {
  queueMaxEvents: 100_000,
  queueMaxBytes: 64 * 1024 * 1024,
  spoolMaxBytes: 1024 * 1024 * 1024,
  spoolFsyncIntervalMs: 1000,
  auditLogMaxBytes: 100 * 1024 * 1024,
  auditLogMaxFiles: 5,
  retryBaseMs: 1000,
  retryMaxMs: 30_000,
  batchMaxEvents: 500,
  batchMaxBytes: 1024 * 1024,
  batchMaxWaitMs: 1000,
  dropLogIntervalMs: 10_000,
} as const;

/** Snapshot of the delivery counters (webhook pipeline), for tests and benchmarks. */
export interface DispatcherCounters {
  /** Events offered to the webhook pipeline by enqueue() (= enqueued). */
  generated: number;
  delivered: number;
  dropped: number;
  droppedByReason: Record<string, number>;
  deadLettered: number;
  /** Events written to the spool (cumulative). */
  spooled: number;
  /** Event re-sends (one per event per extra attempt). */
  retried: number;
  /** Events found in the spool when it was opened (left by an earlier run). */
  recovered: number;
  /** Current: memory queue, spool, spool bytes accepted but not yet written, requests in flight. */
  queued: number;
  spoolEvents: number;
  spoolPendingBytes: number;
  inFlight: number;
  /** Local audit log. */
  fileWritten: number;
  fileDropped: number;
}

interface Target {
  gen: number;
  config: WebhookTargetConfig;
  format: WebhookFormat;
  sender: Sender;
  formatter: Formatter;
  cost: (jsonBytes: number, timeMs: number) => number;
  /** Formatted bytes an event takes beyond its JSON, about (for the "batch is full" trigger). */
  overhead: number;
  batchMaxEvents: number;
  batchMaxBytes: number;
  batchMaxWaitMs: number;
  concurrency: number;
  healthTimer: NodeJS.Timeout | null;
  healthBusy: boolean;
  lastAttemptAt: number;
}

class Batch {
  readonly items: QueueItems;
  readonly n: number;
  readonly source: 'memory' | 'spool';
  readonly endSeg: number[] | null;
  readonly endOff: number[] | null;
  /** Events [0, done) are settled (delivered or dead-lettered). */
  done = 0;
  /** Spool batches: events [0, acked) acknowledged to the spool. */
  acked = 0;
  /** Events per request (halved on 413 / data errors). */
  chunk: number;
  inFlight = false;
  attempts = 0;
  /** Handed to the spool at shutdown: whatever the request still in flight says is ignored. */
  abandoned = false;

  constructor(items: QueueItems, source: 'memory' | 'spool', endSeg: number[] | null = null, endOff: number[] | null = null) {
    this.items = items;
    this.n = items.json.length;
    this.source = source;
    this.endSeg = endSeg;
    this.endOff = endOff;
    this.chunk = this.n;
  }
}

/** Logs a recurring condition at most once per interval, with counts by reason (drops, dead letters). */
class ThrottledLog {
  private counts: Record<string, number> = {};
  private timer: NodeJS.Timeout | null = null;
  private pending = false;
  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
    private readonly msg: string,
    private readonly extra: () => Record<string, unknown> = () => ({}),
  ) {}
  add(reason: string, n: number): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + n;
    if (this.timer) {
      this.pending = true;
      return;
    }
    this.emit();
  }
  private emit(): void {
    const counts = this.counts;
    this.counts = {};
    this.pending = false;
    this.log.warn({ events: counts, ...this.extra() }, this.msg);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.pending) this.emit();
    }, this.intervalMs);
    this.timer.unref();
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending) this.emit();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

export class AuditDispatcher implements AuditSink, AuditControl {
  private readonly opts: AuditDispatcherOptions;
  private readonly serialize: (event: AuditEvent) => string;
  private readonly slab = new EventSlab();
  private readonly log: Logger;
  private readonly hostName: string;
  private readonly backoff: BackoffOptions;
  private readonly mq: MemoryQueue;
  private spool: Spool | null = null;
  private fileTarget: FileTarget | null = null;
  private deadLetter: DeadLetter;
  private target: Target | null = null;
  private gen = 0;
  private readonly oldSenders = new Set<Sender>();
  private readonly liveness = new Liveness();
  private readonly drops: ThrottledLog;
  private readonly deadLetters: ThrottledLog;

  private started = false;
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | null = null;

  private readonly memInFlight: Batch[] = [];
  private readonly window: Batch[] = [];
  private spoolReading = false;
  private inFlight = 0;
  private failing = false;
  private retryAttempt = 0;
  private nextRetryDelayMs = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private batchTimer: NodeJS.Timeout | null = null;
  private pumpScheduled = false;
  private firstPendingAt = 0;

  // metrics
  private readonly registry = new Registry();
  private readonly mEnqueued: Counter;
  private readonly mDelivered: Counter;
  private readonly mRetried: Counter;
  private readonly mSpooled: Counter;
  private readonly mDropped: Counter;
  private readonly mDeadLettered: Counter;
  private readonly mRequests: Counter;
  private readonly mBatchSize: Histogram;
  private readonly mLatency: Histogram;
  private recovered = 0;
  private lastDeadLetterReply = '';

  constructor(opts: AuditDispatcherOptions) {
    this.opts = opts;
    this.serialize = opts.serialize ?? JSON.stringify;
    this.log = opts.logger.child({ component: 'audit-dispatch' });
    this.hostName = opts.hostName ?? hostname();
    this.backoff = { baseMs: opts.retryBaseMs ?? DEFAULTS.retryBaseMs, maxMs: opts.retryMaxMs ?? DEFAULTS.retryMaxMs };
    this.mq = new MemoryQueue(opts.queueMaxEvents ?? DEFAULTS.queueMaxEvents, opts.queueMaxBytes ?? DEFAULTS.queueMaxBytes);
    this.deadLetter = new DeadLetter({ dir: join(opts.dataDir, 'dead-letter'), maxBytes: opts.deadLetterMaxBytes ?? 256 * 1024 * 1024, logger: this.log, onLost: (n, r) => this.drop(r, n) });
    const every = opts.dropLogIntervalMs ?? DEFAULTS.dropLogIntervalMs;
    this.drops = new ThrottledLog(this.log, every, 'audit events dropped (memory queue and spool full, or no room to keep them)');
    this.deadLetters = new ThrottledLog(this.log, every, 'audit events refused by the receiver: written to the dead-letter file', () => ({ dir: this.deadLetter.dir, lastReply: this.lastDeadLetterReply }));

    const p = METRIC_PREFIX;
    const r = this.registry;
    this.mEnqueued = r.add(new Counter(`${p}events_enqueued_total`, 'Events handed to the webhook pipeline by the request path.'));
    this.mDelivered = r.add(new Counter(`${p}events_delivered_total`, 'Events accepted by a target.', 'target', ['webhook', 'file']));
    this.mRetried = r.add(new Counter(`${p}events_retried_total`, 'Event re-sends after a failed attempt.'));
    this.mSpooled = r.add(new Counter(`${p}events_spooled_total`, 'Events written to the disk spool.'));
    this.mDropped = r.add(new Counter(`${p}events_dropped_total`, 'Events lost, by reason.', 'reason', ['queue_full', 'spool_full']));
    this.mDeadLettered = r.add(new Counter(`${p}events_dead_lettered_total`, 'Events the receiver refused for good, written to the dead-letter file.', 'reason'));
    this.mRequests = r.add(new Counter(`${p}requests_total`, 'Requests to the webhook, by outcome.', 'outcome'));
    r.add(new Gauge(`${p}queue_events`, 'Events waiting in memory.', () => this.mq.length));
    r.add(new Gauge(`${p}queue_bytes`, 'Bytes of events waiting in memory.', () => this.mq.bytes));
    r.add(new Gauge(`${p}in_flight_requests`, 'Requests to the webhook in flight.', () => this.inFlight));
    r.add(new Gauge(`${p}spool_bytes`, 'Bytes in the disk spool.', () => this.spool?.bytes ?? 0));
    r.add(new Gauge(`${p}spool_events`, 'Events in the disk spool.', () => this.spool?.events ?? 0));
    r.add(new Gauge(`${p}target_up`, 'Webhook target state (1 for the current state).', () => {
      const out: Record<string, number> = {};
      for (const s of ['disabled', 'healthy', 'degraded', 'down', 'unauthorized']) out[s] = this.liveness.state === s ? 1 : 0;
      return out;
    }, 'state'));
    r.add(new Gauge(`${p}target_consecutive_failures`, 'Failed attempts in a row.', () => this.liveness.consecutiveFailures));
    r.add(new Gauge(`${p}file_written_total`, 'Events written to the local audit log.', () => this.fileTarget?.written ?? 0));
    this.mBatchSize = r.add(new Histogram(`${p}batch_events`, 'Events per webhook request.', [1, 10, 50, 100, 250, 500, 1000, 5000]));
    this.mLatency = r.add(new Histogram(`${p}delivery_latency_seconds`, 'Webhook request latency (request sent to reply read).', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]));
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Opens the spool (events left by an earlier run wait for a webhook) and the audit log file. */
  async start(): Promise<void> {
    if (this.started) return;
    await mkdir(this.opts.dataDir, { recursive: true });
    await this.deadLetter.open();
    try {
      this.spool = await Spool.open({
        dir: join(this.opts.dataDir, 'spool'),
        maxBytes: this.opts.spoolMaxBytes ?? DEFAULTS.spoolMaxBytes,
        fsyncIntervalMs: this.opts.spoolFsyncIntervalMs ?? DEFAULTS.spoolFsyncIntervalMs,
        segmentMaxBytes: this.opts.spoolSegmentMaxBytes,
        logger: this.log,
        // bytes taken from the memory queue and not yet on disk: never more than the queue held
        maxPendingWriteBytes: Math.max(32 * 1024 * 1024, this.mq.maxBytes),
        onLost: (count, reason) => this.drop(reason, count),
        onWritten: () => this.schedulePump(),
      });
      this.recovered = this.spool.recovered;
    } catch (err) {
      this.spool = null;
      this.log.error({ dir: join(this.opts.dataDir, 'spool'), err: (err as Error).message }, 'audit spool unavailable: events are kept in memory only while the webhook fails');
    }
    if (this.opts.auditLogFile) {
      this.fileTarget = await FileTarget.open({
        path: this.opts.auditLogFile,
        logger: this.log,
        maxBytes: this.opts.auditLogMaxBytes ?? DEFAULTS.auditLogMaxBytes,
        maxFiles: this.opts.auditLogMaxFiles ?? DEFAULTS.auditLogMaxFiles,
      });
    }
    this.started = true;
    this.pump();
  }

  /**
   * SIGTERM: deliver what can be delivered within `deadlineMs`, then write everything still held in
   * memory (queued or in flight) to the spool, fdatasync it, and close pools and files.
   */
  close(deadlineMs: number): Promise<void> {
    this.closePromise ??= this.doClose(deadlineMs);
    return this.closePromise;
  }

  private async doClose(deadlineMs: number): Promise<void> {
    this.closing = true;
    const deadline = performance.now() + Math.max(0, deadlineMs);
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    this.pump();
    while (performance.now() < deadline && !this.idleForClose()) {
      await sleep(Math.min(10, Math.max(1, deadline - performance.now())));
      this.pump();
    }
    this.closed = true;
    this.stopTimers();
    // Whatever is still in memory goes to the spool, oldest first: memory batches still in flight
    // (their reply will be ignored: at-least-once), then the queue.
    let lost = 0;
    const lostReason = this.spool && !this.spool.error ? 'spool_full' : 'shutdown';
    for (const b of this.memInFlight.splice(0)) {
      b.abandoned = true;
      if (b.done < b.n) lost += this.spoolOrLose(b.items, b.done);
    }
    if (this.mq.length > 0) lost += this.spoolOrLose(this.mq.takeAll(), 0);
    for (const b of this.window) b.abandoned = true; // still on disk, not acknowledged
    if (lost > 0) {
      this.drop(lostReason, lost);
      this.log.error({ events: lost, reason: lostReason }, 'audit events lost at shutdown: no room to keep them');
    }
    const senders = [...this.oldSenders];
    if (this.target) senders.push(this.target.sender);
    await Promise.all(senders.map((s) => s.destroy()));
    await this.spool?.close();
    await this.fileTarget?.close();
    await this.deadLetter.close();
    this.drops.stop();
    this.deadLetters.stop();
    this.log.info({ delivered: this.mDelivered.get('webhook'), spooled: this.spool?.events ?? 0 }, 'audit dispatcher closed');
  }

  /** Nothing more can usefully happen before the deadline. */
  private idleForClose(): boolean {
    if (this.inFlight > 0 || this.spoolReading || this.memInFlight.length > 0) return false;
    // A failing or absent target takes nothing more: what is left goes to the spool now.
    if (!this.target || this.failing) return this.mq.length === 0 || !this.spoolUsable();
    return this.mq.length === 0 && (this.spool?.unread ?? 0) === 0 && this.window.length === 0;
  }

  private spoolOrLose(items: QueueItems, from: number): number {
    const n = items.json.length - from;
    if (n <= 0) return 0;
    const acc = this.spool ? this.spool.append(items, from) : 0;
    this.mSpooled.inc(acc);
    return n - acc;
  }

  private stopTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.retryTimer = null;
    this.batchTimer = null;
    if (this.target?.healthTimer) clearInterval(this.target.healthTimer);
  }

  // ---- request path ---------------------------------------------------------------------------

  /** True when the webhook or the local audit log is enabled. */
  get active(): boolean {
    return this.target !== null || this.fileTarget !== null;
  }

  /** Never blocks, never throws, O(1). `timeMs` is the event time when the caller has it (else event.time is parsed). */
  enqueue(event: AuditEvent, timeMs?: number): void {
    if (!this.target && !this.fileTarget) return;
    let json: string;
    try {
      json = this.serialize(event);
    } catch {
      if (this.target) {
        this.mEnqueued.inc();
        this.drop('invalid_event', 1);
      }
      return;
    }
    this.enqueueSerialized(json, timeMs ?? eventTimeMs((event as { time?: unknown }).time));
  }

  /** enqueue() for an event already serialised (its JSON text and its time, epoch ms). */
  enqueueSerialized(json: string, timeMs: number): void {
    const t = this.target;
    const f = this.fileTarget;
    if (!t && !f) return;
    // The webhook's copy goes off-heap as UTF-8 (see event-slab.ts); its length is the byte size.
    const bytesOut = t && !this.closing ? this.slab.encode(json) : null;
    if (f) {
      if (f.append(json, bytesOut !== null ? bytesOut.length : Buffer.byteLength(json))) this.mDelivered.inc(1, 'file');
    }
    if (!t) return;
    this.mEnqueued.inc();
    if (bytesOut === null) {
      this.drop('closed', 1);
      return;
    }
    const wasEmpty = this.mq.length === 0;
    if (!this.mq.push(bytesOut, timeMs, bytesOut.length)) {
      this.drop(this.spool?.full ? 'spool_full' : 'queue_full', 1);
      return;
    }
    if (wasEmpty) this.firstPendingAt = performance.now();
    if (this.mq.length >= t.batchMaxEvents || this.mq.bytes + this.mq.length * t.overhead >= t.batchMaxBytes) this.schedulePump();
    else if (!this.batchTimer) this.armBatchTimer(t.batchMaxWaitMs);
  }

  /**
   * Events a producer in another process (a `--workers` worker) had to drop before they reached
   * enqueue: counted as enqueued and dropped, so the admin status and metrics show every loss.
   */
  recordUpstreamDrops(reason: string, n: number): void {
    if (!this.target || n <= 0) return;
    this.mEnqueued.inc(n);
    this.drop(reason, n);
  }

  private drop(reason: string, n: number): void {
    if (n <= 0) return;
    this.mDropped.inc(n, reason);
    this.drops.add(reason, n);
  }

  // ---- pump -----------------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private armBatchTimer(ms: number): void {
    if (this.batchTimer || this.closed) return;
    this.batchTimer = setTimeout(() => {
      this.batchTimer = null;
      this.pump();
    }, Math.max(0, ms));
    this.batchTimer.unref();
  }

  /** Decides what to do next. Synchronous; starts async work (reads, requests) and returns. */
  private pump(): void {
    if (!this.started || this.closed) return;
    try {
      this.settleMemory();
      const t = this.target;
      if (!t) {
        this.drainMemoryToSpool();
        return;
      }
      if (this.failing) {
        this.drainMemoryToSpool();
        this.ensureRetryTimer();
        return;
      }
      this.pumpHealthy(t);
    } catch (err) {
      this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'audit dispatcher: internal error in pump');
    }
  }

  private spoolUsable(): boolean {
    return this.spool !== null && this.spool.error === null && !this.spool.full;
  }

  private mqHigh(): boolean {
    return this.mq.length >= this.mq.maxEvents / 2 || this.mq.bytes >= this.mq.maxBytes / 2;
  }

  private pumpHealthy(t: Target): void {
    const high = this.spoolUsable() && this.mqHigh();
    if (high && this.memInFlight.length === 0) this.drainMemoryToSpool();
    // 1. spool batches read earlier and not delivered yet (failed, or read while failing)
    for (const b of this.window) {
      if (this.inFlight >= t.concurrency) return;
      if (!b.inFlight && b.done < b.n) this.startDelivery(b, t);
    }
    // 2. more from the spool: it holds the oldest events
    if (this.spool && this.spool.unread > 0) {
      if (!this.spoolReading && this.inFlight < t.concurrency) this.readSpool(t, false);
      return;
    }
    if (this.window.length > 0 || this.spoolReading) return; // spool batches before memory ones
    // 3. memory, unless it is about to overflow into the spool (let in-flight batches settle first)
    if (this.spoolUsable() && this.mqHigh() && this.memInFlight.length > 0) return;
    this.sendMemory(t);
  }

  private sendMemory(t: Target): void {
    while (this.inFlight < t.concurrency && this.mq.length > 0) {
      if (!this.closing && !this.batchReady(t)) {
        this.armBatchTimer(t.batchMaxWaitMs - (performance.now() - this.firstPendingAt));
        return;
      }
      const items = this.mq.take(t.batchMaxEvents, t.batchMaxBytes, t.cost);
      this.firstPendingAt = this.mq.length > 0 ? performance.now() : 0;
      const b = new Batch(items, 'memory');
      this.memInFlight.push(b);
      this.startDelivery(b, t);
    }
  }

  private batchReady(t: Target): boolean {
    return (
      this.mq.length >= t.batchMaxEvents ||
      this.mq.bytes + this.mq.length * t.overhead >= t.batchMaxBytes ||
      performance.now() - this.firstPendingAt >= t.batchMaxWaitMs
    );
  }

  private readSpool(t: Target, probe: boolean): void {
    const spool = this.spool;
    if (!spool) return;
    this.spoolReading = true;
    spool.read(t.batchMaxEvents, t.batchMaxBytes, t.cost).then(
      (r) => {
        this.spoolReading = false;
        if (r && !this.closed) {
          const b = new Batch(r, 'spool', r.endSeg, r.endOff);
          this.window.push(b);
          const cur = this.target;
          if (cur && (!this.failing || probe)) this.startDelivery(b, cur);
        }
        this.pump();
      },
      (err: Error) => {
        this.spoolReading = false;
        this.log.error({ err: err.message }, 'spool: read failed');
        setTimeout(() => this.pump(), 1000).unref();
      },
    );
  }

  /** Memory batches that settled: delivered ones leave; failed ones go to the spool in order. */
  private settleMemory(): void {
    const q = this.memInFlight;
    while (q.length > 0 && !q[0].inFlight && q[0].done >= q[0].n) q.shift();
    if (q.length === 0 || q.some((b) => b.inFlight)) return;
    // All settled; the rest failed. Oldest first into the spool; what does not fit goes back to
    // the front of the memory queue (still before anything queued since).
    const failed = q.splice(0);
    let i = 0;
    if (this.spoolUsable()) {
      for (; i < failed.length; i++) {
        const b = failed[i];
        const want = b.n - b.done;
        const acc = this.spool!.append(b.items, b.done);
        this.mSpooled.inc(acc);
        b.done += acc;
        if (acc < want) break;
      }
    }
    for (let k = failed.length - 1; k >= i; k--) {
      const b = failed[k];
      if (b.done < b.n) this.mq.unshift(b.items, b.done);
    }
    if (this.mq.length > 0 && this.firstPendingAt === 0) this.firstPendingAt = performance.now();
  }

  private drainMemoryToSpool(): void {
    if (!this.spoolUsable() || this.memInFlight.length > 0 || this.mq.length === 0) return;
    const items = this.mq.takeAll();
    const acc = this.spool!.append(items);
    this.mSpooled.inc(acc);
    if (acc < items.json.length) this.mq.unshift(items, acc);
    this.firstPendingAt = this.mq.length > 0 ? performance.now() : 0;
  }

  /** Acknowledges the delivered prefix of the spool window. */
  private settleWindow(): void {
    const spool = this.spool;
    while (this.window.length > 0) {
      const h = this.window[0];
      if (h.abandoned) return;
      if (h.done > h.acked && spool && h.endSeg && h.endOff) {
        spool.ack(h.endSeg[h.done - 1], h.endOff[h.done - 1], h.done - h.acked);
        h.acked = h.done;
      }
      if (h.done >= h.n && !h.inFlight) this.window.shift();
      else return;
    }
  }

  // ---- failure mode ---------------------------------------------------------------------------

  private ensureRetryTimer(): void {
    if (!this.failing || this.retryTimer || !this.target || this.closed) return;
    if (this.inFlight > 0 || this.spoolReading) return; // an outcome is pending: it decides
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.probe();
    }, this.nextRetryDelayMs);
    this.retryTimer.unref();
  }

  /** One attempt while failing: the oldest undelivered batch. */
  private probe(): void {
    const t = this.target;
    if (!this.failing || !t || this.closed) return;
    this.settleMemory();
    if (this.inFlight > 0 || this.spoolReading || this.memInFlight.length > 0) return;
    this.drainMemoryToSpool();
    const pending = this.window.find((b) => !b.inFlight && b.done < b.n);
    if (pending) {
      this.startDelivery(pending, t);
      return;
    }
    if (this.spool && this.spool.unread > 0) {
      this.readSpool(t, true);
      return;
    }
    if (this.mq.length > 0) {
      const b = new Batch(this.mq.take(t.batchMaxEvents, t.batchMaxBytes, t.cost), 'memory');
      this.firstPendingAt = this.mq.length > 0 ? performance.now() : 0;
      this.memInFlight.push(b);
      this.startDelivery(b, t);
    }
    // nothing to deliver: stay failing; the next enqueue re-arms the timer through pump()
  }

  /** Skips the wait of a failing target (health probe or test event says it is back). */
  private wakeProbe(): void {
    if (!this.failing || this.closed) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.nextRetryDelayMs = 0;
    this.probe();
  }

  private onRequestOk(t: Target, latencyMs: number): void {
    this.mRequests.inc(1, 'success');
    if (t !== this.target) return;
    const prev = this.liveness.success(latencyMs);
    if (this.failing) {
      this.failing = false;
      this.retryAttempt = 0;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (prev !== 'healthy') {
      this.log.info({ endpoint: t.config.endpoint, state: 'healthy', previous: prev, spooled: this.spool?.events ?? 0 }, 'audit webhook reachable again: delivering held events');
    }
  }

  private onRequestFailed(t: Target, d: Decision & { reason: string }, latencyMs: number | null): void {
    this.mRequests.inc(1, d.action === 'unauthorized' ? 'unauthorized' : 'retry');
    if (t !== this.target) return;
    const error = redactToken(d.reason, t.config.authToken ?? '');
    const prev = this.liveness.failure(error, d.action === 'unauthorized', latencyMs);
    this.failing = true;
    this.retryAttempt++;
    this.nextRetryDelayMs = 'delayMs' in d ? d.delayMs : backoffDelay(this.retryAttempt, this.backoff);
    if (prev !== this.liveness.state) {
      const level = this.liveness.state === 'degraded' ? 'warn' : 'error';
      this.log[level](
        { endpoint: t.config.endpoint, state: this.liveness.state, previous: prev, error, consecutiveFailures: this.liveness.consecutiveFailures },
        this.liveness.state === 'unauthorized'
          ? 'audit webhook refused the token: events are kept (spooled) and retried; check the auth token'
          : 'audit webhook failing: events are kept (spooled) and retried with backoff',
      );
    }
  }

  // ---- delivery -------------------------------------------------------------------------------

  private startDelivery(b: Batch, t: Target): void {
    b.inFlight = true;
    this.inFlight++;
    if (b.attempts > 0) this.mRetried.inc(b.n - b.done);
    b.attempts++;
    void this.deliver(b, t);
  }

  /** Sends the batch's remaining events (splitting on 413, resuming after a refused event). */
  private async deliver(b: Batch, t: Target): Promise<void> {
    let failure: (Decision & { reason: string }) | null = null;
    let failLatency: number | null = null;
    try {
      while (b.done < b.n && !b.abandoned) {
        const hi = Math.min(b.n, b.done + b.chunk);
        const count = hi - b.done;
        const body = t.formatter.body(b.items.json, b.items.bytes, b.items.timeMs, b.done, hi);
        t.lastAttemptAt = performance.now();
        const out = await t.sender.send(body, t.formatter.contentType);
        if (b.abandoned) return;
        if (out.result.kind === 'reply') this.mLatency.observe(out.latencyMs / 1000);
        const d = decide(out.result, this.retryAttempt, count, this.backoff);
        if (d.action === 'retry' || d.action === 'unauthorized') {
          failure = d;
          failLatency = out.latencyMs;
          break;
        }
        this.onRequestOk(t, out.latencyMs);
        const status = out.result.kind === 'reply' ? out.result.statusCode : null;
        const reply = replyText(out.result);
        switch (d.action) {
          case 'success':
            this.mBatchSize.observe(count);
            this.mDelivered.inc(count, 'webhook');
            b.done = hi;
            break;
          case 'partial':
            this.mBatchSize.observe(count);
            this.mDelivered.inc(d.accepted, 'webhook');
            this.deadLetterEvents(b, b.done + d.accepted, b.done + d.accepted + 1, 'invalid_event', status, reply, t);
            b.done += d.accepted + 1;
            break;
          case 'split':
            if (count === 1) {
              this.deadLetterEvents(b, b.done, hi, status === 413 ? 'too_large' : 'invalid_event', status, reply, t);
              b.done = hi;
            } else {
              b.chunk = Math.ceil(count / 2);
            }
            break;
          case 'dead-letter':
            this.deadLetterEvents(b, b.done, hi, 'rejected', status, reply, t);
            b.done = hi;
            break;
        }
        if (b.source === 'spool') this.settleWindow();
      }
    } catch (err) {
      failure = { action: 'retry', delayMs: backoffDelay(this.retryAttempt, this.backoff), reason: `internal error: ${(err as Error).message}`, misconfigured: false };
      this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'audit dispatcher: delivery error');
    } finally {
      b.inFlight = false;
      this.inFlight--;
    }
    if (b.abandoned) return;
    if (failure) this.onRequestFailed(t, failure, failLatency);
    if (b.source === 'spool') this.settleWindow();
    this.pump();
  }

  private deadLetterEvents(b: Batch, from: number, to: number, reason: DeadLetterReason, status: number | null, reply: string, t: Target): void {
    const n = to - from;
    this.mDeadLettered.inc(n, reason);
    this.deadLetter.write(b.items.json, from, to, reason, status, redactToken(reply, t.config.authToken ?? ''), t.config.endpoint);
    this.lastDeadLetterReply = `${status ?? ''} ${reply.slice(0, 300)}`.trim();
    this.deadLetters.add(reason, n);
  }

  // ---- admin plane ----------------------------------------------------------------------------

  webhookConfig(): WebhookTargetConfig | null {
    return this.target ? { ...this.target.config } : null;
  }

  /**
   * Enables, replaces or (null) disables the webhook, live. The next batch uses the new settings;
   * queued and spooled events go to the new target. Disabling keeps the spool on disk for the next
   * enable, and writes memory-queued events to the spool.
   */
  async setWebhook(config: WebhookTargetConfig | null): Promise<void> {
    if (this.closing) throw new Error('audit dispatcher is shutting down');
    const old = this.target;
    let next: Target | null = null;
    if (config) {
      const format = config.format ?? formatFromEndpoint(config.endpoint);
      const meta = { host: config.host || this.hostName, source: config.source, sourcetype: config.sourcetype, index: config.index };
      const sender = await Sender.create(config, { format, meta });
      const formatter = createFormatter(format, meta);
      const overhead = formatter.size(0, Date.now());
      next = {
        gen: ++this.gen,
        config: { ...config },
        format,
        sender,
        formatter,
        cost: (jsonBytes, timeMs) => formatter.size(jsonBytes, timeMs),
        overhead,
        batchMaxEvents: Math.max(1, config.batchMaxEvents ?? DEFAULTS.batchMaxEvents),
        batchMaxBytes: Math.max(1, config.batchMaxBytes ?? DEFAULTS.batchMaxBytes),
        batchMaxWaitMs: Math.max(0, config.batchMaxWaitMs ?? DEFAULTS.batchMaxWaitMs),
        concurrency: Math.max(1, config.concurrency ?? DEFAULT_CONCURRENCY),
        healthTimer: null,
        healthBusy: false,
        lastAttemptAt: 0,
      };
      if (isHecFormat(format) && (config.healthCheckIntervalMs ?? 0) > 0) {
        const tt = next;
        tt.healthTimer = setInterval(() => void this.checkHealth(tt), config.healthCheckIntervalMs);
        tt.healthTimer.unref();
      }
    }
    if (this.closing) {
      if (next) await next.sender.destroy();
      throw new Error('audit dispatcher is shutting down');
    }
    this.target = next;
    this.liveness.reset(next !== null);
    this.failing = false;
    this.retryAttempt = 0;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (old) {
      if (old.healthTimer) clearInterval(old.healthTimer);
      this.oldSenders.add(old.sender);
      void old.sender.close().finally(() => this.oldSenders.delete(old.sender));
    }
    if (next) {
      this.log.info({ endpoint: next.config.endpoint, format: next.format, gzip: next.config.gzip === true, queued: this.mq.length, spooled: this.spool?.events ?? 0 }, 'audit webhook enabled');
    } else if (old) {
      this.log.info({ queued: this.mq.length, spooled: this.spool?.events ?? 0 }, 'audit webhook disabled: held events stay in the spool for the next enable');
    }
    this.pump();
  }

  private async checkHealth(t: Target): Promise<void> {
    if (t.healthBusy || t !== this.target || this.closed) return;
    t.healthBusy = true;
    try {
      const out = await t.sender.checkHealth();
      if (t !== this.target || this.closed) return;
      const ok = out.result.kind === 'reply' && out.result.statusCode >= 200 && out.result.statusCode < 300;
      if (ok && this.failing) {
        this.wakeProbe();
        return;
      }
      // Health only speaks for the target when no delivery was tried recently.
      const quiet = performance.now() - t.lastAttemptAt > (t.config.healthCheckIntervalMs ?? 0) && this.inFlight === 0 && !this.failing;
      if (!quiet) return;
      if (ok) {
        if (this.liveness.state !== 'healthy') this.liveness.success(out.latencyMs);
      } else {
        const d = decide(out.result, 0, 1, this.backoff);
        const reason = 'reason' in d ? d.reason : `health check HTTP ${(out.result as { statusCode?: number }).statusCode}`;
        const prev = this.liveness.failure(`health check: ${redactToken(reason, t.config.authToken ?? '')}`, d.action === 'unauthorized', out.latencyMs);
        if (prev !== this.liveness.state) this.log.warn({ endpoint: t.config.endpoint, state: this.liveness.state, error: this.liveness.lastError }, 'audit webhook health check failing');
      }
    } finally {
      t.healthBusy = false;
    }
  }

  /** Sends one test event now, bypassing the queue; reports the receiver's reply. */
  async sendTestEvent(): Promise<TestEventResult> {
    const t = this.target;
    if (!t) throw new Error('no audit webhook is configured: enable one first (setWebhook / audit-webhook enable)');
    const now = new Date();
    const event = {
      version: '1',
      id: randomUUID(),
      kind: 'test',
      time: now.toISOString(),
      message: 's3-audit-proxy test event',
      proxy: { host: this.hostName },
    };
    const json = JSON.stringify(event);
    const body = t.formatter.body([json], [Buffer.byteLength(json)], [now.getTime()]);
    const out = await t.sender.send(body, t.formatter.contentType);
    const r = out.result;
    if (r.kind === 'reply') {
      const ok = r.statusCode >= 200 && r.statusCode < 300;
      if (ok) this.wakeProbe();
      return { ok, statusCode: r.statusCode, body: redactToken(r.body.slice(0, 4096), t.config.authToken ?? ''), latencyMs: round3(out.latencyMs) };
    }
    return { ok: false, statusCode: null, body: `${r.code}: ${r.message}`, latencyMs: round3(out.latencyMs) };
  }

  status(): TargetStatus {
    const l = this.liveness;
    return {
      state: this.target ? l.state : 'disabled',
      queued: this.mq.length,
      queuedBytes: this.mq.bytes,
      delivered: this.mDelivered.get('webhook'),
      dropped: this.mDropped.total(),
      droppedByReason: this.mDropped.entries(),
      spooled: this.spool?.events ?? 0,
      spoolBytes: this.spool?.bytes ?? 0,
      deadLettered: this.mDeadLettered.total(),
      retried: this.mRetried.get(),
      inFlight: this.inFlight,
      lastSuccess: l.lastSuccess,
      lastFailure: l.lastFailure,
      lastError: l.lastError,
      consecutiveFailures: l.consecutiveFailures,
      lastLatencyMs: l.lastLatencyMs,
    };
  }

  counters(): DispatcherCounters {
    return {
      generated: this.mEnqueued.get(),
      delivered: this.mDelivered.get('webhook'),
      dropped: this.mDropped.total(),
      droppedByReason: this.mDropped.entries(),
      deadLettered: this.mDeadLettered.total(),
      spooled: this.mSpooled.get(),
      retried: this.mRetried.get(),
      recovered: this.recovered,
      queued: this.mq.length,
      spoolEvents: this.spool?.events ?? 0,
      spoolPendingBytes: this.spool?.pendingWriteBytes ?? 0,
      inFlight: this.inFlight,
      fileWritten: this.fileTarget?.written ?? 0,
      fileDropped: this.fileTarget ? Object.values(this.fileTarget.dropped).reduce((a, b) => a + b, 0) : 0,
    };
  }

  prometheus(): string {
    return this.registry.render().trimEnd();
  }
}

function replyText(r: SendResult): string {
  if (r.kind === 'error') return `${r.code}: ${r.message}`;
  const hec = parseHecReply(r.body);
  return hec.text !== null ? r.body.trim() : r.body.slice(0, 4096);
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
