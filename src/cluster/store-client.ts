// A small S3 client for the cluster store: path-style requests to the backend (or the embedded
// store), signed with @smithy/signature-v4 and the proxy's own credentials, never a client's. These
// requests go straight to the backend, not through the S3 listener, so they are never audited as
// client traffic. Bodies are small JSON documents; each request is bounded in time.
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { XMLParser } from 'fast-xml-parser';
import { Agent, request } from 'undici';
import { createHash } from 'node:crypto';
import type { StoreCredentials } from './secrets.js';

export interface StoreReply {
  status: number;
  etag: string | null;
  body: Buffer;
}

export class StoreError extends Error {
  constructor(message: string, readonly status: number | null = null) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface StoreClientOptions {
  origin: string;
  bucket: string;
  credentials: StoreCredentials;
  region?: string;
  timeoutMs?: number;
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'Contents' });

function encodeKey(key: string): string {
  return key.split('/').map((s) => encodeURIComponent(s)).join('/');
}

export class StoreClient {
  private readonly signer: SignatureV4;
  private readonly agent: Agent;
  private readonly url: URL;
  /** Requests sent (for metrics and the cost estimate). */
  requests = 0;

  constructor(private readonly o: StoreClientOptions) {
    this.url = new URL(o.origin);
    this.signer = new SignatureV4({
      service: 's3', region: o.region ?? 'us-east-1', credentials: o.credentials,
      sha256: Hash.bind(null, 'sha256'), uriEscapePath: false,
    });
    const t = o.timeoutMs ?? 5000;
    this.agent = new Agent({ connectTimeout: t, headersTimeout: t, bodyTimeout: t, keepAliveTimeout: 10_000, connections: 4 });
  }

  get bucket(): string { return this.o.bucket; }

  async send(method: string, key: string | null, opts: { body?: Buffer; headers?: Record<string, string>; query?: Record<string, string> } = {}): Promise<StoreReply> {
    const path = `/${this.o.bucket}${key === null ? '' : `/${encodeKey(key)}`}`;
    const body = opts.body;
    const headers: Record<string, string> = {
      host: this.url.host,
      'x-amz-content-sha256': body ? createHash('sha256').update(body).digest('hex') : EMPTY_SHA256,
      ...(body ? { 'content-length': String(body.length), 'content-type': 'application/json' } : {}),
      ...opts.headers,
    };
    const signed = await this.signer.sign({
      method, protocol: this.url.protocol, hostname: this.url.hostname, ...(this.url.port ? { port: Number(this.url.port) } : {}),
      path, query: opts.query ?? {}, headers, ...(body ? { body } : {}),
    });
    const qs = new URLSearchParams(opts.query ?? {}).toString();
    this.requests++;
    let res;
    try {
      res = await request(`${this.url.origin}${path}${qs ? `?${qs}` : ''}`, {
        method, headers: signed.headers as Record<string, string>, dispatcher: this.agent, ...(body ? { body } : {}),
      });
    } catch (err) {
      throw new StoreError(`${method} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const chunks: Buffer[] = [];
    for await (const c of res.body) chunks.push(c as Buffer);
    const etag = res.headers['etag'];
    return { status: res.statusCode, etag: typeof etag === 'string' ? etag : null, body: Buffer.concat(chunks) };
  }

  /** Fails with the backend's S3 error code unless the status is one of `ok`. */
  static expect(r: StoreReply, what: string, ...ok: number[]): StoreReply {
    if (ok.includes(r.status)) return r;
    const code = /<Code>([^<]*)<\/Code>/.exec(r.body.toString('utf8'))?.[1] ?? '';
    throw new StoreError(`${what}: HTTP ${r.status}${code ? ` ${code}` : ''}`, r.status);
  }

  /** Creates the bucket when it does not exist yet. */
  async ensureBucket(): Promise<void> {
    const head = await this.send('HEAD', null);
    if (head.status === 200) return;
    if (head.status !== 404) StoreClient.expect(head, `HEAD bucket ${this.o.bucket}`, 200);
    const put = await this.send('PUT', null);
    // Another replica may have created it in between.
    StoreClient.expect(put, `create bucket ${this.o.bucket}`, 200, 409);
  }

  get(key: string, ifNoneMatch: string | null = null): Promise<StoreReply> {
    return this.send('GET', key, ifNoneMatch ? { headers: { 'if-none-match': ifNoneMatch } } : {});
  }

  put(key: string, doc: unknown, conditions: { ifMatch?: string; ifNoneMatch?: string } = {}): Promise<StoreReply> {
    const headers: Record<string, string> = {};
    if (conditions.ifMatch) headers['if-match'] = conditions.ifMatch;
    if (conditions.ifNoneMatch) headers['if-none-match'] = conditions.ifNoneMatch;
    return this.send('PUT', key, { body: Buffer.from(`${JSON.stringify(doc)}\n`), headers });
  }

  async delete(key: string): Promise<void> {
    StoreClient.expect(await this.send('DELETE', key), `DELETE ${key}`, 204, 200, 404);
  }

  /** Every key under `prefix` (ListObjectsV2, all pages, bounded). */
  async list(prefix: string, maxPages = 20): Promise<Array<{ key: string; lastModified: string }>> {
    const out: Array<{ key: string; lastModified: string }> = [];
    let token: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      const query: Record<string, string> = { 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) };
      const r = StoreClient.expect(await this.send('GET', null, { query }), `list ${prefix}`, 200);
      const doc = xml.parse(r.body.toString('utf8')) as { ListBucketResult?: { Contents?: Array<{ Key: string; LastModified: string }>; IsTruncated?: string; NextContinuationToken?: string } };
      const l = doc.ListBucketResult ?? {};
      for (const c of l.Contents ?? []) out.push({ key: String(c.Key), lastModified: String(c.LastModified) });
      if (l.IsTruncated !== 'true' || !l.NextContinuationToken) break;
      token = l.NextContinuationToken;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
