// What the request path sees of auditing: the dispatcher (one process) or the channel to the
// primary (--workers). enqueue never blocks, never throws, is O(1).
import type { AuditEvent } from './event.js';

export interface AuditSink {
  /** False when no target is enabled: the proxy then skips building events. */
  readonly active: boolean;
  /** `timeMs`: the event time (epoch ms) when the caller has it, so that event.time is not parsed again. */
  /** `reservation`: the token admit() gave for this request, if any (the event then cannot be refused). */
  enqueue(event: AuditEvent, timeMs?: number, reservation?: number): void;
  /**
   * Fail-closed admission (serve --audit-required): promises room for this request's event before
   * it is forwarded. Returns a token (>= 0) for enqueue() or release(), or -1 when no event can be
   * kept now: the request must be refused; the refusal is already counted and will be evented.
   * Never blocks (--workers: spends a credit the primary granted ahead).
   */
  admit?(): number;
  /** Gives back a token whose event will not come (the event could not be built). */
  release?(reservation: number): void;
}
