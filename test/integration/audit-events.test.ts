// Audit events end to end: every API rule, auth kind and outcome driven through the running proxy,
// each emitted event checked field by field and against the JSON Schema; then a grep for secrets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { AuditEvent } from '../../src/audit/event.js';
import { CASES, BUCKET, KEY, caseRequests } from '../helpers/api-cases.js';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { CollectingSink } from '../helpers/collecting-sink.js';
import { startInProcessProxy, tempDir, type InProcessProxy } from '../helpers/proxy.js';
import { rawRequest, signedHeaders } from '../helpers/raw-http.js';
import { s3Client } from '../helpers/s3.js';
import { startSniffBackend, type SniffBackend } from '../helpers/sniff-backend.js';


function assertValid(sink: CollectingSink): void {
  assert.deepEqual(sink.invalid.map((i) => i.errors), [], 'every event matches schema/audit-event.v1.json');
}

describe('every API rule through the proxy', () => {
  let sniff: SniffBackend;
  let proxy: InProcessProxy;
  const sink = new CollectingSink();
  before(async () => {
    sniff = await startSniffBackend();
    proxy = await startInProcessProxy(['--backend', sniff.url, '--virtual-host-domain', 's3.example.com'], { parts: { sink } });
  });
  after(async () => { await proxy?.close(); await sniff?.close(); });

  // Lower-case methods cannot travel over HTTP (clients upper-case them); the unit tests cover those.
  const WIRE_CASES = CASES.filter((c) => c.m === c.m.toUpperCase());
  for (const c of WIRE_CASES) {
    test(`${c.api}: ${c.m} ${c.t}${c.q ? ' ?' + c.q : ''}`, async () => {
      for (const { style, input } of caseRequests(c)) {
        const before = sink.events.length;
        const headers = { ...(input.headers as Record<string, string>) };
        const body = ['PUT', 'POST'].includes(c.m) ? 'x' : undefined;
        const r = await rawRequest(proxy.url + input.url, { method: c.m, headers, body });
        assert.equal(r.status, 200);
        const [ev] = await sink.waitFor((e) => sink.events.indexOf(e) >= before, 1);
        assert.equal(ev!.api.name, c.api, `${style} ${c.m} ${input.url}`);
        assert.equal(ev!.api.bucket, c.t === 'service' ? null : BUCKET);
        assert.equal(ev!.api.object, c.t === 'object' ? KEY : null);
        assert.equal(ev!.api.addressing, c.t === 'service' ? 'path' : style);
        assert.equal(ev!.request.method, c.m);
        assert.equal(ev!.request.host, headers['host']);
        assert.equal(ev!.response.statusCode, 200);
        assert.equal(ev!.response.requestId, 'SNIFF');
        assert.equal(ev!.outcome, 'completed');
        assert.equal(ev!.bytes.received, body ? 1 : 0);
        for (const [k, v] of Object.entries(c.x ?? {})) assert.deepEqual((ev!.api as unknown as Record<string, unknown>)[k], v, k);
      }
    });
  }

  test('exactly one event per request, all valid', () => {
    assert.equal(sink.events.length, WIRE_CASES.length * 2);
    assert.equal(new Set(sink.events.map((e) => e.id)).size, sink.events.length, 'ids unique');
    assertValid(sink);
  });
});

describe('events from real S3 traffic', () => {
  let backend: TestBackend;
  let proxy: InProcessProxy;
  let s3: S3Client;
  const sink = new CollectingSink();
  const bucket = bucketName('audit');
  const last = (pred: (e: AuditEvent) => boolean): AuditEvent => {
    const found = sink.events.filter(pred);
    assert.ok(found.length > 0, 'event found');
    return found.at(-1)!;
  };

  before(async () => {
    backend = await startBackend();
    proxy = await startInProcessProxy([
      '--backend', backend.url, '--audit-request-header', 'content-type', '--audit-request-header', 'authorization',
      '--audit-response-header', 'etag', '--audit-response-header', 'set-cookie',
    ], { parts: { sink } });
    s3 = s3Client(proxy.url, backend);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => { s3?.destroy(); await proxy?.close(); await backend?.close(); });

  test('PutObject and GetObject: identity, measured bytes, timings, request ids', async () => {
    const data = randomBytes(123_457);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/a b.bin', Body: data, ContentType: 'application/x-test' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/a b.bin', Range: 'bytes=0-999' }));
    await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    const put = await sink.waitFor((e) => e.api.name === 'PutObject' && e.api.object === 'dir/a b.bin');
    const get = await sink.waitFor((e) => e.api.name === 'GetObject' && e.api.object === 'dir/a b.bin');
    const p = put[0]!;
    assert.equal(p.version, '1');
    assert.equal(p.kind, 's3');
    assert.equal(p.api.bucket, bucket);
    assert.equal(p.api.readOnly, false);
    assert.equal(p.auth.type, 'sigv4-header');
    assert.equal(p.auth.accessKey, backend.accessKeyId);
    assert.equal(p.auth.region, 'us-east-1');
    assert.equal(p.auth.signatureVersion, 'SigV4');
    assert.ok(p.auth.signedHeaders?.includes('host'));
    assert.equal(p.auth.verified, null);
    assert.equal(p.bytes.received, data.length, 'bytes actually read from the client');
    assert.equal(p.request.contentLength, data.length);
    assert.equal(p.response.statusCode, 200);
    assert.equal(p.response.errorCode, null);
    if (backend.kind !== 's3rver') assert.ok(p.response.requestId, 'backend request id'); // s3rver sends none
    assert.match(p.response.headers['etag'] ?? '', /^"/, 'allow-listed response header');
    assert.equal(p.request.headers['content-type'], 'application/x-test', 'allow-listed request header');
    assert.equal(p.request.headers['authorization'], undefined, 'authorization never copied, even when allow-listed');
    assert.equal(p.client.ip, '127.0.0.1');
    assert.equal(p.client.peerIp, null);
    assert.equal(p.tls, null);
    assert.equal(p.outcome, 'completed');
    assert.equal(p.proxy.backend, backend.url);
    assert.ok(p.timing.totalMs >= (p.timing.firstByteMs ?? 0));
    assert.ok(Math.abs(Date.parse(p.time) - Date.now()) < 60_000);
    const g = get[0]!;
    assert.equal(g.response.statusCode, 206);
    assert.equal(g.bytes.sent, 1000, 'bytes actually written to the client');
    assert.equal(g.bytes.received, 0);
    assert.equal(g.api.readOnly, true);
    assertValid(sink);
  });

  test('errors: NoSuchKey from the XML body, derived for a bodiless HEAD, proxy errors', async () => {
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'missing-key' })));
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'missing-head' })));
    const g = last((e) => e.api.object === 'missing-key');
    assert.equal(g.response.statusCode, 404);
    assert.equal(g.response.errorCode, 'NoSuchKey');
    assert.match(g.response.errorMessage ?? '', /does not exist/);
    assert.equal(g.outcome, 'completed');
    const h = last((e) => e.api.object === 'missing-head');
    assert.equal(h.api.name, 'HeadObject');
    assert.equal(h.response.errorCode, 'NoSuchKey');
    assert.equal(h.response.errorMessage, null);
  });

  test('CopyObject records the copy source; multipart records upload id and part number', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'src key', Body: 'x' }));
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'dst', CopySource: `${bucket}/src%20key` }));
    const c = last((e) => e.api.name === 'CopyObject');
    assert.deepEqual(c.api.copySource, { bucket, key: 'src key', versionId: null });
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId, PartNumber: 1, Body: randomBytes(5 * 1024 * 1024) }));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    const up = last((e) => e.api.name === 'UploadPart');
    assert.equal(up.api.uploadId, UploadId);
    assert.equal(up.api.partNumber, 1);
    assert.equal(up.bytes.received, 5 * 1024 * 1024);
    const done = last((e) => e.api.name === 'CompleteMultipartUpload');
    assert.equal(done.api.uploadId, UploadId);
    assert.equal(done.response.errorCode, null);
  });

  test('DeleteObjects lists every key with its result', async () => {
    for (const k of ['d/1', 'd/2 ü+x']) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'd/1' }, { Key: 'd/2 ü+x' }] } }));
    const ev = last((e) => e.api.name === 'DeleteObjects');
    assert.equal(ev.api.objectsTruncated, false);
    const byKey = new Map(ev.api.objects!.map((o) => [o.key, o]));
    assert.deepEqual([...byKey.keys()].sort(), ['d/1', 'd/2 ü+x']);
    for (const o of byKey.values()) assert.equal(o.result, 'deleted');
    assertValid(sink);
  });

  test('presigned (sigv4-query) requests: access key kept, signature redacted', async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'src key' }), { expiresIn: 120 });
    const r = await rawRequest(url);
    assert.equal(r.status, 200);
    const ev = last((e) => e.auth.type === 'sigv4-query');
    assert.equal(ev.auth.accessKey, backend.accessKeyId);
    assert.equal(ev.request.query['X-Amz-Signature'], 'REDACTED');
    const sig = new URL(url).searchParams.get('X-Amz-Signature')!;
    assert.ok(!JSON.stringify(ev).includes(sig));
  });
});

describe('auth kinds, outcomes and client addresses', () => {
  let sniff: SniffBackend;
  let proxy: InProcessProxy;
  const sink = new CollectingSink();
  before(async () => {
    sniff = await startSniffBackend();
    proxy = await startInProcessProxy(['--backend', sniff.url, '--trusted-proxy', '127.0.0.0/8', '--backend-headers-timeout', '300ms'], { parts: { sink } });
  });
  after(async () => { await proxy?.close(); await sniff?.close(); });
  const lastFor = async (path: string): Promise<AuditEvent> => (await sink.waitFor((e) => e.request.path === path)).at(-1)!;

  test('sigv2-header, sigv2-query, post-policy, anonymous, STS session token', async () => {
    await rawRequest(`${proxy.url}/b/v2h`, { headers: { authorization: 'AWS AKIDV2HEADER:c2lnbmF0dXJl', date: new Date().toUTCString() } });
    await rawRequest(`${proxy.url}/b/v2q?AWSAccessKeyId=AKIDV2QUERY&Expires=1900000000&Signature=c2lnMg%3D%3D`);
    await rawRequest(`${proxy.url}/b`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=zz' }, body: '--zz\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--zz--\r\n' });
    await rawRequest(`${proxy.url}/b/anon`);
    const sts = await signedHeaders(`${proxy.url}/b/sts`, 'GET', { accessKeyId: 'ASIATEMP', secretAccessKey: 'x' }, { 'x-amz-security-token': 'FQoGZXIvYXdzEXAMPLETOKEN' });
    await rawRequest(`${proxy.url}/b/sts`, { headers: sts });
    const v2h = await lastFor('/b/v2h');
    assert.deepEqual([v2h.auth.type, v2h.auth.accessKey, v2h.auth.signatureVersion], ['sigv2-header', 'AKIDV2HEADER', 'SigV2']);
    const v2q = await lastFor('/b/v2q');
    assert.deepEqual([v2q.auth.type, v2q.auth.accessKey, v2q.request.query['Signature']], ['sigv2-query', 'AKIDV2QUERY', 'REDACTED']);
    const post = await lastFor('/b');
    assert.deepEqual([post.auth.type, post.api.name], ['post-policy', 'PostObject']);
    const anon = await lastFor('/b/anon');
    assert.deepEqual([anon.auth.type, anon.auth.accessKey], ['anonymous', null]);
    const st = await lastFor('/b/sts');
    assert.deepEqual([st.auth.type, st.auth.accessKey, st.auth.sessionToken], ['sigv4-header', 'ASIATEMP', true]);
    assert.ok(!JSON.stringify(st).includes('EXAMPLETOKEN'));
  });

  test('X-Forwarded-For is believed only from a trusted peer', async () => {
    await rawRequest(`${proxy.url}/b/xff`, { headers: { 'x-forwarded-for': '203.0.113.9, 127.0.0.5' } });
    const ev = await lastFor('/b/xff');
    assert.equal(ev.client.ip, '203.0.113.9');
    assert.equal(ev.client.peerIp, '127.0.0.1');
    // A client's own Forwarded header is not believed when the trusted proxy manages X-Forwarded-For.
    await rawRequest(`${proxy.url}/b/fwd-spoof`, { headers: { forwarded: 'for=6.6.6.6', 'x-forwarded-for': '203.0.113.10' } });
    const spoof = await lastFor('/b/fwd-spoof');
    assert.deepEqual([spoof.client.ip, spoof.client.peerIp], ['203.0.113.10', '127.0.0.1']);
    await rawRequest(`${proxy.url}/b/fwd-only`, { headers: { forwarded: 'for=6.6.6.6' } });
    assert.equal((await lastFor('/b/fwd-only')).client.ip, '127.0.0.1');
    const fwdProxy = await startInProcessProxy(['--backend', sniff.url, '--trusted-proxy', '127.0.0.0/8', '--trusted-proxy-header', 'forwarded'], { parts: { sink } });
    try {
      await rawRequest(`${fwdProxy.url}/b/fwd-trusted`, { headers: { forwarded: 'for="[2001:db8::7]:4711";proto=https, for=127.0.0.9', 'x-forwarded-for': '6.6.6.6' } });
      const f = await lastFor('/b/fwd-trusted');
      assert.deepEqual([f.client.ip, f.client.peerIp], ['2001:db8::7', '127.0.0.1']);
    } finally { await fwdProxy.close(); }
    const untrusting = await startInProcessProxy(['--backend', sniff.url], { parts: { sink } });
    try {
      await rawRequest(`${untrusting.url}/b/xff-untrusted`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
      const ev2 = await lastFor('/b/xff-untrusted');
      assert.equal(ev2.client.ip, '127.0.0.1');
      assert.equal(ev2.client.peerIp, null);
    } finally { await untrusting.close(); }
  });

  test('outcomes: client-aborted, backend-error, backend-unreachable (timeout), rejected (unparseable request)', async () => {
    // client-aborted: the client leaves mid-upload.
    await new Promise<void>((resolve) => {
      const req = http.request(`${proxy.url}/b/aborted`, { method: 'PUT', headers: { 'content-length': '1000000' }, agent: false });
      req.on('error', () => resolve());
      req.write(randomBytes(10_000), () => setTimeout(() => { req.destroy(); resolve(); }, 50));
    });
    const ab = await lastFor('/b/aborted');
    assert.equal(ab.outcome, 'client-aborted');
    assert.equal(ab.client.ip, '127.0.0.1', 'address read when the request started');
    assert.ok(typeof ab.client.port === 'number' && ab.client.port > 0, `port ${ab.client.port}`);
    assert.ok(ab.bytes.received > 0 && ab.bytes.received < 1_000_000, `received ${ab.bytes.received}`);

    // backend-error: the backend resets mid-body.
    sniff.respond = (_q, res) => { res.writeHead(200, { 'content-length': '100000' }); res.write(Buffer.alloc(1000), () => res.socket?.destroy()); };
    await new Promise<void>((resolve) => http.get(`${proxy.url}/b/reset`, { agent: false }, (res) => { res.resume(); res.on('close', resolve); res.on('error', () => resolve()); }).on('error', () => resolve()));
    const be = await lastFor('/b/reset');
    assert.equal(be.outcome, 'backend-error');
    assert.equal(be.response.statusCode, 200);

    // backend-unreachable: the backend never answers within --backend-headers-timeout.
    sniff.onHead = () => true;
    const to = await rawRequest(`${proxy.url}/b/timeout`);
    sniff.onHead = null;
    sniff.respond = (_q, s) => { s.writeHead(200, { 'x-amz-request-id': 'SNIFF' }); s.end(); };
    const un = await lastFor('/b/timeout');
    assert.equal(to.status, 504);
    assert.deepEqual([un.outcome, un.response.errorCode, un.response.requestId, un.outcomeDetail], ['backend-unreachable', 'GatewayTimeout', to.headers['x-amz-request-id'], 'UND_ERR_HEADERS_TIMEOUT']);

    // rejected: a request Node cannot parse still gets S3 XML and an event.
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1');
      let out = '';
      s.on('data', (d: Buffer) => { out += d.toString(); });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
      s.write('GET /b/k HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request[\s\S]*<Code>BadRequest<\/Code>/);
    const rj = (await sink.waitFor((e) => e.outcome === 'rejected')).at(-1)!;
    assert.equal(rj.response.statusCode, 400);
    assert.equal(rj.api.name, 'Unknown');
    assertValid(sink);
  });
});

describe('signature verification at the proxy', () => {
  test('--credentials-file records verified; --require-valid-signature rejects bad signatures with S3 errors', async (t) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const creds = join(dir.path, 'credentials');
    writeFileSync(creds, 'AKIAGOOD:good-secret-value\n');
    const sniff = await startSniffBackend();
    const sink = new CollectingSink();
    const proxy = await startInProcessProxy(['--backend', sniff.url, '--credentials-file', creds, '--require-valid-signature'], { parts: { sink } });
    try {
      const good = await signedHeaders(`${proxy.url}/b/good`, 'GET', { accessKeyId: 'AKIAGOOD', secretAccessKey: 'good-secret-value' });
      assert.equal((await rawRequest(`${proxy.url}/b/good`, { headers: good })).status, 200);
      const bad = await signedHeaders(`${proxy.url}/b/bad`, 'GET', { accessKeyId: 'AKIAGOOD', secretAccessKey: 'wrong-secret' });
      const r1 = await rawRequest(`${proxy.url}/b/bad`, { headers: bad });
      assert.equal(r1.status, 403);
      assert.match(r1.body.toString(), /<Code>SignatureDoesNotMatch<\/Code>/);
      const unknown = await signedHeaders(`${proxy.url}/b/unknown`, 'GET', { accessKeyId: 'AKIANOPE', secretAccessKey: 'x' });
      const r2 = await rawRequest(`${proxy.url}/b/unknown`, { headers: unknown });
      assert.equal(r2.status, 403);
      assert.match(r2.body.toString(), /<Code>InvalidAccessKeyId<\/Code>/);
      const evs = await sink.waitFor(() => true, 3);
      const by = (p: string): AuditEvent => evs.find((e) => e.request.path === p)!;
      assert.deepEqual([by('/b/good').auth.verified, by('/b/good').outcome], [true, 'completed']);
      assert.deepEqual([by('/b/bad').auth.verified, by('/b/bad').outcome, by('/b/bad').response.errorCode], [false, 'rejected', 'SignatureDoesNotMatch']);
      assert.deepEqual([by('/b/unknown').outcome, by('/b/unknown').response.errorCode], ['rejected', 'InvalidAccessKeyId']);
      assert.equal(sniff.seen.length, 1, 'only the valid request reached the backend');
      assertValid(sink);
    } finally { await proxy.close(); await sniff.close(); }
  });
});

describe('secrets never appear in events or logs', () => {
  test('grep every event and log line for every secret the requests carried', async () => {
    const backend = await startBackend();
    const sink = new CollectingSink();
    const proxy = await startInProcessProxy(['--backend', backend.url, '--audit-request-header', '*', '--audit-response-header', '*'], { parts: { sink } });
    const secretKey = 'Sup3rSecretKeyThatMustNeverLeak000000000';
    const ssecKey = randomBytes(32).toString('base64');
    const token = 'SessionTokenValueThatMustNeverLeak';
    const cookie = 'session=CookieValueThatMustNeverLeak';
    const secrets = [secretKey, ssecKey, token, 'CookieValueThatMustNeverLeak'];
    try {
      const s3 = s3Client(proxy.url, { ...backend, secretAccessKey: secretKey });
      await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'whatever-bucket', Key: 'k', Body: 'x', SSECustomerAlgorithm: 'AES256', SSECustomerKey: ssecKey })));
      const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'whatever-bucket', Key: 'k' }), { expiresIn: 60 });
      await rawRequest(url, { headers: { cookie } });
      const sts = await signedHeaders(`${proxy.url}/whatever-bucket/k`, 'GET', { accessKeyId: 'ASIA', secretAccessKey: secretKey }, { 'x-amz-security-token': token, cookie });
      await rawRequest(`${proxy.url}/whatever-bucket/k`, { headers: sts });
      await rawRequest(`${proxy.url}/whatever-bucket/k?X-Amz-Security-Token=${token}&X-Amz-Signature=abcdef0123456789`);
      s3.destroy();
      await sink.waitFor(() => true, 4);
      // Every signature value seen on the wire is a secret too.
      const sigs = [new URL(url).searchParams.get('X-Amz-Signature')!, /Signature=([0-9a-f]+)/.exec(sts['authorization']!)![1]!, 'abcdef0123456789'];
      const haystack = JSON.stringify(sink.events) + '\n' + proxy.logs.text();
      for (const s of [...secrets, ...sigs]) assert.ok(!haystack.includes(s), `secret leaked: ${s.slice(0, 6)}…`);
      assert.ok(!/AWS4-HMAC-SHA256 Credential/.test(haystack), 'no Authorization value');
      assertValid(sink);
    } finally { await proxy.close(); await backend.close(); }
  });
});
