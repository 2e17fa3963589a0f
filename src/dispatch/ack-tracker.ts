// HEC indexer acknowledgement, the bookkeeping: which accepted ranges of which batches still wait
// for Splunk to say "indexed", under which ackId, since when. No I/O and no timers: the poller
// (ack-poller.ts) asks it what to poll and tells it what was acknowledged or timed out; the driver
// counts and settles.
//
// A range accepted by HEC (HTTP 200 with an `ackId`) is settled in its batch (the batch's delivery
// is finished) but the batch's `awaitingAck` stays above zero until every such range is
// acknowledged, and the buffer acknowledges a spool batch to the spool only then, and only at the
// head of its window (buffer.ts): acknowledgements arriving out of order never move the spool
// cursor past an unacknowledged batch.
//
// Bound: at most `maxPendingBatches` distinct batches wait at once (`full`); the driver sends
// nothing new meanwhile, events keep going to the spool. A range unacknowledged after `timeoutMs`
// (or accepted without an ackId: the token has acknowledgement off) is handed back to be sent again;
// an ackId that comes true after that is unknown here and ignored (the receiver de-duplicates by id).
import type { Batch } from './batch.js';

export interface AckEntry {
  batch: Batch;
  from: number;
  to: number;
  /** The receiver's ackId, or null when its reply carried none. */
  ackId: number | null;
  /** When the range was accepted (the clock given to the tracker, ms). */
  sentAt: number;
  /** The prefix of a request refused at a bad event: no ackId is expected for it. */
  partial: boolean;
}

export interface AckTrackerOptions {
  maxPendingBatches: number;
  timeoutMs: number;
  now?: () => number;
}

/** Batches awaiting acknowledgement at most (then sending pauses). */
export const DEFAULT_ACK_MAX_PENDING_BATCHES = 64;
/** Splunk's advice: wait at least 5 minutes before re-sending an unacknowledged batch. */
export const DEFAULT_ACK_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_ACK_POLL_INTERVAL_MS = 2_000;

export class AckTracker {
  readonly maxPendingBatches: number;
  timeoutMs: number;
  private readonly now: () => number;
  /** Entries with an ackId, by ackId. */
  private readonly byId = new Map<number, AckEntry>();
  /** Every entry, oldest first (insertion order). */
  private readonly entries = new Set<AckEntry>();
  private readonly batches = new Set<Batch>();
  private events = 0;

  constructor(o: AckTrackerOptions) {
    this.maxPendingBatches = Math.max(1, o.maxPendingBatches);
    this.timeoutMs = o.timeoutMs;
    this.now = o.now ?? Date.now;
  }

  get pendingBatches(): number {
    return this.batches.size;
  }

  get pendingEvents(): number {
    return this.events;
  }

  get pendingRanges(): number {
    return this.entries.size;
  }

  /** No room for another batch: the driver sends nothing new. */
  get full(): boolean {
    return this.batches.size >= this.maxPendingBatches;
  }

  /** A range waits that the receiver accepted without an ackId in a reply of success (acknowledgement off on the token). */
  get hasUnnumbered(): boolean {
    for (const e of this.entries) if (e.ackId === null && !e.partial) return true;
    return false;
  }

  /** Age of the oldest waiting range, ms (0 when nothing waits). */
  oldestAgeMs(): number {
    for (const e of this.entries) return Math.max(0, this.now() - e.sentAt);
    return 0;
  }

  /** Events [from, to) of `b` were accepted (settled by the caller) and wait for `ackId`. */
  add(b: Batch, from: number, to: number, ackId: number | null, partial = false): void {
    const e: AckEntry = { batch: b, from, to, ackId, sentAt: this.now(), partial };
    if (ackId !== null) {
      const old = this.byId.get(ackId);
      // the same id twice on one channel: only a receiver that restarted does that; the old range
      // cannot be confirmed any more and is re-sent on its timeout
      if (old) old.ackId = null;
      this.byId.set(ackId, e);
    }
    this.entries.add(e);
    this.batches.add(b);
    b.awaitingAck++;
    this.events += to - from;
  }

  /** The ackIds to poll, oldest first, at most `max`. */
  ids(max = Infinity): number[] {
    const out: number[] = [];
    for (const e of this.entries) {
      if (out.length >= max) break;
      if (e.ackId !== null) out.push(e.ackId);
    }
    return out;
  }

  /** The receiver said these ids are indexed: their entries leave, and are returned (unknown ids are ignored). */
  acknowledged(ids: Iterable<number>): AckEntry[] {
    const out: AckEntry[] = [];
    for (const id of ids) {
      const e = this.byId.get(id);
      if (!e) continue;
      this.remove(e);
      out.push(e);
    }
    return out;
  }

  /** Entries waiting longer than the timeout leave, and are returned: the caller sends them again. */
  expired(): AckEntry[] {
    const out: AckEntry[] = [];
    const limit = this.now() - this.timeoutMs;
    for (const e of this.entries) {
      if (e.sentAt > limit) break; // oldest first: the rest are younger
      out.push(e);
    }
    for (const e of out) this.remove(e);
    return out;
  }

  /** Everything leaves (the target changed, or shutdown): returned for the caller to send again or keep. */
  takeAll(): AckEntry[] {
    const out = [...this.entries];
    for (const e of out) this.remove(e);
    return out;
  }

  private remove(e: AckEntry): void {
    if (!this.entries.delete(e)) return;
    if (e.ackId !== null && this.byId.get(e.ackId) === e) this.byId.delete(e.ackId);
    this.events -= e.to - e.from;
    e.batch.awaitingAck--;
    if (e.batch.awaitingAck <= 0) this.batches.delete(e.batch);
  }
}
