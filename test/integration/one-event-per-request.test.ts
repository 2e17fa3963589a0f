// Exactly one event for every request that reaches the listener, including those Node would answer
// (or drop) by itself: Expect other than 100-continue, CONNECT, Upgrade; and a client that aborts
// mid-upload gives its client-aborted event and no second, phantom one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AuditEvent } from '../../src/audit/event.js';
import { CollectingSink } from '../helpers/collecting-sink.js';
import { startInProcessProxy, type InProcessProxy } from '../helpers/proxy.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startSniffBackend, type SniffBackend } from '../helpers/sniff-backend.js';

describe('one event per request, including those Node answers itself', () => {
  let sniff: SniffBackend;
  let proxy: InProcessProxy;
  const sink = new CollectingSink();
  before(async () => {
    sniff = await startSniffBackend();
    proxy = await startInProcessProxy(['--backend', sniff.url, '--path-style-host', 'x'], { logLevel: 'info', parts: { sink } });
  });
  after(async () => { await proxy?.close(); await sniff?.close(); });

  /** Sends raw bytes, reads until the proxy closes (or `endAfterMs`), returns the reply text. */
  function exchange(text: string, endAfterMs = 400): Promise<string> {
    return new Promise((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1');
      let out = '';
      s.on('data', (d: Buffer) => { out += d.toString('latin1'); });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
      s.write(text);
      setTimeout(() => s.end(), endAfterMs);
    });
  }

  /** The events produced by `run`, after letting any stragglers arrive. */
  async function eventsOf(run: () => Promise<unknown>): Promise<AuditEvent[]> {
    const before = sink.events.length;
    await run();
    await sink.waitFor((e) => sink.events.indexOf(e) >= before, 1);
    await new Promise((r) => setTimeout(r, 250));
    return sink.events.slice(before);
  }

  test('Expect: 200-ok: forwarded (the proxy does not answer 417 itself), the backend decides, one event', async () => {
    let reply = '';
    const evs = await eventsOf(async () => {
      reply = await exchange('PUT /bkt/expect HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 200-ok\r\nContent-Length: 3\r\n\r\nabc');
    });
    // The sniff backend is a plain Node server: it is the one answering 417 (no S3 body, no request id of ours).
    assert.match(reply, /^HTTP\/1\.1 417 Expectation Failed\r\n/);
    assert.equal(evs.length, 1, JSON.stringify(evs.map((e) => [e.api.name, e.response.statusCode])));
    assert.deepEqual([evs[0]!.api.name, evs[0]!.response.statusCode, evs[0]!.outcome], ['PutObject', 417, 'completed']);
    assert.equal(evs[0]!.client.ip, '127.0.0.1');
  });

  test('CONNECT: an S3 405 MethodNotAllowed (not a silent drop), and one rejected event', async () => {
    let reply = '';
    const seen = sniff.seen.length;
    const evs = await eventsOf(async () => {
      reply = await exchange('CONNECT bkt.example.com:443 HTTP/1.1\r\nHost: bkt.example.com:443\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1\.1 405 Method Not Allowed\r\n[\s\S]*<Code>MethodNotAllowed<\/Code>/);
    assert.equal(evs.length, 1);
    assert.deepEqual([evs[0]!.request.method, evs[0]!.response.statusCode, evs[0]!.outcome, evs[0]!.response.errorCode], ['CONNECT', 405, 'rejected', 'MethodNotAllowed']);
    assert.ok(evs[0]!.bytes.sent > 0);
    assert.equal(sniff.seen.length, seen, 'nothing reached the backend');
  });

  test('Upgrade: answered as the plain request S3 takes it for (Upgrade not forwarded), one event', async () => {
    let reply = '';
    const seen = sniff.seen.length;
    const evs = await eventsOf(async () => {
      reply = await exchange('GET /bkt/up HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(evs.length, 1);
    assert.deepEqual([evs[0]!.api.name, evs[0]!.response.statusCode, evs[0]!.outcome], ['GetObject', 200, 'completed']);
    assert.equal(sniff.seen.length, seen + 1);
    assert.equal(sniff.seen.at(-1)!.headers['upgrade'], undefined, 'Upgrade is hop-by-hop');
  });

  test('a client that aborts mid-upload: exactly one event (client-aborted), no phantom 400', async () => {
    const evs = await eventsOf(() => new Promise<void>((resolve) => {
      const req = http.request(`${proxy.url}/bkt/aborted`, { method: 'PUT', headers: { 'content-length': '1000000' }, agent: false });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(10_000), () => setTimeout(() => { req.destroy(); resolve(); }, 50));
    }));
    assert.equal(evs.length, 1, JSON.stringify(evs.map((e) => [e.api.name, e.response.statusCode, e.outcomeDetail])));
    assert.deepEqual([evs[0]!.api.name, evs[0]!.outcome], ['PutObject', 'client-aborted']);
    assert.equal(evs[0]!.client.ip, '127.0.0.1');
    // Half-close mid-body (EOF inside the body): the client still gets an answer (the proxy's S3
    // 400 IncompleteBody, the backend having given none); its one event says client-aborted, status 400.
    let reply = '';
    const evs2 = await eventsOf(async () => { reply = await exchange('PUT /bkt/eof HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', 100); });
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*<Code>IncompleteBody<\/Code>/);
    assert.equal(evs2.length, 1, JSON.stringify(evs2.map((e) => [e.api.name, e.response.statusCode, e.outcomeDetail])));
    assert.deepEqual([evs2[0]!.api.name, evs2[0]!.outcome, evs2[0]!.response.statusCode], ['PutObject', 'client-aborted', 400]);
  });

  test('a body Node cannot parse (bad chunk size) after the request started: S3 400, and that request\'s one event says so', async () => {
    let reply = '';
    const evs = await eventsOf(async () => {
      reply = await exchange('PUT /bkt/badchunk HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZZ\r\nabc\r\n0\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*<Code>BadRequest<\/Code>/);
    assert.equal(evs.length, 1, JSON.stringify(evs.map((e) => [e.api.name, e.response.statusCode, e.outcomeDetail])));
    assert.deepEqual([evs[0]!.api.name, evs[0]!.response.statusCode, evs[0]!.outcome, evs[0]!.response.errorCode], ['PutObject', 400, 'rejected', 'BadRequest']);
    assert.match(evs[0]!.outcomeDetail ?? '', /^HPE_/);
  });

  test('still one event each for an unparseable request and a normal one on the same proxy', async () => {
    const bad = await eventsOf(() => exchange('GET /bkt/k HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Name: 1\r\n\r\n'));
    assert.equal(bad.length, 1);
    assert.deepEqual([bad[0]!.response.statusCode, bad[0]!.outcome], [400, 'rejected']);
    const ok = await eventsOf(() => rawRequest(`${proxy.url}/bkt/ok`));
    assert.equal(ok.length, 1);
    assert.deepEqual(sink.invalid.map((i) => i.errors), [], 'every event matches the schema');
  });
});
