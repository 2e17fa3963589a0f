// What the dispatcher reports: a target's status (TargetStatus, admin plane) and the counters
// snapshot. Read-only, apart from the dispatcher, which moves the events these count.
import type { TargetStatus } from './types.js';
import type { DispatcherCounters } from './dispatcher-options.js';
import type { Target } from './target-wiring.js';

/** `spoolMaxBytes`: the configured bound, shown while the target has no spool. */
export function targetStatus(t: Target, spoolMaxBytes: number, refusedRequests: number): TargetStatus {
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
    spoolMaxBytes: t.spool?.maxBytes ?? spoolMaxBytes,
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
    refusedRequests,
  };
}

/** The webhook target's counters, with the audit-log target's written and lost events. */
export function dispatcherCounters(t: Target, file: Target | null, recovered: number): DispatcherCounters {
  return {
    generated: t.metrics.enqueued.get(),
    delivered: t.metrics.deliveredTotal(),
    dropped: t.metrics.dropped.total(),
    droppedByReason: t.metrics.dropped.entries(),
    deadLettered: t.metrics.deadLettered.total(),
    spooled: t.metrics.spooled.get(),
    retried: t.metrics.retried.get(),
    recovered,
    queued: t.buffer.mq.length + t.buffer.heldOutside,
    spoolEvents: t.spool?.events ?? 0,
    spoolPendingBytes: t.spool?.pendingWriteBytes ?? 0,
    inFlight: t.driver.requestsInFlight,
    inFlightEvents: t.driver.eventsInFlight,
    fileWritten: file?.metrics.deliveredTotal() ?? 0,
    fileDropped: file?.metrics.dropped.total() ?? 0,
  };
}
