// The admin HTTP API: its own listener (--admin-listen, default 127.0.0.1:9081), JSON in and out,
// bearer-token auth on everything but /healthz, /readyz, /metrics and the status page's static files
// (/). It shares nothing with the S3 listener but the dispatcher's control interface, so admin work
// never slows S3 traffic.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import type { AuditControl, TargetStatus } from '../dispatch/types.js';
import type { AuditSink } from '../audit/sink.js';
import { uuidv7 } from '../audit/uuidv7.js';
import { AdminAuth, AuthFailureLog, loadAdminToken, type AdminToken, type AuthResult } from './auth.js';
import { AdminHttpError } from './errors.js';
import { buildAdminEvent } from './admin-event.js';
import { ProcessMetrics, statusClass, type RequestMetrics } from './metrics.js';
import { Readiness } from './readiness.js';
import { ROUTES_BY_PATH, type Reply, type RouteContext, type RouteDef } from './routes.js';
import { parseJsonBody, type SelfAddress } from './validate.js';
import { Counter as PromCounter } from 'prom-client';
import { Counter, Registry } from '../dispatch/metrics.js';
import { ConfigError } from '../errors.js';
import { stringifyJsonLine } from '../json-text.js';
import { endThenDestroy } from '../proxy/stall-guard.js';
import type { EventTap } from '../dispatch/tap.js';

export { restorePersistedWebhook } from './persisted-webhook.js';

/** Request bodies above this are refused with 413. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Oversized bodies up to this much more are read and thrown away, so the client gets a clean 413. */
const DRAIN_BYTES = 1024 * 1024;

export interface AdminServerOptions {
  config: ServeConfig;
  logger: Logger;
  control: AuditControl;
  sink: AuditSink;
  metrics: RequestMetrics;
  /** The S3 listener's URL (readiness, and the webhook must not point at it). */
  s3Url: string;
  /** Backend origin probed by /readyz. */
  backend: string;
  hostName: string;
  /** The dispatcher's live tap (GET /api/v1/events/stream); null: no stream. */
  tap?: EventTap | null;
}

export interface AdminServer {
  url: string;
  port: number;
  /** Where the token came from (never the token itself). */
  tokenSource: AdminToken['source'];
  tokenFile: string | null;
  /** /readyz answers 503 from now on (called when shutdown starts). */
  beginShutdown(): void;
  close(): Promise<void>;
}

/** The control to give the admin API when the caller supplied its own sink (tests, embedding). */
export function unavailableControl(reason: string): AuditControl {
  const status: TargetStatus = {
    state: 'disabled', queued: 0, queuedBytes: 0, queueMaxEvents: 0, queueMaxBytes: 0, enqueued: 0, delivered: 0, dropped: 0, droppedByReason: {},
    spooled: 0, spoolBytes: 0, spoolMaxBytes: 0, deadLettered: 0, deadLetteredByReason: {}, retried: 0, inFlight: 0,
    lastSuccess: null, lastFailure: null, lastError: null, consecutiveFailures: 0, lastLatencyMs: null, stateHistory: [], recentErrors: [], ack: null, refusedRequests: 0,
  };
  const empty = new Registry();
  return {
    webhookConfig: () => null,
    setWebhook: async () => { throw new Error(reason); },
    status: () => ({ ...status, stateHistory: [], recentErrors: [] }),
    sendTestEvent: async () => { throw new Error(reason); },
    metricsRegistry: () => empty,
  };
}

export function isAuditControl(x: unknown): x is AuditControl {
  const c = x as Partial<AuditControl> | null;
  return !!c && typeof c.setWebhook === 'function' && typeof c.webhookConfig === 'function' && typeof c.status === 'function'
    && typeof c.sendTestEvent === 'function' && typeof c.metricsRegistry === 'function';
}

class BodyError extends AdminHttpError {
  constructor(readonly closeConnection: boolean, readonly received: number) {
    super(413, 'body_too_large', `request body is larger than ${MAX_BODY_BYTES} bytes`);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES + DRAIN_BYTES) return Promise.reject(new BodyError(true, 0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    req.on('data', (c: Buffer) => {
      total += c.length;
      if (total <= MAX_BODY_BYTES) chunks.push(c);
      else if (total > MAX_BODY_BYTES + DRAIN_BYTES && !settled) {
        settled = true;
        req.pause();
        reject(new BodyError(true, total));
      }
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      if (total > MAX_BODY_BYTES) reject(new BodyError(false, total));
      else resolve(Buffer.concat(chunks, total));
    });
    req.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
  });
}

function peerOf(req: IncomingMessage): { ip: string; port: number | null } {
  const s = req.socket;
  return { ip: s.remoteAddress ?? 'unknown', port: s.remotePort ?? null };
}

function urlOf(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

function selfFromUrl(url: string, what: string): SelfAddress | null {
  try {
    const u = new URL(url);
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    return { host, port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80, what };
  } catch {
    return null;
  }
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const { config, control, sink, metrics, hostName } = opts;
  const logger = opts.logger.child({ component: 'admin' });
  const token = await loadAdminToken(config, logger);
  const auth = new AdminAuth(token.value);
  const authLog = new AuthFailureLog(logger);
  const processMetrics = new ProcessMetrics();
  const readiness = new Readiness(opts.s3Url, opts.backend);
  const registry = new Registry();
  // Not the S3 path: prom-client's own counter is cheap enough here.
  const adminRequests = new PromCounter({ name: 's3ap_admin_requests_total', help: 'Admin API requests, by route and status class.', labelNames: ['route', 'status_class'], registers: [registry] });
  const authFailures = new Counter(registry, 's3ap_admin_auth_failures_total', 'Admin API requests refused for a missing or wrong token.');
  let self: SelfAddress[] = [];

  const ctx: RouteContext = {
    control, sink, logger, metrics, processMetrics, readiness,
    dataDir: config.dataDir,
    tap: opts.tap ?? null,
    self: () => self,
    adminRegistry: registry,
  };

  const send = (res: ServerResponse, requestId: string, reply: Reply): number => {
    if (reply.stream) {
      // A live stream: chunked, no length, handed over to the tap (which ends it at shutdown).
      if (res.headersSent || res.destroyed) return 0;
      res.writeHead(reply.status, {
        'content-type': reply.contentType ?? 'application/x-ndjson',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-accel-buffering': 'no',
        'x-request-id': requestId,
        ...reply.headers,
      });
      reply.stream(res);
      return 0;
    }
    const body = reply.text !== undefined ? reply.text : `${stringifyJsonLine(reply.json ?? {})}\n`;
    const buf = Buffer.from(body, 'utf8');
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(reply.status, {
        'content-type': reply.contentType ?? 'application/json; charset=utf-8',
        'content-length': String(buf.length),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-request-id': requestId,
        ...reply.headers,
      });
      res.end(buf);
    }
    return buf.length;
  };

  const errorReply = (err: AdminHttpError): Reply => ({ status: err.status, json: err.toJSON(), headers: err.headers });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const startMs = Date.now();
    const startMono = performance.now();
    const requestId = uuidv7(startMs);
    const peer = peerOf(req);
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const routes = ROUTES_BY_PATH.get(path);
    const route: RouteDef | undefined = routes?.find((r) => r.method === method);
    const audited = route?.action ?? null;
    let bytesReceived = 0;
    let authResult: AuthResult = 'ok';
    let routeLabel = routes ? path : 'unmatched';

    /** The request's admin audit event: recorded once the answer is sent, with its status. */
    const emit = (statusCode: number, err: AdminHttpError | null, bytesSent: number): void => {
      if (!audited) return;
      const problem = authResult === 'missing' ? 'admin token missing' : authResult === 'invalid' ? 'admin token refused' : null;
      const cl = Number(req.headers['content-length']);
      try {
        sink.enqueue(buildAdminEvent({
          action: audited, requestId, startMs, startMono, method, path,
          host: typeof req.headers.host === 'string' ? req.headers.host : null,
          userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null,
          contentLength: Number.isSafeInteger(cl) && cl >= 0 ? cl : null,
          clientIp: peer.ip, clientPort: peer.port,
          statusCode, errorCode: err?.code ?? null, errorMessage: err ? err.message.slice(0, 500) : null,
          bytesReceived, bytesSent,
          authorized: authResult === 'ok', authProblem: problem, hostName,
        }));
      } catch (e) {
        logger.error({ err: (e as Error).message }, 'admin: could not build the audit event of an admin request');
      }
    };

    let reply: Reply;
    let error: AdminHttpError | null = null;
    let closeAfter = false;
    try {
      if (!routes) throw new AdminHttpError(404, 'not_found', 'no such route (routes: /api/v1/audit-webhook[/enable|/disable|/test], /api/v1/events/stream, /healthz, /readyz, /metrics, / (status page); see openapi/admin-api.json)');
      if (routes.some((r) => r.auth)) {
        authResult = auth.check(req.headers.authorization);
        if (authResult !== 'ok') {
          authFailures.inc();
          authLog.refused({ peer: peer.ip, method, path, reason: authResult, requestId });
          throw new AdminHttpError(401, 'unauthorized',
            authResult === 'missing' ? 'admin token required: send "Authorization: Bearer <admin token>"' : 'admin token refused',
            null, { 'www-authenticate': 'Bearer realm="s3-audit-proxy admin"' });
        }
      }
      if (!route) {
        const allow = routes.map((r) => r.method).join(', ');
        throw new AdminHttpError(405, 'method_not_allowed', `${method} is not allowed on ${path}: use ${allow}`, null, { allow });
      }
      let body: unknown;
      if (route.body) {
        let raw: Buffer;
        try {
          raw = await readBody(req);
        } catch (err) {
          if (err instanceof BodyError) {
            bytesReceived = err.received;
            closeAfter = err.closeConnection;
            throw err;
          }
          // The client went away or broke the framing mid-body.
          throw new AdminHttpError(400, 'invalid_body', 'the request body could not be read');
        }
        bytesReceived = raw.length;
        body = parseJsonBody(raw);
      }
      reply = await route.handle(ctx, { requestId, peer: peer.ip, body, query: q === -1 ? '' : rawUrl.slice(q + 1) });
    } catch (err) {
      if (err instanceof AdminHttpError) {
        error = err;
      } else {
        logger.error({ err: (err as Error).message, stack: (err as Error).stack, path, reqId: requestId }, 'admin API: internal error');
        error = new AdminHttpError(500, 'internal', 'internal error (see the proxy log)');
      }
      reply = errorReply(error);
      if (closeAfter) reply.headers = { ...reply.headers, connection: 'close' };
    }
    const sent = send(res, requestId, reply);
    if (closeAfter) res.once('finish', () => req.socket.destroySoon?.());
    if (route?.path) routeLabel = route.path;
    adminRequests.inc({ route: routeLabel, status_class: statusClass(reply.status) });
    emit(reply.status, error, sent);
    logger.debug({ reqId: requestId, peer: peer.ip, method, path: path.slice(0, 200), status: reply.status, ms: Math.round(performance.now() - startMono) }, 'admin request');
  };

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

  const { host, port: wanted } = config.adminListen;
  await new Promise<void>((resolve, reject) => {
    const onErr = (err: NodeJS.ErrnoException): void => reject(new ConfigError('--admin-listen', `the admin API cannot listen on ${host}:${wanted}: ${err.code ?? err.message}`));
    server.once('error', onErr);
    server.listen(wanted, host, () => {
      server.off('error', onErr);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = urlOf(host, port);
  self = [{ host, port, what: 'admin API listener' }];
  const s3Self = selfFromUrl(opts.s3Url, 'S3 listener');
  if (s3Self) self.push(s3Self);

  let closing: Promise<void> | null = null;
  return {
    url, port,
    tokenSource: token.source,
    tokenFile: token.file,
    beginShutdown: () => readiness.beginShutdown(),
    close() {
      closing ??= (async () => {
        readiness.beginShutdown();
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const t = setTimeout(() => { for (const s of sockets) s.destroy(); }, 2000);
        t.unref();
        await done;
        clearTimeout(t);
        processMetrics.stop();
      })();
      return closing;
    },
  };
}
