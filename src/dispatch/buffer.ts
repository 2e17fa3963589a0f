// The buffer of one target: a bounded memory queue in front of a bounded disk spool, behind one
// interface (push, next, settle, giveBack). It owns the ordering rule and the when-full policy.
//
// Ordering: events leave in the order they were pushed. Every event in the spool is older than
// every event in the memory queue (memory only ever overflows into the spool's tail, oldest first),
// and batches are handed out oldest first: batches given back after a failed attempt, then the
// spool, then memory. A memory batch is taken only while the spool has nothing unread, so a memory
// batch still in flight is older than whatever overflowed into the spool after it was taken; if it
// fails it is given back and sent again before the spool. `seq` numbers batches in that order.
//
// When full (Vector's `overflow` policy): memory moves to the spool whenever the driver says so
// (target not healthy, or memory past its high-water mark), whatever is in flight, and push() moves
// a chunk itself before refusing. An event is refused only when the memory queue is full and the
// spool cannot take it: `spool_full` (at its bound), `spool_error` (writes failing), `queue_full`
// (no spool, or the disk is behind by more than the spool's pending-write bound).
import { MemoryQueue, type QueueItems } from './memory-queue.js';
import type { Spool } from './spool.js';
import { Batch } from './batch.js';
import { eventJsonText } from './event-slab.js';
import { recordSize } from './spool-segment.js';

export type RefusedReason = 'queue_full' | 'spool_full' | 'spool_error';

export interface BatchLimits {
  maxEvents: number;
  maxBytes: number;
  maxWaitMs: number;
  /** Bytes one event takes in a request body. */
  cost: (jsonBytes: number, timeMs: number) => number;
}

/** Memory moved to the spool per step: small enough not to stall the event loop (about 1 ms). */
export const SPILL_CHUNK_BYTES = 1024 * 1024;
const MAX_REMEMBERED_SUSPECTS = 1000;

export class EventBuffer {
  readonly mq: MemoryQueue;
  private spool: Spool | null = null;
  /** Batches given back after a failed attempt, oldest (lowest seq) first. */
  private readonly returned: Batch[] = [];
  /** Spool batches handed out and not yet acknowledged to the spool, in read order. */
  private readonly window: Batch[] = [];
  private readAhead: Batch | null = null;
  /** Events a bisect found refused without proof, moved to the spool with their batch (rare, bounded). */
  private readonly suspects = new Set<string>();
  private reading = false;
  private seq = 0;
  /** When the oldest memory event not yet in a batch was pushed (performance.now()). */
  private firstPendingAt = 0;
  /** Called when an asynchronous spool read has a batch ready. */
  onReady: () => void = () => {};
  /** Called with the number of events each spool append took (metrics). */
  onSpooled: (n: number) => void = () => {};
  /** Called when the spool says it holds unread events but a read found none (logged by the driver). */
  onDrySpool: (unread: number) => void = () => {};
  /** A read found nothing although the spool counted unread events: skip it until it is written again. */
  private spoolDry = false;

  constructor(maxEvents: number, maxBytes: number) {
    this.mq = new MemoryQueue(maxEvents, maxBytes);
  }

  attachSpool(spool: Spool | null): void {
    this.spool = spool;
  }

  get spoolRef(): Spool | null {
    return this.spool;
  }

  get spoolUsable(): boolean {
    const s = this.spool;
    return s !== null && s.error === null && !s.full;
  }

  /** Memory past half of either bound: time to move it to disk. */
  get memoryHigh(): boolean {
    return this.mq.length >= this.mq.maxEvents / 2 || this.mq.bytes >= this.mq.maxBytes / 2;
  }

  /** Events of memory batches given back after a failure (held here, not in the queue or the spool). */
  get heldOutside(): number {
    let n = 0;
    for (const b of this.returned) if (b.source === 'memory') n += b.n - b.settledCount;
    return n;
  }

  /** Nothing to send: memory empty, spool read, nothing given back. */
  get empty(): boolean {
    return this.mq.length === 0 && this.returned.length === 0 && this.readAhead === null && !this.reading && (this.spool?.unread ?? 0) === 0;
  }

  /** Spool batches not yet acknowledged (in flight or given back). */
  get unacknowledgedSpoolBatches(): number {
    return this.window.length;
  }

  /** For Driver.schedulerState(). */
  schedulerState(): Record<string, unknown> {
    return { returned: this.returned.length, readAhead: this.readAhead !== null, reading: this.reading, window: this.window.length, spoolUnread: this.spool?.unread ?? null, spoolDry: this.spoolDry };
  }

  /** Never blocks; O(1) unless memory is full, then moves at most one chunk to the spool. */
  push(json: Buffer, timeMs: number, bytes: number): RefusedReason | null {
    const wasEmpty = this.mq.length === 0;
    if (!this.mq.push(json, timeMs, bytes)) {
      if (this.spoolUsable) this.spill(SPILL_CHUNK_BYTES);
      if (!this.mq.push(json, timeMs, bytes)) return this.refusedReason();
    }
    if (wasEmpty) this.firstPendingAt = performance.now();
    return null;
  }

  /**
   * Fail-closed admission: promises room in memory for one event to come, moving a chunk of memory
   * to the spool first when memory is full. Returns null (promised) or why there is no room; the
   * promise is kept by pushReserved() or given back by release().
   */
  reserve(): RefusedReason | null {
    if (this.mq.reserve()) return null;
    if (this.spoolUsable) this.spill(SPILL_CHUNK_BYTES);
    return this.mq.reserve() ? null : this.refusedReason();
  }

  release(): void {
    this.mq.release();
  }

  /** Stores an event against its reservation: never refused. */
  pushReserved(json: Buffer, timeMs: number, bytes: number): void {
    const wasEmpty = this.mq.length === 0;
    this.mq.pushReserved(json, timeMs, bytes);
    if (wasEmpty) this.firstPendingAt = performance.now();
  }

  private refusedReason(): RefusedReason {
    const s = this.spool;
    if (s === null) return 'queue_full';
    if (s.error !== null) return 'spool_error';
    return s.full ? 'spool_full' : 'queue_full';
  }

  /**
   * Moves the oldest memory events to the spool's tail, at most about `maxBytes`; returns how many
   * moved. Stops when the spool refuses (full, failing, writes behind).
   */
  spill(maxBytes: number): number {
    const s = this.spool;
    if (s === null || this.mq.length === 0) return 0;
    // While the disk writer is behind, take only what the spool can accept: taking a whole chunk
    // and putting it back, every turn until the writer caught up, was a fifth of the profile.
    const room = s.pendingRoom(this.mq.sizeAt(0));
    if (room < recordSize(this.mq.sizeAt(0))) return 0;
    const items = room === Infinity ? this.mq.take(this.mq.length, maxBytes) : this.mq.take(this.mq.length, Math.min(maxBytes, room), recordSize);
    const acc = s.append(items);
    if (acc > 0) this.spoolDry = false;
    if (acc < items.json.length) this.mq.unshift(items, acc);
    this.onSpooled(acc);
    this.firstPendingAt = this.mq.length > 0 ? performance.now() : 0;
    return acc;
  }

  /** True when a memory batch would be full now. */
  memoryBatchFull(l: BatchLimits, overhead: number): boolean {
    return this.mq.length >= l.maxEvents || this.mq.bytes + this.mq.length * overhead >= l.maxBytes;
  }

  /**
   * Milliseconds until the pending memory batch is due (0 = now), or -1 when memory is empty. A
   * caller that decides twice (next(), then whether to arm the timer) passes one `now` to both:
   * with two readings a batch could fall due between them and be neither sent nor timed.
   */
  memoryDueInMs(l: BatchLimits, overhead: number, now = performance.now()): number {
    if (this.mq.length === 0) return -1;
    if (this.memoryBatchFull(l, overhead)) return 0;
    return Math.max(0, l.maxWaitMs - (now - this.firstPendingAt));
  }

  /** Memory holds events and nothing else waits (no spool read, nothing given back or unread). */
  get onlyMemoryWaiting(): boolean {
    return this.mq.length > 0 && this.returned.length === 0 && this.readAhead === null && !this.reading && (this.spool?.unread ?? 0) === 0;
  }

  /** How long the pending memory batch has waited past its wait time, ms (0 when none is due). */
  overdueMs(l: BatchLimits): number {
    if (this.mq.length === 0 || this.firstPendingAt === 0) return 0;
    return Math.max(0, performance.now() - this.firstPendingAt - l.maxWaitMs);
  }

  /**
   * The next batch to send, oldest first, or null: nothing due yet, or a spool read is under way
   * (onReady fires when it is done). `force` ignores the batch timer (probes, shutdown); `now` is
   * the caller's reading of the clock (see memoryDueInMs).
   */
  next(l: BatchLimits, overhead: number, force: boolean, now = performance.now()): Batch | null {
    if (this.returned.length > 0) return this.returned.shift()!;
    if (this.readAhead) {
      const b = this.readAhead;
      this.readAhead = null;
      this.window.push(b);
      return b;
    }
    if (this.reading) return null;
    if (this.spool && this.spool.unread > 0 && !this.spoolDry) {
      this.readSpool(l);
      return null;
    }
    if (this.mq.length === 0) return null;
    if (!force && this.memoryDueInMs(l, overhead, now) > 0) return null;
    const items = this.mq.take(l.maxEvents, l.maxBytes, l.cost);
    this.firstPendingAt = this.mq.length > 0 ? performance.now() : 0;
    return new Batch(this.seq++, items, 'memory');
  }

  private readSpool(l: BatchLimits): void {
    const s = this.spool!;
    this.reading = true;
    s.read(l.maxEvents, l.maxBytes, l.cost).then(
      (r) => {
        this.reading = false;
        if (!r || r.json.length === 0) {
          // The spool counts unread events it could not hand out (its books and its files disagree):
          // memory must not wait behind it for ever. Say so once; new spool writes end this.
          if (!this.spoolDry && (this.spool?.unread ?? 0) > 0) this.onDrySpool(this.spool!.unread);
          this.spoolDry = true;
        }
        if (r && r.json.length > 0) {
          const b = new Batch(this.seq++, r, 'spool', r.endSeg, r.endOff);
          if (this.suspects.size > 0) {
            for (let i = 0; i < b.n; i++) {
              const text = eventJsonText(r.json[i]);
              if (this.suspects.delete(text)) b.markSuspect(i);
            }
          }
          this.readAhead = b;
        }
        this.onReady();
      },
      () => {
        this.reading = false;
        this.onReady();
      },
    );
  }

  /**
   * After progress on `b`: acknowledges to the spool every fully settled batch at the head of the
   * window (with HEC acknowledgement: settled and acknowledged), so the cursor only ever moves past
   * a contiguous prefix, whatever order batches finish in.
   */
  settle(b: Batch): void {
    if (b.source !== 'spool') return;
    const s = this.spool;
    while (this.window.length > 0) {
      const h = this.window[0];
      if (!h.done || h.inFlight || h.abandoned || h.awaitingAck > 0) return;
      this.window.shift();
      if (s && h.endSeg && h.endOff && h.n > 0) s.ack(h.endSeg[h.n - 1], h.endOff[h.n - 1], h.n);
    }
  }

  /**
   * `b` failed: it goes before everything newer. A memory batch goes to the spool when that keeps
   * the order (nothing newer was spooled since it was taken, nothing older is waiting in memory),
   * so that it survives a crash; otherwise it waits in memory, first in line.
   */
  giveBack(b: Batch): void {
    b.rewind();
    if (this.returned.includes(b)) return; // already waiting (an ack timeout on a batch given back)
    if (b.source === 'memory' && b.awaitingAck === 0 && this.spoolUsable && this.spool!.unread === 0 && !this.returned.some((r) => r.source === 'memory' && r.seq < b.seq)) {
      const items = b.unsettledItems();
      const acc = this.spoolItems(items);
      if (acc === items.json.length) {
        // what its bisect learnt goes along: suspects are recognised when read back
        for (const i of b.suspectIndices()) if (this.suspects.size < MAX_REMEMBERED_SUSPECTS) this.suspects.add(eventJsonText(b.items.json[i]));
        b.abandoned = true;
        return;
      }
      // the spool took a prefix (it is full): the rest waits here, delivered first
      const keep = b.unsettledRanges();
      let skipped = 0;
      for (const [from, to] of keep) {
        const take = Math.min(acc - skipped, to - from);
        if (take > 0) b.settle(from, from + take);
        skipped += take;
        if (skipped >= acc) break;
      }
      b.rewind();
    }
    let i = this.returned.length;
    while (i > 0 && this.returned[i - 1].seq > b.seq) i--;
    this.returned.splice(i, 0, b);
  }

  /**
   * Shutdown: everything still held in memory, oldest first, for the spool. Memory batches given
   * back or still in flight (`inFlight`, marked abandoned) come first, then the queue. Spool
   * batches stay on disk unacknowledged: the next run reads them again.
   */
  drainForShutdown(inFlight: readonly Batch[]): QueueItems[] {
    const held = [...new Set([...this.returned, ...inFlight])].filter((b) => b.source === 'memory').sort((a, b) => a.seq - b.seq);
    for (const b of [...this.returned, ...inFlight]) b.abandoned = true;
    this.returned.length = 0;
    if (this.readAhead) this.readAhead.abandoned = true;
    this.readAhead = null;
    for (const b of this.window) b.abandoned = true;
    const out = held.map((b) => b.unsettledItems());
    if (this.mq.length > 0) out.push(this.mq.takeAll());
    this.firstPendingAt = 0;
    return out;
  }

  /** Appends `items` to the spool; returns how many it took (the rest are the caller's to count). */
  spoolItems(items: QueueItems): number {
    if (!this.spool || items.json.length === 0) return 0;
    const acc = this.spool.append(items);
    if (acc > 0) this.spoolDry = false;
    this.onSpooled(acc);
    return acc;
  }
}
