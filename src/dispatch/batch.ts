// A batch: events taken from a buffer together, delivered by one driver, settled event by event.
// While a batch is bisected (a receiver refused part of it), parts of it are settled out of order;
// `todo` lists the ranges still to send, in the order they will be sent.
import type { QueueItems } from './memory-queue.js';
import type { EventJson } from './event-slab.js';

export type BatchSource = 'memory' | 'spool';

export class Batch {
  /** Position in the order the buffer handed batches out: lower is older. */
  readonly seq: number;
  readonly items: QueueItems;
  readonly n: number;
  readonly source: BatchSource;
  /** Spool batches: the spool position after each event (acknowledgements). */
  readonly endSeg: readonly number[] | null;
  readonly endOff: readonly number[] | null;
  /** Ranges [from, to) still to send, in order. */
  todo: Array<[number, number]>;
  settledCount = 0;
  inFlight = false;
  attempts = 0;
  /** performance.now() of its first send since it was handed out (0: not sent yet); metrics. */
  firstSentMs = 0;
  /** Since it was last handed out: the receiver accepted at least one of its events. */
  accepted = false;
  /** Since it was last handed out: refused requests (bisect steps) while nothing was accepted. */
  refusals = 0;
  /** When a delivery of this batch first ended `rejecting` (Date.now()), 0 while it has not. */
  rejectingSince = 0;
  /** Handed to the spool at shutdown: whatever the request still in flight says is ignored. */
  abandoned = false;
  /** HEC indexer acknowledgement: accepted ranges of this batch still waiting for Splunk's ack (ack-tracker.ts). */
  awaitingAck = 0;
  /**
   * No event of it was handed anywhere but a sink's send (which copies): not to the spool or a
   * dead letter (unsettledItems, dead-lettering), not given back for a retry (rewind), not unsettled.
   */
  clean = true;
  private readonly settled: Uint8Array;
  /** Events refused alone while the receiver had not shown that it takes data (kept across attempts). */
  private readonly suspect: Uint8Array;

  constructor(seq: number, items: QueueItems, source: BatchSource, endSeg: readonly number[] | null = null, endOff: readonly number[] | null = null) {
    this.seq = seq;
    this.items = items;
    this.n = items.json.length;
    this.source = source;
    this.endSeg = endSeg;
    this.endOff = endOff;
    this.settled = new Uint8Array(this.n);
    this.suspect = new Uint8Array(this.n);
    this.todo = this.n > 0 ? [[0, this.n]] : [];
  }

  get done(): boolean {
    return this.settledCount >= this.n;
  }

  /** Marks events [from, to) delivered or dead-lettered; returns how many were not settled before. */
  settle(from: number, to: number): number {
    let k = 0;
    for (let i = from; i < to; i++) {
      if (this.settled[i] === 0) {
        this.settled[i] = 1;
        k++;
      }
    }
    this.settledCount += k;
    return k;
  }

  /** Events [from, to) must be sent again (their acknowledgement timed out); returns how many were settled. */
  unsettle(from: number, to: number): number {
    this.clean = false;
    let k = 0;
    for (let i = from; i < to; i++) {
      if (this.settled[i] === 1) {
        this.settled[i] = 0;
        k++;
      }
    }
    this.settledCount -= k;
    return k;
  }

  isSuspect(i: number): boolean {
    return this.suspect[i] === 1;
  }

  markSuspect(i: number): void {
    this.suspect[i] = 1;
  }

  /** Unsettled suspects, in order. */
  suspectIndices(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.n; i++) if (this.suspect[i] === 1 && this.settled[i] === 0) out.push(i);
    return out;
  }

  clearSuspects(): void {
    this.suspect.fill(0);
  }

  /** Every event not settled yet is a suspect. */
  onlySuspectsLeft(): boolean {
    for (let i = 0; i < this.n; i++) if (this.settled[i] === 0 && this.suspect[i] === 0) return false;
    return this.settledCount < this.n;
  }

  /** Unsettled events, as contiguous ranges in order (what a retry sends again). */
  unsettledRanges(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let i = 0;
    while (i < this.n) {
      while (i < this.n && this.settled[i] === 1) i++;
      if (i >= this.n) break;
      const from = i;
      while (i < this.n && this.settled[i] === 0) i++;
      out.push([from, i]);
    }
    return out;
  }

  /** Events not settled yet, oldest first (for the spool at shutdown). */
  unsettledItems(): QueueItems {
    this.clean = false;
    const out: QueueItems = { json: [], timeMs: [], bytes: [] };
    for (let i = 0; i < this.n; i++) {
      if (this.settled[i] === 1) continue;
      out.json.push(this.items.json[i]);
      out.timeMs.push(this.items.timeMs[i]);
      out.bytes.push(this.items.bytes[i]);
    }
    return out;
  }

  /** The events, which the batch then no longer holds (a later read finds nothing rather than reused bytes). */
  forget(): EventJson[] {
    const json = this.items.json;
    (this as { items: QueueItems }).items = { json: [], timeMs: [], bytes: [] };
    return json;
  }

  /** Back to the buffer after a failed attempt: the next attempt starts over on what is left. */
  rewind(): void {
    this.clean = false;
    this.todo = this.unsettledRanges();
    this.accepted = false;
    this.refusals = 0;
  }
}
