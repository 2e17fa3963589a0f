// Delivering one batch: requests to the sink until every event of the batch is settled (delivered
// or dead-lettered) or the target fails. One decision per reply (retry-policy.ts); a refusal of the
// data is bisected. The driver (driver.ts) schedules batches; this file only works one through.
//
// Bisect, depth first and in order: the first half is worked through before the second, so the
// events the receiver takes still arrive in order. One bad event in n costs at most
// 1 + 2·ceil(log2 n) requests (19 for 500) when the receiver is known to take data.
//
// A refused single event is dead-lettered only with proof that the receiver takes data: an event
// accepted in this attempt, or the receiver's last request before it (hooks.proof). Without proof
// the event is a suspect and the attempt ends `rejecting`: the target may be refusing everything,
// so every event is kept. The next attempt sends the first suspect alone first: accepted, the
// receiver has changed its mind (suspects cleared, everything sent in order); refused again, the
// rest of the batch goes on (other suspects skipped), and once something is accepted every suspect
// is sent alone once more and dead-lettered only if refused again; with nothing accepted the attempt
// ends `rejecting` again (the batch is kept, never left unsettled as if done). So an event is never
// dead-lettered because the receiver refused everything, and a receiver that refuses everything
// costs about log2(n) + 2 requests per attempt at backoff. A batch of nothing but suspects that has
// been `rejecting` for REJECTING_BLAME_MS is blamed anyway, so that one bad event right after an
// enable cannot hold up the target for ever. More than rejectAfter(n) refusals with nothing
// accepted also ends an attempt `rejecting`.
import type { Batch } from './batch.js';
import type { Sink } from './sink.js';
import type { FailureKind } from './health.js';
import type { DeadLetterReason } from './dead-letter.js';

/** Refused requests without one accepted event after which a batch's refusal means the target. */
export function rejectAfter(n: number): number {
  return 2 + 2 * Math.ceil(Math.log2(Math.max(2, n)));
}
/** How long a batch of nothing but suspects may keep the target `rejecting` before they are blamed. */
export const REJECTING_BLAME_MS = 5 * 60_000;

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
  /**
   * The receiver accepted events [from, to) of `b` (settle them); `ackId`: HEC's, for indexer
   * acknowledgement; `partial`: the prefix of a reply naming a bad event (HEC invalid-event-number).
   */
  accepted(b: Batch, from: number, to: number, latencyMs: number, ackId: number | null, partial?: boolean): void;
  /** The receiver took the request but named a bad event first (HEC invalid-event-number 0). */
  accepting(latencyMs: number): void;
  /** A request the receiver refused (a bisect step or a dead letter). */
  refused(): void;
  /** Events [from, to) of `b` are refused for good (settle them). */
  deadLetter(b: Batch, from: number, to: number, reason: DeadLetterReason, statusCode: number | null, reply: string): void;
  /** The receiver's last request before this attempt was accepted: it takes data. */
  proof(): boolean;
  /** An event was dead-lettered on old proof: the next refusal needs fresh proof. */
  doubt(): void;
  latency(ms: number): void;
}

/** Sends what is left of `b`. Resolves null when it is settled, or the failure that stopped it. */
export async function deliverBatch(b: Batch, sink: Sink, h: DeliveryHooks): Promise<DeliveryFailure | null> {
  let proof = false; // something of this batch was accepted in this attempt
  let triedSuspect = false;
  const confirming = new Set<number>();
  const limit = rejectAfter(b.n);
  let latencyMs: number | null = null;
  let lastRefusal: string | null = null; // a suspect refused again without proof
  const rejecting = (reason: string): DeliveryFailure => {
    b.rejectingSince ||= Date.now();
    return { kind: 'rejecting', reason: `${reason} (every event refused)`, delayMs: null, latencyMs };
  };
  /** The receiver takes data: every suspect is sent alone once more, first, and judged then. */
  const proven = (): void => {
    if (proof) return;
    proof = true;
    const ranges = b.unsettledRanges();
    const again: Array<[number, number]> = [];
    for (const [from, to] of ranges) for (let i = from; i < to; i++) if (b.isSuspect(i)) again.push([i, i + 1]);
    if (again.length === 0) return;
    for (const [i] of again) confirming.add(i);
    // the rest of the todo list minus the suspects, after them
    const rest: Array<[number, number]> = [];
    for (const [from, to] of b.todo) {
      let start = from;
      for (let i = from; i < to; i++) {
        if (!confirming.has(i)) continue;
        if (i > start) rest.push([start, i]);
        start = i + 1;
      }
      if (to > start) rest.push([start, to]);
    }
    b.todo = [...again, ...rest];
  };
  while (b.todo.length > 0 && !b.abandoned) {
    let [lo, hi] = b.todo[0];
    if (!proof && b.isSuspect(lo)) {
      if (triedSuspect) {
        // other suspects wait for proof; the rest of the batch goes on
        if (hi - lo > 1) b.todo[0] = [lo + 1, hi];
        else b.todo.shift();
        continue;
      }
      triedSuspect = true;
      if (hi - lo > 1) b.todo.splice(0, 1, [lo, lo + 1], [lo + 1, hi]);
      hi = lo + 1;
    }
    const count = hi - lo;
    const wasSuspect = count === 1 && b.isSuspect(lo);
    const r = await sink.send(b.items, lo, hi, h.attempt());
    if (b.abandoned) return null;
    h.latency(r.latencyMs);
    latencyMs = r.latencyMs;
    const d = r.decision;
    switch (d.action) {
      case 'retry':
      case 'unauthorized':
        return { kind: d.action, reason: d.reason, delayMs: d.delayMs, latencyMs: r.latencyMs };
      case 'success':
        b.todo.shift();
        if (wasSuspect && !confirming.has(lo)) {
          // it takes what it refused before: the receiver changed, not the events
          b.clearSuspects();
          h.accepted(b, lo, hi, r.latencyMs, r.ackId ?? null);
          b.todo = b.unsettledRanges();
          proof = true;
          break;
        }
        h.accepted(b, lo, hi, r.latencyMs, r.ackId ?? null);
        proven();
        break;
      case 'partial': {
        const bad = lo + d.accepted;
        if (d.accepted > 0) h.accepted(b, lo, bad, r.latencyMs, r.ackId ?? null, true);
        else h.accepting(r.latencyMs);
        h.deadLetter(b, bad, bad + 1, 'invalid_event', r.statusCode, r.reply);
        if (bad + 1 < hi) b.todo[0] = [bad + 1, hi];
        else b.todo.shift();
        proven();
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
        if (!tooLarge && !proof && ++b.refusals > limit) return rejecting(d.reason);
        b.todo.shift();
        if (count > 1) {
          const mid = lo + Math.ceil(count / 2);
          b.todo.unshift([lo, mid], [mid, hi]);
        } else if (tooLarge) {
          h.deadLetter(b, lo, hi, 'too_large', r.statusCode, r.reply);
        } else if (proof) {
          h.deadLetter(b, lo, hi, 'invalid_event', r.statusCode, r.reply);
        } else if (h.proof()) {
          h.deadLetter(b, lo, hi, 'invalid_event', r.statusCode, r.reply);
          h.doubt();
        } else if (wasSuspect) {
          // refused again, still without proof: it waits (the rest of the batch goes on), unless blamed
          lastRefusal = d.reason;
          if (blamed(b)) h.deadLetter(b, lo, hi, 'invalid_event', r.statusCode, r.reply);
        } else {
          b.markSuspect(lo);
          if (!blamed(b)) return rejecting(d.reason);
          h.deadLetter(b, lo, hi, 'invalid_event', r.statusCode, r.reply);
        }
        break;
      }
    }
  }
  // suspects still waiting (nothing of the batch proved that the receiver takes data): kept, not done
  if (!b.abandoned && !b.done) return rejecting(lastRefusal ?? 'suspect events refused without proof');
  return null;
}

/** Nothing but suspects left, and they have kept the target `rejecting` for REJECTING_BLAME_MS. */
function blamed(b: Batch): boolean {
  return b.onlySuspectsLeft() && b.rejectingSince > 0 && Date.now() - b.rejectingSince >= REJECTING_BLAME_MS;
}
