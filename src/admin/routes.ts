// The admin API's routes as a table (method, path, token or not, handler). The server matches on it,
// the OpenAPI test compares it with openapi/admin-api.json, and --help-like listings can print it.
import type { Logger } from '../log.js';
import type { AuditControl, TargetStatus, WebhookTargetConfig } from '../dispatch/types.js';
import type { AuditSink } from '../audit/sink.js';
import { formatFromEndpoint } from '../dispatch/formats.js';
import { AdminHttpError } from './errors.js';
import type { AdminAction } from './admin-event.js';
import type { Registry } from 'prom-client';
import { renderMetrics, type ProcessMetrics, type RequestMetrics } from './metrics.js';
import type { Readiness } from './readiness.js';
import type { SettingsPersistence } from './settings-persistence.js';
import type { ClusterSync } from '../cluster/sync.js';
import { redactToken, scrub } from './redact.js';
import { OPTION_FIELDS, validateBatchBody, validateEmptyBody, validateEnableBody, type SelfAddress } from './validate.js';
import { assertNotSelf } from './self-check.js';
import { STATUS_PAGE_FILES, statusPageFile } from './status-page.js';
import type { EventTap } from '../dispatch/tap.js';
import { EVENT_STREAM_PATH, eventStreamReply } from './event-stream.js';
import type { ServerResponse } from 'node:http';

export const API_PREFIX = '/api/v1';

export interface RouteContext {
  control: AuditControl;
  sink: AuditSink;
  logger: Logger;
  metrics: RequestMetrics;
  processMetrics: ProcessMetrics;
  readiness: Readiness;
  /** Where changes are kept: the data directory, or the cluster store. */
  persist: SettingsPersistence;
  /** Cluster mode's sync (null without --cluster-store). */
  cluster: ClusterSync | null;
  /** The dispatcher's live tap, or null (no event stream). */
  tap: EventTap | null;
  /** Addresses the webhook must not point at (the admin and S3 listeners). */
  self(): SelfAddress[];
  /** The admin server's own metrics. */
  adminRegistry: Registry;
}

/** What a handler sees of a request. */
export interface RouteRequest {
  requestId: string;
  peer: string;
  /** Parsed JSON body (undefined when empty). */
  body: unknown;
  /** The raw query string, without "?" ("" when none). */
  query: string;
}

export interface Reply {
  status: number;
  json?: unknown;
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** A live stream instead of a body: called with the response once the headers are written. */
  stream?: (res: ServerResponse) => void;
}

export interface RouteDef {
  method: 'GET' | 'POST';
  path: string;
  /** Needs the admin bearer token. */
  auth: boolean;
  /** Reads a JSON body. */
  body: boolean;
  /** Admin changes are audited as events of this action. */
  action: AdminAction | null;
  summary: string;
  handle(ctx: RouteContext, r: RouteRequest): Promise<Reply>;
}

/** Option fields shown in the config document besides endpoint, authToken and format. */
const SHOWN_OPTIONS = Object.keys(OPTION_FIELDS).filter((k) => k !== 'format');

/** A target's status with every error text scrubbed of the webhook token. */
function shownStatus(status: TargetStatus, token: string | null): TargetStatus {
  const clean = (e: string): string => scrub(e, token);
  return {
    ...status,
    lastError: status.lastError === null ? null : clean(status.lastError),
    stateHistory: status.stateHistory.map((c) => ({ ...c, error: c.error === null ? null : clean(c.error) })),
    recentErrors: status.recentErrors.map((e) => ({ ...e, error: clean(e.error) })),
  };
}

/** The GET document: settings (token redacted), delivery status, and in cluster mode the store and its members. */
export async function fullDocument(ctx: RouteContext): Promise<Record<string, unknown>> {
  const doc = webhookDocument(ctx.control, ctx.cluster);
  if (!ctx.cluster) return doc;
  try {
    doc['members'] = await ctx.cluster.members();
  } catch (err) {
    doc['members'] = [];
    doc['membersError'] = `the members cannot be listed: ${(err as Error).message}`;
  }
  return doc;
}

/** The settings document (token redacted) and delivery status; in cluster mode, the store's state. */
export function webhookDocument(control: AuditControl, cluster: ClusterSync | null = null): Record<string, unknown> {
  const cfg = control.webhookConfig();
  const status = control.status();
  const token = cfg?.authToken ?? null;
  const log = control.auditLogStatus?.() ?? null;
  const opts: Record<string, unknown> = {};
  for (const k of SHOWN_OPTIONS) opts[k] = (cfg as unknown as Record<string, unknown> | null)?.[k] ?? null;
  return {
    enabled: cfg !== null,
    endpoint: cfg?.endpoint ?? null,
    authToken: redactToken(token),
    format: cfg ? (cfg.format ?? formatFromEndpoint(cfg.endpoint)) : null,
    ...opts,
    status: shownStatus(status, token),
    auditLog: log && { path: log.path, status: shownStatus(log.status, token) },
    ...(cluster ? { cluster: cluster.status() } : {}),
  };
}

// Admin changes run one at a time: the live config and the saved file never disagree.
let chain: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = chain.then(fn, fn);
  chain = run.catch(() => {});
  return run;
}

function isShutdown(err: unknown): boolean {
  return /shutting down/i.test((err as Error)?.message ?? '');
}

async function enable(ctx: RouteContext, r: RouteRequest): Promise<Reply> {
  const cfg = validateEnableBody(r.body, ctx.self());
  await assertNotSelf(cfg.endpoint, ctx.self());
  return applyAndKeep(ctx, r, 'enable', () => cfg);
}

/** Weka's batch-config: the batch settings of the enabled webhook, changed live. */
async function batchConfig(ctx: RouteContext, r: RouteRequest): Promise<Reply> {
  const batch = validateBatchBody(r.body);
  return applyAndKeep(ctx, r, 'batch-config', (prev) => {
    if (!prev) throw notEnabled();
    return { ...prev, ...batch };
  });
}

const notEnabled = (): AdminHttpError => new AdminHttpError(409, 'not_enabled', 'no audit webhook is enabled: enable one first (POST /api/v1/audit-webhook/enable or `s3-audit-proxy audit-webhook enable`)');

/** Applies new settings live, then keeps them (data directory or cluster store); puts the previous ones back when keeping fails. */
async function applyAndKeep(ctx: RouteContext, r: RouteRequest, action: 'enable' | 'batch-config', next: (prev: WebhookTargetConfig | null) => WebhookTargetConfig): Promise<Reply> {
  return serialized(() => ctx.persist.exclusive(async () => {
    const prev = ctx.control.webhookConfig();
    const cfg = next(prev);
    try {
      await ctx.control.setWebhook(cfg);
    } catch (err) {
      if (isShutdown(err)) throw new AdminHttpError(503, 'shutting_down', 'the proxy is shutting down');
      throw new AdminHttpError(400, 'webhook_rejected', `the webhook settings cannot be used: ${scrub((err as Error).message, cfg.authToken)}`);
    }
    try {
      await ctx.persist.save(cfg, action, { peer: r.peer, requestId: r.requestId });
    } catch (err) {
      await ctx.control.setWebhook(prev).catch(() => {});
      const reason = scrub((err as NodeJS.ErrnoException).code ?? (err as Error).message, cfg.authToken);
      ctx.logger.error({ where: ctx.persist.where, err: scrub((err as Error).message, cfg.authToken) }, 'admin: could not save the audit webhook; the previous setting stays');
      throw new AdminHttpError(500, 'persist_failed', `could not save the webhook to ${ctx.persist.where} (${reason}); the previous setting stays in force`);
    }
    const doc = webhookDocument(ctx.control, ctx.cluster);
    ctx.logger.info({
      action, peer: r.peer, reqId: r.requestId, endpoint: cfg.endpoint, format: doc['format'], authTokenShown: redactToken(cfg.authToken), replaced: prev !== null,
      batchMaxEvents: cfg.batchMaxEvents ?? null, batchMaxBytes: cfg.batchMaxBytes ?? null, batchMaxWaitMs: cfg.batchMaxWaitMs ?? null,
    }, action === 'enable' ? 'admin: audit webhook enabled' : 'admin: audit webhook batch settings changed');
    return { status: 200, json: doc };
  }));
}

async function disable(ctx: RouteContext, r: RouteRequest): Promise<Reply> {
  validateEmptyBody(r.body);
  return serialized(() => ctx.persist.exclusive(async () => {
    // The admin event is recorded by the server once the answer is known (never before the change):
    // a disable that fails is recorded with its error status and, the webhook still being enabled,
    // reaches it; a disable that succeeds is recorded with the webhook already off, so it reaches
    // the local audit log (--audit-log), not the receiver being disabled.
    const prev = ctx.control.webhookConfig();
    try {
      await ctx.control.setWebhook(null);
    } catch (err) {
      if (isShutdown(err)) throw new AdminHttpError(503, 'shutting_down', 'the proxy is shutting down');
      throw err;
    }
    try {
      await ctx.persist.clear({ peer: r.peer, requestId: r.requestId });
    } catch (err) {
      ctx.logger.error({ where: ctx.persist.where, err: (err as Error).message }, 'admin: audit webhook disabled here, but that could not be kept: it would come back at restart (or at the next read of the cluster store)');
      throw new AdminHttpError(500, 'persist_failed', `disabled now, but that could not be kept in ${ctx.persist.where} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): it would be enabled again at restart`);
    }
    ctx.logger.info({ action: 'disable', peer: r.peer, reqId: r.requestId, endpoint: prev?.endpoint ?? null, wasEnabled: prev !== null }, 'admin: audit webhook disabled');
    return { status: 200, json: webhookDocument(ctx.control, ctx.cluster) };
  }));
}

// Not serialized with enable/disable: a slow receiver (up to its request timeout) must not hold up
// admin changes.
async function sendTest(ctx: RouteContext, r: RouteRequest): Promise<Reply> {
  validateEmptyBody(r.body);
  {
    const cfg = ctx.control.webhookConfig();
    if (!cfg) throw notEnabled();
    let result;
    try {
      result = await ctx.control.sendTestEvent();
    } catch (err) {
      if (ctx.control.webhookConfig() === null) throw notEnabled();
      throw err;
    }
    const out = {
      ok: result.ok,
      statusCode: result.statusCode,
      body: scrub(result.body, cfg.authToken),
      latencyMs: result.latencyMs,
      endpoint: cfg.endpoint,
    };
    ctx.logger.info({ action: 'test', peer: r.peer, reqId: r.requestId, endpoint: cfg.endpoint, ok: out.ok, statusCode: out.statusCode, latencyMs: out.latencyMs }, 'admin: test event sent to the audit webhook');
    return { status: 200, json: out };
  }
}

export const ROUTES: readonly RouteDef[] = [
  {
    method: 'GET', path: `${API_PREFIX}/audit-webhook`, auth: true, body: false, action: null,
    summary: 'Webhook settings (token redacted) and delivery status; in cluster mode the store and its members',
    handle: async (ctx) => ({ status: 200, json: await fullDocument(ctx) }),
  },
  {
    method: 'POST', path: `${API_PREFIX}/audit-webhook/enable`, auth: true, body: true, action: 'EnableAuditWebhook',
    summary: 'Enable (or replace) the webhook, live, and save it for restarts', handle: enable,
  },
  {
    method: 'POST', path: `${API_PREFIX}/audit-webhook/disable`, auth: true, body: true, action: 'DisableAuditWebhook',
    summary: 'Disable the webhook (held events stay in the spool for the next enable)', handle: disable,
  },
  {
    method: 'POST', path: `${API_PREFIX}/audit-webhook/batch-config`, auth: true, body: true, action: 'ConfigureAuditWebhookBatch',
    summary: 'Change the batch settings (events, bytes, time) of the enabled webhook, live', handle: batchConfig,
  },
  {
    method: 'POST', path: `${API_PREFIX}/audit-webhook/test`, auth: true, body: true, action: 'TestAuditWebhook',
    summary: 'Send one test event now and report the receiver\'s reply', handle: sendTest,
  },
  {
    method: 'GET', path: EVENT_STREAM_PATH, auth: true, body: false, action: null,
    summary: 'Live events (NDJSON), filtered like mc admin trace; a slow reader loses events and is told',
    handle: async (ctx, r) => eventStreamReply(ctx.tap, r.query),
  },
  {
    method: 'GET', path: '/healthz', auth: false, body: false, action: null,
    summary: 'Liveness: the process is up',
    handle: async () => ({ status: 200, json: { status: 'ok' } }),
  },
  {
    method: 'GET', path: '/readyz', auth: false, body: false, action: null,
    summary: 'Readiness: the S3 listener is up and the backend answers',
    handle: async (ctx) => {
      const rep = await ctx.readiness.check();
      return { status: rep.ready ? 200 : 503, json: { status: rep.ready ? 'ready' : 'not ready', ...rep } };
    },
  },
  {
    method: 'GET', path: '/metrics', auth: false, body: false, action: null,
    summary: 'Prometheus metrics',
    handle: async (ctx) => ({
      status: 200,
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      text: await renderMetrics([ctx.control.metricsRegistry(), ...(ctx.cluster ? [ctx.cluster.metricsRegistry] : []), ctx.metrics.registry, ctx.processMetrics.registry, ctx.adminRegistry]),
    }),
  },
  ...STATUS_PAGE_FILES.map((f): RouteDef => ({
    method: 'GET', path: f.path, auth: false, body: false, action: null, summary: f.summary,
    handle: () => statusPageFile(f.file, f.contentType),
  })),
];

/** Routes by path. */
export const ROUTES_BY_PATH: ReadonlyMap<string, readonly RouteDef[]> = (() => {
  const m = new Map<string, RouteDef[]>();
  for (const r of ROUTES) {
    const list = m.get(r.path) ?? [];
    list.push(r);
    m.set(r.path, list);
  }
  return m;
})();
