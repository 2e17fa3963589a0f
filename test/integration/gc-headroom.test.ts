// The GC headroom follows large bodies through the proxy (src/proxy/gc-headroom.ts): a GET whose
// backend reply is large, a PUT whose body is large (through undici, and through node:http with
// Expect: 100-continue) keep it while they stream and give it back when they end — completed or
// aborted by the client; small requests never take it. The bodies still stream (the backend's
// reply is held half-written while the headroom is checked).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { createLogger } from '../../src/log.js';
import type { RequestObservation, RequestObserver } from '../../src/proxy/observation.js';
import { startProxy, type ProxyServer } from '../../src/proxy/server.js';
import { gcHeadroom, LARGE_BODY_BYTES } from '../../src/proxy/gc-headroom.js';
import { LogSink, tempDir } from '../helpers/proxy.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
}

const BIG = LARGE_BODY_BYTES + 1024 * 1024;
const HUGE = 96 * 1024 * 1024;
let backend: http.Server;
let backendUrl: string;
/** Resolves the held second half of /big (the test looks at the headroom in between). */
let releaseBig: (() => void) | null = null;
let proxy: ProxyServer;
const seen: RequestObservation[] = [];
let dir: { path: string; remove(): void };

before(async () => {
  gcHeadroom.enable();
  backend = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && req.url === '/b/huge') {
      // HUGE bytes in 64 KiB writes, with back-pressure.
      res.writeHead(200, { 'content-length': String(HUGE) });
      const chunk = Buffer.alloc(64 * 1024, 7);
      let left = HUGE;
      const pump = (): void => {
        while (left > 0) {
          left -= chunk.length;
          const ok = left > 0 ? res.write(chunk) : (res.end(chunk), true);
          if (!ok) { res.once('drain', pump); return; }
        }
      };
      pump();
      return;
    }
    if (req.method === 'GET' && req.url === '/b/big') {
      res.writeHead(200, { 'content-length': String(BIG) });
      res.write(Buffer.alloc(BIG / 2, 1));
      releaseBig = () => res.end(Buffer.alloc(BIG / 2, 2));
      return;
    }
    if (req.method === 'GET') { res.writeHead(200, { 'content-length': '4096' }); res.end(Buffer.alloc(4096)); return; }
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => { res.writeHead(200, { 'content-length': '0', 'x-got': String(n) }); res.end(); });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  dir = tempDir();
  const config = loadServeConfig(['--listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', backendUrl], {});
  const observer: RequestObserver = { capturing: false, end: (obs) => { seen.push(obs); } };
  proxy = await startProxy({ config, backend: backendUrl, logger: createLogger('info', new LogSink()), observer });
});

after(async () => {
  await proxy.close(1000);
  await new Promise<void>((r) => backend.close(() => r()));
  dir.remove();
});

function get(path: string): Promise<{ res: IncomingMessage; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${proxy.url}${path}`, (res) => resolve({ res, req }));
    req.on('error', reject);
  });
}

test('a large GET keeps the headroom while it streams, and gives it back at the end', async () => {
  const { res } = await get('/b/big');
  let got = 0;
  res.on('data', (c: Buffer) => { got += c.length; });
  await until(() => releaseBig !== null && got > 0, 5000, 'first half streaming');
  assert.equal(gcHeadroom.active, 1);
  releaseBig!();
  releaseBig = null;
  await new Promise((r) => res.on('end', r));
  assert.equal(got, BIG);
  await until(() => gcHeadroom.active === 0, 5000, 'headroom given back');
  assert.equal(seen.at(-1)?.outcome, 'completed');
  assert.equal(seen.at(-1)?.bytesSent, BIG);
});

test('a client that leaves mid-GET gives the headroom back too', async () => {
  const { res, req } = await get('/b/big');
  await until(() => releaseBig !== null, 5000, 'first half streaming');
  assert.equal(gcHeadroom.active, 1);
  res.destroy();
  req.destroy();
  await until(() => gcHeadroom.active === 0, 5000, 'headroom given back after the abort');
  releaseBig!();
  releaseBig = null;
  await until(() => seen.at(-1)?.outcome === 'client-aborted', 5000, 'the aborted event');
});

for (const expect of [false, true]) {
  test(`a large PUT${expect ? ' with Expect: 100-continue (node:http)' : ' (undici)'} keeps the headroom while its body streams`, async () => {
    const req = http.request(`${proxy.url}/b/up`, { method: 'PUT', headers: { 'content-length': String(BIG), ...(expect ? { expect: '100-continue' } : {}) } });
    const done = new Promise<IncomingMessage>((resolve, reject) => { req.on('response', resolve); req.on('error', reject); });
    const half = Buffer.alloc(BIG / 2, 3);
    const send = (): void => { req.write(half); };
    if (expect) req.once('continue', send); else send();
    await until(() => gcHeadroom.active === 1, 5000, 'headroom taken');
    await sleep(50);
    assert.equal(gcHeadroom.active, 1, 'kept while the body is incomplete');
    req.end(half);
    const res = await done;
    res.resume();
    assert.equal(res.headers['x-got'], String(BIG));
    await until(() => gcHeadroom.active === 0, 5000, 'headroom given back');
  });
}

test('a large GET is scavenged every ~16 MiB while it streams (real V8), and the looking stops with it', async () => {
  let minor = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) minor++;
  });
  obs.observe({ entryTypes: ['gc'] });
  const before = gcHeadroom.scavenges;
  const { res } = await get('/b/huge');
  let got = 0;
  res.on('data', (c: Buffer) => { got += c.length; });
  await new Promise((r) => res.on('end', r));
  assert.equal(got, HUGE);
  await until(() => gcHeadroom.active === 0, 5000, 'headroom given back');
  const forced = gcHeadroom.scavenges - before;
  await sleep(50);
  obs.disconnect();
  // 96 MiB read by the proxy (and as much by this process's backend and client): V8's own
  // scavenges may come first, but not before every 16 MiB of growth.
  assert.ok(forced >= 1, `scavenges asked for: ${forced}`);
  assert.ok(minor >= forced, `minor GCs seen ${minor}, asked for ${forced}`);
  await sleep(100);
  assert.equal(gcHeadroom.scavenges - before, forced, 'none asked for once no large body streams');
});

test('small requests never take it', async () => {
  let peak = 0;
  const watch = setInterval(() => { peak = Math.max(peak, gcHeadroom.active); }, 1);
  for (let i = 0; i < 20; i++) {
    const { res } = await get('/b/small');
    res.resume();
    await new Promise((r) => res.on('end', r));
  }
  clearInterval(watch);
  assert.equal(peak, 0);
  assert.equal(gcHeadroom.active, 0);
});
