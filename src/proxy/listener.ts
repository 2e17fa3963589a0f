// The S3 listener's lifecycle around the request handling in server.ts: the node:http(s) server and
// its client timeouts, listening (with the accept queues), its URL, and the graceful drain at close.
import { readFileSync } from 'node:fs';
import cluster from 'node:cluster';
import http from 'node:http';
import https from 'node:https';
import type { ServeConfig } from '../config/serve-config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { addAcceptQueues, type AcceptQueues } from './accept-queues.js';

/** The S3 listener's server, not yet listening: TLS when --tls-cert and --tls-key are given. */
export function createListener(cfg: ServeConfig): http.Server {
  const serverOptions: http.ServerOptions = {
    keepAliveTimeout: cfg.keepAliveTimeoutMs,
    headersTimeout: cfg.clientHeadersTimeoutMs,
    requestTimeout: cfg.clientRequestTimeoutMs,
    requireHostHeader: false,
    // Node checks header/request timeouts on this tick (default 30 s): keep it well under the timeouts.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(cfg.clientHeadersTimeoutMs / 4))),
  };
  const server: http.Server = cfg.tlsCert && cfg.tlsKey
    ? https.createServer({ ...serverOptions, cert: readFileSync(cfg.tlsCert), key: readFileSync(cfg.tlsKey) })
    : http.createServer(serverOptions);
  // A client that half-closes after its request still gets the reply (then the connection closes);
  // by default Node would abort the request and end the connection unanswered.
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  return server;
}

/**
 * Listens on --listen (a failure is a ConfigError naming it, after `onFail`), then adds the
 * listening socket's accept queues, which close with the server.
 */
export async function listen(server: http.Server, cfg: ServeConfig, logger: Logger, onFail: () => void): Promise<AcceptQueues> {
  await new Promise<void>((resolve, reject) => {
    const onErr = (err: NodeJS.ErrnoException): void => {
      onFail();
      reject(new ConfigError('--listen', `cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${err.code ?? err.message}`));
    };
    server.once('error', onErr);
    server.listen(cfg.listen.port, cfg.listen.host, () => { server.off('error', onErr); resolve(); });
  });
  // In a --workers process the primary accepts and hands connections over: nothing to add here.
  const acceptQueues = addAcceptQueues(server, logger, { queues: cluster.isWorker ? 1 : cfg.acceptQueues, noDelay: true, keepAlive: false });
  server.once('close', () => acceptQueues.close());
  return acceptQueues;
}

/** The URL a client on this host uses for the S3 listener (a wildcard address becomes loopback). */
export function listenerUrl(cfg: ServeConfig, port: number): string {
  const scheme = cfg.tlsCert ? 'https' : 'http';
  const host = cfg.listen.host === '0.0.0.0' || cfg.listen.host === '::' ? '127.0.0.1' : cfg.listen.host;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Stops accepting, lets in-flight requests finish within the deadline, then closes every connection.
 * `idle` holds the waiters server.ts calls when the last in-flight request is done.
 */
export async function drainListener(server: http.Server, acceptQueues: AcceptQueues, inFlight: () => number,
  idle: Array<() => void>, deadlineMs: number): Promise<void> {
  acceptQueues.close();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  if (inFlight() > 0) {
    await Promise.race([
      new Promise<void>((resolve) => idle.push(resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref()),
    ]);
  }
  server.closeAllConnections();
  await closed;
}
