// Liveness of the webhook target, as the admin plane and /metrics show it.
//
//   disabled      no webhook configured
//   healthy       the last attempt succeeded (or nothing was tried yet)
//   degraded      retrying after fewer than DOWN_AFTER consecutive failures
//   down          DOWN_AFTER or more consecutive failures
//   unauthorized  the last attempt was refused with 401/403 (events are kept, probing continues)
import type { TargetState } from './types.js';

export const DOWN_AFTER = 3;

export class Liveness {
  state: TargetState = 'disabled';
  lastSuccess: string | null = null;
  lastFailure: string | null = null;
  lastError: string | null = null;
  consecutiveFailures = 0;
  lastLatencyMs: number | null = null;
  /** When the current failure streak started (ms since epoch), for the recovery log line. */
  failingSince: number | null = null;

  /** A new target was enabled (or the old one disabled). */
  reset(enabled: boolean): void {
    this.state = enabled ? 'healthy' : 'disabled';
    this.consecutiveFailures = 0;
    this.failingSince = null;
  }

  /** Returns the previous state. */
  success(latencyMs: number | null): TargetState {
    const prev = this.state;
    this.state = 'healthy';
    this.consecutiveFailures = 0;
    this.failingSince = null;
    this.lastSuccess = new Date().toISOString();
    if (latencyMs !== null) this.lastLatencyMs = Math.round(latencyMs * 1000) / 1000;
    return prev;
  }

  /** Returns the previous state. `error` must already be free of secrets. */
  failure(error: string, unauthorized: boolean, latencyMs: number | null): TargetState {
    const prev = this.state;
    this.consecutiveFailures++;
    this.failingSince ??= Date.now();
    this.lastFailure = new Date().toISOString();
    this.lastError = error;
    if (latencyMs !== null) this.lastLatencyMs = Math.round(latencyMs * 1000) / 1000;
    this.state = unauthorized ? 'unauthorized' : this.consecutiveFailures >= DOWN_AFTER ? 'down' : 'degraded';
    return prev;
  }
}
