// A small client of the admin API for the CLI: one request, a bounded wait, and failures turned into
// messages that say what to do (which URL was unreachable, where tokens come from, the server's reason).
// The admin token goes in the Authorization header and nowhere else: never into a message.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Agent, request } from 'undici';

export type AdminFailureKind = 'unreachable' | 'unauthorized' | 'refused' | 'conflict' | 'server' | 'protocol';

export class AdminApiError extends Error {
  constructor(readonly kind: AdminFailureKind, message: string, readonly status: number | null = null, readonly code: string | null = null) {
    super(message);
    this.name = 'AdminApiError';
  }
}

/** A token and a description of where it came from (for messages: never the value). */
export interface ResolvedToken {
  value: string;
  from: string;
}

export interface TokenSources {
  flagToken?: string;
  flagTokenFile?: string;
  envToken?: string;
  envTokenFile?: string;
  dataDir: string;
}

export const TOKEN_HELP =
  'The proxy takes its admin token from --admin-token, --admin-token-file or S3AP_ADMIN_TOKEN, or else generates one into ' +
  '<data-dir>/admin-token on first start. Give the CLI the same token: --admin-token, --admin-token-file, S3AP_ADMIN_TOKEN, ' +
  'or --data-dir pointing at the proxy\'s data directory.';

function readTokenFile(path: string, what: string): ResolvedToken {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AdminApiError('unauthorized', `cannot read the admin token file ${path} (${what}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const value = text.split(/\r?\n/).map((l) => l.trim()).find(Boolean) ?? '';
  if (!value) throw new AdminApiError('unauthorized', `the admin token file ${path} (${what}) is empty`);
  return { value, from: `${what} ${path}` };
}

/** Flags first, then the environment, then the proxy's generated token file in the data directory. */
export function resolveAdminToken(s: TokenSources): ResolvedToken {
  if (s.flagToken) return { value: s.flagToken.trim(), from: '--admin-token' };
  if (s.flagTokenFile) return readTokenFile(s.flagTokenFile, '--admin-token-file');
  if (s.envToken) return { value: s.envToken.trim(), from: 'S3AP_ADMIN_TOKEN' };
  if (s.envTokenFile) return readTokenFile(s.envTokenFile, 'S3AP_ADMIN_TOKEN_FILE');
  const generated = join(resolve(s.dataDir), 'admin-token');
  try {
    return readTokenFile(generated, 'the data directory\'s token file');
  } catch {
    throw new AdminApiError('unauthorized', `no admin token: ${generated} does not exist or cannot be read, and none of --admin-token, ` +
      `--admin-token-file, S3AP_ADMIN_TOKEN is set. ${TOKEN_HELP}`);
  }
}

/** "host:port" or a URL -> an http(s) origin URL. */
export function normalizeAdminUrl(raw: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new AdminApiError('protocol', `--admin: expected the admin API URL like http://127.0.0.1:9081, got ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new AdminApiError('protocol', `--admin: use http:// or https://, got ${u.protocol}`);
  return new URL(u.origin);
}

export interface AdminClientOptions {
  admin: URL;
  token: ResolvedToken;
  timeoutMs: number;
}

interface ErrorDoc {
  error?: { code?: string; message?: string; field?: string };
}

export async function callAdmin(opts: AdminClientOptions, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const url = new URL(path, opts.admin);
  const agent = new Agent({ connect: { timeout: Math.min(opts.timeoutMs, 10_000) }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
  const payload = body === undefined ? undefined : JSON.stringify(body);
  let status: number;
  let text: string;
  let contentType: string;
  try {
    const res = await request(url, {
      method,
      dispatcher: agent,
      headers: {
        authorization: `Bearer ${opts.token.value}`,
        accept: 'application/json',
        'user-agent': 's3-audit-proxy-cli',
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: payload,
    });
    status = res.statusCode;
    contentType = String(res.headers['content-type'] ?? '');
    text = await res.body.text();
  } catch (err) {
    throw unreachable(err, opts);
  } finally {
    void agent.close().catch(() => {});
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AdminApiError('protocol',
      `unexpected reply from ${opts.admin.origin}${path} (HTTP ${status}, ${contentType || 'no content type'}, not JSON): is --admin pointing at the admin listener (default 127.0.0.1:9081) rather than the S3 listener?`, status);
  }
  if (status >= 200 && status < 300) {
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new AdminApiError('protocol', `unexpected reply from ${url.href}: not a JSON object`, status);
    return doc as Record<string, unknown>;
  }
  throw refusal(status, doc, opts);
}

/** A failed connection or request as a message that says what to check. */
export function unreachable(err: unknown, opts: AdminClientOptions): AdminApiError {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? e.name;
  const why = code === 'ECONNREFUSED' ? 'connection refused'
    : code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? `no answer within ${opts.timeoutMs} ms`
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'host name not found'
    : `${code ?? 'error'}${e.message ? ` (${e.message})` : ''}`;
  return new AdminApiError('unreachable',
    `cannot reach the admin API at ${opts.admin.origin}: ${why}. Is \`s3-audit-proxy serve\` running, and does --admin (or S3AP_ADMIN) name its --admin-listen address?`);
}

/** A non-2xx reply (its parsed JSON error document) as an AdminApiError. */
export function refusal(status: number, doc: unknown, opts: AdminClientOptions): AdminApiError {
  const err = (doc as ErrorDoc | null)?.error;
  const reason = err?.message ?? `HTTP ${status}`;
  if (status === 401) {
    return new AdminApiError('unauthorized', `the admin API at ${opts.admin.origin} refused the admin token (taken from ${opts.token.from}). ${TOKEN_HELP}`, status, err?.code ?? null);
  }
  if (status === 409) return new AdminApiError('conflict', reason, status, err?.code ?? null);
  if (status >= 400 && status < 500) return new AdminApiError('refused', `the admin API refused the request (HTTP ${status}${err?.code ? `, ${err.code}` : ''}): ${reason}`, status, err?.code ?? null);
  return new AdminApiError('server', `the admin API failed (HTTP ${status}${err?.code ? `, ${err.code}` : ''}): ${reason}`, status, err?.code ?? null);
}

/** The admin API client settings from a verb's parsed COMMON_OPTIONS (admin, tokens, data-dir, timeout). */
export function clientOptionsFrom(v: Record<string, unknown>, sources: Record<string, string>): AdminClientOptions {
  return {
    admin: normalizeAdminUrl(v['admin'] as string),
    token: resolveAdminToken({
      flagToken: sources['admin-token'] === 'flag' ? (v['admin-token'] as string) : undefined,
      flagTokenFile: sources['admin-token-file'] === 'flag' ? (v['admin-token-file'] as string) : undefined,
      envToken: sources['admin-token'] === 'env' ? (v['admin-token'] as string) : undefined,
      envTokenFile: sources['admin-token-file'] === 'env' ? (v['admin-token-file'] as string) : undefined,
      dataDir: v['data-dir'] as string,
    }),
    timeoutMs: v['timeout'] as number,
  };
}
