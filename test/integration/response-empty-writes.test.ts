// A large response to a client that reads slower than the backend sends: undici pauses its parser
// when the client socket is full and, on resume, hands the handler an empty body slice. The proxy
// must not pass it on: an empty res.write() is one write(fd, NULL, 0) syscall per paused chunk.
// Counted at the client socket (every write the response makes goes through socket.write), with
// the body checked byte for byte and the observation's byte count.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { createLogger } from '../../src/log.js';
import type { RequestObservation, RequestObserver } from '../../src/proxy/observation.js';
import { startProxy, type ProxyServer } from '../../src/proxy/server.js';
import { LogSink, tempDir } from '../helpers/proxy.js';

const CHUNK = 64 * 1024;
const CHUNKS = 96;
const body = Buffer.alloc(CHUNK * CHUNKS);
for (let i = 0; i < body.length; i += 4) body.writeUInt32LE(i, i);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let backend: http.Server;
let proxy: ProxyServer;
let dir: { path: string; remove(): void };
const seen: RequestObservation[] = [];
/** Writes to client sockets: [bytes] of each socket.write() call. */
const writes: number[] = [];

before(async () => {
  backend = http.createServer((_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-length': String(body.length) });
    let i = 0;
    const pump = (): void => {
      while (i < CHUNKS) {
        const ok = res.write(body.subarray(i * CHUNK, (i + 1) * CHUNK));
        i++;
        if (!ok) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  dir = tempDir();
  const config = loadServeConfig(['--listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', backendUrl], {});
  const observer: RequestObserver = { capturing: false, end: (obs) => { seen.push(obs); } };
  proxy = await startProxy({ config, backend: backendUrl, logger: createLogger('info', new LogSink()), observer });
  proxy.server.prependListener('connection', (socket: Socket) => {
    const write = socket.write;
    socket.write = function (this: Socket, data: unknown, ...rest: unknown[]) {
      writes.push(typeof data === 'string' ? Buffer.byteLength(data) : (data as Uint8Array).length);
      return (write as (...a: unknown[]) => boolean).call(this, data, ...rest);
    } as Socket['write'];
  });
});

after(async () => {
  await proxy.close(1000);
  await new Promise<void>((r) => backend.close(() => r()));
  dir.remove();
});

test('a slow reader of a 6 MiB GET: every byte arrives, and no empty write reaches its socket', async () => {
  const got: Buffer[] = [];
  let pauses = 0;
  await new Promise<void>((resolve, reject) => {
    http.get(`${proxy.url}/bucket/large`, { agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      res.on('data', (c: Buffer) => {
        got.push(c);
        // Read slower than the backend writes: the proxy's client socket fills, undici pauses.
        if (got.length % 4 === 0) { pauses++; res.pause(); setTimeout(() => res.resume(), 5); }
      });
      res.on('end', resolve);
      res.on('error', reject);
    }).on('error', reject);
  });
  const all = Buffer.concat(got);
  assert.equal(all.length, body.length);
  assert.equal(sha(all), sha(body));
  assert.ok(pauses > 10, 'the client paused often enough to fill the socket');
  for (let i = 0; i < 50 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.bytesSent, body.length);
  const dataWrites = writes.filter((n) => n > 0);
  assert.ok(dataWrites.length >= CHUNKS / 2, `the body went out in chunk writes (${dataWrites.length})`);
  assert.deepEqual(writes.filter((n) => n === 0), [], `no empty writes (of ${writes.length} writes)`);
});
