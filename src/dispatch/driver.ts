// The driver of one target: takes batches from the target's buffer oldest first, keeps at most
// `concurrency` in flight, hands each to batch-delivery.ts (one decision per reply, bisect), and
// acts on the outcome: settled events leave the buffer; a failed batch is given back, the target's
// health (health.ts) changes, and a probe is scheduled at exponential backoff with full jitter.
//
// While the target is not healthy (failing, stalled, rejecting, unauthorized, disabled), memory is
// moved to the spool a chunk per event-loop turn and only one probe at a time is sent. A request in
// flight far longer than the usual latency marks the target degraded (the watchdog).
import type { Logger } from '../log.js';
import type { GapTracker } from './gaps.js';
import type { EventJson } from './event-slab.js';
import { Health, type FailureKind } from './health.js';
import { deliverBatch, type DeliveryFailure, type DeliveryHooks } from './batch-delivery.js';
import { EventBuffer, SPILL_CHUNK_BYTES, type BatchLimits } from './buffer.js';
import type { Batch } from './batch.js';
import type { Sink } from './sink.js';
import { backoffDelay, type BackoffOptions } from './retry-policy.js';
import type { TargetMetrics } from './target-metrics.js';
import type { ThrottledLog } from './throttled-log.js';
import type { DeadLetterReason } from './dead-letter.js';
import { AckPoller, driverAckHooks, type AckSettings } from './ack-poller.js';
import type { AckMetrics } from './ack-metrics.js';

const WATCHDOG_MS = 250;

export interface DriverSettings {
  batchMaxEvents: number;
  batchMaxBytes: number;
  batchMaxWaitMs: number;
  concurrency: number;
  /** The sink's request timeout (bounds the stall threshold). */
  requestTimeoutMs: number;
  /** HEC indexer acknowledgement (null/absent: off; a 2xx is delivered). */
  ack?: AckSettings | null;
}

/** Where refused events go. Returns how many of [from, to) it kept; it reports the rest as lost itself. */
export interface DeadLetterStore {
  write(json: readonly EventJson[], from: number, to: number, reason: DeadLetterReason, statusCode: number | null, reply: string, endpoint: string): number;
}

export interface DriverOptions {
  /** For log lines: "audit webhook", "audit log file". */
  name: string;
  buffer: EventBuffer;
  logger: Logger;
  backoff: BackoffOptions;
  metrics: TargetMetrics;
  drops: ThrottledLog;
  deadLetter: DeadLetterStore | null;
  deadLetters: ThrottledLog | null;
  /** Where every loss is recorded for gap events (gaps.ts); null: counted only. */
  gaps?: GapTracker | null;
  /** Set for a target that may use HEC indexer acknowledgement (the webhook). */
  ackMetrics?: AckMetrics | null;
  /**
   * Called once per event of a memory batch the driver keeps no reference to any more (delivered
   * in one clean attempt, see Batch.clean): the dispatcher's slab may then reuse the bytes.
   */
  retire?: ((json: EventJson) => void) | null;
}

export class Driver {
  readonly name: string;
  readonly buffer: EventBuffer;
  readonly health = new Health();
  private readonly retire: ((json: EventJson) => void) | null;
  private readonly log: Logger;
  private readonly backoff: BackoffOptions;
  private readonly m: TargetMetrics;
  private readonly drops: ThrottledLog;
  private readonly deadLetter: DeadLetterStore | null;
  private readonly deadLetters: ThrottledLog | null;
  readonly gaps: GapTracker | null;
  /** HEC indexer acknowledgement (ack-poller.ts); null for targets that never use it. */
  readonly ack: AckPoller | null;
  /** Batches whose acknowledgement timed out while they were in flight: sent again when it ends. */
  private readonly resendAfterFlight = new Set<Batch>();
  private sink: Sink | null = null;
  private settings: DriverSettings = { batchMaxEvents: 500, batchMaxBytes: 1 << 20, batchMaxWaitMs: 1000, concurrency: 1, requestTimeoutMs: 15_000 };
  private limits: BatchLimits = { maxEvents: 500, maxBytes: 1 << 20, maxWaitMs: 1000, cost: (b) => b };
  private overhead = 0;
  /** Batches in flight, with when they were sent (performance.now()). */
  private readonly inFlight = new Map<Batch, number>();
  private retryAttempt = 0;
  private nextRetryDelayMs = 0;
  private probeDue = false;
  /** The receiver's last request was accepted: proof that it takes data (batch-delivery.ts). */
  private lastAccepted = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private batchTimer: NodeJS.Timeout | null = null;
  /** When the batch timer should fire (performance.now()). */
  private batchTimerAt = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private pumpScheduled = false;
  private running = false;
  private closing = false;
  private closed = false;
  private lastStallLog = 0;
  private overdueSaid = false;
  lastDeadLetterReply = '';

  constructor(o: DriverOptions) {
    this.name = o.name;
    this.buffer = o.buffer;
    this.log = o.logger;
    this.backoff = o.backoff;
    this.m = o.metrics;
    this.drops = o.drops;
    this.deadLetter = o.deadLetter;
    this.deadLetters = o.deadLetters;
    this.gaps = o.gaps ?? null;
    this.retire = o.retire ?? null;
    const port = { buffer: this.buffer, delivered: (n: number) => this.m.delivered(n), pump: () => this.pump(), resendAfterFlight: this.resendAfterFlight };
    this.ack = o.ackMetrics ? new AckPoller(driverAckHooks(port), this.log, o.ackMetrics) : null;
    this.buffer.onReady = () => this.pump();
    this.buffer.onSpooled = (n) => this.m.spooled.inc(n);
    this.buffer.onDrySpool = (unread) => this.log.warn({ unread }, 'spool: counts unread events but a read found none; delivering from memory meanwhile');
  }

  get currentSink(): Sink | null {
    return this.sink;
  }

  get active(): boolean {
    return this.sink !== null && !this.closing;
  }

  get requestsInFlight(): number {
    return this.inFlight.size;
  }

  /** Events in batches in flight (not settled yet). */
  get eventsInFlight(): number {
    let n = 0;
    for (const b of this.inFlight.keys()) n += b.n - b.settledCount;
    return n;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.watchdog = setInterval(() => this.watch(), WATCHDOG_MS);
    this.watchdog.unref();
    this.pump();
  }

  /**
   * Sets (or, null, removes) the sink; returns the previous one for the caller to close. Batches in
   * flight to the old sink finish there; anything that fails goes to the new one.
   */
  setSink(sink: Sink | null, settings: DriverSettings | null): Sink | null {
    const old = this.sink;
    this.sink = sink;
    if (sink && settings) {
      this.settings = { ...settings, concurrency: Math.max(1, settings.concurrency) };
      this.limits = { maxEvents: Math.max(1, settings.batchMaxEvents), maxBytes: Math.max(1, settings.batchMaxBytes), maxWaitMs: Math.max(0, settings.batchMaxWaitMs), cost: (b, t) => sink.cost(b, t) };
      this.overhead = sink.cost(0, Date.now());
    }
    this.health.reset(sink !== null);
    this.retryAttempt = 0;
    this.lastAccepted = false;
    this.probeDue = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.ack?.configure(sink, settings?.ack ?? null);
    this.pump();
    return old;
  }

  /** The scheduler's internals, for diagnosing a target that does not move (tests, debug logs). */
  schedulerState(): Record<string, unknown> {
    const b = this.buffer;
    return {
      running: this.running, closing: this.closing, health: this.health.state, failing: this.health.failing,
      inFlight: [...this.inFlight.values()].map((t) => Math.round(performance.now() - t)),
      batchTimer: this.batchTimer !== null, pumpScheduled: this.pumpScheduled, retryTimer: this.retryTimer !== null, probeDue: this.probeDue,
      memory: b.mq.length, dueInMs: b.memoryDueInMs(this.limits, this.overhead), ...b.schedulerState(),
    };
  }

  // ---- intake ---------------------------------------------------------------------------------

  /** Never blocks, never throws; O(1) except when memory is full (then one spill chunk). */
  push(json: Buffer, timeMs: number, seq = -1, instance: string | null = null): void {
    this.m.enqueued.inc();
    if (this.closing) {
      this.drop('closed', 1, seq, instance, timeMs);
      return;
    }
    const refused = this.buffer.push(json, timeMs, json.length);
    if (refused !== null) {
      this.drop(refused, 1, seq, instance, timeMs);
      return;
    }
    if (!this.health.healthy || this.buffer.memoryHigh || this.buffer.memoryBatchFull(this.limits, this.overhead)) this.schedulePump();
    else if (!this.batchTimer) this.armBatchTimer(this.limits.maxWaitMs);
  }

  /** Fail-closed admission: promises room for one event (null) or says why there is none. */
  reserve(): string | null {
    if (this.closing) return 'closed';
    return this.buffer.reserve();
  }

  release(): void {
    this.buffer.release();
  }

  /** The event a reserve() promised room for: never refused (kept in memory even while closing). */
  pushReserved(json: Buffer, timeMs: number, seq = -1, instance: string | null = null): void {
    if (this.closed) {
      // only after shutdown has spooled memory: the promise can no longer be kept
      this.buffer.release();
      this.push(json, timeMs, seq, instance);
      return;
    }
    this.m.enqueued.inc();
    this.buffer.pushReserved(json, timeMs, json.length);
    if (this.closing || !this.health.healthy || this.buffer.memoryHigh || this.buffer.memoryBatchFull(this.limits, this.overhead)) this.schedulePump();
    else if (!this.batchTimer) this.armBatchTimer(this.limits.maxWaitMs);
  }

  /**
   * A gap event (or another event that must not be lost): pushed past the memory bounds when the
   * buffer refuses it. Counted as enqueued like any event, so that delivered + dropped +
   * dead-lettered = generated still holds. Works while closing.
   */
  pushForce(json: Buffer, timeMs: number): void {
    if (this.closed) return;
    this.m.enqueued.inc();
    if (this.buffer.push(json, timeMs, json.length) !== null) this.buffer.mq.pushForce(json, timeMs, json.length);
    if (!this.closing) this.schedulePump();
  }

  /**
   * Counts `n` events lost for `reason` (each lost event is counted exactly once, here) and records
   * them for a gap event: with their sequence number when the caller knows it (`seq` >= 1, n = 1).
   */
  drop(reason: string, n: number, seq = -1, instance: string | null = null, timeMs = NaN): void {
    if (n <= 0) return;
    this.m.dropped.inc(n, reason);
    this.drops.add(reason, n);
    this.gaps?.lost(reason, n, seq, instance, timeMs);
  }

  // ---- pump -----------------------------------------------------------------------------------

  schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private armBatchTimer(ms: number): void {
    if (this.batchTimer || this.closed) return;
    this.batchTimerAt = performance.now() + Math.max(0, ms);
    this.batchTimer = setTimeout(() => {
      this.batchTimer = null;
      this.pump();
    }, Math.max(0, ms));
    this.batchTimer.unref();
  }

  /** Decides what to do next. Synchronous: starts sends and reads, never waits for them. */
  pump(): void {
    if (!this.running || this.closed) return;
    try {
      const sink = this.sink;
      const b = this.buffer;
      // Memory keeps events only while the target keeps up; otherwise they go to disk, a chunk per turn.
      // With HEC acknowledgement every batch goes through the spool (a crash keeps what waits).
      const keepInMemory = sink !== null && this.health.healthy && !b.memoryHigh && !this.ack?.enabled;
      if (!keepInMemory && b.mq.length > 0 && b.spoolUsable) {
        b.spill(SPILL_CHUNK_BYTES);
        if (b.mq.length > 0 && b.spoolUsable) this.schedulePump();
      }
      if (!sink) return;
      if (this.health.failing) {
        this.probe(sink);
        return;
      }
      if (!this.health.healthy) return; // stalled: nothing new until the stuck request ends
      // One reading of the clock for "not due yet" and for the timer that follows from it.
      const now = performance.now();
      while (this.inFlight.size < this.settings.concurrency && !this.ack?.full(this.inFlight.size)) {
        const batch = b.next(this.limits, this.overhead, this.closing, now);
        if (!batch) break;
        this.send(batch, sink);
      }
      const due = b.memoryDueInMs(this.limits, this.overhead, now);
      if (due > 0 && this.inFlight.size < this.settings.concurrency) this.armBatchTimer(due);
    } catch (err) {
      this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'audit dispatcher: internal error in pump');
    }
  }

  /** While failing: one attempt at a time, when the backoff has passed, with the oldest batch. */
  private probe(sink: Sink): void {
    if (this.inFlight.size > 0) return; // an outcome is pending: it decides
    if (!this.probeDue) {
      if (!this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.probeDue = true;
          this.pump();
        }, this.nextRetryDelayMs);
        this.retryTimer.unref();
      }
      return;
    }
    const batch = this.buffer.next(this.limits, this.overhead, true);
    if (batch) {
      this.probeDue = false;
      this.send(batch, sink);
    } else if (this.buffer.empty) {
      this.probeDue = false; // nothing to send: the next event re-arms the timer through pump()
    }
  }

  /** Skips the wait of a failing target (a health check or the test event says it is back). */
  wake(): void {
    if (!this.health.failing || this.closed) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.probeDue = true;
    this.pump();
  }

  /** An out-of-band check (HEC health endpoint) answered. */
  healthCheckOk(latencyMs: number): void {
    if (this.closed) return;
    if (this.health.failing && !this.buffer.empty) this.wake();
    else if (this.inFlight.size === 0 && this.buffer.empty && !this.health.healthy) {
      this.health.success(latencyMs);
      this.retryAttempt = 0;
    }
  }

  /** An out-of-band check failed while nothing else was tried: it speaks for the target. */
  healthCheckFailed(kind: FailureKind, error: string, latencyMs: number): void {
    const prev = this.health.failure(kind, error, latencyMs);
    if (prev !== this.health.state) this.log.warn({ endpoint: this.sink?.label, state: this.health.state, error }, `${this.name} health check failing`);
  }

  private watch(): void {
    if (this.closed) return;
    if (this.inFlight.size === 0) this.checkOverdue();
    else this.checkStall();
  }

  /**
   * A liveness net: a healthy target with nothing in flight and a memory batch overdue by more than
   * a watchdog period should have been sent by the batch timer. It is sent now, and said once, so a
   * lost wake-up costs at most WATCHDOG_MS instead of waiting for the next event.
   */
  private checkOverdue(): void {
    if (!this.sink || !this.health.healthy || this.pumpScheduled || this.ack?.full(0)) return;
    if (!this.buffer.onlyMemoryWaiting) return; // spool reads and given-back batches wake the driver themselves
    if (this.batchTimer && performance.now() < this.batchTimerAt + WATCHDOG_MS) return; // it will fire
    const b = this.buffer;
    const due = b.memoryDueInMs(this.limits, this.overhead);
    if (due !== 0 || b.overdueMs(this.limits) < WATCHDOG_MS) return;
    this.m.overduePumps.inc();
    if (!this.overdueSaid) {
      this.overdueSaid = true;
      this.log.warn({ endpoint: this.sink.label, scheduler: this.schedulerState() }, `${this.name}: a due batch had no send scheduled; sent by the watchdog (please report)`);
    }
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    this.pump();
  }

  private checkStall(): void {
    if (!this.health.healthy) return;
    let oldest = Infinity;
    for (const t of this.inFlight.values()) oldest = Math.min(oldest, t);
    const age = performance.now() - oldest;
    if (age < this.health.stallAfterMs(this.settings.requestTimeoutMs)) return;
    this.health.stalled(age);
    const now = Date.now();
    if (now - this.lastStallLog > 60_000) {
      this.lastStallLog = now;
      this.log.warn({ endpoint: this.sink?.label, waitedMs: Math.round(age), usualMs: Math.round(this.health.latencyEwmaMs) }, `${this.name} not answering: events go to the disk spool until it does`);
    }
    this.pump();
  }

  // ---- delivery -------------------------------------------------------------------------------

  private send(b: Batch, sink: Sink): void {
    b.inFlight = true;
    this.inFlight.set(b, performance.now());
    if (b.attempts > 0) this.m.retried.inc(b.n - b.settledCount);
    if (b.firstSentMs === 0) b.firstSentMs = performance.now();
    b.attempts++;
    void this.deliver(b, sink);
  }

  /** Works `b` through (batch-delivery.ts), then settles or gives it back, and pumps. */
  private async deliver(b: Batch, sink: Sink): Promise<void> {
    let failure: DeliveryFailure | null;
    try {
      failure = await deliverBatch(b, sink, this.hooks(sink));
    } catch (err) {
      failure = { kind: 'retry', reason: `internal error: ${(err as Error).message}`, delayMs: null, latencyMs: null };
      this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'audit dispatcher: delivery error');
    } finally {
      b.inFlight = false;
      this.inFlight.delete(b);
    }
    if (b.abandoned) return;
    const again = this.resendAfterFlight.delete(b);
    if (failure) {
      this.failed(sink, failure);
      this.buffer.giveBack(b);
    } else if (again) this.buffer.giveBack(b);
    this.buffer.settle(b);
    if (!failure && !again) this.retired(b);
    this.pump();
  }

  /**
   * A memory batch delivered whole in its first attempt, every event accepted, no indexer
   * acknowledgement pending or possible: nothing of it went to the spool, a dead letter or a retry,
   * and the sinks copy events into their bodies, so no reference to its events is left but the
   * batch's own. Its events are handed to `retire` and the batch forgets them.
   */
  private retired(b: Batch): void {
    if (this.retire === null || b.source !== 'memory' || !b.clean || b.attempts !== 1 || !b.done || b.abandoned || b.awaitingAck > 0 || this.ack?.enabled) return;
    for (const json of b.forget()) this.retire(json);
  }

  private hooks(sink: Sink): DeliveryHooks {
    return {
      attempt: () => this.retryAttempt,
      accepted: (b, from, to, latencyMs, ackId, partial) => this.accepted(b, from, to, latencyMs, sink, ackId, partial === true),
      accepting: (latencyMs) => this.noteAccepting(latencyMs, sink),
      refused: () => this.m.requests.inc(1, 'refused'),
      deadLetter: (b, from, to, reason, status, reply) => this.toDeadLetter(b, from, to, reason, status, reply, sink),
      proof: () => this.lastAccepted,
      doubt: () => {
        this.lastAccepted = false;
      },
      latency: (ms) => this.m.latency.observe(ms / 1000),
    };
  }

  private accepted(b: Batch, from: number, to: number, latencyMs: number, sink: Sink, ackId: number | null, partial: boolean): void {
    const n = b.settle(from, to);
    if (this.ack?.enabled) this.ack.accepted(b, from, to, ackId, partial); // delivered once indexed
    else this.m.delivered(n);
    this.m.batchSize.observe(to - from);
    let bytes = 0;
    for (let i = from; i < to; i++) bytes += b.items.bytes[i]!;
    this.m.batchBytes.observe(bytes);
    if (b.firstSentMs > 0) this.m.batchDelivery.observe((performance.now() - b.firstSentMs) / 1000);
    b.accepted = true;
    this.noteAccepting(latencyMs, sink);
  }

  /** The receiver took data: the target works (whatever it thought of some events). */
  private noteAccepting(latencyMs: number, sink: Sink): void {
    this.m.requests.inc(1, 'success');
    this.lastAccepted = true;
    if (sink !== this.sink) return;
    if (this.health.healthy && !this.health.failing) {
      this.health.success(latencyMs);
      return;
    }
    const prev = this.health.success(latencyMs);
    this.retryAttempt = 0;
    this.probeDue = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (prev !== 'healthy' && prev !== 'degraded') {
      this.log.info({ endpoint: sink.label, state: 'healthy', previous: prev, spooled: this.buffer.spoolRef?.events ?? 0 }, `${this.name} reachable again: delivering held events`);
    } else if (prev === 'degraded') {
      this.log.info({ endpoint: sink.label, state: 'healthy', previous: prev }, `${this.name} answering again`);
    }
  }

  private failed(sink: Sink, f: DeliveryFailure): void {
    this.m.requests.inc(1, f.kind);
    if (sink !== this.sink) return; // the old target of a reconfiguration: the new one decides
    const prev = this.health.failure(f.kind, f.reason, f.latencyMs);
    this.retryAttempt++;
    this.nextRetryDelayMs = f.delayMs ?? backoffDelay(this.retryAttempt - 1, this.backoff);
    this.probeDue = false;
    if (f.kind === 'rejecting') this.lastAccepted = false;
    if (prev === this.health.state) return;
    const st = this.health.state;
    const msg =
      st === 'unauthorized' ? `${this.name} refused the token: events are kept (spooled) and retried; check the auth token`
      : st === 'rejecting' ? `${this.name} refuses every event it is sent: events are kept (spooled), not dead-lettered; check the endpoint and format`
      : `${this.name} failing: events are kept (spooled) and retried with backoff`;
    this.log[st === 'degraded' ? 'warn' : 'error']({ endpoint: sink.label, state: st, previous: prev, error: f.reason, consecutiveFailures: this.health.consecutiveFailures }, msg);
  }

  /** Refused for good: settled here; counted dead-lettered when written, or dropped by the store. */
  private toDeadLetter(b: Batch, from: number, to: number, reason: DeadLetterReason, status: number | null, reply: string, sink: Sink): void {
    b.clean = false; // the dead-letter store may still hold these events
    b.settle(from, to);
    if (this.deadLetter) this.deadLetter.write(b.items.json, from, to, reason, status, reply, sink.label);
    else this.drop('refused', to - from);
    this.lastDeadLetterReply = `${status ?? ''} ${reply.slice(0, 300)}`.trim();
  }

  /** The dead-letter store wrote `n` events refused for `reason`. */
  deadLettered(n: number, reason: DeadLetterReason): void {
    this.m.deadLettered.inc(n, reason);
    this.deadLetters?.add(reason, n);
  }

  // ---- shutdown -------------------------------------------------------------------------------

  /** Stops taking events; delivers until idle or the deadline; then memory goes to the spool. */
  async close(deadline: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    this.pump();
    while (performance.now() < deadline && !this.idleForClose()) {
      await new Promise((r) => setTimeout(r, Math.min(10, Math.max(1, deadline - performance.now()))));
      this.pump();
    }
    this.closed = true;
    for (const t of [this.retryTimer, this.batchTimer]) if (t) clearTimeout(t);
    if (this.watchdog) clearInterval(this.watchdog);
    this.retryTimer = this.batchTimer = this.watchdog = null;
    const spool = this.buffer.spoolRef;
    const reason = spool === null ? 'shutdown' : spool.error !== null ? 'spool_error' : 'spool_full';
    // still unacknowledged: kept like events never sent (spool batches stay on disk, memory ones are spooled)
    const waiting = (this.ack?.stop() ?? []).map((e) => (e.batch.unsettle(e.from, e.to), e.batch));
    let lost = 0;
    for (const items of this.buffer.drainForShutdown([...this.inFlight.keys(), ...waiting])) {
      const n = items.json.length;
      const acc = this.buffer.spoolItems(items);
      lost += n - acc;
    }
    if (lost > 0) {
      this.drop(reason, lost);
      this.log.error({ events: lost, reason }, 'audit events lost at shutdown: no room to keep them');
    }
  }

  /** Nothing more can usefully happen before the deadline. */
  private idleForClose(): boolean {
    const b = this.buffer;
    // A target that is failing, stalled or absent takes nothing more: memory goes to the spool now.
    if (!this.sink || !this.health.healthy) return b.mq.length === 0 || !b.spoolUsable;
    return this.inFlight.size === 0 && b.empty && b.unacknowledgedSpoolBatches === 0 && (this.ack?.tracker.pendingRanges ?? 0) === 0;
  }
}
