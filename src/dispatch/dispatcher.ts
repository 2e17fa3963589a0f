// AuditDispatcher: from the request path to the targets. It moves bytes and knows nothing of what an
// event means: events arrive as JSON text plus their time, once, and go to every enabled target.
//
//   enqueueSerialized(json, timeMs) ─► EventSlab (UTF-8, off-heap)
//        ├─► webhook target: EventBuffer (memory ─overflow─► spool) ─► Driver ─► WebhookSink (HEC / NDJSON)
//        └─► file target:    EventBuffer (memory ─overflow─► spool) ─► Driver ─► FileSink (--audit-log)
//                                                                       └─► refused for good: DeadLetter
//
// Each target is a buffer (buffer.ts: ordering, when-full policy), a driver (driver.ts: batching,
// in-flight limit, one decision per reply, bisect, backoff) with its health (health.ts), and a sink,
// put together by target-wiring.ts. Beside the request path here: the dispatcher's own gap and
// refused events (own-events.ts), the webhook's admin plane (webhook-control.ts) and the status
// and counters it reports (dispatcher-status.ts).
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import type { AuditControl, AuditLogStatus, TargetStatus, TestEventResult, WebhookTargetConfig } from './types.js';
import { EventSlab } from './event-slab.js';
import { eventTimeMs } from './formats.js';
import type { BackoffOptions } from './retry-policy.js';
import { Counter, gauge, Registry, METRIC_PREFIX } from './metrics.js';
import { DEFAULTS, type AuditDispatcherOptions, type DispatcherCounters, type Serializer } from './dispatcher-options.js';
import type { GapInfo } from './gaps.js';
import { SequenceState } from './sequence-state.js';
import { RefusalTracker } from './refusals.js';
import { EventTap } from './tap.js';
import { makeTarget, openFileTarget, openSpool, wireTargets, type Target, type TargetWiring } from './target-wiring.js';
import { notSentToWebhook, OwnEvents, recordUpstreamDrops, WEBHOOK_DISABLED } from './own-events.js';
import { FILE_SLOT, NOT_RESERVED, releaseSlots, releaseUnused, reserveSlots, WEBHOOK_SLOT } from './admission.js';
import { WebhookControl } from './webhook-control.js';
import { dispatcherCounters, targetStatus } from './dispatcher-status.js';

export { DEFAULTS, type AuditDispatcherOptions, type DispatcherCounters, type Serializer, type StampedEvent } from './dispatcher-options.js';
export type { GapInfo } from './gaps.js';
export type { RefusalInfo } from './refusals.js';
export { WEBHOOK_DISABLED } from './own-events.js';
export { NOT_RESERVED } from './admission.js';

export class AuditDispatcher<E extends object = object> implements AuditControl {
  private readonly opts: AuditDispatcherOptions<E>;
  private readonly serialize: Serializer<E>;
  private readonly slab = new EventSlab();
  private readonly log: Logger;
  private readonly registry = new Registry();
  /** What the targets share: delivered counter, dead-letter store (target-wiring.ts). */
  private readonly wiring: TargetWiring;
  private readonly webhook: Target;
  private file: Target | null = null;
  /** Enable, replace, disable, health probe, test event (webhook-control.ts). */
  private readonly control: WebhookControl;
  private started = false;
  private closing = false;
  private closePromise: Promise<void> | null = null;
  private recovered = 0;
  /** Set when the `gapEvent` option is: losses become gap events, crashes are declared. */
  private readonly seqState: SequenceState | null;
  private gapsPending = false;
  /** Requests refused by fail-closed admission (--audit-required), pending a `refused` event. */
  private readonly refusals: RefusalTracker;
  /** Gap and refused events (own-events.ts). */
  private readonly own: OwnEvents;
  /** Why the last reserve() found no room. */
  lastRefusal = '';
  /** Live stream clients (`tail`, the status page): every event is offered to them too. */
  readonly tap: EventTap;

  constructor(opts: AuditDispatcherOptions<E>) {
    this.opts = opts;
    this.serialize = opts.serialize ?? JSON.stringify;
    this.log = opts.logger.child({ component: 'audit-dispatch' });
    const backoff: BackoffOptions = { baseMs: opts.retryBaseMs ?? DEFAULTS.retryBaseMs, maxMs: opts.retryMaxMs ?? DEFAULTS.retryMaxMs };
    this.wiring = wireTargets(opts, this.log, this.registry, this.slab, backoff, () => this.webhook.driver, () => {
      this.gapsPending = true;
    });
    this.seqState = opts.gapEvent ? new SequenceState(opts.dataDir, (err) => this.log.error({ err: err.message }, 'could not write the sequence state')) : null;
    this.webhook = makeTarget(this.wiring, 'webhook', true);
    this.refusals = new RefusalTracker(this.registry);
    this.tap = new EventTap(opts.tap);
    const { slab, tap, seqState, log, webhook } = this;
    this.own = new OwnEvents({ opts, refusals: this.refusals, webhook, slab, tap, seqState, log });
    this.control = new WebhookControl({ webhook, hostName: opts.hostName ?? hostname(), backoff, log, slab, tap, seqState, testEvent: opts.testEvent, closing: () => this.closing });
    gauge(this.registry, `${METRIC_PREFIX}stream_clients`, 'Live event stream clients attached (GET /api/v1/events/stream).', () => this.tap.attached);
    const streamDrops = new Counter(this.registry, `${METRIC_PREFIX}stream_events_dropped_total`, 'Events dropped for live stream clients that fell behind (never for the targets).');
    this.tap.onDropped = () => streamDrops.inc();
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Opens the spools (events left by an earlier run wait for their target), dead letters and the audit log. */
  async start(): Promise<void> {
    if (this.started) return;
    await mkdir(this.opts.dataDir, { recursive: true, mode: 0o700 });
    await this.wiring.deadLetter.open();
    await openSpool(this.wiring, this.webhook, 'spool');
    this.recovered = this.webhook.spool?.recovered ?? 0;
    if (this.opts.auditLogFile) this.file = await openFileTarget(this.wiring, this.opts.auditLogFile);
    this.started = true;
    this.webhook.driver.start();
    if (this.seqState) for (const g of await this.seqState.open()) this.webhook.driver.gaps!.carry(g);
    this.own.startTimer(() => { if (this.gapsPending) this.flushGaps(false); });
  }

  private targets(): Target[] {
    return this.file ? [this.webhook, this.file] : [this.webhook];
  }

  /** Pending gap and refused events go out where there is room (own-events.ts); `force`: at shutdown, whatever the room. */
  private flushGaps(force: boolean): void {
    this.gapsPending = false;
    if (this.own.flush(force, this.file)) this.gapsPending = true;
  }

  /**
   * SIGTERM: deliver what can be delivered within `deadlineMs`, then write everything still held in
   * memory (queued, given back or in flight) to the spool, fdatasync it, and close pools and files.
   */
  close(deadlineMs: number): Promise<void> {
    this.closePromise ??= this.doClose(deadlineMs);
    return this.closePromise;
  }

  private async doClose(deadlineMs: number): Promise<void> {
    this.closing = true;
    this.tap.close();
    this.control.stopHealthChecks();
    this.own.stopTimer();
    // Gaps known now are emitted now, whatever the room: they go to the spool with the rest.
    if (this.gapsPending) this.flushGaps(true);
    const deadline = performance.now() + Math.max(0, deadlineMs);
    const targets = this.targets();
    await Promise.all(targets.map((t) => t.driver.close(deadline)));
    // What was lost from here on (no room at shutdown, enqueued after close) is declared by the next run.
    // Numbers the webhook never got while it stayed disabled to the end: nothing after them reaches
    // its receiver from this instance, so there is nothing to declare (and nothing to carry over).
    if (this.webhook.driver.currentSink === null) this.webhook.driver.gaps?.forget(WEBHOOK_DISABLED);
    if (this.seqState) await this.seqState.close(targets.flatMap((t) => t.driver.gaps?.take() ?? []));
    await Promise.all([...targets.map((t) => t.driver.currentSink?.destroy()), ...[...this.control.oldSinks].map((o) => o.destroy())]);
    await Promise.all(targets.map((t) => t.spool?.close()));
    await this.wiring.deadLetter.close();
    this.log.info({ delivered: this.wiring.delivered.get('webhook'), spooled: this.webhook.spool?.events ?? 0 }, 'audit dispatcher closed');
  }

  /** Event slabs reused instead of allocated, and slabs waiting for reuse (tests, benchmarks). */
  slabReuse(): { reused: number; pooled: number } {
    return { reused: this.slab.reused, pooled: this.slab.pooled };
  }

  // ---- request path ---------------------------------------------------------------------------

  /** True when the webhook or the local audit log is enabled, or a live stream is attached. */
  get active(): boolean {
    return this.webhook.driver.currentSink !== null || this.file !== null || this.tap.attached > 0;
  }

  /**
   * True when events go to a target (the webhook or the local audit log). When only a live stream
   * wants events (`active` but not `delivering`), the audit side builds them unnumbered and hands
   * them to publishLive: sequence numbers count events handed over for delivery, without holes.
   */
  get delivering(): boolean {
    return this.webhook.driver.currentSink !== null || this.file !== null;
  }

  /** An event built for the live stream only (no sequence number): never reaches a target. */
  publishLive(json: string): void {
    if (this.tap.attached > 0) this.tap.publish(json);
  }

  /** Serialises with the `serialize` option, then enqueueSerialized(). Never blocks, never throws. */
  enqueue(event: E, timeMs?: number): void {
    if (!this.active) return;
    let json: string;
    try {
      json = this.serialize(event);
    } catch {
      if (this.webhook.driver.currentSink !== null) {
        this.webhook.metrics.enqueued.inc();
        this.webhook.driver.drop('invalid_event', 1);
      }
      return;
    }
    this.enqueueSerialized(json, timeMs ?? eventTimeMs((event as { time?: unknown }).time));
  }

  /**
   * One event as JSON text and its time (epoch ms), with its sequence number and producing
   * instance when the audit side numbers events (then a loss is declared by number in a gap
   * event). Never blocks, never throws, O(1).
   */
  enqueueSerialized(json: string, timeMs: number, sequence = -1, instance: string | null = null, reservation = NOT_RESERVED): void {
    const w = this.webhook.driver.currentSink !== null;
    const f = this.file;
    if (reservation > 0) releaseUnused(reservation, w, f, this.webhook.driver, this.file);
    if (!w) notSentToWebhook(this.webhook.driver, sequence, instance, timeMs);
    if (!w && !f) {
      if (this.tap.attached > 0) this.tap.publish(json);
      return;
    }
    const bytes = this.slab.encode(json, (w ? 1 : 0) + (f ? 1 : 0));
    if (this.tap.attached > 0) this.tap.publish(json, bytes); // copies, keeps no reference
    if (instance !== null) this.seqState?.accepted(instance, sequence, timeMs);
    if (w) {
      if (reservation > 0 && (reservation & WEBHOOK_SLOT) !== 0) this.webhook.driver.pushReserved(bytes, timeMs, sequence, instance);
      else this.webhook.driver.push(bytes, timeMs, sequence, instance);
    }
    if (f) {
      if (reservation > 0 && (reservation & FILE_SLOT) !== 0) f.driver.pushReserved(bytes, timeMs, sequence, instance);
      else f.driver.push(bytes, timeMs, sequence, instance);
    }
    if (this.gapsPending && !this.closing) this.flushGaps(false);
  }

  // ---- fail-closed admission (--audit-required) ---------------------------------------------------

  /** Promises room for one event in every enabled target (admission.ts): a token, or NOT_RESERVED (`lastRefusal` says why). */
  reserve(): number {
    return reserveSlots(this.webhook.driver, this.file, this);
  }

  /** reserve(), counting a refusal (recordRefused) when there is no room: the request path's one call. */
  admit(): number {
    const token = this.reserve();
    if (token === NOT_RESERVED) this.recordRefused(this.lastRefusal);
    return token;
  }

  /** Gives back a reservation whose event will not come. */
  release(reservation: number): void {
    releaseSlots(reservation, this.webhook.driver, this.file);
  }

  /**
   * `n` requests refused by admission (here or in a --workers worker) for `reason`: counted now,
   * declared by a `kind: "refused"` event as soon as there is room.
   */
  recordRefused(reason: string, n = 1, firstMs = Date.now(), lastMs = firstMs): void {
    this.refusals.add(reason, n, firstMs, lastMs);
    this.gapsPending = true;
  }

  /** Requests refused by admission so far (all reasons). */
  get refusedRequests(): number {
    return this.refusals.total;
  }

  /** Events a `--workers` worker had to drop before they reached the dispatcher (own-events.ts). */
  recordUpstreamDrops(reason: string, n: number, instance: string | null = null, ranges: ReadonlyArray<readonly [number, number]> = [], timeMs = NaN): void {
    recordUpstreamDrops(this.webhook, reason, n, instance, ranges, timeMs);
  }

  /**
   * Declares a loss the dispatcher did not see (a `--workers` worker that died with events it had
   * not sent): `count` null when unknown, `lastSequence` the last number known accepted from it.
   */
  declareLost(info: GapInfo): void {
    const g = this.webhook.driver.gaps;
    if (!g) return;
    g.carry(info);
    this.gapsPending = true;
  }

  // ---- admin plane ----------------------------------------------------------------------------

  webhookConfig(): WebhookTargetConfig | null {
    return this.control.webhookConfig();
  }

  /** Enables, replaces or (null) disables the webhook, live (webhook-control.ts). */
  setWebhook(config: WebhookTargetConfig | null): Promise<void> {
    return this.control.setWebhook(config);
  }

  /** Sends one test event now, bypassing the queue; reports the receiver's reply. */
  sendTestEvent(): Promise<TestEventResult> {
    return this.control.sendTestEvent(this.file);
  }

  /** The webhook driver's scheduler internals (diagnostics only; not part of the admin API). */
  schedulerState(): Record<string, unknown> {
    return this.webhook.driver.schedulerState();
  }

  status(): TargetStatus {
    const st = this.targetStatus(this.webhook);
    if (!this.control.enabled) {
      st.state = 'disabled';
      st.ack = null;
    }
    return st;
  }

  auditLogStatus(): AuditLogStatus | null {
    return this.file && this.opts.auditLogFile ? { path: this.opts.auditLogFile, status: this.targetStatus(this.file) } : null;
  }

  private targetStatus(t: Target): TargetStatus {
    return targetStatus(t, this.opts.spoolMaxBytes ?? DEFAULTS.spoolMaxBytes, this.refusals.total);
  }

  counters(): DispatcherCounters {
    return dispatcherCounters(this.webhook, this.file, this.recovered);
  }

  /** The dispatcher's metrics (prom-client), merged with the others' at scrape time. */
  metricsRegistry(): Registry {
    return this.registry;
  }

  /** Prometheus text of the dispatcher's metrics alone. */
  prometheus(): Promise<string> {
    return this.registry.metrics();
  }
}
