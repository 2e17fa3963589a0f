// Queued events live as UTF-8 bytes in large off-heap slabs, not as V8 strings. An event waits in
// the queue for up to a batch window (1 s by default) or, while the webhook hangs, much longer: as
// strings every one of them survived two scavenges and was copied into the old generation, whose
// growth then paid for mark-compact pauses on the request thread (GC was 23 % of the dispatcher's
// profile). As slab bytes the JSON string dies young, the heap holds one small view per event, and
// a batch body is built with memcpy instead of a second UTF-8 encode.

/** An event's JSON: a string (spool reads, test events) or its UTF-8 bytes (the memory queue). */
export type EventJson = string | Buffer;

const SLAB_BYTES = 1024 * 1024;

export class EventSlab {
  private slab: Buffer = Buffer.allocUnsafeSlow(0);
  private used = 0;

  /** The UTF-8 bytes of `json` in a slab (a view; the slab is freed when its last view is). */
  encode(json: string): Buffer {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: reserve that, keep what was written.
    const worst = json.length * 3;
    if (this.slab.length - this.used < worst) {
      if (worst > SLAB_BYTES / 4) return Buffer.from(json, 'utf8'); // big event: its own buffer
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    const start = this.used;
    const n = this.slab.write(json, start, 'utf8');
    // Keep views 8-byte aligned (cheaper copies); the gap is never read.
    this.used = (start + n + 7) & ~7;
    return this.slab.subarray(start, start + n);
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
