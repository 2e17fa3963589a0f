// Queued events live as UTF-8 bytes in large off-heap slabs, not as V8 strings. An event waits in
// the queue for up to a batch window (1 s by default) or, while the webhook hangs, much longer: as
// strings every one of them survived two scavenges and was copied into the old generation, whose
// growth then paid for mark-compact pauses on the request thread (GC was 23 % of the dispatcher's
// profile). As slab bytes the JSON string dies young, the heap holds one small view per event, and
// a batch body is built with memcpy instead of a second UTF-8 encode.

/** An event's JSON: a string (spool reads, test events) or its UTF-8 bytes (the memory queue). */
export type EventJson = string | Buffer;

const SLAB_BYTES = 1024 * 1024;
/** Slabs whose every event is done, kept for the next roll-over (at most this many MiB held idle). */
export const SLAB_POOL_MAX = 4;

// Slab reuse (session 7). A fresh slab lives until its last event is delivered (tens of ms at least),
// so it is promoted, and its 1 MiB of old-generation external memory is given back only by a
// mark-compact: that growth was what started V8's marking with audit on (0.13-0.22 mark-compacts per
// 1000 requests, 0.01-0.09 with slabs reused; the concurrent marking threads cost 2.5-3.5 µs of CPU
// per request). A slab is reused only when every holder of every view into it said it is done:
// encode() counts `holders` (the targets the event is pushed to; more than end up holding it is
// safe, it only delays reuse), release() is called once per holder when that holder provably keeps
// no reference (the driver: a memory batch delivered in one clean attempt, see Batch.clean). Any other
// path (spool, dead letter, retry, drop, shutdown) never releases, so such a slab is left to the GC.
interface SlabState {
  readonly buf: Buffer;
  /** Views handed out and not released yet, counted per holder. */
  holds: number;
  /** Still being written: not reusable even at zero holds. */
  current: boolean;
  /** A view nobody will release was handed out: never reused. */
  pinned: boolean;
}

export class EventSlab {
  private cur: SlabState | null = null;
  private used = 0;
  /** Slab states by their memory (a view finds its slab through `view.buffer`). */
  private readonly states = new WeakMap<ArrayBufferLike, SlabState>();
  private readonly pool: Buffer[] = [];
  /** Slabs taken from the pool instead of allocated (tests, benchmarks). */
  reused = 0;

  /**
   * The UTF-8 bytes of `json` in a slab (a view). `holders`: how many holders will each call
   * release() for this view once done with it (0, the default: nobody will, and the slab is never
   * reused).
   */
  encode(json: string, holders = 0): Buffer {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: reserve that, keep what was written.
    const worst = json.length * 3;
    let s = this.cur;
    if (s === null || s.buf.length - this.used < worst) {
      if (worst > SLAB_BYTES / 4) return Buffer.from(json, 'utf8'); // big event: its own buffer
      if (s !== null) this.seal(s);
      s = this.cur = this.next();
      this.used = 0;
    }
    const start = this.used;
    const n = s.buf.write(json, start, 'utf8');
    // Keep views 8-byte aligned (cheaper copies); the gap is never read.
    this.used = (start + n + 7) & ~7;
    if (holders > 0) s.holds += holders;
    else s.pinned = true;
    return s.buf.subarray(start, start + n);
  }

  /** One holder of `json` (a view from encode) keeps no reference to it any more. Strings and buffers not from a slab are ignored. */
  release(json: EventJson): void {
    if (typeof json === 'string') return;
    const s = this.states.get(json.buffer);
    if (s === undefined) return;
    if (s.holds <= 0) throw new Error('EventSlab: a view was released more often than it was held');
    if (--s.holds === 0 && !s.current && !s.pinned) this.recycle(s);
  }

  /** Slabs waiting in the pool (tests). */
  get pooled(): number {
    return this.pool.length;
  }

  private seal(s: SlabState): void {
    s.current = false;
    if (s.holds === 0 && !s.pinned) this.recycle(s);
  }

  private recycle(s: SlabState): void {
    this.states.delete(s.buf.buffer);
    if (this.pool.length < SLAB_POOL_MAX) this.pool.push(s.buf);
  }

  private next(): SlabState {
    let buf = this.pool.pop();
    if (buf === undefined) buf = Buffer.allocUnsafeSlow(SLAB_BYTES);
    else this.reused++;
    const s: SlabState = { buf, holds: 0, current: true, pinned: false };
    this.states.set(buf.buffer, s);
    return s;
  }
}

/** Writes an event's JSON at `off` in `buf` (sized by the caller); returns the offset after it. */
export function writeEventJson(buf: Buffer, off: number, json: EventJson, jsonBytes: number): number {
  if (typeof json === 'string') {
    const n = buf.write(json, off, jsonBytes, 'utf8');
    if (n !== jsonBytes) throw new Error(`event JSON byte length mismatch (${n} != ${jsonBytes})`);
    return off + n;
  }
  if (json.length !== jsonBytes) throw new Error(`event JSON byte length mismatch (${json.length} != ${jsonBytes})`);
  if (off + jsonBytes > buf.length) throw new RangeError('event JSON does not fit the body');
  buf.set(json, off); // copy() without its argument checks and partial-range views
  return off + jsonBytes;
}

/** The JSON text, whichever form it is held in (rare paths: dead letters, logs). */
export function eventJsonText(json: EventJson): string {
  return typeof json === 'string' ? json : json.toString('utf8');
}
