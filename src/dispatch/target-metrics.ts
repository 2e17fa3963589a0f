// The Prometheus series of one target. The webhook keeps the historical names
// (s3ap_audit_events_*), the audit-log file the same names with `file_` after the prefix; delivered
// events share one counter labelled by target. Counters bumped per event are cheap Counters
// (metrics.ts) copied into prom-client at scrape time; per-batch histograms are prom-client's own.
import type { Histogram as PromHistogram } from 'prom-client';
import { Counter, gauge, histogram, labelledGauge, METRIC_PREFIX, type Registry } from './metrics.js';
import type { TargetState } from './types.js';

export type TargetKind = 'webhook' | 'file';

export const TARGET_STATES: readonly TargetState[] = ['disabled', 'healthy', 'degraded', 'down', 'unauthorized', 'rejecting'];

/** Events per accepted request (batch or bisect step). */
export const BATCH_EVENTS_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 5000] as const;
/** Event JSON bytes per accepted request (the HEC envelope not included). */
export const BATCH_BYTES_BUCKETS = [1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216] as const;
/** One request to the target, seconds (the request timeout is 30 s by default). */
export const REQUEST_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
/** First send of a batch to its acceptance, retries and backoff included: up to outages of hours. */
export const BATCH_DELIVERY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400] as const;

/** What the gauges read, on demand. */
export interface TargetGaugeSource {
  queuedEvents(): number;
  queuedBytes(): number;
  inFlightRequests(): number;
  spoolBytes(): number;
  spoolEvents(): number;
  /** Limits, for fill ratios: memory queue (events, bytes) and disk spool (bytes; 0 without a spool). */
  queueMaxEvents(): number;
  queueMaxBytes(): number;
  spoolMaxBytes(): number;
  state(): TargetState;
  consecutiveFailures(): number;
}

export class TargetMetrics {
  readonly enqueued: Counter;
  readonly dropped: Counter;
  readonly deadLettered: Counter;
  readonly retried: Counter;
  /** Batches the watchdog sent because no send was scheduled (driver-watchdog.ts checkOverdue): should stay 0. */
  readonly overduePumps: Counter;
  readonly spooled: Counter;
  readonly requests: Counter;
  /** Events per accepted request. */
  readonly batchSize: PromHistogram;
  /** Event JSON bytes per accepted request. */
  readonly batchBytes: PromHistogram;
  /** Every request to the target, sent to reply read (whatever the reply). */
  readonly latency: PromHistogram;
  /** A batch's first send to the reply that accepted it (2xx; file: written and fdatasynced). */
  readonly batchDelivery: PromHistogram;
  private readonly deliveredShared: Counter;

  constructor(r: Registry, readonly kind: TargetKind, delivered: Counter, gauges: TargetGaugeSource) {
    const p = kind === 'webhook' ? METRIC_PREFIX : `${METRIC_PREFIX}file_`;
    const what = kind === 'webhook' ? 'the webhook' : 'the audit log file';
    this.deliveredShared = delivered;
    this.enqueued = new Counter(r, `${p}events_enqueued_total`, `Events handed to ${what} by the request path.`);
    this.retried = new Counter(r, `${p}events_retried_total`, `Event re-sends to ${what} after a failed attempt.`);
    this.overduePumps = new Counter(r, `${p}watchdog_sends_total`, `Times a batch for ${what} was overdue with no send scheduled and the watchdog sent it (should stay 0; please report).`);
    this.spooled = new Counter(r, `${p}events_spooled_total`, `Events of ${what} written to the disk spool.`);
    this.dropped = new Counter(r, `${p}events_dropped_total`, `Events for ${what} lost, by reason (each lost event counted once).`, 'reason', ['queue_full', 'spool_full']);
    this.deadLettered = new Counter(r, `${p}events_dead_lettered_total`, `Events ${what} refused for good, written to the dead-letter files.`, 'reason');
    this.requests = new Counter(r, `${p}requests_total`, `Requests (or writes) to ${what}, by outcome.`, 'outcome');
    gauge(r, `${p}queue_events`, 'Events waiting in memory.', gauges.queuedEvents);
    gauge(r, `${p}queue_bytes`, 'Bytes of events waiting in memory.', gauges.queuedBytes);
    gauge(r, `${p}in_flight_requests`, `Requests to ${what} in flight.`, gauges.inFlightRequests);
    gauge(r, `${p}spool_bytes`, 'Bytes in the disk spool.', gauges.spoolBytes);
    gauge(r, `${p}spool_events`, 'Events in the disk spool.', gauges.spoolEvents);
    gauge(r, `${p}queue_max_events`, 'Events the memory queue holds at most (--queue-max-events).', gauges.queueMaxEvents);
    gauge(r, `${p}queue_max_bytes`, 'Bytes the memory queue holds at most (--queue-max-bytes).', gauges.queueMaxBytes);
    gauge(r, `${p}spool_max_bytes`, 'Bytes the disk spool holds at most (0: no spool).', gauges.spoolMaxBytes);
    labelledGauge(r, `${p}target_up`, 'Target state (1 for the current state).', 'state', () => {
      const out: Record<string, number> = {};
      const now = gauges.state();
      for (const s of TARGET_STATES) out[s] = now === s ? 1 : 0;
      return out;
    });
    gauge(r, `${p}target_consecutive_failures`, 'Failed attempts in a row.', gauges.consecutiveFailures);
    this.batchSize = histogram(r, `${p}batch_events`, `Events per request to ${what} that it accepted.`, BATCH_EVENTS_BUCKETS);
    this.batchBytes = histogram(r, `${p}batch_bytes`, `Event JSON bytes per request to ${what} that it accepted (envelope not included).`, BATCH_BYTES_BUCKETS);
    this.latency = histogram(r, `${p}delivery_latency_seconds`, `Latency of requests to ${what} (sent to reply read), whatever the reply.`, REQUEST_LATENCY_BUCKETS);
    this.batchDelivery = histogram(r, `${p}batch_delivery_seconds`, `From a batch's first send to ${what} to the reply that accepted it, retries and backoff included.`, BATCH_DELIVERY_BUCKETS);
  }

  delivered(n: number): void {
    this.deliveredShared.inc(n, this.kind);
  }

  deliveredTotal(): number {
    return this.deliveredShared.get(this.kind);
  }
}
