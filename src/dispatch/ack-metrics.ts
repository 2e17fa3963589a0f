// The Prometheus series of HEC indexer acknowledgement (webhook target only). Gauges read the
// poller's status on demand and are 0 while acknowledgement is off.
import { Counter, gauge, labelledGauge, METRIC_PREFIX, type Registry } from './metrics.js';
import type { AckState, AckStatus } from './ack-poller.js';

const STATES: readonly AckState[] = ['idle', 'waiting', 'backlog_full', 'not_acknowledging', 'poll_failing'];

export class AckMetrics {
  readonly timeouts: Counter;
  readonly acknowledged: Counter;
  readonly polls: Counter;

  constructor(r: Registry, status: () => AckStatus | null) {
    const p = `${METRIC_PREFIX}ack_`;
    gauge(r, `${p}pending_batches`, 'Batches accepted by HEC and not yet acknowledged as indexed (sending pauses at the bound).', () => status()?.pendingBatches ?? 0);
    gauge(r, `${p}pending_events`, 'Events accepted by HEC and not yet acknowledged as indexed (they stay in the spool).', () => status()?.pendingEvents ?? 0);
    gauge(r, `${p}oldest_pending_seconds`, 'Age of the oldest accepted request still waiting for its acknowledgement.', () => (status()?.oldestPendingAgeMs ?? 0) / 1000);
    labelledGauge(r, `${p}state`, 'Indexer acknowledgement state (1 for the current state; all 0 while off).', 'state', () => {
      const now = status()?.state ?? null;
      const out: Record<string, number> = {};
      for (const s of STATES) out[s] = now === s ? 1 : 0;
      return out;
    });
    this.timeouts = new Counter(r, `${p}timeouts_total`, 'Accepted requests not acknowledged within the ack timeout: their events were sent again.');
    this.acknowledged = new Counter(r, `${p}acknowledged_events_total`, 'Events HEC acknowledged as indexed.');
    this.polls = new Counter(r, `${p}polls_total`, 'Requests to the HEC ack endpoint, by outcome.', 'outcome', ['ok', 'error']);
  }
}
