// The `--workers` pool's own metrics (the primary's): workers alive and restarts, read at scrape
// time and merged with the dispatcher's registry (the workers' request metrics arrive as deltas
// with their events: messages.ts, docs/performance.md "Metrics with --workers").
import { counterFn, gauge, Registry } from '../dispatch/metrics.js';

export interface WorkerPoolMetrics {
  /** `base` (the dispatcher's registry) with the pool's metrics, merged. */
  with(base: Registry): Registry;
}

export function workerPoolMetrics(workers: () => number, restarts: () => number): WorkerPoolMetrics {
  const r = new Registry();
  gauge(r, 's3ap_workers', 'S3 listener worker processes alive.', workers);
  counterFn(r, 's3ap_worker_restarts_total', 'S3 listener workers started again after dying.', restarts);
  return { with: (base) => Registry.merge([base, r]) };
}
