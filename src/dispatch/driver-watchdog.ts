// The driver's watchdog: a request in flight far longer than usual marks the target degraded, and a
// due batch with no send scheduled is sent (liveness net). Off the request path; reads the scheduler.
import type { Logger } from '../log.js';
import type { Health } from './health.js';
import type { BatchLimits, EventBuffer } from './buffer.js';
import type { Batch } from './batch.js';
import type { Sink } from './sink.js';
import type { TargetMetrics } from './target-metrics.js';
import type { AckPoller } from './ack-poller.js';

export const WATCHDOG_MS = 250;

/** What of the driver (driver.ts) the watchdog reads. */
export interface WatchedDriver {
  readonly name: string;
  readonly buffer: EventBuffer;
  readonly health: Health;
  readonly ack: AckPoller | null;
  readonly currentSink: Sink | null;
  schedulerState(): Record<string, unknown>;
  pump(): void;
}

/** The driver's scheduler, read at each tick (built once by the driver). */
export interface WatchedScheduler {
  closed(): boolean;
  pumpScheduled(): boolean;
  /** When the batch timer should fire (performance.now()); null when none is armed. */
  batchTimerAt(): number | null;
  limits(): BatchLimits;
  overhead(): number;
  requestTimeoutMs(): number;
  /** Cancels the batch timer and pumps: the overdue batch goes now. */
  sendOverdue(): void;
}

export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private lastStallLog = 0;
  private overdueSaid = false;

  constructor(
    private readonly d: WatchedDriver,
    private readonly s: WatchedScheduler,
    private readonly inFlight: ReadonlyMap<Batch, number>,
    private readonly log: Logger,
    private readonly m: TargetMetrics,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.watch(), WATCHDOG_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private watch(): void {
    if (this.s.closed()) return;
    if (this.inFlight.size === 0) this.checkOverdue();
    else this.checkStall();
  }

  /**
   * A liveness net: a healthy target with nothing in flight and a memory batch overdue by more than
   * a watchdog period should have been sent by the batch timer. It is sent now, and said once, so a
   * lost wake-up costs at most WATCHDOG_MS instead of waiting for the next event.
   */
  private checkOverdue(): void {
    const sink = this.d.currentSink;
    if (!sink || !this.d.health.healthy || this.s.pumpScheduled() || this.d.ack?.full(0)) return;
    if (!this.d.buffer.onlyMemoryWaiting) return; // spool reads and given-back batches wake the driver themselves
    const timerAt = this.s.batchTimerAt();
    if (timerAt !== null && performance.now() < timerAt + WATCHDOG_MS) return; // it will fire
    const b = this.d.buffer;
    const due = b.memoryDueInMs(this.s.limits(), this.s.overhead());
    if (due !== 0 || b.overdueMs(this.s.limits()) < WATCHDOG_MS) return;
    this.m.overduePumps.inc();
    if (!this.overdueSaid) {
      this.overdueSaid = true;
      this.log.warn({ endpoint: sink.label, scheduler: this.d.schedulerState() }, `${this.d.name}: a due batch had no send scheduled; sent by the watchdog (please report)`);
    }
    this.s.sendOverdue();
  }

  private checkStall(): void {
    const health = this.d.health;
    if (!health.healthy) return;
    let oldest = Infinity;
    for (const t of this.inFlight.values()) oldest = Math.min(oldest, t);
    const age = performance.now() - oldest;
    if (age < health.stallAfterMs(this.s.requestTimeoutMs())) return;
    health.stalled(age);
    const now = Date.now();
    if (now - this.lastStallLog > 60_000) {
      this.lastStallLog = now;
      this.log.warn({ endpoint: this.d.currentSink?.label, waitedMs: Math.round(age), usualMs: Math.round(health.latencyEwmaMs) }, `${this.d.name} not answering: events go to the disk spool until it does`);
    }
    this.d.pump();
  }
}
