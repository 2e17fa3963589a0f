// Hostile or broken clients must not hold what others need. Two guards live here:
// - StallWatch: one forwarded exchange whose client stops reading the response (--client-send-timeout,
//   like nginx's send_timeout) or stops sending the request body (--client-body-timeout, like nginx's
//   client_body_timeout). The owner closes the client connection and the backend request is aborted,
//   so its backend connection is free again.
// - endThenDestroy: a socket the proxy ended with a last reply is destroyed once the client has had a
//   moment to read it, even if the client never closes its side (http.Server sockets are half-open:
//   end() alone keeps the file descriptor for as long as the client keeps the connection).
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** How long a socket the proxy ended stays open for the client to read the last reply (then destroy()). */
export const LINGER_MS = 2000;

/** end() `socket` (with `data`), then destroy() it when the peer closes too, or after LINGER_MS at most. */
export function endThenDestroy(socket: Duplex, data?: string | Buffer): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  if (data === undefined) socket.end();
  else socket.end(data);
}

export type StallKind = 'send' | 'body';

/** What a stalled exchange's event says in outcomeDetail. */
export const STALL_DETAIL: Record<StallKind, string> = { send: 'client-send-timeout', body: 'client-body-timeout' };

/** Bytes still waiting to go to the client: Node's buffer and libuv's write queue (drains as the client reads). */
function pendingOut(socket: Socket): string {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: number } | null })._handle;
  return `${socket.bytesWritten}:${socket.writableLength}:${handle?.writeQueueSize ?? -1}`;
}

/**
 * Watches one exchange. The send side is watched only while a response write waits on the client
 * (a write returned false, or the end is not yet flushed): any progress in the socket's outgoing
 * buffers restarts the clock. The body side is watched while the request body is being read: every
 * chunk restarts the clock, and time the proxy itself holds the body back (the stream is paused while
 * the backend is slow to take it, or before it is connected) does not count: only the client's silence.
 * One timer per exchange, and only while something is watched; a tick of a tenth of the timeout
 * (50 ms to 1 s), so a stall is noticed within the timeout plus one tick.
 */
export class StallWatch {
  private timer: NodeJS.Timeout | null = null;
  private sendWaiting = false;
  private sendMark = '';
  private sendLast = 0;
  /** The request body being read, while it is watched. */
  private body: IncomingMessage | null = null;
  private bodyLast = 0;
  private stopped = false;

  constructor(
    private readonly socket: Socket,
    private readonly sendTimeoutMs: number,
    private readonly bodyTimeoutMs: number,
    private readonly onStall: (kind: StallKind) => void,
  ) {}

  /** Watch `req`'s body from now until it ends (no-op with a zero body timeout). */
  watchBody(req: IncomingMessage): void {
    if (this.bodyTimeoutMs <= 0 || req.complete) return;
    this.body = req;
    this.bodyLast = performance.now();
    const touch = (): void => { this.bodyLast = performance.now(); };
    req.on('data', touch);
    req.on('resume', touch);
    const done = (): void => {
      this.body = null;
      req.off('data', touch);
      req.off('resume', touch);
    };
    req.once('end', done);
    req.once('close', done);
    this.arm();
  }

  /** A response write could not go out at once (write() returned false, or end() left bytes buffered). */
  sendBlocked(): void {
    if (this.sendTimeoutMs <= 0 || this.sendWaiting) return;
    this.sendWaiting = true;
    this.sendMark = pendingOut(this.socket);
    this.sendLast = performance.now();
    this.arm();
  }

  /** The client took everything written so far ('drain'). */
  sendDrained(): void {
    this.sendWaiting = false;
  }

  stop(): void {
    this.stopped = true;
    this.sendWaiting = false;
    this.body = null;
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
  }

  private arm(): void {
    if (this.timer !== null || this.stopped) return;
    const shortest = Math.min(...[this.sendTimeoutMs, this.bodyTimeoutMs].filter((t) => t > 0));
    const tick = Math.max(50, Math.min(1000, Math.floor(shortest / 10)));
    this.timer = setInterval(this.check, tick);
    this.timer.unref();
  }

  private check = (): void => {
    const now = performance.now();
    if (this.sendWaiting) {
      const mark = pendingOut(this.socket);
      if (mark !== this.sendMark) { this.sendMark = mark; this.sendLast = now; }
      else if (now - this.sendLast >= this.sendTimeoutMs) { this.stall('send'); return; }
    }
    const body = this.body;
    if (body !== null) {
      // Held back by the proxy (paused while the backend is slow to take it, or not yet connected;
      // bytes read but not yet taken): not the client's silence.
      if (body.readableFlowing !== true || body.readableLength > 0) this.bodyLast = now;
      else if (now - this.bodyLast >= this.bodyTimeoutMs) { this.stall('body'); return; }
    }
    if (!this.sendWaiting && this.body === null && this.timer !== null) { clearInterval(this.timer); this.timer = null; }
  };

  private stall(kind: StallKind): void {
    this.stop();
    this.onStall(kind);
  }
}
