// Forwarding on the wire: what the backend receives and what the client gets back, byte for byte,
// and what the proxy does when either side fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startSniffBackend, type SniffBackend } from '../helpers/sniff-backend.js';
import { startInProcessProxy, tempDir, type InProcessProxy } from '../helpers/proxy.js';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { s3Client, virtualHostClient } from '../helpers/s3.js';
import { rawRequest, signedHeaders } from '../helpers/raw-http.js';

/** Send raw bytes on a fresh connection and collect the whole reply until the server closes or `until` matches. */
function rawExchange(port: number, bytes: Buffer | string, until: RegExp, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no reply matching ${until} within ${timeoutMs} ms; got: ${out}`)); }, timeoutMs);
    sock.on('data', (d: Buffer) => { out += d.toString('latin1'); if (until.test(out)) { clearTimeout(timer); sock.destroy(); resolve(out); } });
    sock.on('close', () => { clearTimeout(timer); resolve(out); });
    sock.on('error', () => {});
    sock.write(bytes);
  });
}

function pairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

describe('forwarding on the wire', () => {
  let backend: SniffBackend;
  let proxy: InProcessProxy;

  before(async () => {
    backend = await startSniffBackend();
    // One test sends a path-style request with "Host: my.bucket.example.com:1234": a name of this proxy.
    proxy = await startInProcessProxy(['--backend', backend.url, '--backend-headers-timeout', '400ms', '--path-style-host', 'my.bucket.example.com']);
  });
  after(async () => { await proxy?.close(); await backend?.close(); });

  test('request headers: end-to-end ones pass in order and case, hop-by-hop ones are dropped, Host is kept', async () => {
    backend.seen.length = 0;
    const req = [
      'PUT /bkt/some%20key?partNumber=1&uploadId=abc HTTP/1.1',
      'Host: my.bucket.example.com:1234',
      'X-Amz-Date: 20260101T000000Z',
      'Connection: keep-alive, X-Custom-Hop',
      'X-Custom-Hop: drop-me',
      'Keep-Alive: timeout=5',
      'TE: trailers',
      'Proxy-Authorization: Basic c2VjcmV0',
      'x-amz-meta-Dup: one',
      'x-amz-meta-Dup: two',
      'Authorization: AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00',
      'Content-Length: 5',
      '', 'hello',
    ].join('\r\n');
    const reply = await rawExchange(proxy.port, req, /\r\n\r\n/);
    assert.match(reply, /^HTTP\/1\.1 200 OK/);
    await backend.waitFor(1);
    const seen = backend.seen[0]!;
    assert.equal(seen.url, '/bkt/some%20key?partNumber=1&uploadId=abc');
    assert.equal(seen.body.toString(), 'hello');
    const got = pairs(seen.rawHeaders).filter(([k]) => !/^(connection|keep-alive)$/i.test(k));
    assert.deepEqual(got.map(([k]) => k.toLowerCase()), ['host', 'x-amz-date', 'x-amz-meta-dup', 'x-amz-meta-dup', 'authorization', 'content-length']);
    assert.deepEqual(got.find(([k]) => k.toLowerCase() === 'host')![1], 'my.bucket.example.com:1234');
    assert.deepEqual(got.filter(([k]) => k === 'x-amz-meta-Dup').map(([, v]) => v), ['one', 'two'], 'duplicates kept, case kept');
    assert.ok(got.some(([k]) => k === 'X-Amz-Date'), 'header name case kept');
    for (const hop of ['x-custom-hop', 'te', 'proxy-authorization']) assert.equal(seen.headers[hop], undefined, `${hop} dropped`);
  });

  test('response: status text, duplicate headers and body pass unchanged; hop-by-hop headers do not', async () => {
    backend.respond = (_req, res) => {
      res.writeHead(299, 'Custom Reason', [
        'X-Amz-Request-Id', 'RID1', 'x-amz-meta-a', '1', 'x-amz-meta-a', '2', 'Connection', 'X-Resp-Hop', 'X-Resp-Hop', 'secret', 'Content-Length', '3',
      ]);
      res.end('abc');
    };
    try {
      const r = await rawRequest(`${proxy.url}/b/k`);
      assert.equal(r.status, 299);
      assert.equal(r.statusMessage, 'Custom Reason');
      assert.equal(r.body.toString(), 'abc');
      const p = pairs(r.rawHeaders);
      assert.deepEqual(p.filter(([k]) => k === 'x-amz-meta-a').map(([, v]) => v), ['1', '2']);
      assert.ok(p.some(([k, v]) => k === 'X-Amz-Request-Id' && v === 'RID1'));
      assert.equal(r.headers['x-resp-hop'], undefined);
    } finally { backend.respond = (_q, s) => { s.writeHead(200); s.end(); }; }
  });

  test('aws-chunked bodies with chunk signatures and checksum trailers reach the backend byte for byte', async () => {
    backend.seen.length = 0;
    const data = randomBytes(70_000);
    const c1 = data.subarray(0, 65536);
    const c2 = data.subarray(65536);
    const body = Buffer.concat([
      Buffer.from(`10000;chunk-signature=${'a'.repeat(64)}\r\n`), c1, Buffer.from('\r\n'),
      Buffer.from(`${c2.length.toString(16)};chunk-signature=${'b'.repeat(64)}\r\n`), c2, Buffer.from('\r\n'),
      Buffer.from(`0;chunk-signature=${'c'.repeat(64)}\r\n`),
      Buffer.from('x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:' + 'd'.repeat(64) + '\r\n\r\n'),
    ]);
    const r = await rawRequest(`${proxy.url}/b/chunked`, {
      method: 'PUT', body,
      headers: {
        'content-encoding': 'aws-chunked', 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
        'x-amz-decoded-content-length': String(data.length), 'x-amz-trailer': 'x-amz-checksum-crc32',
        'content-length': String(body.length),
      },
    });
    assert.equal(r.status, 200);
    await backend.waitFor(1);
    const seen = backend.seen[0]!;
    assert.ok(seen.body.equals(body), 'body bytes identical');
    assert.equal(seen.headers['content-encoding'], 'aws-chunked');
    assert.equal(seen.headers['x-amz-trailer'], 'x-amz-checksum-crc32');
    assert.equal(seen.headers['content-length'], String(body.length));
  });

  test('a chunked (Transfer-Encoding) request body arrives whole', async () => {
    backend.seen.length = 0;
    const parts = [randomBytes(1000), randomBytes(50_000), randomBytes(3)];
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${proxy.url}/b/te`, { method: 'PUT', agent: false }, (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', reject);
      for (const p of parts) req.write(p);
      req.end();
    });
    await backend.waitFor(1);
    const seen = backend.seen[0]!;
    assert.ok(seen.body.equals(Buffer.concat(parts)));
    // Framing is hop-by-hop: chunked while the body streams, or an exact Content-Length when undici
    // already holds all of it. Either way the bytes are the client's.
    assert.ok(seen.headers['transfer-encoding'] === 'chunked' || seen.headers['content-length'] === String(seen.body.length));
  });

  test('a backend reset mid-download closes the client connection instead of hanging', async () => {
    backend.respond = (_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      res.write(randomBytes(64 * 1024), () => setTimeout(() => res.socket?.destroy(), 20));
    };
    try {
      const result = await new Promise<string>((resolve) => {
        const t = setTimeout(() => resolve('hung'), 5000);
        http.get(`${proxy.url}/b/reset`, { agent: false }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => { n += c.length; });
          res.on('end', () => { clearTimeout(t); resolve(`ended after ${n}`); });
          res.on('error', () => { clearTimeout(t); resolve('closed'); });
          res.on('aborted', () => { clearTimeout(t); resolve('closed'); });
        }).on('error', () => { clearTimeout(t); resolve('closed'); });
      });
      assert.equal(result, 'closed');
      const rec = proxy.logs.records.find((r) => r['msg'] === 'request' && r['path'] === '/b/reset');
      assert.equal(rec?.['outcome'], 'backend-error');
    } finally { backend.respond = (_q, s) => { s.writeHead(200); s.end(); }; }
  });

  test('a backend that does not answer in time gets the client a 504 S3 XML error with a request id', async () => {
    backend.onHead = () => true; // swallow: never answer
    try {
      const r = await rawRequest(`${proxy.url}/b/slow`);
      assert.equal(r.status, 504);
      assert.equal(r.headers['content-type'], 'application/xml');
      const id = r.headers['x-amz-request-id'];
      assert.match(String(id), /^[0-9A-F]{16}$/);
      assert.match(r.body.toString(), new RegExp(`<Code>GatewayTimeout</Code>.*<RequestId>${id}</RequestId>`));
    } finally { backend.onHead = null; }
  });

  test('a client abort mid-upload closes the backend request', async () => {
    backend.seen.length = 0;
    backend.onHead = () => true;
    try {
      await new Promise<void>((resolve) => {
        const req = http.request(`${proxy.url}/b/abort`, { method: 'PUT', headers: { 'content-length': String(10_000_000) }, agent: false });
        req.on('error', () => resolve());
        req.write(randomBytes(256 * 1024), () => setTimeout(() => { req.destroy(); resolve(); }, 100));
      });
      await backend.waitFor(1);
      const seen = backend.seen[0]!;
      for (let i = 0; i < 100 && seen.body.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(seen.complete, false, 'backend request did not complete');
      assert.ok(seen.body.length < 10_000_000, 'backend got a truncated body, then the close');
    } finally { backend.onHead = null; }
  });
});

describe('backend unreachable', () => {
  test('clients get 503 ServiceUnavailable as S3 XML, never a hang or HTML', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const proxy = await startInProcessProxy(['--backend', `http://127.0.0.1:${port}`]);
    try {
      const r = await rawRequest(`${proxy.url}/bucket/key`);
      assert.equal(r.status, 503);
      assert.equal(r.headers['content-type'], 'application/xml');
      assert.equal(r.headers['retry-after'], '1');
      assert.match(r.body.toString(), /<Error><Code>ServiceUnavailable<\/Code>/);
      const s3 = s3Client(proxy.url, { url: '', accessKeyId: 'AK', secretAccessKey: 'SK', kind: 'external', close: async () => {} });
      await assert.rejects(s3.send(new ListBucketsCommand({})), (e: Error & { $metadata?: { httpStatusCode?: number } }) =>
        e.name === 'ServiceUnavailable' && e.$metadata?.httpStatusCode === 503);
      s3.destroy();
      const rec = proxy.logs.records.find((x) => x['msg'] === 'request');
      assert.equal(rec?.['outcome'], 'backend-unreachable');
    } finally { await proxy.close(); }
  });
});

describe('signed aws-chunked upload to a SigV4-verifying backend', () => {
  let backend: TestBackend;
  let proxy: InProcessProxy;
  before(async () => {
    backend = await startBackend();
    proxy = await startInProcessProxy(['--backend', backend.url]);
  });
  after(async () => { await proxy?.close(); await backend?.close(); });

  test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD chunks signed for the proxy are accepted and stored decoded', async () => {
    const s3 = s3Client(proxy.url, backend);
    const bucket = bucketName('chunk');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const data = randomBytes(150_000);
    const chunks = [data.subarray(0, 65536), data.subarray(65536, 131072), data.subarray(131072), Buffer.alloc(0)];
    const sigLen = 64;
    const framed = (c: Buffer): number => c.length.toString(16).length + ';chunk-signature='.length + sigLen + 2 + c.length + 2;
    const total = chunks.reduce((n, c) => n + framed(c), 0);
    const url = `${proxy.url}/${bucket}/chunked.bin`;
    const headers = await signedHeaders(url, 'PUT', backend, {
      'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), 'content-length': String(total),
    }, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
    const amzDate = headers['x-amz-date']!;
    const day = amzDate.slice(0, 8);
    const scope = `${day}/us-east-1/s3/aws4_request`;
    let prev = /Signature=([0-9a-f]{64})/.exec(headers['authorization']!)![1]!;
    const hmac = (k: Buffer | string, s: string): Buffer => createHmac('sha256', k).update(s).digest();
    const key = hmac(hmac(hmac(hmac(`AWS4${backend.secretAccessKey}`, day), 'us-east-1'), 's3'), 'aws4_request');
    const emptyHash = createHash('sha256').update('').digest('hex');
    const parts: Buffer[] = [];
    for (const c of chunks) {
      const sts = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, emptyHash, createHash('sha256').update(c).digest('hex')].join('\n');
      prev = createHmac('sha256', key).update(sts).digest('hex');
      parts.push(Buffer.from(`${c.length.toString(16)};chunk-signature=${prev}\r\n`), c, Buffer.from('\r\n'));
    }
    const body = Buffer.concat(parts);
    assert.equal(body.length, total);
    const put = await rawRequest(url, { method: 'PUT', headers, body });
    assert.equal(put.status, 200, put.body.toString());
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'chunked.bin' }));
    const bytes = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    assert.ok(bytes.equals(data), 'stored object is the decoded payload');
    s3.destroy();
  });
});

describe('virtual-hosted-style addressing', () => {
  test('the bucket in the Host header and the key-only path reach the backend unchanged', async () => {
    const sniff = await startSniffBackend();
    const proxy = await startInProcessProxy(['--backend', sniff.url, '--virtual-host-domain', 's3.example.test']);
    const creds = { url: '', accessKeyId: 'AK', secretAccessKey: 'SK', kind: 'external' as const, close: async () => {} };
    const vh = virtualHostClient(`http://s3.example.test:${proxy.port}`, creds);
    try {
      await vh.send(new PutObjectCommand({ Bucket: 'my-bucket', Key: 'dir/v.txt', Body: 'virtual' }));
      await sniff.waitFor(1);
      const seen = sniff.seen[0]!;
      assert.equal(seen.headers.host, `my-bucket.s3.example.test:${proxy.port}`);
      assert.match(seen.url, /^\/dir\/v\.txt/);
      assert.equal(seen.body.toString(), 'virtual');
    } finally {
      vh.destroy();
      await proxy.close();
      await sniff.close();
    }
  });

  test('against a SigV4-verifying backend, a virtual-hosted request gets through the proxy what it gets directly', async (t) => {
    if (process.env['S3AP_TEST_BACKEND_URL']) { t.skip('needs a backend configured for the test domain'); return; }
    // s3rver 4 canonicalises virtual-hosted requests as "/bucket/key" and so rejects every SigV4
    // virtual-hosted request (SignatureDoesNotMatch), even sent directly; the proxy must not change that answer.
    const backend = await startBackend({ serviceEndpoint: 'example.test' });
    const proxy = await startInProcessProxy(['--backend', backend.url, '--virtual-host-domain', 's3.example.test']);
    const viaProxy = virtualHostClient(`http://s3.example.test:${proxy.port}`, backend);
    const direct = virtualHostClient(`http://s3.example.test:${new URL(backend.url).port}`, backend);
    const outcome = async (c: typeof direct): Promise<string> => {
      try { await c.send(new PutObjectCommand({ Bucket: 'vh-bucket', Key: 'k', Body: 'x' })); return 'ok'; }
      catch (e) { return (e as Error).name; }
    };
    try {
      assert.equal(await outcome(viaProxy), await outcome(direct));
    } finally {
      viaProxy.destroy();
      direct.destroy();
      await proxy.close();
      await backend.close();
    }
  });
});

describe('TLS', () => {
  test('serves HTTPS with --tls-cert/--tls-key and reaches an HTTPS backend with --backend-ca', async (t) => {
    if (spawnSync('openssl', ['version']).status !== 0) { t.skip('openssl not installed'); return; }
    const dir = tempDir();
    t.after(() => dir.remove());
    const cert = join(dir.path, 'cert.pem');
    const key = join(dir.path, 'key.pem');
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const tlsBackend = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
      res.writeHead(200, { 'x-seen-host': req.headers.host ?? '' });
      res.end('over tls');
    });
    await new Promise<void>((r) => tlsBackend.listen(0, '127.0.0.1', r));
    const bport = (tlsBackend.address() as net.AddressInfo).port;
    const proxy = await startInProcessProxy(['--backend', `https://127.0.0.1:${bport}`, '--backend-ca', cert, '--tls-cert', cert, '--tls-key', key]);
    try {
      assert.match(proxy.url, /^https:/);
      const body = await new Promise<{ status: number; text: string; host: string }>((resolve, reject) => {
        https.get(`${proxy.url}/b/k`, { ca: readFileSync(cert), agent: false }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => { text += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text, host: String(res.headers['x-seen-host']) }));
        }).on('error', reject);
      });
      assert.deepEqual(body, { status: 200, text: 'over tls', host: `127.0.0.1:${proxy.port}` });
      // Connections taken by the listening socket's copies (--accept-queues) get TLS like the rest.
      await proxy.proxy.acceptQueues.ready;
      assert.equal(proxy.proxy.acceptQueues.count(), 16);
      const statuses = await Promise.all(Array.from({ length: 40 }, () => new Promise<number>((resolve, reject) => {
        https.get(`${proxy.url}/b/k`, { ca: readFileSync(cert), agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', reject);
      })));
      assert.deepEqual(new Set(statuses), new Set([200]));
    } finally {
      await proxy.close();
      tlsBackend.closeAllConnections();
      await new Promise<void>((r) => tlsBackend.close(() => r()));
    }
  });
});
