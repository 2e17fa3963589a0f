// Conformance: headers exactly as the backend and the client sent them. The same request goes to the
// backend directly and through the proxy (s3rver in `npm test`, Ceph RGW in `npm run test:ceph`), and
// must get the same answer: status, error code, and headers bar hop-by-hop ones, Date and request ids.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { startInProcessProxy, type InProcessProxy } from '../helpers/proxy.js';
import { rawRequest, signedHeaders, type RawResponse } from '../helpers/raw-http.js';
import { s3Client } from '../helpers/s3.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'te', 'trailer', 'upgrade']);
const VARYING = new Set(['date', 'x-amz-request-id', 'x-amz-id-2', 'last-modified', 'etag']);

function headerNames(r: RawResponse): string[] {
  const names = new Set<string>();
  for (let i = 0; i < r.rawHeaders.length; i += 2) names.add(r.rawHeaders[i]!.toLowerCase());
  return [...names].filter((n) => !HOP_BY_HOP.has(n) && !VARYING.has(n)).sort();
}

function code(r: RawResponse): string | null {
  return /<Code>([^<]+)<\/Code>/.exec(r.body.toString('utf8'))?.[1] ?? null;
}

describe('conformance: headers exactly as the backend and the client sent them', () => {
  let backend: TestBackend;
  let proxy: InProcessProxy;
  let direct: S3Client;
  const bucket = bucketName('conf-headers');
  // keep-alive connections, as SDKs use: that is when a server adds `Keep-Alive: timeout=N`
  const agent = new http.Agent({ keepAlive: true });

  before(async () => {
    backend = await startBackend();
    proxy = await startInProcessProxy(['--backend', backend.url], { logLevel: 'warn' });
    direct = s3Client(backend.url, backend);
    await direct.send(new CreateBucketCommand({ Bucket: bucket }));
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'obj', Body: 'hello' }));
  });
  after(async () => {
    direct?.destroy();
    agent.destroy();
    await proxy?.close();
    await backend?.close();
  });

  test('a GET: the same status and headers; the proxy adds no header of its own (no Keep-Alive)', async () => {
    const send = async (base: string): Promise<RawResponse> => {
      const url = `${base}/${bucket}/obj`;
      return rawRequest(url, { headers: await signedHeaders(url, 'GET', backend), agent });
    };
    const [d, p] = [await send(backend.url), await send(proxy.url)];
    assert.equal(p.status, d.status);
    assert.deepEqual(headerNames(p), headerNames(d));
    assert.equal(p.headers['keep-alive'], undefined, `no Keep-Alive added: ${JSON.stringify(p.rawHeaders)}`);
    assert.notEqual(p.headers['connection'], 'close', 'the connection was kept alive');
    assert.equal(p.body.toString(), 'hello');
  });

  test('an error: the same status, code and headers', async () => {
    const send = async (base: string): Promise<RawResponse> => {
      const url = `${base}/${bucket}/missing`;
      return rawRequest(url, { headers: await signedHeaders(url, 'GET', backend), agent });
    };
    const [d, p] = [await send(backend.url), await send(proxy.url)];
    assert.equal(p.status, d.status);
    assert.equal(code(p), code(d));
    assert.deepEqual(headerNames(p), headerNames(d));
    assert.equal(p.headers['keep-alive'], undefined);
  });

  test('a metadata-replacing self-copy that signs the Keep-Alive header a previous reply carried: the same answer (signed hop-by-hop headers reach the backend unchanged)', async () => {
    const send = async (base: string, meta: string): Promise<RawResponse> => {
      const url = `${base}/${bucket}/obj`;
      const extra = { 'x-amz-copy-source': `/${bucket}/obj`, 'x-amz-metadata-directive': 'REPLACE', 'x-amz-meta-pass': meta, 'keep-alive': 'timeout=65' };
      return rawRequest(url, { method: 'PUT', headers: await signedHeaders(url, 'PUT', backend, extra, 'UNSIGNED-PAYLOAD', ['keep-alive']), agent });
    };
    const d = await send(backend.url, 'direct');
    const p = await send(proxy.url, 'proxied');
    assert.equal(d.status, 200, `direct: ${d.status} ${d.body.toString().slice(0, 300)}`);
    assert.equal(p.status, d.status, `through the proxy: ${p.status} ${p.body.toString().slice(0, 300)}`);
    assert.equal(code(p), code(d));
  });
});
