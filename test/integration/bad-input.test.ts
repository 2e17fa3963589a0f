// Bad input at the S3 listener and from the backend: a clear S3 XML error, exactly one audit event
// per request, and the proxy keeps serving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { CollectingSink } from '../helpers/collecting-sink.js';
import { startInProcessProxy, type InProcessProxy } from '../helpers/proxy.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startSniffBackend, type SniffBackend } from '../helpers/sniff-backend.js';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { s3Client } from '../helpers/s3.js';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { signedHeaders } from '../helpers/raw-http.js';

/** Write raw bytes, collect everything until the server closes the connection (bounded). */
function exchange(port: number, data: string | Buffer, opts: { endAfterMs?: number; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { s.destroy(); resolve(out); }, opts.timeoutMs ?? 5000);
    s.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(timer); resolve(out); });
    s.on('error', () => {});
    s.write(data);
    if (opts.endAfterMs !== undefined) setTimeout(() => s.end(), opts.endAfterMs);
  });
}

describe('bad requests at the S3 listener', () => {
  let sniff: SniffBackend;
  let proxy: InProcessProxy;
  const sink = new CollectingSink();
  before(async () => {
    sniff = await startSniffBackend();
    // The raw requests say "Host: x": a path-style name of this proxy.
    proxy = await startInProcessProxy(['--backend', sniff.url, '--client-headers-timeout', '1s', '--path-style-host', 'x'], { parts: { sink } });
  });
  after(async () => { await proxy?.close(); await sniff?.close(); });

  const cases: Array<{ name: string; bytes: string; status: RegExp; code: RegExp }> = [
    { name: 'malformed request line', bytes: 'GARBAGE\r\n\r\n', status: /^HTTP\/1\.1 400/, code: /<Code>BadRequest<\/Code>/ },
    { name: 'header name with a space', bytes: 'GET /b/k HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n', status: /^HTTP\/1\.1 400/, code: /BadRequest/ },
    { name: 'header value with a control character', bytes: 'GET /b/k HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', status: /^HTTP\/1\.1 400/, code: /BadRequest/ },
    { name: 'oversized headers', bytes: `GET /b/k HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, status: /^HTTP\/1\.1 431/, code: /RequestHeaderSectionTooLarge/ },
    { name: 'huge URL', bytes: `GET /b/${'k'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: /^HTTP\/1\.1 431/, code: /RequestHeaderSectionTooLarge/ },
    { name: 'invalid percent-encoding', bytes: 'GET /b/%zz-key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', status: /^HTTP\/1\.1 400/, code: /<Code>InvalidURI<\/Code>/ },
    { name: 'invalid chunked framing', bytes: 'PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n', status: /^HTTP\/1\.1 400/, code: /BadRequest/ },
  ];
  for (const c of cases) {
    test(`${c.name}: S3 XML error, one event, still serving`, async () => {
      const before = sink.events.length;
      const reply = await exchange(proxy.port, c.bytes);
      assert.match(reply, c.status);
      assert.match(reply, c.code);
      assert.match(reply, /Content-Type: application\/xml/i);
      const evs = await sink.waitFor((e) => sink.events.indexOf(e) >= before, 1);
      assert.equal(evs.length, 1, 'exactly one event');
      assert.equal(evs[0]!.outcome, 'rejected');
      const ok = await rawRequest(`${proxy.url}/b/after`);
      assert.equal(ok.status, 200, 'still serving');
    });
  }

  test('slowloris: headers never finished get 408 after --client-headers-timeout', async () => {
    const before = sink.events.length;
    const reply = await exchange(proxy.port, 'GET /b/k HTTP/1.1\r\nHost: x\r\nX-Slow: ', { timeoutMs: 8000 });
    assert.match(reply, /^HTTP\/1\.1 408/);
    assert.match(reply, /<Code>RequestTimeout<\/Code>/);
    const evs = await sink.waitFor((e) => sink.events.indexOf(e) >= before, 1);
    assert.equal(evs[0]!.response.statusCode, 408);
  });

  test('a body shorter than its Content-Length, then the client half-closes: the proxy\'s 400 IncompleteBody, client-aborted', async () => {
    const before = sink.events.length;
    const reply = await exchange(proxy.port, 'PUT /b/short HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-twenty-bytes...', { endAfterMs: 100, timeoutMs: 3000 });
    assert.match(reply, /^HTTP\/1\.1 400 [\s\S]*<Code>IncompleteBody<\/Code>/);
    const [ev] = await sink.waitFor((e) => sink.events.indexOf(e) >= before && e.request.path === '/b/short', 1);
    assert.deepEqual([ev!.outcome, ev!.response.statusCode], ['client-aborted', 400]);
    assert.equal(ev!.bytes.received, 20);
  });

  test('a body longer than its Content-Length: the extra bytes are the next (bad) request', async () => {
    const before = sink.events.length;
    const reply = await exchange(proxy.port, 'PUT /b/long HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloEXTRA BYTES THAT ARE NOT HTTP\r\n\r\n');
    // Node parses ahead, but the garbage's 400 goes out only after the PUT's own reply: never
    // overtaking it. Each of the two requests still gets exactly one event.
    assert.match(reply, /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 400[\s\S]*BadRequest/);
    const evs = await sink.waitFor((e) => sink.events.indexOf(e) >= before, 2);
    assert.equal(evs.length, 2);
    const put = evs.find((e) => e.request.path === '/b/long')!;
    assert.equal(put.bytes.received, 5, 'only the declared body was read as body');
    assert.ok(evs.some((e) => e.outcome === 'rejected'));
  });
});

describe('a misbehaving backend', () => {
  test('garbage instead of HTTP: 502 S3 XML error, event backend-error', async () => {
    const garbage = net.createServer((s) => { s.on('data', () => s.end('THIS IS NOT HTTP\r\n\r\n')); s.on('error', () => {}); });
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
    const sink = new CollectingSink();
    const proxy = await startInProcessProxy(['--backend', `http://127.0.0.1:${(garbage.address() as net.AddressInfo).port}`], { parts: { sink } });
    try {
      const r = await rawRequest(`${proxy.url}/b/k`);
      assert.equal(r.status, 502);
      assert.match(r.body.toString(), /<Code>BadGateway<\/Code>/);
      const [ev] = await sink.waitFor(() => true);
      assert.equal(ev!.outcome, 'backend-error');
      assert.equal(ev!.outcomeDetail, 'HTTPParserError');
    } finally { await proxy.close(); await new Promise<void>((r) => garbage.close(() => r())); }
  });

  test('an error body that is not XML, and a huge error body: passed through whole, code from the status', async () => {
    const sniff = await startSniffBackend();
    const sink = new CollectingSink();
    const proxy = await startInProcessProxy(['--backend', sniff.url], { parts: { sink } });
    const huge = Buffer.alloc(5 * 1024 * 1024, 'x');
    sniff.respond = (req, res) => {
      if (req.url === '/b/html') { res.writeHead(500, { 'content-type': 'text/html' }); res.end('<html><body>oops</body></html>'); return; }
      res.writeHead(503, { 'content-type': 'application/xml', 'content-length': String(huge.length + 40) });
      res.end(Buffer.concat([Buffer.from('<Error><Code>SlowDown</Code><Message>'), huge, Buffer.from('</Message>')]));
    };
    try {
      const a = await rawRequest(`${proxy.url}/b/html`);
      assert.equal(a.status, 500);
      assert.equal(a.body.toString(), '<html><body>oops</body></html>');
      const b = await rawRequest(`${proxy.url}/b/huge`);
      assert.equal(b.status, 503);
      assert.equal(b.body.length, huge.length + 40, 'the whole body reached the client');
      const evs = await sink.waitFor(() => true, 2);
      const html = evs.find((e) => e.request.path === '/b/html')!;
      assert.deepEqual([html.response.errorCode, html.response.errorMessage], ['InternalError', null]);
      const big = evs.find((e) => e.request.path === '/b/huge')!;
      assert.equal(big.response.errorCode, 'SlowDown', 'code read from the bounded copy');
      assert.ok((big.response.errorMessage ?? '').length <= 64 * 1024);
      assert.equal(big.bytes.sent, huge.length + 40);
    } finally { await proxy.close(); await sniff.close(); }
  });

  test('invalid aws-chunked framing: the backend refuses it through the proxy, audited', async (t) => {
    const backend: TestBackend = await startBackend();
    t.after(() => backend.close());
    const sink = new CollectingSink();
    const proxy = await startInProcessProxy(['--backend', backend.url], { parts: { sink } });
    t.after(() => proxy.close());
    const s3 = s3Client(proxy.url, backend);
    const bucket = bucketName('badchunk');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    const body = 'not-hex;chunk-signature=zz\r\nabc\r\n';
    const url = `${proxy.url}/${bucket}/k`;
    const headers = await signedHeaders(url, 'PUT', backend, { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '3', 'content-length': String(body.length) }, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
    const r = await rawRequest(url, { method: 'PUT', headers, body });
    assert.ok(r.status >= 400 && r.status < 500, `4xx, got ${r.status}`);
    const [ev] = await sink.waitFor((e) => e.api.name === 'PutObject');
    assert.equal(ev!.response.statusCode, r.status);
    assert.ok(ev!.response.errorCode);
  });
});
