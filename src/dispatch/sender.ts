// HTTP(S) delivery to one webhook target: one undici Pool per target (keep-alive below HEC's 12 s
// idle close), bounded connections, a request timeout, optional gzip, TLS settings, and a stable
// per-process X-Splunk-Request-Channel on HEC formats. A Sender is immutable: reconfiguration
// builds a new one and closes the old one gracefully.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzip as gzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import type { WebhookFormat, WebhookTargetConfig } from './types.js';
import { authorizationHeader, redactToken } from './auth-header.js';
import { ackPath, healthPath, isHecFormat, requestPath, type FormatMeta } from './formats.js';
import type { SendResult } from './retry-policy.js';

const gzip = promisify(gzipCb);

/** Stable for the life of the process: HEC ties indexer acknowledgements to it. */
export const PROCESS_CHANNEL = randomUUID();

export const KEEP_ALIVE_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
export const DEFAULT_CONCURRENCY = 2;
/** Reply bodies are read up to this size (HEC replies are tiny). */
const MAX_REPLY_BYTES = 64 * 1024;
const USER_AGENT = 's3-audit-proxy';

export interface SendOutcome {
  result: SendResult;
  /** Request start to reply read, ms. */
  latencyMs: number;
  /** Bytes put on the wire (after gzip). */
  wireBytes: number;
}

export interface SenderOptions {
  format: WebhookFormat;
  meta: FormatMeta;
  channel?: string;
}

export class Sender {
  readonly endpoint: URL;
  readonly format: WebhookFormat;
  readonly channel: string;
  readonly requestTimeoutMs: number;
  readonly gzip: boolean;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly health: string;
  private readonly ack: string;
  private readonly token: string;
  private readonly headers: Record<string, string>;
  private closed = false;

  private constructor(config: WebhookTargetConfig, opts: SenderOptions, tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }) {
    this.endpoint = new URL(config.endpoint);
    this.format = opts.format;
    this.channel = opts.channel ?? PROCESS_CHANNEL;
    this.requestTimeoutMs = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.gzip = config.gzip === true;
    this.token = config.authToken ?? '';
    this.path = requestPath(this.endpoint, this.format, opts.meta, this.channel);
    this.health = healthPath(this.endpoint);
    this.ack = ackPath(this.endpoint);
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    const auth = authorizationHeader(this.token, this.format);
    if (auth) headers['authorization'] = auth;
    if (isHecFormat(this.format)) headers['x-splunk-request-channel'] = this.channel;
    this.headers = headers;
    const isHttps = this.endpoint.protocol === 'https:';
    const concurrency = Math.max(1, config.concurrency ?? DEFAULT_CONCURRENCY);
    this.pool = new Pool(this.endpoint.origin, {
      // +1: the health probe and the admin test event never wait behind a stuck batch.
      connections: concurrency + 1,
      pipelining: 1,
      keepAliveTimeout: KEEP_ALIVE_MS,
      keepAliveMaxTimeout: KEEP_ALIVE_MS,
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
      connect: {
        timeout: Math.min(this.requestTimeoutMs, 10_000),
        ...(isHttps
          ? {
              rejectUnauthorized: config.insecureSkipVerify !== true,
              ...(tls.ca ? { ca: tls.ca } : {}),
              ...(tls.cert ? { cert: tls.cert } : {}),
              ...(tls.key ? { key: tls.key } : {}),
              servername: isIpLiteral(this.endpoint.hostname) ? undefined : this.endpoint.hostname,
            }
          : {}),
      },
    });
    // A Pool emits connection errors as events too; requests report them, so ignore the events.
    this.pool.on('connectionError', () => {});
  }

  /** Validates the config, reads TLS files, and builds the Pool. Throws with a clear message. */
  static async create(config: WebhookTargetConfig, opts: SenderOptions): Promise<Sender> {
    let url: URL;
    try {
      url = new URL(config.endpoint);
    } catch {
      throw new Error(`webhook endpoint is not a valid URL: ${JSON.stringify(config.endpoint)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`webhook endpoint must be http:// or https://, got ${url.protocol}`);
    if (url.username || url.password) throw new Error('webhook endpoint must not carry credentials in the URL: use the auth token');
    const load = async (file: string | undefined, what: string): Promise<Buffer | undefined> => {
      if (!file) return undefined;
      try {
        return await readFile(file);
      } catch (err) {
        throw new Error(`cannot read webhook ${what} file ${file}: ${(err as Error).message}`);
      }
    };
    const tls = {
      ca: await load(config.caFile, 'CA'),
      cert: await load(config.clientCertFile, 'client certificate'),
      key: await load(config.clientKeyFile, 'client key'),
    };
    if (Boolean(tls.cert) !== Boolean(tls.key)) throw new Error('webhook client certificate and client key must be given together');
    return new Sender(config, opts, tls);
  }

  /** Content-Encoding gzip is applied here when enabled. Never throws: failures are results. */
  async send(body: Buffer, contentType: string): Promise<SendOutcome> {
    const headers: Record<string, string> = { ...this.headers, 'content-type': contentType };
    let payload = body;
    if (this.gzip) {
      payload = await gzip(body);
      headers['content-encoding'] = 'gzip';
    }
    return this.request('POST', this.path, headers, payload);
  }

  /** GET the HEC health endpoint (no token needed by HEC, but sent anyway: harmless). */
  async checkHealth(): Promise<SendOutcome> {
    return this.request('GET', this.health, { ...this.headers }, null);
  }

  /** POST the HEC ack endpoint: {"acks":[ids]} on this sender's channel (HEC indexer acknowledgement). */
  async pollAcks(ids: readonly number[]): Promise<SendOutcome> {
    const body = Buffer.from(JSON.stringify({ acks: ids }));
    return this.request('POST', this.ack, { ...this.headers, 'content-type': 'application/json' }, body);
  }

  private async request(method: 'GET' | 'POST', path: string, headers: Record<string, string>, body: Buffer | null): Promise<SendOutcome> {
    const started = performance.now();
    const wireBytes = body ? body.length : 0;
    if (this.closed) {
      return { result: { kind: 'error', code: 'SENDER_CLOSED', message: 'target was reconfigured' }, latencyMs: 0, wireBytes: 0 };
    }
    try {
      const res = await this.pool.request({
        method,
        path,
        headers,
        body,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      const text = await readCapped(res.body, MAX_REPLY_BYTES);
      return {
        result: { kind: 'reply', statusCode: res.statusCode, headers: res.headers, body: text },
        latencyMs: performance.now() - started,
        wireBytes,
      };
    } catch (err) {
      const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
      let code = e?.code ?? e?.cause?.code ?? e?.name ?? 'Error';
      if (e?.name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') code = 'TIMEOUT';
      let message = e?.message ?? String(err);
      if (e?.cause?.message && !message.includes(e.cause.message)) message += ` (${e.cause.message})`;
      if (code === 'TIMEOUT') message = `no reply within ${this.requestTimeoutMs} ms`;
      return {
        result: { kind: 'error', code, message: redactToken(message, this.token) },
        latencyMs: performance.now() - started,
        wireBytes,
      };
    }
  }

  /** Graceful: lets requests in flight finish (bounded by their timeout), then closes sockets. */
  async close(graceMs = this.requestTimeoutMs + 1000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
      timer.unref();
    });
    const r = await Promise.race([this.pool.close().then(() => 'closed' as const, () => 'closed' as const), deadline]);
    clearTimeout(timer);
    if (r === 'timeout') await this.destroy();
  }

  /** Aborts everything in flight now. */
  async destroy(): Promise<void> {
    this.closed = true;
    await this.pool.destroy().catch(() => {});
  }
}

async function readCapped(body: AsyncIterable<Buffer> & { destroy?: () => void }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < max) {
      chunks.push(chunk);
      size += chunk.length;
    }
  }
  const all = Buffer.concat(chunks);
  return all.subarray(0, max).toString('utf8');
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[');
}
