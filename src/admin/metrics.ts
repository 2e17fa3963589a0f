// Prometheus metrics of the S3 traffic (per API name and status class) and of the process, rendered
// with the small registry of src/dispatch/metrics.ts. Label values come from fixed sets only: API
// names from the classifier's rule table ("Unknown" otherwise), five status classes, six outcomes.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { RequestMetricsSink } from '../audit/observer.js';
import { API_LEVEL } from '../s3/index.js';
import { Counter, Gauge, Registry } from '../dispatch/metrics.js';

export const REQUEST_METRIC_PREFIX = 's3ap_';

/** Seconds. S3 latencies span from a HEAD on a warm backend to a multi-GiB upload. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

const KNOWN_APIS: ReadonlySet<string> = new Set([...API_LEVEL.keys(), 'Unknown']);
const OUTCOMES = ['completed', 'client-aborted', 'client-stalled', 'backend-error', 'backend-unreachable', 'rejected'] as const;
const KNOWN_OUTCOMES: ReadonlySet<string> = new Set(OUTCOMES);

export function statusClass(statusCode: number): '2xx' | '3xx' | '4xx' | '5xx' | 'other' {
  if (statusCode >= 200 && statusCode < 300) return '2xx';
  if (statusCode >= 300 && statusCode < 400) return '3xx';
  if (statusCode >= 400 && statusCode < 500) return '4xx';
  if (statusCode >= 500 && statusCode < 600) return '5xx';
  return 'other';
}

/** A bounded API name: one of the classifier's names, else "Unknown". */
export function apiLabel(name: string): string {
  return KNOWN_APIS.has(name) ? name : 'Unknown';
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

/** Counter with two labels. Series are created on first use; label values must be bounded by the caller. */
export class LabeledCounter {
  private readonly values = new Map<string, { a: string; b: string; v: number }>();
  constructor(readonly name: string, readonly help: string, readonly labels: readonly [string, string]) {}
  inc(a: string, b: string, by = 1): void {
    const k = `${a}\u0000${b}`;
    const e = this.values.get(k);
    if (e) e.v += by;
    else this.values.set(k, { a, b, v: by });
  }
  get(a: string, b: string): number {
    return this.values.get(`${a}\u0000${b}`)?.v ?? 0;
  }
  /** Every series' value, then empties the counter (for deltas). */
  take(): Array<[string, string, number]> {
    const out: Array<[string, string, number]> = [];
    for (const e of this.values.values()) out.push([e.a, e.b, e.v]);
    this.values.clear();
    return out;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const e of this.values.values()) out.push(`${this.name}{${this.labels[0]}="${esc(e.a)}",${this.labels[1]}="${esc(e.b)}"} ${num(e.v)}`);
  }
}

/** Histogram with one label. */
class Histogram1 {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly label: string, readonly buckets: readonly number[]) {}
  observe(l: string, v: number): void {
    let s = this.series.get(l);
    if (!s) this.series.set(l, (s = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }));
    s.sum += v;
    s.count++;
    for (let i = 0; i < this.buckets.length; i++) {
      if (v <= this.buckets[i]!) {
        s.counts[i]!++;
        break;
      }
    }
  }
  count(l: string): number {
    return this.series.get(l)?.count ?? 0;
  }
  /** Adds another histogram's per-bucket counts (same buckets) to series `l`. */
  add(l: string, counts: readonly number[], sum: number, count: number): void {
    let s = this.series.get(l);
    if (!s) this.series.set(l, (s = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length && i < counts.length; i++) s.counts[i]! += counts[i]!;
    s.sum += sum;
    s.count += count;
  }
  /** Every series' per-bucket counts, then empties the histogram (for deltas). */
  take(): Array<[string, number[], number, number]> {
    const out: Array<[string, number[], number, number]> = [];
    for (const [l, s] of this.series) out.push([l, s.counts, s.sum, s.count]);
    this.series.clear();
    return out;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const [l, s] of this.series) {
      const lv = `${this.label}="${esc(l)}"`;
      let cum = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cum += s.counts[i]!;
        out.push(`${this.name}_bucket{${lv},le="${num(this.buckets[i]!)}"} ${cum}`);
      }
      out.push(`${this.name}_bucket{${lv},le="+Inf"} ${s.count}`, `${this.name}_sum{${lv}} ${num(s.sum)}`, `${this.name}_count{${lv}} ${s.count}`);
    }
  }
}

/** A monotonically increasing value read on demand (CPU seconds). */
class CounterFn {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, `${this.name} ${num(this.read())}`);
  }
}

/** What a `--workers` worker counted since its last report (RequestMetrics.takeDelta / merge). */
export interface RequestMetricsDelta {
  requests: Array<[api: string, statusClass: string, n: number]>;
  outcomes: Array<[outcome: string, n: number]>;
  latency: Array<[api: string, bucketCounts: number[], sumSeconds: number, count: number]>;
}

/** Per-request metrics of the S3 listener (fed by the audit observer). */
export class RequestMetrics implements RequestMetricsSink {
  private readonly registry = new Registry();
  private readonly requests: LabeledCounter;
  private readonly outcomes: Counter;
  private readonly latency: Histogram1;

  constructor() {
    const p = REQUEST_METRIC_PREFIX;
    this.requests = this.registry.add(new LabeledCounter(`${p}requests_total`, 'S3 requests served, by API name and status class.', ['api', 'status_class']));
    this.outcomes = this.registry.add(new Counter(`${p}request_outcomes_total`, 'S3 requests by outcome (completed, client-aborted, client-stalled, backend-error, backend-unreachable, rejected).', 'outcome', OUTCOMES));
    this.latency = this.registry.add(new Histogram1(`${p}request_duration_seconds`, 'S3 request duration (request start to last response byte), by API name.', 'api', LATENCY_BUCKETS));
  }

  observe(apiName: string, statusCode: number, outcome: string, durationMs: number): void {
    const api = apiLabel(apiName);
    this.requests.inc(api, statusClass(statusCode));
    this.outcomes.inc(1, KNOWN_OUTCOMES.has(outcome) ? outcome : 'other');
    this.latency.observe(api, Math.max(0, durationMs) / 1000);
  }

  /** What was counted since the last call, and a reset to zero (null when nothing was counted). */
  takeDelta(): RequestMetricsDelta | null {
    const requests = this.requests.take();
    if (requests.length === 0) return null;
    return { requests, outcomes: this.outcomes.take(), latency: this.latency.take() };
  }

  /** Adds a worker's delta. */
  merge(d: RequestMetricsDelta): void {
    for (const [a, b, n] of d.requests) this.requests.inc(apiLabel(a), b, n);
    for (const [o, n] of d.outcomes) this.outcomes.inc(n, KNOWN_OUTCOMES.has(o) ? o : 'other');
    for (const [a, counts, sum, count] of d.latency) this.latency.add(apiLabel(a), counts, sum, count);
  }

  /** Requests counted for an API name and status class (tests). */
  count(apiName: string, cls: string): number {
    return this.requests.get(apiLabel(apiName), cls);
  }

  render(): string {
    return this.registry.render();
  }
}

/** Process basics: memory, CPU, uptime, event-loop delay, open handles. */
export class ProcessMetrics {
  private readonly registry = new Registry();
  private readonly loop: IntervalHistogram;
  private readonly startSeconds = Math.round((Date.now() - process.uptime() * 1000) / 1000);

  constructor() {
    this.loop = monitorEventLoopDelay({ resolution: 20 });
    this.loop.enable();
    const r = this.registry;
    r.add(new CounterFn('process_cpu_user_seconds_total', 'User CPU time spent, seconds.', () => process.cpuUsage().user / 1e6));
    r.add(new CounterFn('process_cpu_system_seconds_total', 'System CPU time spent, seconds.', () => process.cpuUsage().system / 1e6));
    r.add(new Gauge('process_resident_memory_bytes', 'Resident memory size, bytes.', () => process.memoryUsage.rss()));
    r.add(new Gauge('nodejs_heap_used_bytes', 'V8 heap in use, bytes.', () => process.memoryUsage().heapUsed));
    r.add(new Gauge('nodejs_heap_total_bytes', 'V8 heap size, bytes.', () => process.memoryUsage().heapTotal));
    r.add(new Gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, seconds.', () => this.startSeconds));
    r.add(new Gauge('process_uptime_seconds', 'Time since the process started, seconds.', () => Math.round(process.uptime() * 1000) / 1000));
    r.add(new Gauge('nodejs_eventloop_delay_p99_seconds', 'Event-loop delay, 99th percentile since the last scrape, seconds.', () => {
      const v = this.loop.percentile(99) / 1e9;
      this.loop.reset();
      return Number.isFinite(v) ? v : 0;
    }));
    r.add(new Gauge('nodejs_active_resources', 'Active resources keeping the event loop alive (sockets, timers, ...).', () => process.getActiveResourcesInfo().length));
  }

  render(): string {
    return this.registry.render();
  }

  stop(): void {
    this.loop.disable();
  }
}
