// Clients that stall must not hold what others need: a reader that stops reading
// (--client-send-timeout), an uploader that stops sending (--client-body-timeout), sockets the proxy
// ended while the client keeps its side open (both listeners), and a client that leaves while the
// signature gate is pending (one event, nothing in flight); a gate that fails refuses under
// --require-valid-signature. Short timeouts here; test/reliability/13-hostile-clients.test.ts runs the
// defaults with hundreds of clients.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { createLogger } from '../../src/log.js';
import type { RequestGate } from '../../src/proxy/gate.js';
import type { RequestObservation, RequestObserver } from '../../src/proxy/observation.js';
import { startProxy, type ProxyServer } from '../../src/proxy/server.js';
import { CollectingSink } from '../helpers/collecting-sink.js';
import { LogSink, spawnProxy, startInProcessProxy, tempDir, type InProcessProxy } from '../helpers/proxy.js';
import { rawRequest } from '../helpers/raw-http.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

/** A backend with a large object (/b/big, 32 MiB: more than the socket buffers hold), small objects,
 * and uploads it drains; it records how each exchange ended. */
interface TestBackend {
  url: string;
  /** Per path: 'finished' (whole reply written), 'closed' (the proxy went away first). */
  ended: Map<string, string>;
  /** Per path: whether the request body arrived whole. */
  bodyComplete: Map<string, boolean>;
  close(): Promise<void>;
}

const BIG = 32 * 1024 * 1024;

async function startTestBackend(): Promise<TestBackend> {
  const chunk = Buffer.alloc(64 * 1024, 'b');
  const ended = new Map<string, string>();
  const bodyComplete = new Map<string, boolean>();
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    res.on('finish', () => ended.set(path, 'finished'));
    res.on('close', () => { if (!ended.has(path)) ended.set(path, 'closed'); });
    if (req.method === 'GET' && path.startsWith('/b/big')) {
      res.writeHead(200, { 'content-length': String(BIG), etag: '"big"' });
      let left = BIG;
      const pump = (): void => {
        while (left > 0) {
          left -= chunk.length;
          if (!res.write(chunk)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
      return;
    }
    req.on('data', () => {});
    req.on('close', () => bodyComplete.set(path, req.complete));
    req.on('end', () => {
      res.writeHead(200, { 'content-length': '5', etag: '"small"' });
      res.end('small');
    });
  });
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ended,
    bodyComplete,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function connections(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

describe('stalled clients are closed and free their backend connection', () => {
  let backend: TestBackend;
  let proxy: InProcessProxy;
  const sink = new CollectingSink();
  before(async () => {
    backend = await startTestBackend();
    proxy = await startInProcessProxy([
      '--backend', backend.url, '--client-send-timeout', '1s', '--client-body-timeout', '1s',
    ], { logLevel: 'info', parts: { sink } });
  });
  after(async () => { await proxy?.close(); await backend?.close(); });

  test('a reader that stops reading: closed after --client-send-timeout, event client-stalled; others are answered meanwhile', async () => {
    const s = net.connect(proxy.port, '127.0.0.1');
    s.on('error', () => {});
    let got = 0;
    s.on('data', (d: Buffer) => { got += d.length; if (got > 64 * 1024) s.pause(); });
    s.write('GET /b/big-stalled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await until(() => got > 64 * 1024, 5000, 'the stalled reader got its first bytes');
    // Meanwhile: a normal GET is answered at once.
    const t0 = performance.now();
    const normal = await rawRequest(`${proxy.url}/b/small-1`);
    assert.equal(normal.status, 200);
    assert.ok(performance.now() - t0 < 1000);
    const started = performance.now();
    const [ev] = await sink.waitFor((e) => e.request.path === '/b/big-stalled', 1, 5000);
    const after = performance.now() - started;
    assert.equal(ev!.outcome, 'client-stalled');
    assert.equal(ev!.outcomeDetail, 'client-send-timeout');
    assert.equal(ev!.response.statusCode, 200);
    assert.ok(ev!.bytes.sent < BIG, `sent ${ev!.bytes.sent}`);
    assert.ok(after < 3000, `closed ${Math.round(after)} ms after the stall`);
    // The backend request was aborted (not left paused), and the proxy's side of the client is gone.
    await until(() => backend.ended.get('/b/big-stalled') === 'closed', 3000, 'backend exchange closed');
    await until(async () => (await connections(proxy.proxy.server)) === 0, 3000, 'no client connection left');
    assert.equal(proxy.proxy.inFlight(), 0);
    s.destroy();
    assert.deepEqual(sink.invalid, []);
  });

  test('a reader that reads slowly but steadily is not cut off', async () => {
    // Reads in short bursts 300 ms apart: the proxy's writes wait on it most of the time, but never
    // for a whole second (the send timeout) without progress. Whether it gets through the 32 MiB or
    // is still reading when the test stops it, it is never taken for a stalled client.
    const s = net.connect(proxy.port, '127.0.0.1');
    s.on('error', () => {});
    let got = 0;
    s.on('data', (d: Buffer) => { got += d.length; });
    s.write('GET /b/big-slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    s.pause();
    const timer = setInterval(() => { s.resume(); setTimeout(() => s.pause(), 5); }, 300);
    try {
      await until(() => sink.events.some((e) => e.request.path === '/b/big-slow') || got >= 8 * 1024 * 1024, 10_000, 'several MiB read');
    } finally {
      clearInterval(timer);
      s.destroy();
    }
    const [ev] = await sink.waitFor((e) => e.request.path === '/b/big-slow', 1, 5000);
    assert.ok(got > 1024 * 1024, `read ${got}`);
    assert.notEqual(ev!.outcome, 'client-stalled', `${ev!.outcome} ${ev!.outcomeDetail}`);
    assert.ok(['completed', 'client-aborted'].includes(ev!.outcome), ev!.outcome);
  });

  test('an uploader that trickles is kept; one that stops: 408 RequestTimeout, event client-stalled, backend request aborted', async () => {
    const s = net.connect(proxy.port, '127.0.0.1');
    s.on('error', () => {});
    let reply = '';
    s.on('data', (d: Buffer) => { reply += d.toString('latin1'); });
    const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
    s.write('PUT /b/trickle HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n');
    // One byte every 300 ms for 2.4 s: idle never reaches the 1 s timeout.
    for (let i = 0; i < 8; i++) { s.write('x'); await sleep(300); }
    assert.equal(reply, '', 'no answer while bytes keep coming');
    assert.equal(sink.events.filter((e) => e.request.path === '/b/trickle').length, 0);
    // Meanwhile, a normal request is answered.
    assert.equal((await rawRequest(`${proxy.url}/b/small-2`)).status, 200);
    // Then it stops sending.
    const stopped = performance.now();
    const [ev] = await sink.waitFor((e) => e.request.path === '/b/trickle', 1, 5000);
    assert.ok(performance.now() - stopped < 3000);
    assert.equal(ev!.outcome, 'client-stalled');
    assert.equal(ev!.outcomeDetail, 'client-body-timeout');
    assert.equal(ev!.response.statusCode, 408);
    assert.equal(ev!.response.errorCode, 'RequestTimeout');
    assert.equal(ev!.bytes.received, 8);
    await Promise.race([closed, sleep(4000)]);
    assert.match(reply, /^HTTP\/1\.1 408 [\s\S]*connection: close[\s\S]*<Code>RequestTimeout<\/Code>/i);
    await until(() => backend.bodyComplete.get('/b/trickle') === false, 3000, 'backend saw the upload cut short');
    await until(async () => (await connections(proxy.proxy.server)) === 0, 3000, 'no client connection left');
    assert.equal(proxy.proxy.inFlight(), 0);
    assert.deepEqual(sink.invalid, []);
  });
  test('the same with Expect: 100-continue (SDK uploads, forwarded through node:http): the backend asks for the body, the client stops: 408, client-stalled', async () => {
    const s = net.connect(proxy.port, '127.0.0.1');
    s.on('error', () => {});
    let reply = '';
    s.on('data', (d: Buffer) => { reply += d.toString('latin1'); });
    const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
    s.write('PUT /b/trickle-expect HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n');
    await until(() => reply.startsWith('HTTP/1.1 100 Continue'), 3000, 'the backend\'s 100 relayed');
    for (let i = 0; i < 5; i++) { s.write('x'); await sleep(300); }
    assert.equal(sink.events.filter((e) => e.request.path === '/b/trickle-expect').length, 0, 'kept while bytes keep coming');
    const [ev] = await sink.waitFor((e) => e.request.path === '/b/trickle-expect', 1, 5000);
    assert.equal(ev!.outcome, 'client-stalled');
    assert.equal(ev!.outcomeDetail, 'client-body-timeout');
    assert.equal(ev!.response.statusCode, 408);
    await Promise.race([closed, sleep(4000)]);
    assert.match(reply, /HTTP\/1\.1 408 [\s\S]*<Code>RequestTimeout<\/Code>/i);
    await until(() => backend.bodyComplete.get('/b/trickle-expect') === false, 3000, 'backend saw the upload cut short');
    assert.equal(proxy.proxy.inFlight(), 0);
  });
});

describe('sockets the proxy ends are destroyed even if the client keeps its side open', () => {
  test('S3 and admin listeners: timed-out and unparseable connections release their descriptors', async (t) => {
    const backend = await startTestBackend();
    t.after(() => backend.close());
    const dir = tempDir();
    t.after(() => dir.remove());
    const proxy = await spawnProxy([
      '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', backend.url,
      '--client-headers-timeout', '1s', '--log-level', 'info',
    ]);
    t.after(() => proxy.stop());
    const fds = (): number => readdirSync(`/proc/${proxy.child.pid}/fd`).length;
    await sleep(300);
    const baseline = fds();
    const port = Number(new URL(proxy.url).port);
    const adminPort = Number(new URL(proxy.adminUrl!).port);
    const clients: net.Socket[] = [];
    t.after(() => { for (const c of clients) c.destroy(); });
    const open = (p: number, text: string): void => {
      const c = net.connect({ port: p, host: '127.0.0.1', allowHalfOpen: true });
      c.on('error', () => {});
      c.on('data', () => {}); // read the reply, but never close our side
      c.write(text);
      clients.push(c);
    };
    for (let i = 0; i < 40; i++) open(port, 'GET /b/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // headers never finish: 408
    for (let i = 0; i < 20; i++) open(port, 'NOT HTTP AT ALL\r\n\r\n'); // 400
    for (let i = 0; i < 20; i++) open(adminPort, 'NOT HTTP AT ALL\r\n\r\n'); // admin 400
    await until(() => fds() >= baseline + 70, 3000, `the proxy holds the connections (fds ${fds()}, baseline ${baseline})`);
    const held = fds();
    // 1 s headers timeout + its check tick + the 2 s linger, with margin.
    await until(() => fds() <= baseline + 2, 8000, `descriptors released (fds ${fds()}, baseline ${baseline}, held ${held})`);
    // The listener still accepts and answers.
    assert.equal((await rawRequest(`${proxy.url}/b/small-after`)).status, 200);
  });
});

describe('the signature gate: race-free and fail-closed', () => {
  interface GateRig { proxy: ProxyServer; seen: RequestObservation[]; backend: TestBackend; logs: LogSink; close(): Promise<void> }

  async function rig(gate: RequestGate, requireValid: boolean): Promise<GateRig> {
    const dir = tempDir();
    const creds = join(dir.path, 'credentials');
    writeFileSync(creds, 'AKIAGOOD:good-secret-value\n');
    const backend = await startTestBackend();
    const config = loadServeConfig(['--listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', backend.url,
      '--credentials-file', creds, ...(requireValid ? ['--require-valid-signature'] : [])], {});
    const logs = new LogSink();
    const seen: RequestObservation[] = [];
    const observer: RequestObserver = { capturing: true, end: (obs) => { seen.push(obs); } };
    const proxy = await startProxy({ config, backend: backend.url, logger: createLogger('info', logs), observer, gate });
    return {
      proxy, seen, backend, logs,
      async close() { await proxy.close(1000); await backend.close(); dir.remove(); },
    };
  }

  test('a client that leaves while the gate is pending: one client-aborted event, nothing in flight, nothing forwarded', async (t) => {
    let release: (ok: boolean) => void = () => {};
    const gate: RequestGate = { check: () => new Promise<boolean>((resolve) => { release = resolve; }) };
    const r = await rig(gate, true);
    t.after(() => r.close());
    const s = net.connect(r.proxy.port, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET /b/racing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await until(() => r.proxy.inFlight() === 1, 3000, 'request in the gate');
    // A reset: the client is gone. (A bare FIN after a complete request is a half-close, and the
    // client may still read the answer: the proxy keeps the request, see README "Forwarding".)
    s.resetAndDestroy();
    await until(() => r.seen.length === 1, 3000, 'its event');
    assert.equal(r.proxy.inFlight(), 0);
    assert.equal(r.seen[0]!.outcome, 'client-aborted');
    // The gate answers afterwards: not acted on.
    release(true);
    await sleep(300);
    assert.equal(r.seen.length, 1, 'exactly one event');
    assert.equal(r.backend.ended.size, 0, 'nothing forwarded');
    assert.equal(r.proxy.inFlight(), 0);
    // Shutdown does not wait for it.
    const t0 = performance.now();
    await r.proxy.close(5000);
    assert.ok(performance.now() - t0 < 2000);
  });

  for (const how of ['rejects', 'throws'] as const) {
    test(`a gate that ${how} under --require-valid-signature: 500 InternalError, audited, never forwarded`, async (t) => {
      const gate: RequestGate = how === 'rejects'
        ? { check: () => Promise.reject(new Error('verifier broke')) }
        : { check: () => { throw new Error('verifier broke'); } };
      const r = await rig(gate, true);
      t.after(() => r.close());
      const res = await rawRequest(`${r.proxy.url}/b/refused`);
      assert.equal(res.status, 500);
      assert.match(res.body.toString(), /<Code>InternalError<\/Code>/);
      await until(() => r.seen.length === 1, 3000, 'its event');
      const obs = r.seen[0]!;
      assert.deepEqual([obs.outcome, obs.statusCode, obs.proxyReply?.code], ['rejected', 500, 'InternalError']);
      assert.match(obs.signatureProblem ?? '', /verifier broke/);
      await sleep(100);
      assert.equal(r.backend.ended.size, 0, 'nothing forwarded');
      assert.equal(r.proxy.inFlight(), 0);
      assert.match(r.logs.text(), /request gate failed; refused/);
    });
  }

  test('without --require-valid-signature a failing gate only annotates: the request is forwarded', async (t) => {
    const r = await rig({ check: () => Promise.reject(new Error('verifier broke')) }, false);
    t.after(() => r.close());
    assert.equal((await rawRequest(`${r.proxy.url}/b/annotated`)).status, 200);
    await until(() => r.seen.length === 1, 3000, 'its event');
    assert.equal(r.seen[0]!.outcome, 'completed');
  });
});

describe('the options', () => {
  test('--client-send-timeout and --client-body-timeout: defaults, flag, environment, config file, errors naming the setting', (t) => {
    const d = loadServeConfig([], {});
    assert.deepEqual([d.clientSendTimeoutMs, d.clientBodyTimeoutMs, d.backendConnections], [60_000, 60_000, 0]);
    assert.equal(loadServeConfig(['--client-send-timeout', '2s'], {}).clientSendTimeoutMs, 2000);
    assert.equal(loadServeConfig([], { S3AP_CLIENT_BODY_TIMEOUT: '500ms' }).clientBodyTimeoutMs, 500);
    const dir = tempDir();
    t.after(() => dir.remove());
    const file = join(dir.path, 'config.json');
    writeFileSync(file, JSON.stringify({ clientSendTimeout: '3s', 'client-body-timeout': '0' }));
    const f = loadServeConfig(['--config', file], {});
    assert.deepEqual([f.clientSendTimeoutMs, f.clientBodyTimeoutMs], [3000, 0]);
    assert.throws(() => loadServeConfig(['--client-body-timeout', 'soon'], {}), /--client-body-timeout: expected a duration/);
    assert.throws(() => loadServeConfig([], { S3AP_CLIENT_SEND_TIMEOUT: 'never' }), /S3AP_CLIENT_SEND_TIMEOUT.*expected a duration/);
  });
});
