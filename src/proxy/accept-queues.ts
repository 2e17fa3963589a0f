// More than one accepted connection per event-loop turn for the S3 listener.
//
// libuv accepts one connection per turn of the loop and relies on the next poll to report the
// listening socket again (libuv/libuv#3696, in every Node.js since 20). On a saturated proxy a turn
// serves every ready connection (milliseconds at 256 busy clients), so a burst of new connections
// is accepted one per turn: the 200th waits 200 turns, 0.5-1 s measured here, while nginx takes it
// in a few ms. Extra descriptors of the same listening socket (same accept queue), each polled on
// its own, let one turn accept up to that many connections. Node 20 has no dup() nor SO_REUSEPORT
// (reusePort: Node >= 22.12), so the copies come back from a short-lived child over IPC (SCM_RIGHTS).
// The cost: when a lone connection arrives, every copy reports it and all but one accept() find
// the queue empty (EAGAIN), a few syscalls per new connection, nothing per request.
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Logger } from '../log.js';

export interface AcceptQueues {
  /** Descriptors of the listening socket being polled: 1 + the copies received so far. */
  count(): number;
  /** Settles when the copies are in place (or given up on: the listener then works with one). */
  readonly ready: Promise<void>;
  /** Stop accepting on every copy (the caller closes the original). */
  close(): void;
}

export interface AcceptQueueOptions {
  /** Descriptors wanted in all, the original included: 1 = Node's default, one accept per turn. */
  queues: number;
  /** Child start plus the copies: a listener never waits for them, this only bounds the helper's life. */
  timeoutMs?: number;
  /** Node's own options for accepted sockets, as the main server applies them. */
  noDelay?: boolean;
  keepAlive?: boolean;
}

const CHILD = new URL('./listener-dup-child.js', import.meta.url);

/** Adds `queues - 1` polled copies of `server`'s listening socket; their connections go to `server`. */
export function addAcceptQueues(server: net.Server, logger: Logger, opts: AcceptQueueOptions): AcceptQueues {
  const copies: net.Server[] = [];
  let closed = false;
  let child: ChildProcess | null = null;
  const wanted = opts.queues - 1;
  const original = (server as unknown as { _handle?: unknown })._handle;
  const control = {
    count: () => 1 + copies.length,
    close: () => {
      closed = true;
      if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const copy of copies.splice(0)) copy.close();
    },
  };
  if (wanted < 1 || original === undefined || original === null || process.platform === 'win32') {
    return { ...control, ready: Promise.resolve() };
  }
  const ready = new Promise<void>((resolve) => {
    let settled = false;
    let problem: string | null = null;
    // Settled only once the child is gone: until then it too holds the listening socket open.
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (copies.length < wanted && !closed) {
        logger.warn({ got: copies.length, wanted }, `S3 listener: extra accept queues unavailable (${problem ?? 'helper exited early'}); accepting ${1 + copies.length} connection(s) per loop turn`);
      }
      resolve();
    };
    const fail = (why: string): void => {
      problem ??= why;
      child?.kill('SIGKILL');
    };
    const timer = setTimeout(() => fail('timed out'), opts.timeoutMs ?? 10_000);
    timer.unref();
    try {
      child = fork(CHILD, [], { execArgv: [], env: {}, stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'json' });
    } catch (err) {
      problem = (err as Error).message;
      finish();
      return;
    }
    const spawned = child;
    spawned.on('error', (err) => {
      fail(err.message);
      if (spawned.pid === undefined) finish(); // never started: no 'exit' will come
    });
    spawned.on('exit', finish);
    spawned.on('disconnect', () => spawned.removeAllListeners('message'));
    spawned.on('message', (_msg: unknown, handle: unknown) => {
      if (handle === undefined || handle === null) return;
      if (closed) {
        (handle as { close?: () => void }).close?.();
        return;
      }
      const copy = net.createServer({ noDelay: opts.noDelay ?? true, keepAlive: opts.keepAlive ?? false });
      copy.on('connection', (socket: net.Socket) => server.emit('connection', socket));
      copy.on('error', (err) => logger.warn({ err }, 'S3 listener: an extra accept queue failed'));
      // A raw handle of the already-listening socket: listen() on it only starts polling it here.
      copy.listen(handle as net.ListenOptions);
      copy.unref();
      copies.push(copy);
      // The child leaves when the channel closes (listener-dup-child.ts).
      if (copies.length === wanted && spawned.connected) spawned.disconnect();
    });
    spawned.send({ copies: wanted }, original as net.Server, (err) => { if (err) fail(err.message); });
  });
  return { ...control, ready };
}
