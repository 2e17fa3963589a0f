// The driver of one target: takes batches from the target's buffer oldest first, keeps at most
// `concurrency` in flight, and hands each to its delivery loop (delivery-loop.ts: the send, what the
// outcome does to the buffer and the target's health, the backoff before the next probe).
//
// While the target is not healthy (failing, stalled, rejecting, unauthorized, disabled), memory is
// moved to the spool a chunk per event-loop turn and only one probe at a time is sent. A request in
// flight far longer than the usual latency marks the target degraded (the watchdog,
// driver-watchdog.ts); at shutdown what it still holds goes to the spool (driver-shutdown.ts).
import type { Logger } from '../log.js';
import type { GapTracker } from './gaps.js';
import { Health, type FailureKind } from './health.js';
import { EventBuffer, SPILL_CHUNK_BYTES, type BatchLimits } from './buffer.js';
import type { Batch } from './batch.js';
import type { Sink } from './sink.js';
import type { TargetMetrics } from './target-metrics.js';
import type { ThrottledLog } from './throttled-log.js';
import type { DeadLetterReason } from './dead-letter.js';
import { AckPoller, driverAckHooks } from './ack-poller.js';
import { DeliveryLoop } from './delivery-loop.js';
import { Watchdog } from './driver-watchdog.js';
import { idleForClose, spoolAtShutdown } from './driver-shutdown.js';
import type { DriverOptions, DriverSettings } from './driver-options.js';

export type { DeadLetterStore, DriverOptions, DriverSettings } from './driver-options.js';

export class Driver {
  readonly name: string;
  readonly buffer: EventBuffer;
  readonly health = new Health();
  private readonly log: Logger;
  private readonly m: TargetMetrics;
  private readonly drops: ThrottledLog;
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
  /** Sends, outcomes, backoff and probes (delivery-loop.ts). */
  private readonly loop: DeliveryLoop;
  private batchTimer: NodeJS.Timeout | null = null;
  /** When the batch timer should fire (performance.now()). */
  private batchTimerAt = 0;
  private readonly watchdog: Watchdog;
  private pumpScheduled = false;
  private running = false;
  private closing = false;
  private closed = false;
  lastDeadLetterReply = '';

  constructor(o: DriverOptions) {
    this.name = o.name;
    this.buffer = o.buffer;
    this.log = o.logger;
    this.m = o.metrics;
    this.drops = o.drops;
    this.deadLetters = o.deadLetters;
    this.gaps = o.gaps ?? null;
    const port = { buffer: this.buffer, delivered: (n: number) => this.m.delivered(n), pump: () => this.pump(), resendAfterFlight: this.resendAfterFlight };
    this.ack = o.ackMetrics ? new AckPoller(driverAckHooks(port), this.log, o.ackMetrics) : null;
    this.loop = new DeliveryLoop(this, {
      logger: this.log, backoff: o.backoff, metrics: this.m, deadLetter: o.deadLetter, retire: o.retire ?? null,
      ack: this.ack, inFlight: this.inFlight, resendAfterFlight: this.resendAfterFlight,
    });
    this.watchdog = new Watchdog(this, {
      closed: () => this.closed,
      pumpScheduled: () => this.pumpScheduled,
      batchTimerAt: () => (this.batchTimer ? this.batchTimerAt : null),
      limits: () => this.limits,
      overhead: () => this.overhead,
      requestTimeoutMs: () => this.settings.requestTimeoutMs,
      sendOverdue: () => {
        if (this.batchTimer) clearTimeout(this.batchTimer);
        this.batchTimer = null;
        this.pump();
      },
    }, this.inFlight, this.log, this.m);
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
    this.watchdog.start();
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
    this.loop.reset();
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
      batchTimer: this.batchTimer !== null, pumpScheduled: this.pumpScheduled, retryTimer: this.loop.retryArmed, probeDue: this.loop.probeDue,
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
        this.loop.probe(sink, this.limits, this.overhead);
        return;
      }
      if (!this.health.healthy) return; // stalled: nothing new until the stuck request ends
      // One reading of the clock for "not due yet" and for the timer that follows from it.
      const now = performance.now();
      while (this.inFlight.size < this.settings.concurrency && !this.ack?.full(this.inFlight.size)) {
        const batch = b.next(this.limits, this.overhead, this.closing, now);
        if (!batch) break;
        this.loop.send(batch, sink);
      }
      const due = b.memoryDueInMs(this.limits, this.overhead, now);
      if (due > 0 && this.inFlight.size < this.settings.concurrency) this.armBatchTimer(due);
    } catch (err) {
      this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'audit dispatcher: internal error in pump');
    }
  }

  /** Skips the wait of a failing target (a health check or the test event says it is back). */
  wake(): void {
    if (!this.health.failing || this.closed) return;
    this.loop.probeNow();
    this.pump();
  }

  /** An out-of-band check (HEC health endpoint) answered. */
  healthCheckOk(latencyMs: number): void {
    if (this.closed) return;
    if (this.health.failing && !this.buffer.empty) this.wake();
    else if (this.inFlight.size === 0 && this.buffer.empty && !this.health.healthy) {
      this.health.success(latencyMs);
      this.loop.retryAttempt = 0;
    }
  }

  /** An out-of-band check failed while nothing else was tried: it speaks for the target. */
  healthCheckFailed(kind: FailureKind, error: string, latencyMs: number): void {
    const prev = this.health.failure(kind, error, latencyMs);
    if (prev !== this.health.state) this.log.warn({ endpoint: this.sink?.label, state: this.health.state, error }, `${this.name} health check failing`);
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
    while (performance.now() < deadline && !idleForClose(this.sink, this.health, this.buffer, this.inFlight, this.ack)) {
      await new Promise((r) => setTimeout(r, Math.min(10, Math.max(1, deadline - performance.now()))));
      this.pump();
    }
    this.closed = true;
    this.loop.stop();
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    this.watchdog.stop();
    spoolAtShutdown(this.buffer, this.inFlight, this.ack, (reason, n) => this.drop(reason, n), this.log);
  }
}
