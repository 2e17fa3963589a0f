// The Prometheus series of one target. The webhook keeps the historical names
// (s3ap_audit_events_*), the audit-log file the same names with `file_` after the prefix; delivered
// events share one counter labelled by target.
import { Counter, Gauge, Histogram, Registry, METRIC_PREFIX } from './metrics.js';
import type { TargetState } from './types.js';

export type TargetKind = 'webhook' | 'file';

export const TARGET_STATES: readonly TargetState[] = ['disabled', 'healthy', 'degraded', 'down', 'unauthorized', 'rejecting'];

/** What the gauges read, on demand. */
export interface TargetGaugeSource {
  queuedEvents(): number;
  queuedBytes(): number;
  inFlightRequests(): number;
  spoolBytes(): number;
  spoolEvents(): number;
  state(): TargetState;
  consecutiveFailures(): number;
}

export class TargetMetrics {
  readonly enqueued: Counter;
  readonly dropped: Counter;
  readonly deadLettered: Counter;
  readonly retried: Counter;
  readonly spooled: Counter;
  readonly requests: Counter;
  readonly batchSize: Histogram;
  readonly latency: Histogram;
  private readonly deliveredShared: Counter;

  constructor(r: Registry, readonly kind: TargetKind, delivered: Counter, gauges: TargetGaugeSource) {
    const p = kind === 'webhook' ? METRIC_PREFIX : `${METRIC_PREFIX}file_`;
    const what = kind === 'webhook' ? 'the webhook' : 'the audit log file';
    this.deliveredShared = delivered;
    this.enqueued = r.add(new Counter(`${p}events_enqueued_total`, `Events handed to ${what} by the request path.`));
    this.retried = r.add(new Counter(`${p}events_retried_total`, `Event re-sends to ${what} after a failed attempt.`));
    this.spooled = r.add(new Counter(`${p}events_spooled_total`, `Events of ${what} written to the disk spool.`));
    this.dropped = r.add(new Counter(`${p}events_dropped_total`, `Events for ${what} lost, by reason (each lost event counted once).`, 'reason', ['queue_full', 'spool_full']));
    this.deadLettered = r.add(new Counter(`${p}events_dead_lettered_total`, `Events ${what} refused for good, written to the dead-letter files.`, 'reason'));
    this.requests = r.add(new Counter(`${p}requests_total`, `Requests (or writes) to ${what}, by outcome.`, 'outcome'));
    r.add(new Gauge(`${p}queue_events`, 'Events waiting in memory.', gauges.queuedEvents));
    r.add(new Gauge(`${p}queue_bytes`, 'Bytes of events waiting in memory.', gauges.queuedBytes));
    r.add(new Gauge(`${p}in_flight_requests`, `Requests to ${what} in flight.`, gauges.inFlightRequests));
    r.add(new Gauge(`${p}spool_bytes`, 'Bytes in the disk spool.', gauges.spoolBytes));
    r.add(new Gauge(`${p}spool_events`, 'Events in the disk spool.', gauges.spoolEvents));
    r.add(new Gauge(`${p}target_up`, 'Target state (1 for the current state).', () => {
      const out: Record<string, number> = {};
      const now = gauges.state();
      for (const s of TARGET_STATES) out[s] = now === s ? 1 : 0;
      return out;
    }, 'state'));
    r.add(new Gauge(`${p}target_consecutive_failures`, 'Failed attempts in a row.', gauges.consecutiveFailures));
    this.batchSize = r.add(new Histogram(`${p}batch_events`, `Events per request to ${what}.`, [1, 10, 50, 100, 250, 500, 1000, 5000]));
    this.latency = r.add(new Histogram(`${p}delivery_latency_seconds`, `Latency of requests to ${what} (sent to reply read).`, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]));
  }

  delivered(n: number): void {
    this.deliveredShared.inc(n, this.kind);
  }

  deliveredTotal(): number {
    return this.deliveredShared.get(this.kind);
  }
}
