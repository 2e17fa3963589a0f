// Fallback backend when nginx is not installed: GET serves files under <root> (the 4 KiB object is
// held in memory), PUT stores the body under <root> (temp file, then rename), like nginx's WebDAV PUT.
// Usage: node dist/bench/node-backend.js <root>; prints "LISTENING <port>".
import { createReadStream, createWriteStream, readFileSync, renameSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, normalize } from 'node:path';
import { mkdirSync } from 'node:fs';
import { pipeline } from 'node:stream';

const root = process.argv[2] ?? '.';
const cache = new Map<string, Buffer>();
let tmpN = 0;

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const path = normalize(decodeURIComponent((req.url ?? '/').split('?', 1)[0]!)).replace(/^(\.\.(\/|$))+/, '');
  const file = join(root, path);
  if (req.method === 'GET' || req.method === 'HEAD') {
    let st;
    try { st = statSync(file); } catch { res.writeHead(404); res.end(); return; }
    if (!st.isFile()) { res.writeHead(404); res.end(); return; }
    if (st.size <= 64 * 1024) {
      let b = cache.get(file);
      if (!b) { b = readFileSync(file); cache.set(file, b); }
      res.writeHead(200, { 'content-length': b.length, 'content-type': 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : b);
      return;
    }
    res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') { res.end(); return; }
    pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), res, () => {});
    return;
  }
  if (req.method === 'PUT') {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${tmpN++}`;
    pipeline(req, createWriteStream(tmp), (err) => {
      if (err) { res.writeHead(500); res.end(); return; }
      renameSync(tmp, file);
      cache.delete(file);
      res.writeHead(201, { 'content-length': 0 });
      res.end();
    });
    return;
  }
  res.writeHead(405);
  res.end();
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`));
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
