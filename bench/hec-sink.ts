// A lean Splunk HEC receiver for the benchmark, run in its own process so its CPU is not counted
// against the proxy. It checks what HEC checks on the hot path (Splunk token, request channel,
// gzip), counts events (envelopes are "\n"-terminated: one per line), spot-checks that the first
// and last envelope of each body parse and carry an "event", and keeps counters only, never the
// events (test/helpers/hec-receiver.ts keeps every event: right for tests, a memory and CPU sink
// at 100k events/s).
//
// Usage: node dist/bench/hec-sink.js <token>
// Prints "READY {"url":..,"control":..}". Control API (its own listener, unaffected by the modes):
//   GET  /stats              counters as JSON
//   POST /mode?m=ok|down|hang  'down' closes the listener and every socket (connection refused);
//                             'hang' reads requests and never answers; 'ok' reopens on the same port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

type Mode = 'ok' | 'down' | 'hang';

const token = process.argv[2] ?? '';
let mode: Mode = 'ok';
const stats = {
  requests: 0,
  events: 0,
  /** Body bytes as received (after gzip when gzip was used) and after gunzip. */
  bodyWireBytes: 0,
  bodyBytes: 0,
  /** Every byte read from sockets: request lines, headers and bodies. */
  socketBytesRead: 0,
  gzipRequests: 0,
  hanging: 0,
  rejected: 0,
  invalid: 0,
  byStatus: {} as Record<string, number>,
};
const sockets = new Set<Socket>();
const hanging = new Set<ServerResponse>();
let closedSocketBytes = 0;

const OK = JSON.stringify({ text: 'Success', code: 0 });

function reply(res: ServerResponse, status: number, body: string): void {
  stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function countLines(b: Buffer): number {
  let n = 0;
  let i = -1;
  while ((i = b.indexOf(0x0a, i + 1)) !== -1) n++;
  if (b.length > 0 && b[b.length - 1] !== 0x0a) n++;
  return n;
}

function spotCheck(b: Buffer): boolean {
  try {
    const first = b.indexOf(0x0a);
    const a = JSON.parse(b.subarray(0, first === -1 ? b.length : first).toString('utf8')) as { event?: unknown };
    const end = b[b.length - 1] === 0x0a ? b.length - 1 : b.length;
    const lastStart = b.lastIndexOf(0x0a, end - 1) + 1;
    const z = JSON.parse(b.subarray(lastStart, end).toString('utf8')) as { event?: unknown };
    return a.event !== undefined && z.event !== undefined;
  } catch {
    return false;
  }
}

function handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
  stats.requests++;
  if (mode === 'hang') {
    stats.hanging++;
    hanging.add(res);
    res.on('close', () => hanging.delete(res));
    return;
  }
  const path = (req.url ?? '/').split('?', 1)[0]!.replace(/\/+$/, '');
  if (path.endsWith('/services/collector/health') || path.endsWith('/services/collector/health/1.0')) {
    return reply(res, 200, JSON.stringify({ text: 'HEC is healthy', code: 17 }));
  }
  if (token && req.headers['authorization'] !== `Splunk ${token}`) {
    stats.rejected++;
    return reply(res, 403, JSON.stringify({ text: 'Invalid token', code: 4 }));
  }
  if (!req.headers['x-splunk-request-channel'] && !(req.url ?? '').includes('channel=')) {
    stats.rejected++;
    return reply(res, 400, JSON.stringify({ text: 'Data channel is missing', code: 10 }));
  }
  let body = raw;
  stats.bodyWireBytes += raw.length;
  if (String(req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip') {
    stats.gzipRequests++;
    try {
      body = gunzipSync(raw);
    } catch {
      stats.invalid++;
      return reply(res, 400, JSON.stringify({ text: 'Invalid data format', code: 6 }));
    }
  }
  stats.bodyBytes += body.length;
  if (body.length === 0 || !spotCheck(body)) {
    stats.invalid++;
    return reply(res, 400, JSON.stringify({ text: 'Invalid data format', code: 6, 'invalid-event-number': 0 }));
  }
  stats.events += countLines(body);
  reply(res, 200, OK);
}

const server: Server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => handle(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
  req.on('error', () => {});
});
server.keepAliveTimeout = 30_000;
server.on('connection', (s: Socket) => {
  sockets.add(s);
  s.on('close', () => {
    closedSocketBytes += s.bytesRead;
    sockets.delete(s);
  });
});

function listen(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function setMode(m: Mode): Promise<void> {
  const was = mode;
  mode = m;
  if (m === 'down' && was !== 'down') {
    const done = new Promise<void>((r) => server.close(() => r()));
    for (const r of hanging) r.destroy();
    hanging.clear();
    for (const s of sockets) s.destroy();
    await done;
  } else if (m !== 'down' && was === 'down') {
    await listen(port);
  }
  if (m !== 'hang') {
    for (const r of hanging) r.destroy();
    hanging.clear();
  }
}

const port = await listen(0);
const control = createServer((req, res) => {
  const u = new URL(req.url ?? '/', 'http://x');
  if (u.pathname === '/stats') {
    let live = 0;
    for (const s of sockets) live += s.bytesRead;
    const body = JSON.stringify({ ...stats, socketBytesRead: closedSocketBytes + live, mode });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
    return;
  }
  if (u.pathname === '/mode' && req.method === 'POST') {
    const m = u.searchParams.get('m') as Mode;
    if (m !== 'ok' && m !== 'down' && m !== 'hang') { res.writeHead(400); res.end(); return; }
    setMode(m).then(() => { res.writeHead(200); res.end(m); }, (err: Error) => { res.writeHead(500); res.end(err.message); });
    return;
  }
  res.writeHead(404);
  res.end();
});
control.listen(0, '127.0.0.1', () => {
  const cport = (control.address() as AddressInfo).port;
  process.stdout.write(`READY ${JSON.stringify({ url: `http://127.0.0.1:${port}`, control: `http://127.0.0.1:${cport}` })}\n`);
});
const stop = (): void => {
  for (const r of hanging) r.destroy();
  for (const s of sockets) s.destroy();
  server.close();
  control.close();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
