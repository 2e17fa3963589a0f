// One health state machine per target, as `show`, the status page and /metrics report it.
//
//   disabled      no target configured
//   healthy       the last attempt succeeded (or nothing was tried yet) and nothing is stuck
//   degraded      a request has been in flight far longer than usual (the receiver hangs), or
//                 fewer than DOWN_AFTER attempts in a row failed: new events go to disk
//   down          DOWN_AFTER or more failed attempts in a row (network, timeout, 5xx, 404...)
//   unauthorized  the receiver refused the token (401/403)
//   rejecting     the receiver refuses every event it is sent (4xx for data that other receivers
//                 take): events are kept, not dead-lettered one by one
//
// Only `healthy` keeps events in memory; every other state moves them to the spool and sends one
// probe at a time at backoff (degraded by a stall: nothing new is sent until the stuck request ends).
import type { TargetRecentError, TargetState, TargetStateChange } from './types.js';

export const DOWN_AFTER = 3;
/** A request in flight this many times the usual latency marks the target degraded... */
export const STALL_FACTOR = 8;
/** ...but never sooner than this. */
export const STALL_MIN_MS = 2000;

export type FailureKind = 'retry' | 'unauthorized' | 'rejecting';

const HISTORY = 20;
const RECENT_ERRORS = 10;

export class Health {
  state: TargetState = 'disabled';
  lastSuccess: string | null = null;
  lastFailure: string | null = null;
  lastError: string | null = null;
  consecutiveFailures = 0;
  lastLatencyMs: number | null = null;
  /** Moving average of successful request latency, ms (0 until the first success). */
  latencyEwmaMs = 0;
  /** The last state changes, newest last. */
  readonly history: TargetStateChange[] = [];
  /** The last distinct errors, newest last (a repeat of the newest one bumps its count and time). */
  readonly recentErrors: TargetRecentError[] = [];

  /** A new target was enabled (or the old one disabled). */
  reset(enabled: boolean): void {
    this.consecutiveFailures = 0;
    this.latencyEwmaMs = 0;
    this.set(enabled ? 'healthy' : 'disabled', null);
  }

  /** True when events may wait in memory and be sent at full speed. */
  get healthy(): boolean {
    return this.state === 'healthy';
  }

  /** True after a failed attempt: only probes at backoff until one succeeds. */
  get failing(): boolean {
    return this.consecutiveFailures > 0;
  }

  /** How long a request may be in flight before the target counts as stalled, ms. */
  stallAfterMs(requestTimeoutMs: number): number {
    const usual = Math.max(STALL_MIN_MS, STALL_FACTOR * this.latencyEwmaMs);
    return Math.min(usual, Math.max(STALL_MIN_MS, requestTimeoutMs / 2));
  }

  /** Returns the previous state. */
  success(latencyMs: number | null): TargetState {
    const prev = this.state;
    this.consecutiveFailures = 0;
    this.lastSuccess = new Date().toISOString();
    if (latencyMs !== null) {
      this.lastLatencyMs = Math.round(latencyMs * 1000) / 1000;
      this.latencyEwmaMs = this.latencyEwmaMs === 0 ? latencyMs : this.latencyEwmaMs * 0.9 + latencyMs * 0.1;
    }
    this.set('healthy', null);
    return prev;
  }

  /** Returns the previous state. `error` must already be free of secrets. */
  failure(kind: FailureKind, error: string, latencyMs: number | null): TargetState {
    const prev = this.state;
    this.consecutiveFailures++;
    this.lastFailure = new Date().toISOString();
    this.lastError = error;
    this.noteError(this.lastFailure, error);
    if (latencyMs !== null) this.lastLatencyMs = Math.round(latencyMs * 1000) / 1000;
    const next: TargetState =
      kind === 'unauthorized' ? 'unauthorized' : kind === 'rejecting' ? 'rejecting' : this.consecutiveFailures >= DOWN_AFTER ? 'down' : 'degraded';
    this.set(next, error);
    return prev;
  }

  /** A request has been in flight for `ageMs`, far longer than usual. Returns the previous state. */
  stalled(ageMs: number): TargetState {
    const prev = this.state;
    if (prev !== 'healthy') return prev;
    this.lastError = `a request to the receiver has been waiting for a reply for ${Math.round(ageMs / 1000)} s`;
    this.noteError(new Date().toISOString(), this.lastError);
    this.set('degraded', this.lastError);
    return prev;
  }

  private noteError(at: string, error: string): void {
    const last = this.recentErrors[this.recentErrors.length - 1];
    if (last && last.error === error) {
      last.at = at;
      last.count++;
      return;
    }
    this.recentErrors.push({ at, error, count: 1 });
    if (this.recentErrors.length > RECENT_ERRORS) this.recentErrors.shift();
  }

  private set(state: TargetState, error: string | null): void {
    if (state === this.state) return;
    this.state = state;
    this.history.push({ at: new Date().toISOString(), state, error });
    if (this.history.length > HISTORY) this.history.shift();
  }
}
