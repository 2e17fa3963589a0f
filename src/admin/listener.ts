// The admin listener's lifecycle: the node:http server with tight limits for a small JSON API, a bare
// 400 for what it cannot parse, listening on --admin-listen, its URL, and a close that ends every
// connection within 2 s. What a request gets is server.ts's.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../log.js';
import { ConfigError } from '../errors.js';
import { endThenDestroy } from '../proxy/stall-guard.js';
import type { SelfAddress } from './validate.js';

export interface AdminListener {
  readonly server: Server;
  /** Stops accepting, closes idle connections, and destroys those still open after 2 s. */
  close(): Promise<void>;
}

/** The admin listener, not yet listening; a request that fails in `handle` gets a bare 500. */
export function createAdminListener(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, logger: Logger): AdminListener {
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err: (err as Error).message }, 'admin API: request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
      res.end('{"error":{"code":"internal","message":"internal error"}}\n');
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket) => {
    // end() alone would keep the descriptor while the client keeps its side open: destroyed after a short linger.
    if (socket.writable) endThenDestroy(socket, 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  return {
    server,
    async close() {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const t = setTimeout(() => { for (const s of sockets) s.destroy(); }, 2000);
      t.unref();
      await done;
      clearTimeout(t);
    },
  };
}

/** Listens on --admin-listen (a failure is a ConfigError naming it); the port it listens on. */
export async function listenAdmin(server: Server, host: string, wanted: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onErr = (err: NodeJS.ErrnoException): void => reject(new ConfigError('--admin-listen', `the admin API cannot listen on ${host}:${wanted}: ${err.code ?? err.message}`));
    server.once('error', onErr);
    server.listen(wanted, host, () => {
      server.off('error', onErr);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** The admin API's URL for a client on this host (a wildcard address becomes loopback). */
export function urlOf(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** A listener's own address, from its URL: what the webhook must not point at (self-check.ts). */
export function selfFromUrl(url: string, what: string): SelfAddress | null {
  try {
    const u = new URL(url);
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    return { host, port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80, what };
  } catch {
    return null;
  }
}
