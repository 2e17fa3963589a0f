// The webhook's admin plane: enable, replace or disable it live, HEC health probe, test event. Off
// the request path; it owns what only reconfiguration touches (config, old sinks, health timer).
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { TestEventResult, WebhookTargetConfig } from './types.js';
import type { EventSlab } from './event-slab.js';
import { isHecFormat } from './formats.js';
import { DEFAULT_CONCURRENCY, DEFAULT_REQUEST_TIMEOUT_MS } from './sender.js';
import { decide, type BackoffOptions } from './retry-policy.js';
import type { DriverSettings } from './driver-options.js';
import { WebhookSink } from './webhook-sink.js';
import { ackSettings } from './ack-settings.js';
import type { Sink } from './sink.js';
import type { EventTap } from './tap.js';
import type { SequenceState } from './sequence-state.js';
import { DEFAULTS, type StampedEvent } from './dispatcher-options.js';
import type { Target } from './target-wiring.js';

export interface WebhookControlOptions {
  webhook: Target;
  hostName: string;
  backoff: BackoffOptions;
  log: Logger;
  slab: EventSlab;
  tap: EventTap;
  seqState: SequenceState | null;
  /** The audit side's test event, numbered in the sequence (the `testEvent` option). */
  testEvent: (() => StampedEvent) | undefined;
  /** The dispatcher is shutting down: nothing is enabled any more. */
  closing: () => boolean;
}

export class WebhookControl {
  private readonly o: WebhookControlOptions;
  private config: WebhookTargetConfig | null = null;
  /** Sinks replaced or disabled whose requests in flight still finish there. */
  readonly oldSinks = new Set<Sink>();
  private healthTimer: NodeJS.Timeout | null = null;
  private healthBusy = false;

  constructor(o: WebhookControlOptions) {
    this.o = o;
  }

  get enabled(): boolean {
    return this.config !== null;
  }

  webhookConfig(): WebhookTargetConfig | null {
    return this.config ? { ...this.config } : null;
  }

  stopHealthChecks(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
  }

  /**
   * Enables, replaces or (null) disables the webhook, live. The next batch uses the new settings;
   * queued and spooled events go to the new target. Disabling keeps held events in the spool for
   * the next enable. Throws (keeping the current target) on settings that cannot work.
   */
  async setWebhook(config: WebhookTargetConfig | null): Promise<void> {
    if (this.o.closing()) throw new Error('audit dispatcher is shutting down');
    const sink = config ? await WebhookSink.create(config, this.o.hostName, this.o.backoff) : null;
    if (this.o.closing()) {
      await sink?.destroy();
      throw new Error('audit dispatcher is shutting down');
    }
    this.stopHealthChecks();
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
    const t = this.o.webhook;
    const old = t.driver.setSink(sink, settings);
    if (old) {
      // requests in flight to the old target finish there (bounded); close() aborts them
      this.oldSinks.add(old);
      void old.close().finally(() => this.oldSinks.delete(old));
    }
    if (sink && config) {
      if (isHecFormat(sink.format) && (config.healthCheckIntervalMs ?? 0) > 0) {
        this.healthTimer = setInterval(() => void this.checkHealth(sink, config.healthCheckIntervalMs!), config.healthCheckIntervalMs);
        this.healthTimer.unref();
      }
      this.o.log.info({ endpoint: config.endpoint, format: sink.format, gzip: config.gzip === true, queued: t.buffer.mq.length, spooled: t.spool?.events ?? 0 }, 'audit webhook enabled');
    } else if (old) {
      this.o.log.info({ queued: t.buffer.mq.length, spooled: t.spool?.events ?? 0 }, 'audit webhook disabled: held events stay in the spool for the next enable');
    }
  }

  /** HEC health endpoint: a success wakes a waiting retry; a failure only speaks when nothing else was tried lately. */
  private async checkHealth(sink: WebhookSink, intervalMs: number): Promise<void> {
    const d = this.o.webhook.driver;
    if (this.healthBusy || d.currentSink !== sink || this.o.closing()) return;
    this.healthBusy = true;
    try {
      const out = await sink.sender.checkHealth();
      if (d.currentSink !== sink || this.o.closing()) return;
      const r = out.result;
      if (r.kind === 'reply' && r.statusCode >= 200 && r.statusCode < 300) {
        d.healthCheckOk(out.latencyMs);
        return;
      }
      const last = d.health.lastSuccess === null ? 0 : Date.parse(d.health.lastSuccess);
      const quiet = d.requestsInFlight === 0 && !d.health.failing && Date.now() - last > intervalMs;
      if (!quiet) return;
      const dec = decide(r, 0, 1, this.o.backoff);
      const reason = 'reason' in dec ? dec.reason : `HTTP ${r.kind === 'reply' ? r.statusCode : ''}`;
      d.healthCheckFailed(dec.action === 'unauthorized' ? 'unauthorized' : 'retry', `health check: ${sink.redact(reason)}`, out.latencyMs);
    } finally {
      this.healthBusy = false;
    }
  }

  /** Sends one test event now, bypassing the queue; reports the receiver's reply. `file`: the audit-log target, if any. */
  async sendTestEvent(file: Target | null): Promise<TestEventResult> {
    const webhook = this.o.webhook;
    const sink = webhook.driver.currentSink as WebhookSink | null;
    if (!sink) throw new Error('no audit webhook is configured: enable one first (setWebhook / audit-webhook enable)');
    const now = new Date();
    // Stamped by the audit side when it numbers events: the test event then takes a number of the
    // same sequence, goes to the audit log target too, and is declared lost (gap "test_event_failed")
    // if the receiver does not take it, so that the sequence has no silent hole.
    let stamped: StampedEvent | null = null;
    if (this.o.testEvent) {
      stamped = this.o.testEvent();
      this.o.seqState?.accepted(stamped.instance, stamped.sequence, stamped.timeMs);
      if (file) file.driver.pushForce(this.o.slab.encode(stamped.json, 1), stamped.timeMs);
      if (this.o.tap.attached > 0) this.o.tap.publish(stamped.json);
    }
    const json = stamped?.json ?? JSON.stringify({ version: '1', id: randomUUID(), kind: 'test', time: now.toISOString(), message: 's3-audit-proxy test event', proxy: { host: this.o.hostName } });
    const timeMs = stamped?.timeMs ?? now.getTime();
    const body = sink.formatter.body([json], [Buffer.byteLength(json)], [timeMs]);
    const out = await sink.sender.send(body, sink.formatter.contentType);
    const r = out.result;
    const latencyMs = Math.round(out.latencyMs * 1000) / 1000;
    const ok = r.kind === 'reply' && r.statusCode >= 200 && r.statusCode < 300;
    if (stamped && !ok) webhook.driver.gaps?.lost('test_event_failed', 1, stamped.sequence, stamped.instance, stamped.timeMs);
    if (r.kind === 'reply') {
      if (ok) webhook.driver.wake();
      return { ok, statusCode: r.statusCode, body: sink.redact(r.body.slice(0, 4096)), latencyMs };
    }
    return { ok: false, statusCode: null, body: `${r.code}: ${r.message}`, latencyMs };
  }
}
