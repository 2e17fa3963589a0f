// Raw HTTP exchanges for tests that must see the wire: raw header lists, 100-continue, aborts.
import http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';

export interface RawResponse {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: http.Agent } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // no agent: one connection, `Connection: close`; pass a keep-alive agent to see keep-alive replies
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', rawHeaders: res.rawHeaders,
        headers: res.headers, body: Buffer.concat(chunks),
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Sign a request with SigV4 for the given URL (its host:port is what gets signed). */
export async function signedHeaders(
  url: string, method: string, creds: { accessKeyId: string; secretAccessKey: string },
  extra: Record<string, string> = {}, payloadHash = 'UNSIGNED-PAYLOAD',
  /** Headers the SDK never signs (keep-alive, connection, ...) that this request signs anyway. */
  alsoSign: string[] = [],
): Promise<Record<string, string>> {
  const u = new URL(url);
  const query: Record<string, string> = {};
  for (const [k, v] of u.searchParams) query[k] = v;
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: creds, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false });
  const signed = await signer.sign({
    method, protocol: u.protocol, hostname: u.hostname, port: Number(u.port), path: u.pathname, query,
    headers: { host: u.host, 'x-amz-content-sha256': payloadHash, ...extra },
  }, alsoSign.length > 0 ? { signableHeaders: new Set(alsoSign) } : {});
  return signed.headers as Record<string, string>;
}
