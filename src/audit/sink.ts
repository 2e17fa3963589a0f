// What the request path sees of auditing: the dispatcher (one process) or the channel to the
// primary (--workers). enqueue never blocks, never throws, is O(1).
import type { AuditEvent } from './event.js';

export interface AuditSink {
  /** False when no target is enabled: the proxy then skips building events. */
  readonly active: boolean;
  /** `timeMs`: the event time (epoch ms) when the caller has it, so that event.time is not parsed again. */
  enqueue(event: AuditEvent, timeMs?: number): void;
}
