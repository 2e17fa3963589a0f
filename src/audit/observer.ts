// The bridge from the proxy to delivery: builds an event for each finished request and enqueues it.
// With no audit target enabled it builds nothing (only the optional per-API metrics classify).
import type { AuditSink } from './sink.js';
import type { RequestObservation, RequestObserver } from '../proxy/observation.js';
import { apiNameOf, buildEvent, type EventContext } from './build-event.js';
import { TrustedProxies } from './client-address.js';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import { hostRulesFromConfig } from '../proxy/interpret-policy.js';

/** Per-request numbers for the admin plane's Prometheus metrics. */
export interface RequestMetricsSink {
  observe(apiName: string, statusCode: number, outcome: string, durationMs: number): void;
}

/** What events are built with, from serve's settings (one place for both process models). */
export function eventContextFromConfig(config: ServeConfig, hostName: string): EventContext {
  return {
    virtualHostDomains: config.virtualHostDomains, hostRules: hostRulesFromConfig(config), trustedProxies: new TrustedProxies(config.trustedProxies, config.trustedProxyHeader),
    requestHeaders: config.auditRequestHeaders, responseHeaders: config.auditResponseHeaders,
    hostName,
  };
}

export class AuditObserver implements RequestObserver {
  private failures = 0;
  private lastFailureLog = 0;

  constructor(
    private readonly sink: AuditSink,
    private readonly ctx: EventContext,
    private readonly logger: Logger,
    private readonly metrics: RequestMetricsSink | null = null,
  ) {}

  get capturing(): boolean {
    return this.sink.active;
  }

  end(obs: RequestObservation): void {
    const active = this.sink.active;
    if (!active) {
      if (this.metrics !== null) {
        const ms = (obs.endMono >= 0 ? obs.endMono : performance.now()) - obs.startMono;
        this.metrics.observe(apiNameOf(obs, this.ctx.virtualHostDomains, this.ctx.hostRules ?? null), obs.statusCode, obs.outcome, ms);
      }
      this.sink.release?.(obs.auditReservation);
      return;
    }
    let event;
    try {
      event = buildEvent(obs, this.ctx);
    } catch (err) {
      // Building must never take the proxy down; report at most once per 10 s.
      this.failures++;
      const now = Date.now();
      if (now - this.lastFailureLog > 10_000) {
        this.lastFailureLog = now;
        this.logger.error({ err, failures: this.failures, reqId: obs.id }, 'could not build an audit event');
      }
      this.sink.release?.(obs.auditReservation);
      return;
    }
    this.metrics?.observe(event.api.name, event.response.statusCode, event.outcome, event.timing.totalMs);
    this.sink.enqueue(event, obs.startEpochMs, obs.auditReservation);
  }
}
