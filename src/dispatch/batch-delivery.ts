// Delivering one batch: requests to the sink until every event of the batch is settled (delivered
// or dead-lettered) or the target fails. One decision per reply (retry-policy.ts); a refusal of the
// data is bisected. The driver (driver.ts) schedules batches; this file only works one through.
//
// Bisect. 413 (too large): halves, in order, until they fit. Refused data: both halves are sent
// before going deeper (breadth first), so that a receiver that accepts the good half proves early
// that it takes data; one bad event in n then costs at most 1 + 2·ceil(log2 n) requests. But while
// nothing of the batch has been accepted, a refusal may mean the target, not the events: after
// REJECT_AFTER refusals with nothing accepted (three levels of halves), or a single event refused
// by a receiver that has accepted nothing since it was enabled, the batch fails as `rejecting` and
// its events are kept.
import type { Batch } from './batch.js';
import type { Sink } from './sink.js';
import type { FailureKind } from './health.js';
import type { DeadLetterReason } from './dead-letter.js';

/** Refused requests without one accepted event after which a batch's refusal means the target. */
export const REJECT_AFTER = 7;

export interface DeliveryFailure {
  kind: FailureKind;
  reason: string;
  /** Backoff before the next attempt (the sink's decision, Retry-After included). */
  delayMs: number | null;
  latencyMs: number | null;
}

/** What the driver does with each outcome (counting, health, dead letters). */
export interface DeliveryHooks {
  /** Failed attempts in a row before this request (sets the backoff of a retry decision). */
  attempt(): number;
  /** The receiver accepted events [from, to) of `b` (settle them). */
  accepted(b: Batch, from: number, to: number, latencyMs: number): void;
  /** The receiver took the request but named a bad event first (HEC invalid-event-number 0). */
  accepting(latencyMs: number): void;
  /** A request the receiver refused (a bisect step or a dead letter). */
  refused(): void;
  /** Events [from, to) of `b` are refused for good (settle them). */
  deadLetter(b: Batch, from: number, to: number, reason: DeadLetterReason, statusCode: number | null, reply: string): void;
  /** The receiver has accepted data since it was enabled (and since it last refused everything). */
  everAccepted(): boolean;
  latency(ms: number): void;
}

/** Sends what is left of `b`. Resolves null when it is settled, or the failure that stopped it. */
export async function deliverBatch(b: Batch, sink: Sink, h: DeliveryHooks): Promise<DeliveryFailure | null> {
  while (b.todo.length > 0 && !b.abandoned) {
    const [lo, hi] = b.todo[0];
    const count = hi - lo;
    const r = await sink.send(b.items, lo, hi, h.attempt());
    if (b.abandoned) return null;
    h.latency(r.latencyMs);
    const d = r.decision;
    switch (d.action) {
      case 'retry':
      case 'unauthorized':
        return { kind: d.action, reason: d.reason, delayMs: d.delayMs, latencyMs: r.latencyMs };
      case 'success':
        h.accepted(b, lo, hi, r.latencyMs);
        b.todo.shift();
        break;
      case 'partial': {
        const bad = lo + d.accepted;
        if (d.accepted > 0) h.accepted(b, lo, bad, r.latencyMs);
        else h.accepting(r.latencyMs);
        h.deadLetter(b, bad, bad + 1, 'invalid_event', r.statusCode, r.reply);
        if (bad + 1 < hi) b.todo[0] = [bad + 1, hi];
        else b.todo.shift();
        break;
      }
      case 'dead-letter':
        h.refused();
        h.deadLetter(b, lo, hi, 'rejected', r.statusCode, r.reply);
        b.todo.shift();
        break;
      case 'split': {
        h.refused();
        const tooLarge = r.statusCode === 413;
        const rejecting: DeliveryFailure = { kind: 'rejecting', reason: `${d.reason} (every event refused)`, delayMs: null, latencyMs: r.latencyMs };
        if (count === 1) {
          if (!tooLarge && !b.accepted && !h.everAccepted()) return rejecting;
          h.deadLetter(b, lo, hi, tooLarge ? 'too_large' : 'invalid_event', r.statusCode, r.reply);
          b.todo.shift();
          break;
        }
        if (!tooLarge && !b.accepted && ++b.refusals >= REJECT_AFTER) return rejecting;
        const mid = lo + Math.ceil(count / 2);
        if (tooLarge) b.todo.splice(0, 1, [lo, mid], [mid, hi]);
        else {
          b.todo.shift();
          b.todo.push([lo, mid], [mid, hi]);
        }
        break;
      }
    }
  }
  return null;
}
