// Starting s3-audit-proxy for the benchmark: the real CLI (`dist/src/cli/main.js serve`), audit off,
// on with the webhook enabled through the admin API, or on with the JSONL file target. When the admin
// API does not answer, the webhook rows fall back to bench/proxy-host.ts (same startServer(), then
// the same AuditDispatcher.setWebhook() call the admin route makes); which one was used is reported.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, spawnReady, type Child } from './proc.js';
import { mallocEnvFor } from '../../src/proxy/malloc-env.js';

export type AuditMode = 'off' | 'webhook' | 'file';

export interface Endpoint { url: string; pid: number; tree: boolean; stop(): Promise<void> }
export interface S3ap extends Endpoint {
  dataDir: string;
  transport: string;
  child: Child;
  /** Delivery status from the admin API (GET /api/v1/audit-webhook), or null when not available. */
  status(): Promise<Record<string, unknown> | null>;
  /** Admin "send a test event" (a success also wakes a waiting retry probe). False without the admin API. */
  testWebhook(): Promise<boolean>;
  /** The admin API's /metrics text, or null when not available. */
  metrics(): Promise<string | null>;  /** The admin listener's URL once the webhook was enabled through it (null otherwise). */
  adminUrl(): string | null;
}

export interface S3apContext {
  node: string;
  dist: string;
  work: string;
  hecUrl: string;
  hecToken: string;
  adminToken: string;
  /** Called with every child started (so the caller can stop them all on failure). */
  register(child: Child): void;
  log(msg: string): void;
}

let adminApiWorks: boolean | null = null;
/** How the webhook was enabled in this run (null until a webhook proxy was started). */
export let auditTransport: string | null = null;

function cliArgs(ctx: S3apContext, backend: string, dataDir: string, extra: string[]): string[] {
  return ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--admin-token', ctx.adminToken, '--backend', backend,
    '--data-dir', dataDir, '--log-level', 'info', '--shutdown-timeout', '2s', ...extra];
}

function adminFrom(line: string): string | null {
  try {
    const rec = JSON.parse(line) as { msg?: string; admin?: string; url?: string; listen?: string };
    if (rec.msg === 'admin API listening') return rec.admin ?? rec.url ?? rec.listen ?? null;
  } catch { /* not JSON */ }
  return null;
}

/** The malloc settings of a proxy under test: the image's (src/proxy/malloc-env.ts), the caller's own
 * MALLOC_* / GLIBC_TUNABLES when set, none with BENCH_MALLOC=glibc (then S3AP_MALLOC_TUNING=false too).
 * Node proxies all get the same. */
export function benchMallocEnv(): Record<string, string> {
  const own: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if ((k.startsWith('MALLOC_') || k === 'GLIBC_TUNABLES') && v !== undefined) own[k] = v;
  // glibc's defaults: also no re-execution with the settings (serve's --malloc-tuning).
  return process.env['BENCH_MALLOC'] === 'glibc' ? { ...own, S3AP_MALLOC_TUNING: 'false' } : { ...own, ...mallocEnvFor(own) };
}

async function spawnCli(ctx: S3apContext, name: string, args: string[], nodeFlags: string[]): Promise<{ child: Child; url: string; adminUrl: string | null }> {
  let adminUrl: string | null = null;
  // A clean environment with the malloc settings the image runs with (src/proxy/malloc-env.ts), unless
  // the caller's environment has its own (large-ab's AB_ENV_B) or BENCH_MALLOC=glibc asks for glibc's.
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], ...benchMallocEnv() };
  const r = await spawnReady(name, ctx.node, [...nodeFlags, join(ctx.dist, 'src', 'cli', 'main.js'), 'serve', ...args], (line) => {
    adminUrl ??= adminFrom(line);
    try {
      const rec = JSON.parse(line) as { msg?: string; listen?: string };
      if (rec.msg === 's3-audit-proxy listening' && rec.listen) return rec.listen;
    } catch { /* not JSON */ }
    return undefined;
  }, { env });
  ctx.register(r.child);
  // the admin listener may log after the S3 listener: give it a moment (bounded)
  for (let i = 0; i < 10 && adminUrl === null; i++) {
    await sleep(30);
    for (const line of r.child.lines) adminUrl ??= adminFrom(line);
  }
  return { child: r.child, url: r.value, adminUrl };
}

async function enableViaAdmin(ctx: S3apContext, adminUrl: string): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await fetch(`${adminUrl.replace(/\/$/, '')}/api/v1/audit-webhook/enable`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.adminToken}` },
      body: JSON.stringify({ endpoint: `${ctx.hecUrl}/services/collector/event`, authToken: ctx.hecToken }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    return { ok: res.ok, detail: `HTTP ${res.status} ${text.slice(0, 200)}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

/** s3-audit-proxy with audit off, on (webhook to the HEC receiver), or on (JSONL file). */
/** `workers` > 1 runs `serve --workers N` (its CPU is then the whole process tree's). */
export async function startS3ap(ctx: S3apContext, mode: AuditMode, backend: string, nodeFlags: string[] = [], workers = 1, serveArgs: string[] = []): Promise<S3ap> {
  const dataDir = mkdtempSync(join(ctx.work, `s3ap-${mode}-`));
  const extra = [...serveArgs];
  extra.push(...(mode === 'file' ? ['--audit-log', join(dataDir, 'audit.jsonl'), '--audit-log-max-bytes', '64MiB', '--audit-log-max-files', '2'] : []));
  if (workers > 1) extra.push('--workers', String(workers));
  let adminUrl: string | null = null;
  const status = async (): Promise<Record<string, unknown> | null> => {
    if (!adminUrl) return null;
    try {
      const res = await fetch(`${adminUrl.replace(/\/$/, '')}/api/v1/audit-webhook`, { headers: { authorization: `Bearer ${ctx.adminToken}` }, signal: AbortSignal.timeout(3000) });
      if (!res.ok) return null;
      const doc = (await res.json()) as { status?: Record<string, unknown> };
      return doc.status ?? null;
    } catch {
      return null;
    }
  };
  const testWebhook = async (): Promise<boolean> => {
    if (!adminUrl) return false;
    try {
      const res = await fetch(`${adminUrl.replace(/\/$/, '')}/api/v1/audit-webhook/test`, {
        method: 'POST', headers: { authorization: `Bearer ${ctx.adminToken}`, 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(5000),
      });
      await res.text();
      return res.ok;
    } catch {
      return false;
    }
  };
  const metrics = async (): Promise<string | null> => {
    if (!adminUrl) return null;
    try {
      const res = await fetch(`${adminUrl.replace(/\/$/, '')}/metrics`, { headers: { authorization: `Bearer ${ctx.adminToken}` }, signal: AbortSignal.timeout(3000) });
      return res.ok ? await res.text() : null;
    } catch {
      return null;
    }
  };
  const mk = (child: Child, url: string, transport: string): S3ap => ({
    url, pid: child.pid, tree: workers > 1, dataDir, transport, child, status, testWebhook, metrics, adminUrl: () => adminUrl,
    stop: async () => { await child.stop(8000); rmSync(dataDir, { recursive: true, force: true }); },
  });
  if (mode !== 'webhook' || adminApiWorks !== false) {
    const c = await spawnCli(ctx, `s3ap-${mode}`, cliArgs(ctx, backend, dataDir, extra), nodeFlags);
    if (mode === 'off') return mk(c.child, c.url, 'none');
    if (mode === 'file') return mk(c.child, c.url, 'JSONL file (--audit-log)');
    const res = c.adminUrl ? await enableViaAdmin(ctx, c.adminUrl) : { ok: false, detail: 'no "admin API listening" line from the CLI' };
    if (res.ok) {
      adminApiWorks = true;
      adminUrl = c.adminUrl;
      auditTransport = 'webhook enabled through the admin API (POST /api/v1/audit-webhook/enable), HEC event endpoint, default batching (500 events / 1 MiB / 1 s, 2 requests in flight), no gzip';
      return mk(c.child, c.url, 'webhook (admin API)');
    }
    adminApiWorks = false;
    auditTransport = `webhook enabled in-process with AuditDispatcher.setWebhook() by bench/proxy-host.ts (same startServer() as the CLI), because the admin API did not answer: ${res.detail}`;
    ctx.log(`admin API not available (${res.detail}); using bench/proxy-host.ts`);
    await c.child.stop();
  }
  const webhook = JSON.stringify({ endpoint: `${ctx.hecUrl}/services/collector/event`, authToken: ctx.hecToken });
  const r = await spawnReady(`s3ap-host-${mode}`, ctx.node, [...nodeFlags, join(ctx.dist, 'bench', 'proxy-host.js'), ...cliArgs(ctx, backend, dataDir, extra)], (line) => {
    try {
      const rec = JSON.parse(line) as { msg?: string; listen?: string };
      if (rec.msg === 'bench proxy-host ready' && rec.listen) return rec.listen;
    } catch { /* not JSON */ }
    return undefined;
  }, { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], BENCH_WEBHOOK: webhook, ...benchMallocEnv() } });
  ctx.register(r.child);
  return mk(r.child, r.value, 'webhook (in-process setWebhook)');
}
