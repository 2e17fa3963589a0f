// Metrics on prom-client: every series is exposed by a prom-client Registry (its text exposition,
// merging and cluster aggregation). What runs per event or per request is not a prom-client call:
// prom-client validates and hashes a label object on every inc()/observe() (~0.3-0.8 µs each,
// bench/micro-metrics.ts), so hot counters here are plain numbers in a Map or a typed array, copied
// into prom-client only at scrape time through a `collect()` callback (a custom collector).
// Per-batch values (batch size, delivery latency) go to prom-client Histograms directly.
import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry, type Metric } from 'prom-client';

export { Registry };

export const METRIC_PREFIX = 's3ap_audit_';

/**
 * A counter with no label or one label, cheap to bump (one Map update), readable synchronously
 * (status, `show`), and exposed in `registry` as a prom-client Counter filled at scrape time.
 */
export class Counter {
  private readonly values = new Map<string, number>();
  constructor(registry: Registry | null, readonly name: string, readonly help: string, readonly label: string | null = null, initial: readonly string[] = []) {
    if (label === null) this.values.set('', 0);
    for (const l of initial) this.values.set(l, 0);
    if (registry === null) return;
    const values = this.values;
    new PromCounter({
      name, help, labelNames: label === null ? [] : [label], registers: [registry],
      collect() {
        this.reset();
        for (const [l, v] of values) {
          if (label === null) this.inc(v);
          else this.inc({ [label]: l }, v);
        }
      },
    });
  }
  inc(by = 1, labelValue = ''): void {
    this.values.set(labelValue, (this.values.get(labelValue) ?? 0) + by);
  }
  get(labelValue = ''): number {
    return this.values.get(labelValue) ?? 0;
  }
  /** Every non-zero value, then sets them to zero (for deltas between processes). */
  take(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [l, v] of this.values) {
      if (v === 0) continue;
      out.push([l, v]);
      this.values.set(l, 0);
    }
    return out;
  }
  total(): number {
    let t = 0;
    for (const v of this.values.values()) t += v;
    return t;
  }
  entries(): Record<string, number> {
    return Object.fromEntries(this.values);
  }
}

/** A gauge read on demand at scrape time. */
export function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new PromGauge({ name, help, registers: [registry], collect() { this.set(read()); } });
}

/** A gauge with one label, read on demand at scrape time (label value -> number). */
export function labelledGauge(registry: Registry, name: string, help: string, label: string, read: () => Record<string, number>): void {
  new PromGauge({
    name, help, labelNames: [label], registers: [registry],
    collect() {
      this.reset();
      for (const [l, v] of Object.entries(read())) this.set({ [label]: l }, v);
    },
  });
}

/** A counter whose total is read on demand at scrape time (CPU seconds, restarts). */
export function counterFn(registry: Registry, name: string, help: string, read: () => number): void {
  new PromCounter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
}

/** A prom-client Histogram without labels: for values observed once per batch, not per event. */
export function histogram(registry: Registry, name: string, help: string, buckets: readonly number[]): PromHistogram {
  return new PromHistogram({ name, help, buckets: [...buckets], registers: [registry] });
}

type LabelSet = Readonly<Record<string, string | number>>;
interface PromValue {
  labels: LabelSet;
  value: number;
  metricName: string;
  sharedLabels?: LabelSet;
}
const NO_LABELS: LabelSet = Object.freeze({});

/** One series of a FixedHistogram: counts per bucket (not cumulative), sum and count. */
export interface HistogramSeries {
  readonly counts: Float64Array;
  sum: number;
  count: number;
  /** Its label sets (one per bucket, +Inf, then the plain one), made at its first scrape. */
  labelSets?: LabelSet[];
}

/**
 * A histogram with one label for the request path: observe() is a Map lookup and a bucket scan
 * over a typed array. Exposed through a custom collector that hands prom-client the series in
 * its MetricObject shape at scrape time (label first, then `le`, as the exposition had).
 */
export class FixedHistogram {
  private readonly series = new Map<string, HistogramSeries>();
  constructor(readonly name: string, readonly help: string, readonly label: string, readonly buckets: readonly number[]) {}

  /** The series of label value `l` (created on first use: label values must be bounded by the caller). */
  seriesOf(l: string): HistogramSeries {
    let s = this.series.get(l);
    if (s === undefined) this.series.set(l, (s = { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 }));
    return s;
  }

  /** Adds `v` to series `s` (a value above the last bucket counts only in +Inf). */
  observeIn(s: HistogramSeries, v: number): void {
    s.sum += v;
    s.count++;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        s.counts[i]!++;
        return;
      }
    }
  }

  observe(l: string, v: number): void {
    this.observeIn(this.seriesOf(l), v);
  }

  /** Adds another histogram's per-bucket counts (same buckets) to series `l`. */
  add(l: string, counts: ArrayLike<number>, sum: number, count: number): void {
    const s = this.seriesOf(l);
    for (let i = 0; i < this.buckets.length && i < counts.length; i++) s.counts[i]! += counts[i]!;
    s.sum += sum;
    s.count += count;
  }

  /** Registers the custom collector in `registry`. */
  expose(registry: Registry): this {
    const h = this;
    const collector = {
      name: this.name, help: this.help, type: 'histogram', aggregator: 'sum',
      // The text exposition (Registry.metrics) asks for this one; JSON (getMetricsAsJSON) for get().
      getForPromString: async () => ({ name: h.name, help: h.help, type: 'histogram', aggregator: 'sum', values: h.values(true) }),
      get: async () => ({ name: h.name, help: h.help, type: 'histogram', aggregator: 'sum', values: h.values(false) }),
      reset: () => h.series.clear(),
    };
    registry.registerMetric(collector as unknown as Metric);
    return this;
  }

  /**
   * The series as prom-client metric values (cumulative buckets, +Inf, sum, count). For the text
   * exposition the labels go in `sharedLabels`, one object per series and bucket kept across
   * scrapes: prom-client caches the text of a sharedLabels object (a WeakMap by identity), so each
   * label set is formatted once, not at every scrape (6x faster with 99 APIs; a fresh object per
   * value made it slower still). Label order: the series label, then `le`.
   */
  private values(forText: boolean): PromValue[] {
    const out: PromValue[] = [];
    const bucket = `${this.name}_bucket`;
    const sum = `${this.name}_sum`;
    const count = `${this.name}_count`;
    const nb = this.buckets.length;
    const put = (labels: LabelSet, value: number, metricName: string): void => {
      out.push(forText ? { labels: NO_LABELS, sharedLabels: labels, value, metricName } : { labels, value, metricName });
    };
    for (const [l, s] of this.series) {
      const sets = (s.labelSets ??= [
        ...this.buckets.map((le) => Object.freeze({ [this.label]: l, le })),
        Object.freeze({ [this.label]: l, le: '+Inf' }),
        Object.freeze({ [this.label]: l }),
      ]);
      let cum = 0;
      for (let i = 0; i < nb; i++) {
        cum += s.counts[i]!;
        put(sets[i]!, cum, bucket);
      }
      put(sets[nb]!, s.count, bucket);
      put(sets[nb + 1]!, s.sum, sum);
      put(sets[nb + 1]!, s.count, count);
    }
    return out;
  }
}
