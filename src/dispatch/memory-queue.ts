// Bounded in-memory FIFO of serialised events: a ring buffer of parallel arrays (JSON text, event
// time, byte size), bounded by event count AND bytes. push() is O(1) (amortised: the ring doubles
// up to the event bound, never more), allocates nothing but the slot, and refuses rather than blocks.

import type { EventJson } from './event-slab.js';

export interface QueueItems {
  json: EventJson[];
  timeMs: number[];
  bytes: number[];
}

const INITIAL_CAPACITY = 1024;

export class MemoryQueue {
  readonly maxEvents: number;
  readonly maxBytes: number;
  private jsonRing: (EventJson | undefined)[];
  private timeRing: Float64Array;
  private sizeRing: Float64Array;
  private head = 0;
  private count = 0;
  private totalBytes = 0;
  /** Slots promised to events not pushed yet (--audit-required): they count against maxEvents. */
  private reservedSlots = 0;

  constructor(maxEvents: number, maxBytes: number) {
    if (!(maxEvents >= 1) || !(maxBytes >= 1)) throw new RangeError('MemoryQueue: bounds must be >= 1');
    this.maxEvents = Math.floor(maxEvents);
    this.maxBytes = maxBytes;
    const cap = Math.min(INITIAL_CAPACITY, nextPow2(this.maxEvents));
    this.jsonRing = new Array<EventJson | undefined>(cap);
    this.timeRing = new Float64Array(cap);
    this.sizeRing = new Float64Array(cap);
  }

  get length(): number {
    return this.count;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Slots currently allocated (for tests: growth never exceeds the next power of two of maxEvents). */
  get capacity(): number {
    return this.jsonRing.length;
  }

  /** Slots reserved and not yet pushed (or released). */
  get reserved(): number {
    return this.reservedSlots;
  }

  /** True when one more event of `bytes` would not fit. */
  wouldOverflow(bytes: number): boolean {
    const n = this.count + this.reservedSlots;
    return n >= this.maxEvents || (n > 0 && this.totalBytes + bytes > this.maxBytes);
  }

  /**
   * Promises room for one event to come (fail-closed admission): true when a slot is free by count
   * and the bytes are not at their bound. The event is later stored by pushReserved(), which cannot
   * refuse it, or the slot is given back by release().
   */
  reserve(): boolean {
    if (this.count + this.reservedSlots >= this.maxEvents || this.totalBytes >= this.maxBytes) return false;
    this.reservedSlots++;
    return true;
  }

  release(): void {
    if (this.reservedSlots > 0) this.reservedSlots--;
  }

  /** Stores the event a reserve() promised room for; may pass the byte bound (by one event at most per slot). */
  pushReserved(json: EventJson, timeMs: number, bytes: number): void {
    this.release();
    if (this.count === this.jsonRing.length) this.grow(true);
    this.store(json, timeMs, bytes);
  }

  /**
   * Appends one event. Returns false (and stores nothing) when the queue is full by count or bytes.
   * An event larger than maxBytes on its own is still accepted into an empty queue, so that one
   * oversized event cannot wedge the pipeline (the sender dead-letters it if the receiver refuses).
   */
  push(json: EventJson, timeMs: number, bytes: number): boolean {
    if (this.wouldOverflow(bytes)) return false;
    if (this.count === this.jsonRing.length) this.grow();
    this.store(json, timeMs, bytes);
    return true;
  }

  /** Appends one event whatever the bounds (gap events: never dropped; few and small). */
  pushForce(json: EventJson, timeMs: number, bytes: number): void {
    if (this.count === this.jsonRing.length) this.grow(true);
    this.store(json, timeMs, bytes);
  }

  private store(json: EventJson, timeMs: number, bytes: number): void {
    const mask = this.jsonRing.length - 1;
    const i = (this.head + this.count) & mask;
    this.jsonRing[i] = json;
    this.timeRing[i] = timeMs;
    this.sizeRing[i] = bytes;
    this.count++;
    this.totalBytes += bytes;
  }

  /** Size in bytes of the i-th queued event (0 = oldest). */
  sizeAt(i: number): number {
    return this.sizeRing[(this.head + i) & (this.jsonRing.length - 1)];
  }

  timeAt(i: number): number {
    return this.timeRing[(this.head + i) & (this.jsonRing.length - 1)];
  }

  /**
   * Removes up to `maxEvents` oldest events whose summed `cost` stays within `maxBytes` (the first
   * event is always taken, whatever its cost) and returns them oldest first.
   */
  take(maxEvents: number, maxBytes = Infinity, cost?: (bytes: number, timeMs: number) => number): QueueItems {
    const mask = this.jsonRing.length - 1;
    let n = 0;
    let sum = 0;
    const limit = Math.min(maxEvents, this.count);
    while (n < limit) {
      const i = (this.head + n) & mask;
      const c = cost ? cost(this.sizeRing[i], this.timeRing[i]) : this.sizeRing[i];
      if (n > 0 && sum + c > maxBytes) break;
      sum += c;
      n++;
    }
    const out: QueueItems = { json: new Array<EventJson>(n), timeMs: new Array<number>(n), bytes: new Array<number>(n) };
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) & mask;
      out.json[k] = this.jsonRing[i]!;
      out.timeMs[k] = this.timeRing[i];
      out.bytes[k] = this.sizeRing[i];
      this.jsonRing[i] = undefined;
      this.totalBytes -= this.sizeRing[i];
    }
    this.head = (this.head + n) & mask;
    this.count -= n;
    if (this.count === 0) this.totalBytes = 0; // no float drift
    return out;
  }

  /** Removes and returns everything. */
  takeAll(): QueueItems {
    return this.take(this.count);
  }

  /**
   * Puts events back at the FRONT, keeping their order (they were taken earlier and are older than
   * anything queued). May exceed the bounds for a while: those events were already accepted.
   */
  unshift(items: QueueItems, from = 0): void {
    for (let k = items.json.length - 1; k >= from; k--) {
      if (this.count === this.jsonRing.length) this.grow(true);
      const mask = this.jsonRing.length - 1;
      this.head = (this.head - 1) & mask;
      this.jsonRing[this.head] = items.json[k];
      this.timeRing[this.head] = items.timeMs[k];
      this.sizeRing[this.head] = items.bytes[k];
      this.count++;
      this.totalBytes += items.bytes[k];
    }
  }

  private grow(force = false): void {
    const old = this.jsonRing.length;
    const cap = old * 2;
    if (!force && old >= this.maxEvents) throw new Error('MemoryQueue: internal bound error');
    const json = new Array<EventJson | undefined>(cap);
    const time = new Float64Array(cap);
    const size = new Float64Array(cap);
    const mask = old - 1;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & mask;
      json[k] = this.jsonRing[i];
      time[k] = this.timeRing[i];
      size[k] = this.sizeRing[i];
    }
    this.jsonRing = json;
    this.timeRing = time;
    this.sizeRing = size;
    this.head = 0;
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
