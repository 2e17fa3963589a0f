// The admin API's side of the dispatcher's control interface (AuditControl): telling a sink that also
// offers it apart from a plain one, and the stand-in the API gets when there is none.
import type { AuditControl, TargetStatus } from '../dispatch/types.js';
import { Registry } from '../dispatch/metrics.js';

/** The control to give the admin API when the caller supplied its own sink (tests, embedding). */
export function unavailableControl(reason: string): AuditControl {
  const status: TargetStatus = {
    state: 'disabled', queued: 0, queuedBytes: 0, queueMaxEvents: 0, queueMaxBytes: 0, enqueued: 0, delivered: 0, dropped: 0, droppedByReason: {},
    spooled: 0, spoolBytes: 0, spoolMaxBytes: 0, deadLettered: 0, deadLetteredByReason: {}, retried: 0, inFlight: 0,
    lastSuccess: null, lastFailure: null, lastError: null, consecutiveFailures: 0, lastLatencyMs: null, stateHistory: [], recentErrors: [], ack: null, refusedRequests: 0,
  };
  const empty = new Registry();
  return {
    webhookConfig: () => null,
    setWebhook: async () => { throw new Error(reason); },
    status: () => ({ ...status, stateHistory: [], recentErrors: [] }),
    sendTestEvent: async () => { throw new Error(reason); },
    metricsRegistry: () => empty,
  };
}

export function isAuditControl(x: unknown): x is AuditControl {
  const c = x as Partial<AuditControl> | null;
  return !!c && typeof c.setWebhook === 'function' && typeof c.webhookConfig === 'function' && typeof c.status === 'function'
    && typeof c.sendTestEvent === 'function' && typeof c.metricsRegistry === 'function';
}
