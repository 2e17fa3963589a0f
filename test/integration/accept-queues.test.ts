// --accept-queues: a burst of new connections is taken several per event-loop turn, not one per
// turn (libuv's default since libuv/libuv#3696, which made a busy proxy take 0.5-1 s to accept
// 224 new clients). The burst is made while this process's loop is blocked (execFileSync), so
// every connection waits in the accept queue and the next poll phase shows how many one turn takes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { createLogger } from '../../src/log.js';
import { addAcceptQueues, type AcceptQueues } from '../../src/proxy/accept-queues.js';
import { CollectingSink } from '../helpers/collecting-sink.js';
import { LogSink, startInProcessProxy, type InProcessProxy } from '../helpers/proxy.js';

const BURST = 30;

/** Opens `count` connections to `port` from another process and returns once all are established
 * (the kernel completes them into the accept queue); this process's loop is blocked meanwhile. */
function burstWhileBlocked(port: number, count: number): void {
  const script = `
    const net = require('node:net'); let up = 0; const all = [];
    for (let i = 0; i < ${count}; i++) all.push(net.connect(${port}, '127.0.0.1', () => { if (++up === ${count}) process.exit(0); }));
    setTimeout(() => process.exit(3), 10000);`;
  execFileSync(process.execPath, ['-e', script], { stdio: 'ignore', timeout: 15_000 });
}

/** Connections accepted in the first poll phase after the burst, and in all. */
async function acceptsPerTurn(server: net.Server, port: number): Promise<{ firstTurn: number; total: number }> {
  let accepted = 0;
  const onConnection = (socket: net.Socket): void => { accepted++; socket.destroy(); };
  server.on('connection', onConnection);
  try {
    // Run from a check-phase callback: the next poll phase is the first turn that sees the burst.
    const firstTurn = await new Promise<number>((resolve) => setImmediate(() => {
      burstWhileBlocked(port, BURST);
      accepted = 0;
      setImmediate(() => resolve(accepted));
    }));
    const end = Date.now() + 10_000;
    while (accepted < BURST && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return { firstTurn, total: accepted };
  } finally {
    server.off('connection', onConnection);
  }
}

describe('copies of the listening socket (addAcceptQueues)', () => {
  const logs = new LogSink();
  const logger = createLogger('info', logs);
  const servers: Array<{ server: http.Server; queues: AcceptQueues }> = [];
  after(() => { for (const s of servers) { s.queues.close(); s.server.close(); } });

  const listen = async (queues: number): Promise<{ server: http.Server; port: number; queues: AcceptQueues }> => {
    const server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const q = addAcceptQueues(server, logger, { queues });
    await q.ready;
    servers.push({ server, queues: q });
    return { server, port: (server.address() as AddressInfo).port, queues: q };
  };

  test('one turn accepts as many connections as there are copies; with one queue, one', async () => {
    const eight = await listen(8);
    assert.equal(eight.queues.count(), 8, logs.text());
    const withCopies = await acceptsPerTurn(eight.server, eight.port);
    const single = await listen(1);
    assert.equal(single.queues.count(), 1);
    const withOne = await acceptsPerTurn(single.server, single.port);
    assert.deepEqual(withOne, { firstTurn: 1, total: BURST }, 'Node alone: one accept per turn');
    assert.deepEqual(withCopies, { firstTurn: 8, total: BURST }, 'eight descriptors: eight accepts in one turn');
  });

  test('a copy serves like the original: requests answered, the server\'s own connection handling applies', async () => {
    const { server, port } = await listen(4);
    let requests = 0;
    server.on('request', () => { requests++; });
    const agent = new http.Agent({ keepAlive: false });
    const replies = await Promise.all(Array.from({ length: 40 }, () => new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve(body));
      }).on('error', reject);
    })));
    assert.deepEqual(new Set(replies), new Set(['ok']));
    assert.equal(requests, 40);
  });

  test('when the copies cannot be had in time: a warning, and the listener goes on with what it has', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const before = logs.lines.length;
    const queues = addAcceptQueues(server, logger, { queues: 8, timeoutMs: 1 });
    servers.push({ server, queues });
    await queues.ready;
    const warned = logs.lines.slice(before).some((l) => l.includes('extra accept queues unavailable (timed out)'));
    assert.equal(warned, queues.count() < 8, `count ${queues.count()}, logs: ${logs.text()}`);
    const port = (server.address() as AddressInfo).port;
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, agent: false }, (res) => { let b = ''; res.on('data', (c: Buffer) => { b += c; }).on('end', () => resolve(b)); }).on('error', reject);
    });
    assert.equal(body, 'ok');
  });

  test('close() stops every copy: once the original is closed too, connecting is refused', async () => {
    const { server, port, queues } = await listen(4);
    queues.close();
    assert.equal(queues.count(), 1);
    await new Promise<void>((r) => server.close(() => r()));
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(null); });
      s.on('error', resolve);
    });
    assert.equal(err?.code, 'ECONNREFUSED');
  });
});

describe('the S3 listener with --accept-queues', () => {
  let backend: http.Server;
  let backendUrl: string;
  let proxy: InProcessProxy;
  const sink = new CollectingSink();
  before(async () => {
    backend = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end('backend')); });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    proxy = await startInProcessProxy(['--backend', backendUrl, '--accept-queues', '16'], { logLevel: 'info', parts: { sink } });
  });
  after(async () => { await proxy?.close(); await new Promise((r) => backend?.close(r)); });

  test('connections made while the copies are being set up and after are all answered and audited, once each', async () => {
    const get = (i: number): Promise<number> => new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: `/bucket/key-${i}`, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    });
    // Right away: the helper child holds the socket now and must never take a connection.
    const early = Promise.all(Array.from({ length: 100 }, (_, i) => get(i)));
    await proxy.proxy.acceptQueues.ready;
    assert.equal(proxy.proxy.acceptQueues.count(), 16, proxy.logs.text());
    const late = await Promise.all(Array.from({ length: 100 }, (_, i) => get(100 + i)));
    assert.deepEqual(new Set([...(await early), ...late]), new Set([200]));
    await sink.waitFor(() => true, 200, 10_000);
    const keys = sink.events.map((e) => e.api.object).sort();
    assert.equal(keys.length, 200, 'one event per request');
    assert.equal(new Set(keys).size, 200);
  });

  test('the flag: default 16, 1 turns the copies off, out of range names the flag', () => {
    assert.equal(loadServeConfig([], {}).acceptQueues, 16);
    assert.equal(loadServeConfig(['--accept-queues', '1'], {}).acceptQueues, 1);
    assert.equal(loadServeConfig([], { S3AP_ACCEPT_QUEUES: '4' }).acceptQueues, 4);
    assert.throws(() => loadServeConfig(['--accept-queues', '0'], {}), /--accept-queues: expected 1 to 64, got 0/);
    assert.throws(() => loadServeConfig(['--accept-queues', '65'], {}), /--accept-queues: expected 1 to 64/);
    assert.throws(() => loadServeConfig(['--accept-queues', 'many'], {}), /--accept-queues: expected an integer/);
  });
});
