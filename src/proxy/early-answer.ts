// Early answers: a reply whose head is written while the client is still sending the request body
// (the backend refused before reading it, or the proxy answered itself). The reply says
// `Connection: close`; once it is sent, the rest of the body is read and discarded within bounds
// (nginx's lingering close) before the connection closes, so a client that writes its whole body
// before reading still gets the answer instead of blocking on a full socket or losing the reply
// to a reset.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Lingering close: at most this long in total, this long without a byte, this many bytes. */
export const LINGER_MS = 30_000;
export const LINGER_IDLE_MS = 5_000;
export const LINGER_BYTES = 64 * 1024 * 1024;

/** Sockets in a lingering close: nothing more is parsed into requests, answered or audited there. */
const lingering = new WeakSet<Socket>();
/** Sockets whose current reply is an early answer (armed, lingering once the reply is sent). */
const armed = new WeakSet<Socket>();

export function isLingering(socket: Socket | null | undefined): boolean {
  return socket != null && lingering.has(socket);
}

export function isEarlyAnswer(socket: Socket | null | undefined): boolean {
  return socket != null && armed.has(socket);
}

/**
 * Call right before a response head is written. When the request body is not complete, the reply
 * closes the connection and the socket lingers after it instead of being destroyed at once.
 * `socket` is the client's socket (undici detaches req.socket when it drops a body).
 */
export function armEarlyAnswer(req: IncomingMessage, res: ServerResponse, socket: Socket | null = req.socket): void {
  if (req.complete || res.headersSent || socket === null || socket.destroyed) return;
  res.shouldKeepAlive = false;
  if (armed.has(socket)) return;
  armed.add(socket);
  // Node ends a `Connection: close` exchange with socket.destroySoon() once the reply is flushed:
  // linger instead (read and discard the rest of the body), then close.
  (socket as Socket & { destroySoon: () => void }).destroySoon = () => linger(socket, req);
}

function linger(socket: Socket, req: IncomingMessage): void {
  lingering.add(socket);
  const startRead = socket.bytesRead;
  const stop = (): void => { clearTimeout(total); clearInterval(watch); socket.destroy(); };
  const total = setTimeout(stop, LINGER_MS);
  let lastRead = socket.bytesRead;
  let lastChange = performance.now();
  const watch = setInterval(() => {
    const n = socket.bytesRead;
    if (n - startRead > LINGER_BYTES) { stop(); return; }
    const now = performance.now();
    if (n !== lastRead) { lastRead = n; lastChange = now; } else if (now - lastChange > LINGER_IDLE_MS) stop();
  }, 250);
  total.unref();
  watch.unref();
  socket.once('close', () => { clearTimeout(total); clearInterval(watch); });
  socket.once('end', stop); // the client finished (or gave up): nothing more to read
  socket.on('error', stop);
  // The parser drops body bytes of a dumped request and keeps reading the socket.
  const r = req as IncomingMessage & { _dumped?: boolean; _dump?: () => void };
  if (typeof r._dump === 'function' && !r._dumped) r._dump();
  r._dumped = true;
  if (socket.writable) socket.end(); // our FIN after the reply; the read side stays open
  socket.resume();
  if (socket.readableEnded) stop();
}
