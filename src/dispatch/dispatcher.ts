// AuditDispatcher: from the request path to the targets. It moves bytes and knows nothing of what an
// event means: events arrive as JSON text plus their time, once, and go to every enabled target.
//
//   enqueueSerialized(json, timeMs) ─► EventSlab (UTF-8, off-heap)
//        ├─► webhook target: EventBuffer (memory ─overflow─► spool) ─► Driver ─► WebhookSink (HEC / NDJSON)
//        └─► file target:    EventBuffer (memory ─overflow─► spool) ─► Driver ─► FileSink (--audit-log)
//                                                                       └─► refused for good: DeadLetter
//
// Each target is a buffer (buffer.ts: ordering, when-full policy), a driver (driver.ts: batching,
// in-flight limit, one decision per reply, bisect, backoff) with its health (health.ts), and a sink.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { AuditControl, AuditLogStatus, TargetStatus, TestEventResult, WebhookTargetConfig } from './types.js';
import { EventSlab } from './event-slab.js';
import { Spool } from './spool.js';
import { DeadLetter } from './dead-letter.js';
import { eventTimeMs, isHecFormat } from './formats.js';
import { DEFAULT_CONCURRENCY, DEFAULT_REQUEST_TIMEOUT_MS } from './sender.js';
import { decide, type BackoffOptions } from './retry-policy.js';
import { EventBuffer } from './buffer.js';
import { Driver, type DriverSettings } from './driver.js';
import { WebhookSink } from './webhook-sink.js';
import { AckMetrics } from './ack-metrics.js';
import { ackSettings } from './ack-settings.js';
import type { Sink } from './sink.js';
import { FileSink } from './file-sink.js';
import { ThrottledLog } from './throttled-log.js';
import { TargetMetrics, type TargetKind } from './target-metrics.js';
import { Counter, gauge, Registry, METRIC_PREFIX } from './metrics.js';
import { DEFAULTS, FILE_SETTINGS, type AuditDispatcherOptions, type DispatcherCounters, type Serializer, type StampedEvent } from './dispatcher-options.js';
import { GapTracker, type GapInfo } from './gaps.js';
import { SequenceState } from './sequence-state.js';
import { RefusalTracker } from './refusals.js';
import { EventTap } from './tap.js';

export { DEFAULTS, type AuditDispatcherOptions, type DispatcherCounters, type Serializer, type StampedEvent } from './dispatcher-options.js';
export type { GapInfo } from './gaps.js';
export type { RefusalInfo } from './refusals.js';

/** reserve() tokens: which targets hold a slot for the event (bit set), or NOT_RESERVED. */
export const NOT_RESERVED = -1;
const WEBHOOK_SLOT = 1;
const FILE_SLOT = 2;

/** Gap reason for numbered events the webhook did not get because it was disabled at the time. */
export const WEBHOOK_DISABLED = 'webhook_disabled';
/** How often pending gaps are looked at when no event arrives to trigger it. */
const GAP_FLUSH_MS = 200;

interface Target {
  kind: TargetKind;
  driver: Driver;
  buffer: EventBuffer;
  metrics: TargetMetrics;
  spool: Spool | null;
}

export class AuditDispatcher<E extends object = object> implements AuditControl {
  private readonly opts: AuditDispatcherOptions<E>;
  private readonly serialize: Serializer<E>;
  private readonly slab = new EventSlab();
  private readonly log: Logger;
  private readonly hostName: string;
  private readonly backoff: BackoffOptions;
  private readonly registry = new Registry();
  private readonly delivered: Counter;
  private readonly deadLetter: DeadLetter;
  private readonly webhook: Target;
  private file: Target | null = null;
  private config: WebhookTargetConfig | null = null;
  private readonly oldSinks = new Set<Sink>();
  private healthTimer: NodeJS.Timeout | null = null;
  private healthBusy = false;
  private started = false;
  private closing = false;
  private closePromise: Promise<void> | null = null;
  private recovered = 0;
  /** Set when the `gapEvent` option is: losses become gap events, crashes are declared. */
  private readonly seqState: SequenceState | null;
  private gapTimer: NodeJS.Timeout | null = null;
  private gapsPending = false;
  /** Requests refused by fail-closed admission (--audit-required), pending a `refused` event. */
  private readonly refusals: RefusalTracker;
  private lastRefusedFlush = -Infinity;
  /** Why the last reserve() found no room. */
  lastRefusal = '';
  /** Live stream clients (`tail`, the status page): every event is offered to them too. */
  readonly tap: EventTap;

  constructor(opts: AuditDispatcherOptions<E>) {
    this.opts = opts;
    this.serialize = opts.serialize ?? JSON.stringify;
    this.log = opts.logger.child({ component: 'audit-dispatch' });
    this.hostName = opts.hostName ?? hostname();
    this.backoff = { baseMs: opts.retryBaseMs ?? DEFAULTS.retryBaseMs, maxMs: opts.retryMaxMs ?? DEFAULTS.retryMaxMs };
    this.delivered = new Counter(this.registry, `${METRIC_PREFIX}events_delivered_total`, 'Events accepted by a target (webhook: 2xx; file: written and fdatasynced).', 'target', ['webhook', 'file']);
    this.deadLetter = new DeadLetter({
      dir: join(opts.dataDir, 'dead-letter'),
      maxBytes: opts.deadLetterMaxBytes ?? DEFAULTS.deadLetterMaxBytes,
      logger: this.log,
      onLost: (n, reason) => this.webhook.driver.drop(reason, n),
      onWritten: (n, reason) => this.webhook.driver.deadLettered(n, reason),
    });
    this.seqState = opts.gapEvent ? new SequenceState(opts.dataDir, (err) => this.log.error({ err: err.message }, 'could not write the sequence state')) : null;
    this.webhook = this.makeTarget('webhook', true);
    this.refusals = new RefusalTracker(this.registry);
    this.tap = new EventTap(opts.tap);
    gauge(this.registry, `${METRIC_PREFIX}stream_clients`, 'Live event stream clients attached (GET /api/v1/events/stream).', () => this.tap.attached);
    const streamDrops = new Counter(this.registry, `${METRIC_PREFIX}stream_events_dropped_total`, 'Events dropped for live stream clients that fell behind (never for the targets).');
    this.tap.onDropped = () => streamDrops.inc();
  }

  private makeTarget(kind: TargetKind, withDeadLetters: boolean): Target {
    const buffer = new EventBuffer(this.opts.queueMaxEvents ?? DEFAULTS.queueMaxEvents, this.opts.queueMaxBytes ?? DEFAULTS.queueMaxBytes);
    const every = this.opts.dropLogIntervalMs ?? DEFAULTS.dropLogIntervalMs;
    const log = this.log.child({ target: kind });
    let driver: Driver | null = null;
    const metrics = new TargetMetrics(this.registry, kind, this.delivered, {
      queuedEvents: () => buffer.mq.length + buffer.heldOutside,
      queuedBytes: () => buffer.mq.bytes,
      inFlightRequests: () => driver?.requestsInFlight ?? 0,
      spoolBytes: () => buffer.spoolRef?.bytes ?? 0,
      spoolEvents: () => buffer.spoolRef?.events ?? 0,
      queueMaxEvents: () => buffer.mq.maxEvents,
      queueMaxBytes: () => buffer.mq.maxBytes,
      spoolMaxBytes: () => buffer.spoolRef?.maxBytes ?? 0,
      state: () => driver?.health.state ?? 'disabled',
      consecutiveFailures: () => driver?.health.consecutiveFailures ?? 0,
    });
    const ackMetrics = kind === 'webhook' ? new AckMetrics(this.registry, () => driver?.ack?.status() ?? null) : null;
    const gaps = this.opts.gapEvent ? new GapTracker(() => { this.gapsPending = true; }) : null;
    const d = new Driver({
      gaps,
      name: kind === 'webhook' ? 'audit webhook' : 'audit log file',
      buffer, logger: log, backoff: this.backoff, metrics, ackMetrics,
      drops: new ThrottledLog(log, every, 'audit events lost, counted by reason (spool_full, queue_full, spool_error, spool_corrupt, dead_letter_full, ...)'),
      deadLetter: withDeadLetters ? this.deadLetter : null,
      deadLetters: withDeadLetters
        ? new ThrottledLog(log, every, 'audit events refused by the receiver: written to the dead-letter files', () => ({ dir: this.deadLetter.dir, lastReply: driver?.lastDeadLetterReply }))
        : null,
    });
    driver = d;
    return { kind, driver: d, buffer, metrics, spool: null };
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Opens the spools (events left by an earlier run wait for their target), dead letters and the audit log. */
  async start(): Promise<void> {
    if (this.started) return;
    await mkdir(this.opts.dataDir, { recursive: true, mode: 0o700 });
    await this.deadLetter.open();
    await this.openSpool(this.webhook, 'spool');
    this.recovered = this.webhook.spool?.recovered ?? 0;
    if (this.opts.auditLogFile) {
      const sink = new FileSink({
        path: this.opts.auditLogFile, logger: this.log,
        maxBytes: this.opts.auditLogMaxBytes ?? DEFAULTS.auditLogMaxBytes,
        maxFiles: this.opts.auditLogMaxFiles ?? DEFAULTS.auditLogMaxFiles,
        backoff: this.backoff,
      });
      await sink.open();
      const file = this.makeTarget('file', false);
      await this.openSpool(file, 'spool-audit-log');
      file.driver.setSink(sink, FILE_SETTINGS);
      file.driver.start();
      this.file = file;
    }
    this.started = true;
    this.webhook.driver.start();
    if (this.seqState) for (const g of await this.seqState.open()) this.webhook.driver.gaps!.carry(g);
    if (this.seqState || this.opts.refusedEvent) {
      this.gapTimer = setInterval(() => { if (this.gapsPending) this.flushGaps(false); }, GAP_FLUSH_MS);
      this.gapTimer.unref();
    }
  }

  private targets(): Target[] {
    return this.file ? [this.webhook, this.file] : [this.webhook];
  }

  /**
   * Turns pending loss records into gap events, for each target that lost events and has room now
   * (or, `force`, at shutdown). A gap event goes to every enabled target (it is an event of the
   * sequence like any other) and is never refused: past the bounds if need be.
   */
  private flushGaps(force: boolean): void {
    this.gapsPending = false;
    const w = this.webhook.driver.currentSink !== null;
    const f = this.file;
    this.flushRefusals(force, w, f);
    const make = this.opts.gapEvent;
    if (!make) return;
    for (const t of this.targets()) {
      const g = t.driver.gaps;
      if (!g || !g.pending) continue;
      const room = t.buffer.spoolUsable || !t.buffer.mq.wouldOverflow(4096);
      const enabled = t === this.webhook ? w : true;
      if (!enabled || (!room && !force)) {
        this.gapsPending = true;
        continue;
      }
      for (const info of g.take()) this.emitForced(() => make(info), 'gap', w, f);
    }
  }

  /** Pending refusals become `refused` events once every enabled target has room (or, `force`, at shutdown). */
  private flushRefusals(force: boolean, w: boolean, f: Target | null): void {
    const make = this.opts.refusedEvent;
    if (!make || !this.refusals.pending) return;
    // at most one refused event per reason per GAP_FLUSH_MS: refusals coalesce meanwhile
    const now = performance.now();
    if (!force && now - this.lastRefusedFlush < GAP_FLUSH_MS) {
      this.gapsPending = true;
      return;
    }
    const room = (t: Target): boolean => t.buffer.spoolUsable || !t.buffer.mq.wouldOverflow(4096);
    if (!force && ((w && !room(this.webhook)) || (f && !room(f)))) {
      this.gapsPending = true;
      return;
    }
    if (!w && !f) return; // kept until a target is enabled
    this.lastRefusedFlush = now;
    for (const info of this.refusals.take()) this.emitForced(() => make(info), 'refused', w, f);
  }

  /** Builds one of the dispatcher's own events (gap, refused) and pushes it to every enabled target, past the bounds. */
  /**
   * A numbered event the webhook does not get because it is disabled (it went to the audit log
   * only, or reached the `--workers` primary just after a disable): declared to the webhook as a gap
   * (`webhook_disabled`) once it is enabled, so its receiver's trail still accounts for every number.
   * Not a drop: no drop counter moves. Contiguous numbers coalesce into one range.
   */
  private notSentToWebhook(sequence: number, instance: string | null, timeMs: number): void {
    if (sequence >= 1 && instance !== null) this.webhook.driver.gaps?.lost(WEBHOOK_DISABLED, 1, sequence, instance, timeMs);
  }

  private emitForced(build: () => StampedEvent, what: string, w: boolean, f: Target | null): void {
    let ev: StampedEvent;
    try {
      ev = build();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `could not build a ${what} event`);
      return;
    }
    if (!w) this.notSentToWebhook(ev.sequence, ev.instance, ev.timeMs);
    const bytes = this.slab.encode(ev.json);
    if (this.tap.attached > 0) this.tap.publish(ev.json, bytes);
    this.seqState?.accepted(ev.instance, ev.sequence, ev.timeMs);
    if (w) this.webhook.driver.pushForce(bytes, ev.timeMs);
    if (f) f.driver.pushForce(bytes, ev.timeMs);
  }

  private async openSpool(t: Target, dirName: string): Promise<void> {
    const dir = join(this.opts.dataDir, dirName);
    try {
      t.spool = await Spool.open({
        dir,
        maxBytes: this.opts.spoolMaxBytes ?? DEFAULTS.spoolMaxBytes,
        fsyncIntervalMs: this.opts.spoolFsyncIntervalMs ?? DEFAULTS.spoolFsyncIntervalMs,
        segmentMaxBytes: this.opts.spoolSegmentMaxBytes,
        logger: this.log.child({ target: t.kind }),
        // bytes taken from memory and not yet on disk: never more than the memory queue held
        maxPendingWriteBytes: Math.max(32 * 1024 * 1024, t.buffer.mq.maxBytes),
        onLost: (count, reason) => t.driver.drop(reason, count),
        onWritten: () => t.driver.schedulePump(),
      });
    } catch (err) {
      t.spool = null;
      this.log.error({ dir, err: (err as Error).message }, 'audit spool unavailable: events are kept in memory only while the target fails');
    }
    t.buffer.attachSpool(t.spool);
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
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
    if (this.gapTimer) clearInterval(this.gapTimer);
    this.gapTimer = null;
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
    await Promise.all([...targets.map((t) => t.driver.currentSink?.destroy()), ...[...this.oldSinks].map((o) => o.destroy())]);
    await Promise.all(targets.map((t) => t.spool?.close()));
    await this.deadLetter.close();
    this.log.info({ delivered: this.delivered.get('webhook'), spooled: this.webhook.spool?.events ?? 0 }, 'audit dispatcher closed');
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
    if (reservation > 0) this.releaseUnused(reservation, w, f);
    if (!w) this.notSentToWebhook(sequence, instance, timeMs);
    if (!w && !f) {
      if (this.tap.attached > 0) this.tap.publish(json);
      return;
    }
    const bytes = this.slab.encode(json);
    if (this.tap.attached > 0) this.tap.publish(json, bytes);
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

  /**
   * Promises room for one event in every enabled target, before the request it audits is let
   * through: a token for enqueueSerialized() (or release()), 0 when no target is enabled (nothing to
   * keep), or NOT_RESERVED when some target has no room (`lastRefusal` says why; nothing is held).
   * O(1) unless memory is full (then one spill chunk, as push does).
   */
  reserve(): number {
    let token = 0;
    if (this.webhook.driver.currentSink !== null) {
      const why = this.webhook.driver.reserve();
      if (why !== null) {
        this.lastRefusal = why;
        return NOT_RESERVED;
      }
      token |= WEBHOOK_SLOT;
    }
    const f = this.file;
    if (f !== null) {
      const why = f.driver.reserve();
      if (why !== null) {
        if (token & WEBHOOK_SLOT) this.webhook.driver.release();
        this.lastRefusal = why;
        return NOT_RESERVED;
      }
      token |= FILE_SLOT;
    }
    return token;
  }

  /** reserve(), counting a refusal (recordRefused) when there is no room: the request path's one call. */
  admit(): number {
    const token = this.reserve();
    if (token === NOT_RESERVED) this.recordRefused(this.lastRefusal);
    return token;
  }

  /** Gives back a reservation whose event will not come. */
  release(reservation: number): void {
    if (reservation <= 0) return;
    if (reservation & WEBHOOK_SLOT) this.webhook.driver.release();
    if (reservation & FILE_SLOT) this.file?.driver.release();
  }

  /** Slots of targets disabled since the reservation was made. */
  private releaseUnused(reservation: number, w: boolean, f: Target | null): void {
    if (!w && (reservation & WEBHOOK_SLOT)) this.webhook.driver.release();
    if (!f && (reservation & FILE_SLOT)) this.file?.driver.release();
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

  /**
   * Events a producer in another process (a `--workers` worker) had to drop before they reached
   * the dispatcher: counted as enqueued and dropped, so the status and metrics show every loss.
   */
  recordUpstreamDrops(reason: string, n: number, instance: string | null = null, ranges: ReadonlyArray<readonly [number, number]> = [], timeMs = NaN): void {
    if (this.webhook.driver.currentSink === null || n <= 0) return;
    this.webhook.metrics.enqueued.inc(n);
    let located = 0;
    for (const [from, to] of ranges) {
      for (let s = from; s <= to && located < n; s++, located++) this.webhook.driver.drop(reason, 1, s, instance, timeMs);
    }
    if (located < n) this.webhook.driver.drop(reason, n - located, -1, null, timeMs);
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
    return this.config ? { ...this.config } : null;
  }

  /**
   * Enables, replaces or (null) disables the webhook, live. The next batch uses the new settings;
   * queued and spooled events go to the new target. Disabling keeps held events in the spool for
   * the next enable. Throws (keeping the current target) on settings that cannot work.
   */
  async setWebhook(config: WebhookTargetConfig | null): Promise<void> {
    if (this.closing) throw new Error('audit dispatcher is shutting down');
    const sink = config ? await WebhookSink.create(config, this.hostName, this.backoff) : null;
    if (this.closing) {
      await sink?.destroy();
      throw new Error('audit dispatcher is shutting down');
    }
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
    this.config = config ? { ...config } : null;
    const settings: DriverSettings | null = config
      ? {
          batchMaxEvents: config.batchMaxEvents ?? DEFAULTS.batchMaxEvents,
          batchMaxBytes: config.batchMaxBytes ?? DEFAULTS.batchMaxBytes,
          batchMaxWaitMs: config.batchMaxWaitMs ?? DEFAULTS.batchMaxWaitMs,
          concurrency: config.concurrency ?? DEFAULT_CONCURRENCY,
          requestTimeoutMs: config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
          ack: ackSettings(config),
        }
      : null;
    const old = this.webhook.driver.setSink(sink, settings);
    if (old) {
      // requests in flight to the old target finish there (bounded); close() aborts them
      this.oldSinks.add(old);
      void old.close().finally(() => this.oldSinks.delete(old));
    }
    const t = this.webhook;
    if (sink && config) {
      if (isHecFormat(sink.format) && (config.healthCheckIntervalMs ?? 0) > 0) {
        this.healthTimer = setInterval(() => void this.checkHealth(sink, config.healthCheckIntervalMs!), config.healthCheckIntervalMs);
        this.healthTimer.unref();
      }
      this.log.info({ endpoint: config.endpoint, format: sink.format, gzip: config.gzip === true, queued: t.buffer.mq.length, spooled: t.spool?.events ?? 0 }, 'audit webhook enabled');
    } else if (old) {
      this.log.info({ queued: t.buffer.mq.length, spooled: t.spool?.events ?? 0 }, 'audit webhook disabled: held events stay in the spool for the next enable');
    }
  }

  /** HEC health endpoint: a success wakes a waiting retry; a failure only speaks when nothing else was tried lately. */
  private async checkHealth(sink: WebhookSink, intervalMs: number): Promise<void> {
    const d = this.webhook.driver;
    if (this.healthBusy || d.currentSink !== sink || this.closing) return;
    this.healthBusy = true;
    try {
      const out = await sink.sender.checkHealth();
      if (d.currentSink !== sink || this.closing) return;
      const r = out.result;
      if (r.kind === 'reply' && r.statusCode >= 200 && r.statusCode < 300) {
        d.healthCheckOk(out.latencyMs);
        return;
      }
      const last = d.health.lastSuccess === null ? 0 : Date.parse(d.health.lastSuccess);
      const quiet = d.requestsInFlight === 0 && !d.health.failing && Date.now() - last > intervalMs;
      if (!quiet) return;
      const dec = decide(r, 0, 1, this.backoff);
      const reason = 'reason' in dec ? dec.reason : `HTTP ${r.kind === 'reply' ? r.statusCode : ''}`;
      d.healthCheckFailed(dec.action === 'unauthorized' ? 'unauthorized' : 'retry', `health check: ${sink.redact(reason)}`, out.latencyMs);
    } finally {
      this.healthBusy = false;
    }
  }

  /** Sends one test event now, bypassing the queue; reports the receiver's reply. */
  async sendTestEvent(): Promise<TestEventResult> {
    const sink = this.webhook.driver.currentSink as WebhookSink | null;
    if (!sink) throw new Error('no audit webhook is configured: enable one first (setWebhook / audit-webhook enable)');
    const now = new Date();
    // Stamped by the audit side when it numbers events: the test event then takes a number of the
    // same sequence, goes to the audit log target too, and is declared lost (gap "test_event_failed")
    // if the receiver does not take it, so that the sequence has no silent hole.
    let stamped: StampedEvent | null = null;
    if (this.opts.testEvent) {
      stamped = this.opts.testEvent();
      this.seqState?.accepted(stamped.instance, stamped.sequence, stamped.timeMs);
      if (this.file) this.file.driver.pushForce(this.slab.encode(stamped.json), stamped.timeMs);
      if (this.tap.attached > 0) this.tap.publish(stamped.json);
    }
    const json = stamped?.json ?? JSON.stringify({ version: '1', id: randomUUID(), kind: 'test', time: now.toISOString(), message: 's3-audit-proxy test event', proxy: { host: this.hostName } });
    const timeMs = stamped?.timeMs ?? now.getTime();
    const body = sink.formatter.body([json], [Buffer.byteLength(json)], [timeMs]);
    const out = await sink.sender.send(body, sink.formatter.contentType);
    const r = out.result;
    const latencyMs = Math.round(out.latencyMs * 1000) / 1000;
    const ok = r.kind === 'reply' && r.statusCode >= 200 && r.statusCode < 300;
    if (stamped && !ok) this.webhook.driver.gaps?.lost('test_event_failed', 1, stamped.sequence, stamped.instance, stamped.timeMs);
    if (r.kind === 'reply') {
      if (ok) this.webhook.driver.wake();
      return { ok, statusCode: r.statusCode, body: sink.redact(r.body.slice(0, 4096)), latencyMs };
    }
    return { ok: false, statusCode: null, body: `${r.code}: ${r.message}`, latencyMs };
  }

  /** The webhook driver's scheduler internals (diagnostics only; not part of the admin API). */
  schedulerState(): Record<string, unknown> {
    return this.webhook.driver.schedulerState();
  }

  status(): TargetStatus {
    const st = this.targetStatus(this.webhook);
    if (!this.config) {
      st.state = 'disabled';
      st.ack = null;
    }
    return st;
  }

  auditLogStatus(): AuditLogStatus | null {
    return this.file && this.opts.auditLogFile ? { path: this.opts.auditLogFile, status: this.targetStatus(this.file) } : null;
  }

  private targetStatus(t: Target): TargetStatus {
    const h = t.driver.health;
    return {
      state: h.state,
      queued: t.buffer.mq.length + t.buffer.heldOutside,
      queuedBytes: t.buffer.mq.bytes,
      queueMaxEvents: t.buffer.mq.maxEvents,
      queueMaxBytes: t.buffer.mq.maxBytes,
      enqueued: t.metrics.enqueued.get(),
      delivered: t.metrics.deliveredTotal(),
      dropped: t.metrics.dropped.total(),
      droppedByReason: t.metrics.dropped.entries(),
      spooled: t.spool?.events ?? 0,
      spoolBytes: t.spool?.bytes ?? 0,
      spoolMaxBytes: t.spool?.maxBytes ?? this.opts.spoolMaxBytes ?? DEFAULTS.spoolMaxBytes,
      deadLettered: t.metrics.deadLettered.total(),
      deadLetteredByReason: t.metrics.deadLettered.entries(),
      retried: t.metrics.retried.get(),
      inFlight: t.driver.requestsInFlight,
      lastSuccess: h.lastSuccess,
      lastFailure: h.lastFailure,
      lastError: h.lastError,
      consecutiveFailures: h.consecutiveFailures,
      lastLatencyMs: h.lastLatencyMs,
      stateHistory: h.history.map((c) => ({ ...c })),
      recentErrors: h.recentErrors.map((e) => ({ ...e })),
      ack: t.driver.ack?.status() ?? null,
      refusedRequests: this.refusals.total,
    };
  }

  counters(): DispatcherCounters {
    const t = this.webhook;
    return {
      generated: t.metrics.enqueued.get(),
      delivered: t.metrics.deliveredTotal(),
      dropped: t.metrics.dropped.total(),
      droppedByReason: t.metrics.dropped.entries(),
      deadLettered: t.metrics.deadLettered.total(),
      spooled: t.metrics.spooled.get(),
      retried: t.metrics.retried.get(),
      recovered: this.recovered,
      queued: t.buffer.mq.length + t.buffer.heldOutside,
      spoolEvents: t.spool?.events ?? 0,
      spoolPendingBytes: t.spool?.pendingWriteBytes ?? 0,
      inFlight: t.driver.requestsInFlight,
      inFlightEvents: t.driver.eventsInFlight,
      fileWritten: this.file?.metrics.deliveredTotal() ?? 0,
      fileDropped: this.file?.metrics.dropped.total() ?? 0,
    };
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
