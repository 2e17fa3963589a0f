// The driver's delivery and retry loop: sends a batch, acts on the outcome (settle, give back, dead
// letter, health), probes at exponential backoff with full jitter. driver.ts decides when batches go.
import type { Logger } from '../log.js';
import type { EventJson } from './event-slab.js';
import type { Health } from './health.js';
import { deliverBatch, type DeliveryFailure, type DeliveryHooks } from './batch-delivery.js';
import type { BatchLimits, EventBuffer } from './buffer.js';
import type { Batch } from './batch.js';
import type { Sink } from './sink.js';
import { backoffDelay, type BackoffOptions } from './retry-policy.js';
import type { TargetMetrics } from './target-metrics.js';
import type { DeadLetterReason } from './dead-letter.js';
import type { AckPoller } from './ack-poller.js';
import type { DeadLetterStore } from './driver-options.js';

/** What of the driver (driver.ts) the loop reads and calls. */
export interface LoopDriver {
  readonly name: string;
  readonly buffer: EventBuffer;
  readonly health: Health;
  readonly currentSink: Sink | null;
  lastDeadLetterReply: string;
  pump(): void;
  drop(reason: string, n: number): void;
}

export interface LoopOptions {
  logger: Logger;
  backoff: BackoffOptions;
  metrics: TargetMetrics;
  deadLetter: DeadLetterStore | null;
  retire: ((json: EventJson) => void) | null;
  ack: AckPoller | null;
  /** The driver's batches in flight, with when they were sent (performance.now()). */
  inFlight: Map<Batch, number>;
  /** Batches whose acknowledgement timed out while they were in flight: sent again when it ends. */
  resendAfterFlight: Set<Batch>;
}

export class DeliveryLoop {
  // used per batch or per event: at hand
  private readonly buffer: EventBuffer;
  private readonly health: Health;
  private readonly m: TargetMetrics;
  private readonly retire: ((json: EventJson) => void) | null;
  private readonly inFlight: Map<Batch, number>;
  /** Failed attempts in a row: sets the backoff. */
  retryAttempt = 0;
  private nextRetryDelayMs = 0;
  probeDue = false;
  /** The receiver's last request was accepted: proof that it takes data (batch-delivery.ts). */
  private lastAccepted = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly d: LoopDriver,
    private readonly o: LoopOptions,
  ) {
    this.buffer = d.buffer;
    this.health = d.health;
    this.m = o.metrics;
    this.retire = o.retire;
    this.inFlight = o.inFlight;
  }

  get retryArmed(): boolean {
    return this.retryTimer !== null;
  }

  /** A new sink: first attempt, no proof yet, no probe waiting. */
  reset(): void {
    this.retryAttempt = 0;
    this.lastAccepted = false;
    this.probeDue = false;
    this.stop();
  }

  /** Skips the backoff: the next pump sends a probe. */
  probeNow(): void {
    this.stop();
    this.probeDue = true;
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** While failing: one attempt at a time, when the backoff has passed, with the oldest batch. */
  probe(sink: Sink, limits: BatchLimits, overhead: number): void {
    if (this.inFlight.size > 0) return; // an outcome is pending: it decides
    if (!this.probeDue) {
      if (!this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.probeDue = true;
          this.d.pump();
        }, this.nextRetryDelayMs);
        this.retryTimer.unref();
      }
      return;
    }
    const batch = this.buffer.next(limits, overhead, true);
    if (batch) {
      this.probeDue = false;
      this.send(batch, sink);
    } else if (this.buffer.empty) {
      this.probeDue = false; // nothing to send: the next event re-arms the timer through pump()
    }
  }

  send(b: Batch, sink: Sink): void {
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
      this.o.logger.error({ err: (err as Error).message, stack: (err as Error).stack }, 'audit dispatcher: delivery error');
    } finally {
      b.inFlight = false;
      this.inFlight.delete(b);
    }
    if (b.abandoned) return;
    const again = this.o.resendAfterFlight.delete(b);
    if (failure) {
      this.failed(sink, failure);
      this.buffer.giveBack(b);
    } else if (again) this.buffer.giveBack(b);
    this.buffer.settle(b);
    if (!failure && !again) this.retired(b);
    this.d.pump();
  }

  /**
   * A memory batch delivered whole in its first attempt, every event accepted, no indexer
   * acknowledgement pending or possible: nothing of it went to the spool, a dead letter or a retry,
   * and the sinks copy events into their bodies, so no reference to its events is left but the
   * batch's own. Its events are handed to `retire` and the batch forgets them.
   */
  private retired(b: Batch): void {
    if (this.retire === null || b.source !== 'memory' || !b.clean || b.attempts !== 1 || !b.done || b.abandoned || b.awaitingAck > 0 || this.o.ack?.enabled) return;
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
    if (this.o.ack?.enabled) this.o.ack.accepted(b, from, to, ackId, partial); // delivered once indexed
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
    if (sink !== this.d.currentSink) return;
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
      this.o.logger.info({ endpoint: sink.label, state: 'healthy', previous: prev, spooled: this.buffer.spoolRef?.events ?? 0 }, `${this.d.name} reachable again: delivering held events`);
    } else if (prev === 'degraded') {
      this.o.logger.info({ endpoint: sink.label, state: 'healthy', previous: prev }, `${this.d.name} answering again`);
    }
  }

  private failed(sink: Sink, f: DeliveryFailure): void {
    this.m.requests.inc(1, f.kind);
    if (sink !== this.d.currentSink) return; // the old target of a reconfiguration: the new one decides
    const prev = this.health.failure(f.kind, f.reason, f.latencyMs);
    this.retryAttempt++;
    this.nextRetryDelayMs = f.delayMs ?? backoffDelay(this.retryAttempt - 1, this.o.backoff);
    this.probeDue = false;
    if (f.kind === 'rejecting') this.lastAccepted = false;
    if (prev === this.health.state) return;
    const st = this.health.state;
    const msg =
      st === 'unauthorized' ? `${this.d.name} refused the token: events are kept (spooled) and retried; check the auth token`
      : st === 'rejecting' ? `${this.d.name} refuses every event it is sent: events are kept (spooled), not dead-lettered; check the endpoint and format`
      : `${this.d.name} failing: events are kept (spooled) and retried with backoff`;
    this.o.logger[st === 'degraded' ? 'warn' : 'error']({ endpoint: sink.label, state: st, previous: prev, error: f.reason, consecutiveFailures: this.health.consecutiveFailures }, msg);
  }

  /** Refused for good: settled here; counted dead-lettered when written, or dropped by the store. */
  private toDeadLetter(b: Batch, from: number, to: number, reason: DeadLetterReason, status: number | null, reply: string, sink: Sink): void {
    b.clean = false; // the dead-letter store may still hold these events
    b.settle(from, to);
    if (this.o.deadLetter) this.o.deadLetter.write(b.items.json, from, to, reason, status, reply, sink.label);
    else this.d.drop('refused', to - from);
    this.d.lastDeadLetterReply = `${status ?? ''} ${reply.slice(0, 300)}`.trim();
  }
}
