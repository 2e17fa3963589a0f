// HEC indexer acknowledgement, the loop: every poll interval, hands back what timed out, then asks
// the receiver (POST /services/collector/ack on the sender's channel, {"acks":[ids]}, at most
// POLL_BATCH ids a request) which accepted requests are indexed, and tells the driver. It also
// says how acknowledgement is going (status(), read by the admin API and /metrics).
//
// It never falls back to "HTTP 200 = delivered": while the ack endpoint fails, or the receiver
// answers without ackIds (acknowledgement off on the token), batches wait, time out and are sent
// again; the state says why (poll_failing, not_acknowledging).
import type { Logger } from '../log.js';
import type { Batch } from './batch.js';
import type { EventBuffer } from './buffer.js';
import type { Sink } from './sink.js';
import type { AckMetrics } from './ack-metrics.js';
import { AckTracker, DEFAULT_ACK_MAX_PENDING_BATCHES, type AckEntry } from './ack-tracker.js';

/** ackIds per poll request. */
const POLL_BATCH = 1000;
/** Waiting this long with nothing acknowledged makes the state not_acknowledging (capped by half the timeout). */
const NOT_ACKNOWLEDGING_AFTER_MS = 60_000;

export interface AckSettings {
  timeoutMs: number;
  pollIntervalMs: number;
}

export type AckState = 'idle' | 'waiting' | 'backlog_full' | 'not_acknowledging' | 'poll_failing';

export interface AckStatus {
  state: AckState;
  /** Batches (and their events) accepted by the receiver and not yet acknowledged as indexed. */
  pendingBatches: number;
  pendingEvents: number;
  /** Age of the oldest accepted request still waiting, ms. */
  oldestPendingAgeMs: number;
  /** Accepted requests not acknowledged within the timeout, sent again (since start). */
  timedOut: number;
  /** Events acknowledged as indexed (since start). */
  acknowledgedEvents: number;
  lastAcknowledged: string | null;
  lastPollError: string | null;
  maxPendingBatches: number;
  timeoutMs: number;
  pollIntervalMs: number;
}

/** What the driver does with the outcomes. */
export interface AckHooks {
  /** Indexed: count delivered, let the spool move on. */
  acknowledged(entries: AckEntry[]): void;
  /** Timed out, or the target changed: send again. */
  resend(entries: AckEntry[]): void;
}

/** What of a driver the ack outcomes touch. */
export interface AckDriverPort {
  buffer: EventBuffer;
  delivered(n: number): void;
  pump(): void;
  /** Batches to give back when their request in flight ends. */
  resendAfterFlight: Set<Batch>;
}

/** The driver's side: indexed ranges are delivered (the spool moves past a contiguous prefix); the others are sent again, oldest first. */
export function driverAckHooks(d: AckDriverPort): AckHooks {
  return {
    acknowledged(entries) {
      for (const e of entries) {
        d.delivered(e.to - e.from);
        d.buffer.settle(e.batch);
      }
      d.pump();
    },
    resend(entries) {
      for (const e of entries) {
        const b = e.batch;
        b.unsettle(e.from, e.to);
        if (b.abandoned) continue;
        if (b.inFlight) d.resendAfterFlight.add(b);
        else d.buffer.giveBack(b);
      }
      d.pump();
    },
  };
}

export class AckPoller {
  readonly tracker: AckTracker;
  private readonly hooks: AckHooks;
  private readonly log: Logger;
  private readonly metrics: AckMetrics | null;
  private sink: Sink | null = null;
  private settings: AckSettings | null = null;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private pollFailing = false;
  private lastPollError: string | null = null;
  private lastAckAt = 0;
  private timedOut = 0;
  private acknowledgedEvents = 0;
  private warnedNoAckId = false;

  constructor(hooks: AckHooks, log: Logger, metrics: AckMetrics | null, maxPendingBatches = DEFAULT_ACK_MAX_PENDING_BATCHES) {
    this.hooks = hooks;
    this.log = log;
    this.metrics = metrics;
    this.tracker = new AckTracker({ maxPendingBatches, timeoutMs: 0 });
  }

  /** Acknowledgement is on for the current sink. */
  get enabled(): boolean {
    return this.settings !== null;
  }

  /** No room for another batch awaiting acknowledgement, counting the `inFlight` ones that may join: send nothing new. */
  full(inFlight: number): boolean {
    return this.settings !== null && this.tracker.pendingBatches + inFlight >= this.tracker.maxPendingBatches;
  }

  /**
   * A new sink (or none). What waited for the old one cannot be confirmed by the new one: it is
   * handed back to be sent again.
   */
  configure(sink: Sink | null, settings: AckSettings | null): void {
    const changed = sink !== this.sink;
    this.sink = sink;
    this.settings = sink !== null && settings !== null && typeof sink.pollAcks === 'function' ? settings : null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.pollFailing = false;
    this.lastPollError = null;
    if (changed && this.tracker.pendingRanges > 0) this.hooks.resend(this.tracker.takeAll());
    if (this.settings) {
      this.tracker.timeoutMs = this.settings.timeoutMs;
      this.timer = setInterval(() => void this.tick(), this.settings.pollIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * The receiver accepted events [from, to) of `b` (already settled there) in a reply with `ackId`.
   * `partial`: the events before a bad one of a refused request (HEC says they were indexed; without
   * an ackId they wait for the timeout and are sent again, like any unconfirmed range).
   */
  accepted(b: Batch, from: number, to: number, ackId: number | null, partial = false): void {
    if (ackId === null && !partial && !this.warnedNoAckId) {
      this.warnedNoAckId = true;
      this.log.warn({ endpoint: this.sink?.label }, 'audit webhook: the receiver accepted events without an ackId: turn on indexer acknowledgement for the HEC token; they are sent again after the ack timeout');
    }
    this.tracker.add(b, from, to, ackId, partial);
  }

  /** One round: time-outs first, then the poll. Exposed for tests; the timer calls it. */
  async tick(): Promise<void> {
    const sink = this.sink;
    if (this.busy || this.settings === null || sink?.pollAcks === undefined) return;
    this.busy = true;
    try {
      const expired = this.tracker.expired();
      if (expired.length > 0) {
        this.timedOut += expired.length;
        this.metrics?.timeouts.inc(expired.length);
        this.log.warn({ requests: expired.length, events: expired.reduce((n, e) => n + e.to - e.from, 0), timeoutMs: this.settings.timeoutMs }, 'audit webhook: accepted events not acknowledged as indexed in time: sending them again');
        this.hooks.resend(expired);
      }
      const ids = this.tracker.ids();
      for (let i = 0; i < ids.length; i += POLL_BATCH) {
        const r = await sink.pollAcks(ids.slice(i, i + POLL_BATCH));
        if (sink !== this.sink) return;
        if (!r.ok) {
          this.metrics?.polls.inc(1, 'error');
          if (!this.pollFailing) this.log.warn({ endpoint: sink.label, error: r.error }, 'audit webhook: the HEC ack endpoint fails: batches wait for acknowledgement (and are sent again after the timeout)');
          this.pollFailing = true;
          this.lastPollError = r.error;
          return;
        }
        this.metrics?.polls.inc(1, 'ok');
        if (this.pollFailing) this.log.info({ endpoint: sink.label }, 'audit webhook: the HEC ack endpoint answers again');
        this.pollFailing = false;
        const yes: number[] = [];
        for (const [id, indexed] of r.acks) if (indexed) yes.push(id);
        const done = this.tracker.acknowledged(yes);
        if (done.length === 0) continue;
        const events = done.reduce((n, e) => n + e.to - e.from, 0);
        this.acknowledgedEvents += events;
        this.metrics?.acknowledged.inc(events);
        this.lastAckAt = Date.now();
        this.hooks.acknowledged(done);
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'audit webhook: internal error polling acknowledgements');
    } finally {
      this.busy = false;
    }
  }

  state(): AckState {
    const t = this.tracker;
    if (t.pendingRanges === 0) return 'idle';
    if (this.pollFailing) return 'poll_failing';
    if (t.full) return 'backlog_full';
    const quiet = Math.min(NOT_ACKNOWLEDGING_AFTER_MS, (this.settings?.timeoutMs ?? Infinity) / 2);
    if (t.hasUnnumbered || (t.oldestAgeMs() > quiet && Date.now() - this.lastAckAt > quiet)) return 'not_acknowledging';
    return 'waiting';
  }

  /** Null while acknowledgement is off. */
  status(): AckStatus | null {
    const s = this.settings;
    if (s === null) return null;
    const t = this.tracker;
    return {
      state: this.state(),
      pendingBatches: t.pendingBatches,
      pendingEvents: t.pendingEvents,
      oldestPendingAgeMs: t.oldestAgeMs(),
      timedOut: this.timedOut,
      acknowledgedEvents: this.acknowledgedEvents,
      lastAcknowledged: this.lastAckAt > 0 ? new Date(this.lastAckAt).toISOString() : null,
      lastPollError: this.lastPollError,
      maxPendingBatches: t.maxPendingBatches,
      timeoutMs: s.timeoutMs,
      pollIntervalMs: s.pollIntervalMs,
    };
  }

  /** Shutdown: no more polls; what still waits is returned for the caller to keep. */
  stop(): AckEntry[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.settings = null;
    return this.tracker.takeAll();
  }
}
