// Prometheus metrics of the S3 traffic (per API name and status class) and of the process, exposed
// by prom-client registries (one per owner; the admin listener merges them at scrape time). Label
// values come from fixed sets only: API names from the classifier's rule table ("Unknown"
// otherwise), five status classes, six outcomes and "other".
//
// observe() runs once per S3 request, so it is no prom-client call: one Map lookup per API name
// into typed arrays (~50 ns, against ~800 ns for the same three updates through prom-client's
// Counter/Histogram; bench/micro-metrics.ts, docs/performance.md). prom-client reads the arrays at
// scrape time through collect() callbacks and a custom collector (FixedHistogram).
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter as PromCounter } from 'prom-client';
import type { RequestMetricsSink } from '../audit/observer.js';
import { API_LEVEL } from '../s3/index.js';
import { counterFn, FixedHistogram, gauge, Registry, type HistogramSeries } from '../dispatch/metrics.js';

export const REQUEST_METRIC_PREFIX = 's3ap_';

/** Seconds. S3 latencies span from a HEAD on a warm backend to a multi-GiB upload. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

const KNOWN_APIS: ReadonlySet<string> = new Set([...API_LEVEL.keys(), 'Unknown']);
const OUTCOMES = ['completed', 'client-aborted', 'client-stalled', 'backend-error', 'backend-unreachable', 'rejected', 'other'] as const;
const OUTCOME_INDEX: ReadonlyMap<string, number> = new Map(OUTCOMES.map((o, i) => [o, i]));
const OTHER_OUTCOME = OUTCOMES.length - 1;
const STATUS_CLASSES = ['2xx', '3xx', '4xx', '5xx', 'other'] as const;
const CLASS_INDEX: ReadonlyMap<string, number> = new Map(STATUS_CLASSES.map((c, i) => [c, i]));
const NB = LATENCY_BUCKETS.length;
/** Numbers per API row of a RequestMetricsDelta. */
export const DELTA_ROW = STATUS_CLASSES.length + NB + 2;

function classIndex(statusCode: number): number {
  return statusCode >= 200 && statusCode < 600 ? ((statusCode / 100) | 0) - 2 : 4;
}

export function statusClass(statusCode: number): '2xx' | '3xx' | '4xx' | '5xx' | 'other' {
  return STATUS_CLASSES[classIndex(statusCode)]!;
}

/** A bounded API name: one of the classifier's names, else "Unknown". */
export function apiLabel(name: string): string {
  return KNOWN_APIS.has(name) ? name : 'Unknown';
}

/**
 * What a `--workers` worker counted since its last report (RequestMetrics.takeDelta / merge), packed
 * in typed arrays: the IPC channel clones a Float64Array as one block, where nested arrays cost
 * ~50x more (bench/metrics-workers.ts).
 */
export interface RequestMetricsDelta {
  /** API label of each row. */
  apis: string[];
  /** Per row (DELTA_ROW numbers): requests by status class (2xx, 3xx, 4xx, 5xx, other), request
   * duration counts per LATENCY_BUCKETS bucket (not cumulative), duration sum (s), duration count. */
  rows: Float64Array;
  /** Requests by outcome (completed, client-aborted, client-stalled, backend-error,
   * backend-unreachable, rejected, other). */
  outcomes: Float64Array;
}

/** Everything counted for one API name. */
interface ApiSeries {
  readonly api: string;
  /** Requests by status class (STATUS_CLASSES order). */
  readonly byClass: Float64Array;
  readonly latency: HistogramSeries;
}

/** Per-request metrics of the S3 listener (fed by the audit observer). */
export class RequestMetrics implements RequestMetricsSink {
  readonly registry = new Registry();
  /** Keyed by bounded API label only (an unknown name is looked up, never added). */
  private readonly apis = new Map<string, ApiSeries>();
  private readonly outcomes = new Float64Array(OUTCOMES.length);
  private readonly latency: FixedHistogram;
  /** Requests observed since the last takeDelta(). */
  private pending = 0;

  constructor() {
    const p = REQUEST_METRIC_PREFIX;
    const apis = this.apis;
    const outcomes = this.outcomes;
    new PromCounter({
      name: `${p}requests_total`, help: 'S3 requests served, by API name and status class.', labelNames: ['api', 'status_class'], registers: [this.registry],
      collect() {
        this.reset();
        for (const s of apis.values()) {
          for (let i = 0; i < STATUS_CLASSES.length; i++) if (s.byClass[i]! > 0) this.inc({ api: s.api, status_class: STATUS_CLASSES[i]! }, s.byClass[i]!);
        }
      },
    });
    new PromCounter({
      name: `${p}request_outcomes_total`, labelNames: ['outcome'], registers: [this.registry],
      help: 'S3 requests by outcome (completed, client-aborted, client-stalled, backend-error, backend-unreachable, rejected).',
      collect() {
        this.reset();
        for (let i = 0; i < OUTCOMES.length; i++) if (i !== OTHER_OUTCOME || outcomes[i]! > 0) this.inc({ outcome: OUTCOMES[i]! }, outcomes[i]!);
      },
    });
    this.latency = new FixedHistogram(`${p}request_duration_seconds`, 'S3 request duration (request start to last response byte), by API name.', 'api', LATENCY_BUCKETS).expose(this.registry);
  }

  private seriesOf(apiName: string): ApiSeries {
    const api = apiLabel(apiName);
    let s = this.apis.get(api);
    if (s === undefined) this.apis.set(api, (s = { api, byClass: new Float64Array(STATUS_CLASSES.length), latency: this.latency.seriesOf(api) }));
    return s;
  }

  observe(apiName: string, statusCode: number, outcome: string, durationMs: number): void {
    const s = this.apis.get(apiName) ?? this.seriesOf(apiName);
    s.byClass[classIndex(statusCode)]!++;
    this.outcomes[OUTCOME_INDEX.get(outcome) ?? OTHER_OUTCOME]!++;
    this.latency.observeIn(s.latency, durationMs > 0 ? durationMs / 1000 : 0);
    this.pending++;
  }

  /** What was counted since the last call, and a reset to zero (null when nothing was counted). */
  takeDelta(): RequestMetricsDelta | null {
    if (this.pending === 0) return null;
    this.pending = 0;
    const apis: string[] = [];
    for (const s of this.apis.values()) if (s.latency.count > 0) apis.push(s.api);
    const rows = new Float64Array(apis.length * DELTA_ROW);
    let o = 0;
    for (const api of apis) {
      const s = this.apis.get(api)!;
      const h = s.latency;
      rows.set(s.byClass, o);
      rows.set(h.counts, o + STATUS_CLASSES.length);
      rows[o + DELTA_ROW - 2] = h.sum;
      rows[o + DELTA_ROW - 1] = h.count;
      o += DELTA_ROW;
      s.byClass.fill(0);
      h.counts.fill(0);
      h.sum = 0;
      h.count = 0;
    }
    const outcomes = this.outcomes.slice();
    this.outcomes.fill(0);
    return { apis, rows, outcomes };
  }

  /** Adds a worker's delta. */
  merge(d: RequestMetricsDelta): void {
    const C = STATUS_CLASSES.length;
    for (let r = 0; r < d.apis.length; r++) {
      const o = r * DELTA_ROW;
      if (o + DELTA_ROW > d.rows.length) break;
      const s = this.seriesOf(d.apis[r]!);
      for (let i = 0; i < C; i++) s.byClass[i]! += d.rows[o + i]!;
      this.latency.add(s.api, d.rows.subarray(o + C, o + C + NB), d.rows[o + DELTA_ROW - 2]!, d.rows[o + DELTA_ROW - 1]!);
    }
    for (let i = 0; i < OUTCOMES.length && i < d.outcomes.length; i++) this.outcomes[i]! += d.outcomes[i]!;
  }

  /** Requests counted for an API name and status class (tests). */
  count(apiName: string, cls: string): number {
    return this.apis.get(apiLabel(apiName))?.byClass[CLASS_INDEX.get(cls) ?? 4] ?? 0;
  }

  /** Prometheus text of these metrics alone. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Process basics: memory, CPU, uptime, event-loop delay, open handles. */
export class ProcessMetrics {
  readonly registry = new Registry();
  private readonly loop: IntervalHistogram;
  private readonly startSeconds = Math.round((Date.now() - process.uptime() * 1000) / 1000);

  constructor() {
    this.loop = monitorEventLoopDelay({ resolution: 20 });
    this.loop.enable();
    const r = this.registry;
    counterFn(r, 'process_cpu_user_seconds_total', 'User CPU time spent, seconds.', () => process.cpuUsage().user / 1e6);
    counterFn(r, 'process_cpu_system_seconds_total', 'System CPU time spent, seconds.', () => process.cpuUsage().system / 1e6);
    gauge(r, 'process_resident_memory_bytes', 'Resident memory size, bytes.', () => process.memoryUsage.rss());
    gauge(r, 'nodejs_heap_used_bytes', 'V8 heap in use, bytes.', () => process.memoryUsage().heapUsed);
    gauge(r, 'nodejs_heap_total_bytes', 'V8 heap size, bytes.', () => process.memoryUsage().heapTotal);
    gauge(r, 'process_start_time_seconds', 'Start time of the process since the Unix epoch, seconds.', () => this.startSeconds);
    gauge(r, 'process_uptime_seconds', 'Time since the process started, seconds.', () => Math.round(process.uptime() * 1000) / 1000);
    gauge(r, 'nodejs_eventloop_delay_p99_seconds', 'Event-loop delay, 99th percentile since the last scrape, seconds.', () => {
      const v = this.loop.percentile(99) / 1e9;
      this.loop.reset();
      return Number.isFinite(v) ? v : 0;
    });
    gauge(r, 'nodejs_active_resources', 'Active resources keeping the event loop alive (sockets, timers, ...).', () => process.getActiveResourcesInfo().length);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  stop(): void {
    this.loop.disable();
  }
}

/** The Prometheus text of several owners' registries, merged at scrape time (names must not clash). */
export function renderMetrics(registries: readonly Registry[]): Promise<string> {
  return Registry.merge([...registries]).metrics();
}
