// The dispatcher's own `gap` and `refused` events (and losses `--workers` workers report), pushed to
// every enabled target past the bounds once there is room; off the per-event path unless pending.
import type { Logger } from '../log.js';
import type { Driver } from './driver.js';
import type { EventSlab } from './event-slab.js';
import type { EventTap } from './tap.js';
import type { SequenceState } from './sequence-state.js';
import type { RefusalTracker } from './refusals.js';
import type { AuditDispatcherOptions, StampedEvent } from './dispatcher-options.js';
import type { Target } from './target-wiring.js';

/** Gap reason for numbered events the webhook did not get because it was disabled at the time. */
export const WEBHOOK_DISABLED = 'webhook_disabled';
/** How often pending gaps are looked at when no event arrives to trigger it. */
export const GAP_FLUSH_MS = 200;

/**
 * A numbered event the webhook does not get because it is disabled (it went to the audit log
 * only, or reached the `--workers` primary just after a disable): declared to the webhook as a gap
 * (`webhook_disabled`) once it is enabled, so its receiver's trail still accounts for every number.
 * Not a drop: no drop counter moves. Contiguous numbers coalesce into one range.
 */
export function notSentToWebhook(webhook: Driver, sequence: number, instance: string | null, timeMs: number): void {
  if (sequence >= 1 && instance !== null) webhook.gaps?.lost(WEBHOOK_DISABLED, 1, sequence, instance, timeMs);
}

/**
 * Events a producer in another process (a `--workers` worker) had to drop before they reached
 * the dispatcher: counted as enqueued and dropped, so the status and metrics show every loss.
 */
export function recordUpstreamDrops(webhook: Target, reason: string, n: number, instance: string | null, ranges: ReadonlyArray<readonly [number, number]>, timeMs: number): void {
  if (webhook.driver.currentSink === null || n <= 0) return;
  webhook.metrics.enqueued.inc(n);
  let located = 0;
  for (const [from, to] of ranges) {
    for (let s = from; s <= to && located < n; s++, located++) webhook.driver.drop(reason, 1, s, instance, timeMs);
  }
  if (located < n) webhook.driver.drop(reason, n - located, -1, null, timeMs);
}

export interface OwnEventsOptions {
  /** Its `gapEvent` and `refusedEvent` templates. */
  opts: AuditDispatcherOptions;
  refusals: RefusalTracker;
  webhook: Target;
  slab: EventSlab;
  tap: EventTap;
  seqState: SequenceState | null;
  log: Logger;
}

export class OwnEvents {
  private readonly o: OwnEventsOptions;
  private lastRefusedFlush = -Infinity;
  private timer: NodeJS.Timeout | null = null;

  constructor(o: OwnEventsOptions) {
    this.o = o;
  }

  /** With gap or refused events on: `tick` every GAP_FLUSH_MS, for pending gaps no event arrives to trigger. */
  startTimer(tick: () => void): void {
    if (this.o.seqState || this.o.opts.refusedEvent) {
      this.timer = setInterval(tick, GAP_FLUSH_MS);
      this.timer.unref();
    }
  }

  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Turns pending loss records into gap events, for each target that lost events and has room now
   * (or, `force`, at shutdown). A gap event goes to every enabled target (it is an event of the
   * sequence like any other) and is never refused: past the bounds if need be. `f`: the audit-log
   * target, if any. True when something pending had to wait: the dispatcher looks again later.
   */
  flush(force: boolean, f: Target | null): boolean {
    const webhook = this.o.webhook;
    const w = webhook.driver.currentSink !== null;
    let wait = this.flushRefusals(force, w, f);
    const make = this.o.opts.gapEvent;
    if (!make) return wait;
    for (const t of f ? [webhook, f] : [webhook]) {
      const g = t.driver.gaps;
      if (!g || !g.pending) continue;
      const room = t.buffer.spoolUsable || !t.buffer.mq.wouldOverflow(4096);
      const enabled = t === webhook ? w : true;
      if (!enabled || (!room && !force)) {
        wait = true;
        continue;
      }
      for (const info of g.take()) this.emitForced(() => make(info), 'gap', w, f);
    }
    return wait;
  }

  /** Pending refusals become `refused` events once every enabled target has room (or, `force`, at shutdown). True: they wait. */
  private flushRefusals(force: boolean, w: boolean, f: Target | null): boolean {
    const make = this.o.opts.refusedEvent;
    const refusals = this.o.refusals;
    if (!make || !refusals.pending) return false;
    // at most one refused event per reason per GAP_FLUSH_MS: refusals coalesce meanwhile
    const now = performance.now();
    if (!force && now - this.lastRefusedFlush < GAP_FLUSH_MS) return true;
    const room = (t: Target): boolean => t.buffer.spoolUsable || !t.buffer.mq.wouldOverflow(4096);
    if (!force && ((w && !room(this.o.webhook)) || (f && !room(f)))) return true;
    if (!w && !f) return false; // kept until a target is enabled
    this.lastRefusedFlush = now;
    for (const info of refusals.take()) this.emitForced(() => make(info), 'refused', w, f);
    return false;
  }

  /** Builds one of the dispatcher's own events (gap, refused) and pushes it to every enabled target, past the bounds. */
  private emitForced(build: () => StampedEvent, what: string, w: boolean, f: Target | null): void {
    let ev: StampedEvent;
    try {
      ev = build();
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, `could not build a ${what} event`);
      return;
    }
    if (!w) notSentToWebhook(this.o.webhook.driver, ev.sequence, ev.instance, ev.timeMs);
    const bytes = this.o.slab.encode(ev.json, (w ? 1 : 0) + (f ? 1 : 0));
    if (this.o.tap.attached > 0) this.o.tap.publish(ev.json, bytes); // copies, keeps no reference
    this.o.seqState?.accepted(ev.instance, ev.sequence, ev.timeMs);
    if (w) this.o.webhook.driver.pushForce(bytes, ev.timeMs);
    if (f) f.driver.pushForce(bytes, ev.timeMs);
  }
}
