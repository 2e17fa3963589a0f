// The admin HTTP API: its own listener (--admin-listen, default 127.0.0.1:9081), JSON in and out,
// bearer-token auth on everything but /healthz, /readyz, /metrics and the status page's static files
// (/). It shares nothing with the S3 listener but the dispatcher's control interface, so admin work
// never slows S3 traffic.
// Here: what each request gets (route match, token check, body, handler, reply, admin audit event);
// the listener's lifecycle is listener.ts's.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import type { AuditControl } from '../dispatch/types.js';
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
import type { ClusterSync } from '../cluster/sync.js';
import { clusterPersistence, dataDirPersistence } from './settings-persistence.js';
import type { EventTap } from '../dispatch/tap.js';
import { BodyError, readBody } from './request-body.js';
import { errorReply, sendReply } from './reply.js';
import { createAdminListener, listenAdmin, selfFromUrl, urlOf } from './listener.js';

export { restorePersistedWebhook } from './persisted-webhook.js';
export { isAuditControl, unavailableControl } from './audit-control.js';

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
  /** Cluster mode: changes go to the store, and show lists the members. */
  cluster?: ClusterSync | null;
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

function peerOf(req: IncomingMessage): { ip: string; port: number | null } {
  const s = req.socket;
  return { ip: s.remoteAddress ?? 'unknown', port: s.remotePort ?? null };
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
    persist: opts.cluster ? clusterPersistence(opts.cluster) : dataDirPersistence(config.dataDir),
    cluster: opts.cluster ?? null,
    tap: opts.tap ?? null,
    self: () => self,
    adminRegistry: registry,
  };

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
      if (!routes) throw new AdminHttpError(404, 'not_found', 'no such route (routes: /api/v1/audit-webhook[/enable|/disable|/batch-config|/test], /api/v1/events/stream, /healthz, /readyz, /metrics, / (status page); see openapi/admin-api.json)');
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
    const sent = sendReply(res, requestId, reply);
    if (closeAfter) res.once('finish', () => req.socket.destroySoon?.());
    if (route?.path) routeLabel = route.path;
    adminRequests.inc({ route: routeLabel, status_class: statusClass(reply.status) });
    emit(reply.status, error, sent);
    logger.debug({ reqId: requestId, peer: peer.ip, method, path: path.slice(0, 200), status: reply.status, ms: Math.round(performance.now() - startMono) }, 'admin request');
  };

  const listener = createAdminListener(handle, logger);
  const { host, port: wanted } = config.adminListen;
  const port = await listenAdmin(listener.server, host, wanted);
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
        await listener.close();
        processMetrics.stop();
      })();
      return closing;
    },
  };
}
