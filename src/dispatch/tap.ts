// The live tap (`vector tap`, `mc admin trace`): beside the targets, every event handed to the
// dispatcher is also offered to each attached stream client. It moves bytes like the rest of
// dispatch/: an event is its JSON text, and whether a client wants it is the client's own
// predicate (the audit side's filter). Bounded, and never in anyone's way:
//   - each client has a byte budget (default 1 MiB): what its connection has not taken yet plus what
//     waits for the next write. An event that does not fit is dropped for that client only, and
//     counted; the client is told how many (`{"dropped":{"count":N,"total":M}}`) once it has room;
//   - writes are gathered and leave every `flushMs` (25 ms): one socket write for many events, not
//     one per event or per event-loop turn (measured: per turn cost the proxy ~2x CPU per request
//     under load, bench/results/tail/);
//   - they are gathered as bytes: an event already encoded for delivery is copied once into the
//     client's buffer, rather than keeping its JSON string (a rope) alive until the flush and then
//     flattening and encoding it there; the budget counts bytes as sent (docs/performance.md);
//   - at most `maxClients` clients (the admin API answers 503 beyond);
//   - with no client attached `publish` is never called: the dispatcher checks `attached` (a number).
//
// The stream format (docs/admin-api.md, `GET /api/v1/events/stream`): NDJSON, one object a line:
// `{"hello":...}` first, then `{"event":<the event>}`, `{"dropped":...}`, `{"ping":"<time>"}`
// after `pingMs` of silence.

/** Where a client's lines go: a ServerResponse fits. */
export interface TapOutput {
  /** Bytes handed to write() that the connection has not taken yet. */
  readonly writableLength: number;
  readonly destroyed: boolean;
  write(chunk: string | Uint8Array): boolean;
  on(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
  end(): unknown;
}

export interface TapOptions {
  maxClients?: number;
  maxBufferedBytes?: number;
  pingMs?: number;
  /** Lines are gathered this long before one write (default 25 ms). */
  flushMs?: number;
}

const EMPTY = Buffer.alloc(0);
const EVENT_OPEN = Buffer.from('{"event":', 'latin1');
const EVENT_CLOSE = Buffer.from('}\n', 'latin1');
/** First buffer of a client's gathered lines; about 40 events of the bench's size. */
const INITIAL_PENDING_BYTES = 64 * 1024;

export const TAP_DEFAULTS = { maxClients: 32, maxBufferedBytes: 1024 * 1024, pingMs: 15_000, flushMs: 25 } as const;

export class TapFullError extends Error {
  constructor(readonly maxClients: number) {
    super(`at most ${maxClients} event streams can be attached at once`);
    this.name = 'TapFullError';
  }
}

export class TapClient {
  /** Events lost since the last `dropped` line, and since attaching. */
  private dropped = 0;
  private droppedTotal = 0;
  /** What waits for the next write: `pendingLength` bytes of `pending`. */
  private pending: Buffer = EMPTY;
  private pendingLength = 0;
  private scheduled = false;
  private closed = false;
  /** Until start(): events are gathered, nothing is written (the first line is not known yet). */
  private held = true;
  /** When the last line was queued (silence is counted from there, whatever the flush delay). */
  private lastWrite = Date.now();
  private readonly pingTimer: NodeJS.Timeout;
  private readonly onDrain = (): void => this.noteDrops();
  private readonly onClose = (): void => this.detach();

  constructor(
    private readonly tap: EventTap,
    private readonly out: TapOutput,
    /** The client's filter: true to send this event. Must not throw (a throw counts as false). */
    private readonly accepts: (json: string) => boolean,
    readonly maxBufferedBytes: number,
    pingMs: number,
    private readonly flushMs: number,
  ) {
    out.on('drain', this.onDrain);
    out.on('close', this.onClose);
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastWrite >= pingMs * 0.9) this.line(`{"ping":"${new Date().toISOString()}"}\n`, true);
    }, pingMs);
    this.pingTimer.unref();
  }

  get droppedEvents(): number {
    return this.droppedTotal;
  }

  /** Bytes held for this client: not yet taken by its connection, or waiting for the next write. */
  get bufferedBytes(): number {
    return this.out.writableLength + this.pendingLength;
  }

  /** Writes a line outside the event flow (hello, ping, dropped): within the budget like events. */
  line(text: string, optional = false): boolean {
    if (this.closed) return false;
    const size = Buffer.byteLength(text);
    if (optional && this.bufferedBytes + size > this.maxBufferedBytes) return false;
    this.append(text, size);
    this.schedule();
    return true;
  }

  /** Room for `size` more bytes in `pending` (grown by doubling; a flush hands it over whole). */
  private reserve(size: number): void {
    const need = this.pendingLength + size;
    if (need <= this.pending.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.pending.length * 2, INITIAL_PENDING_BYTES));
    this.pending.copy(grown, 0, 0, this.pendingLength);
    this.pending = grown;
  }

  private append(text: string, size: number): void {
    this.reserve(size);
    this.pendingLength += this.pending.write(text, this.pendingLength, size, 'utf8');
  }

  /**
   * One event from the dispatcher: its JSON text (what the filter reads) and, when it was encoded
   * for delivery, the same text as UTF-8 bytes (copied, never kept). Never throws, never waits.
   */
  offer(json: string, bytes: Uint8Array | null = null): void {
    if (this.closed) return;
    let wanted: boolean;
    try {
      wanted = this.accepts(json);
    } catch {
      wanted = false;
    }
    if (!wanted) return;
    const jsonBytes = bytes === null ? Buffer.byteLength(json) : bytes.length;
    // 11 = '{"event":' + '}\n'; a `dropped` line to announce first counts too (about 60 bytes)
    const size = jsonBytes + 11 + (this.dropped > 0 ? 64 : 0);
    if (this.bufferedBytes + size > this.maxBufferedBytes) {
      this.dropped++;
      this.droppedTotal++;
      this.tap.onDropped?.();
      return;
    }
    if (this.dropped > 0) this.announceDrops();
    this.reserve(jsonBytes + 11);
    let at = this.pendingLength + EVENT_OPEN.copy(this.pending, this.pendingLength);
    if (bytes === null) at += this.pending.write(json, at, jsonBytes, 'utf8');
    else {
      this.pending.set(bytes, at);
      at += jsonBytes;
    }
    this.pendingLength = at + EVENT_CLOSE.copy(this.pending, at);
    this.schedule();
  }

  private announceDrops(): void {
    const text = `{"dropped":{"count":${this.dropped},"total":${this.droppedTotal}}}\n`;
    this.append(text, text.length);
    this.dropped = 0;
  }

  /** The connection took what it held: say what was lost meanwhile without waiting for the next event. */
  private noteDrops(): void {
    if (this.closed || this.dropped === 0) return;
    this.announceDrops();
    this.schedule();
  }

  /** Writes `first`, then what was gathered meanwhile. */
  start(first: string): void {
    if (this.closed) return;
    this.held = false;
    const gathered = this.takePending();
    this.append(first, Buffer.byteLength(first));
    this.reserve(gathered.length);
    this.pendingLength += gathered.copy(this.pending, this.pendingLength);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.held) return;
    this.scheduled = true;
    this.lastWrite = Date.now();
    setTimeout(() => this.flush(), this.flushMs);
  }

  /** What was gathered, as one chunk; `pending` starts over (the chunk is the connection's now). */
  private takePending(): Buffer {
    const chunk = this.pending.subarray(0, this.pendingLength);
    this.pending = EMPTY;
    this.pendingLength = 0;
    return chunk;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed || this.pendingLength === 0) return;
    const chunk = this.takePending();
    if (this.out.destroyed) {
      this.detach();
      return;
    }
    this.out.write(chunk);
  }

  /** Stops taking events; the output is left to its owner (closed by `end`). */
  detach(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    this.out.off('drain', this.onDrain);
    this.out.off('close', this.onClose);
    this.tap.remove(this);
  }

  /** Writes what is pending and ends the stream (shutdown). */
  end(): void {
    if (this.closed) return;
    const chunk = this.takePending();
    this.detach();
    if (!this.out.destroyed) {
      if (chunk.length > 0) this.out.write(chunk);
      this.out.end();
    }
  }
}

export class EventTap {
  readonly maxClients: number;
  readonly maxBufferedBytes: number;
  private readonly pingMs: number;
  private readonly flushMs: number;
  private clients: TapClient[] = [];
  /** Called for each event dropped for a slow client (the dispatcher counts them in its metrics). */
  onDropped: (() => void) | null = null;
  /** Called when the first client attaches or the last detaches (tells --workers workers). */
  onAttachedChange: ((attached: boolean) => Promise<void>) | null = null;
  private syncing: Promise<void> = Promise.resolve();

  constructor(opts: TapOptions = {}) {
    this.maxClients = opts.maxClients ?? TAP_DEFAULTS.maxClients;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? TAP_DEFAULTS.maxBufferedBytes;
    this.pingMs = opts.pingMs ?? TAP_DEFAULTS.pingMs;
    this.flushMs = opts.flushMs ?? TAP_DEFAULTS.flushMs;
  }

  /** Clients attached: the dispatcher calls publish only when this is > 0. */
  get attached(): number {
    return this.clients.length;
  }

  /**
   * Attaches a client. Events are gathered for it at once; its first line is `first`, written once
   * events flow to it (with --workers: once every worker knows), when the promise resolves.
   * Throws TapFullError at `maxClients`.
   */
  async attach(out: TapOutput, accepts: (json: string) => boolean, first: string): Promise<TapClient> {
    if (this.clients.length >= this.maxClients) throw new TapFullError(this.maxClients);
    const c = new TapClient(this, out, accepts, this.maxBufferedBytes, this.pingMs, this.flushMs);
    this.clients = [...this.clients, c];
    if (this.clients.length === 1 && this.onAttachedChange) this.syncing = this.onAttachedChange(true).catch(() => {});
    await this.syncing;
    c.start(first);
    return c;
  }

  /** Called by a client that detaches. */
  remove(c: TapClient): void {
    const before = this.clients.length;
    this.clients = this.clients.filter((x) => x !== c);
    if (before > 0 && this.clients.length === 0 && this.onAttachedChange) this.syncing = this.onAttachedChange(false).catch(() => {});
  }

  /**
   * One event to every client (each filters and buffers on its own). `bytes`: the same JSON as
   * UTF-8, when the dispatcher has encoded it already (read now, not kept). O(clients), never throws.
   */
  publish(json: string, bytes: Uint8Array | null = null): void {
    const list = this.clients;
    for (let i = 0; i < list.length; i++) list[i]!.offer(json, bytes);
  }

  /** Ends every stream (shutdown). */
  close(): void {
    for (const c of this.clients) c.end();
    this.clients = [];
  }
}
