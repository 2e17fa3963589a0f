// Fail-closed mode (serve --audit-required): requests refused because no event could be kept are
// never silent. Each refusal is counted here by reason (metrics, status) and recorded as pending
// until the dispatcher has room again; then each pending record becomes one `kind: "refused"` event
// (through the `refusedEvent` option: dispatch knows nothing of the event schema). O(1) per refusal;
// at most one pending record per reason, whatever the number of refusals.
import { Counter, METRIC_PREFIX, type Registry } from './metrics.js';

/** What a refused event says: `count` requests refused for `reason` between firstTime and lastTime (epoch ms). */
export interface RefusalInfo {
  reason: string;
  count: number;
  firstTime: number;
  lastTime: number;
}

export class RefusalTracker {
  readonly counter: Counter;
  private readonly records = new Map<string, RefusalInfo>();

  /** `registry`: where s3ap_audit_requests_refused_total{reason} is exposed (null: nowhere). */
  constructor(registry: Registry | null) {
    this.counter = new Counter(registry, `${METRIC_PREFIX}requests_refused_total`, 'S3 requests refused with 503 SlowDown by --audit-required because their event could not be kept, by reason.', 'reason');
  }

  /** `n` requests refused for `reason`, the first at `firstMs` and the last at `lastMs`. */
  add(reason: string, n = 1, firstMs = Date.now(), lastMs = firstMs): void {
    if (n <= 0) return;
    this.counter.inc(n, reason);
    const r = this.records.get(reason);
    if (r === undefined) {
      this.records.set(reason, { reason, count: n, firstTime: firstMs, lastTime: lastMs });
      return;
    }
    r.count += n;
    if (firstMs < r.firstTime) r.firstTime = firstMs;
    if (lastMs > r.lastTime) r.lastTime = lastMs;
  }

  get pending(): boolean {
    return this.records.size > 0;
  }

  get total(): number {
    return this.counter.total();
  }

  /** The pending records, oldest reason first; none remain. */
  take(): RefusalInfo[] {
    const out = [...this.records.values()].sort((a, b) => a.firstTime - b.firstTime);
    this.records.clear();
    return out;
  }
}
