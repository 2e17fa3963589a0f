// Logs a recurring condition at most once per interval, with counts by reason (drops, dead
// letters): MinIO logs a failing target once, not once per event.
import type { Logger } from '../log.js';

export class ThrottledLog {
  private counts: Record<string, number> = {};
  private timer: NodeJS.Timeout | null = null;
  private pending = false;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
    private readonly msg: string,
    private readonly extra: () => Record<string, unknown> = () => ({}),
  ) {}

  add(reason: string, n: number): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + n;
    if (this.timer) {
      this.pending = true;
      return;
    }
    this.emit();
  }

  private emit(): void {
    const counts = this.counts;
    this.counts = {};
    this.pending = false;
    this.log.warn({ events: counts, ...this.extra() }, this.msg);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.pending) this.emit();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Logs what is pending now and stops the timer. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending) this.emit();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
