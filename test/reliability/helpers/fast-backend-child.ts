// A minimal, fast S3-like backend in its own process, standing in for the nginx/S3 backend of the
// full-load scenarios (s3rver, a full S3 emulator in JS, caps the proxy at a few hundred requests/s on
// a small box, far below what the proxy itself sustains). It does not check signatures (the proxy
// forwards the client's signed request as is): GET and HEAD of any key answer a fixed object of
// `size` bytes (keys containing "big": `bigSize` bytes, when given), PUT drains the body and answers
// 200 with an ETag, anything else 200 with an empty body.
// Usage: node fast-backend-child.js '{"size":4096}'  -> prints "READY <port>" on stdout.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const { size, port, bigSize } = JSON.parse(process.argv[2] ?? '{}') as { size?: number; port?: number; bigSize?: number };
const body = Buffer.alloc(size ?? 4096, 'o');
const big = bigSize ? Buffer.alloc(bigSize, 'B') : null;
const etag = '"0f343b0931126a20f133d67c2b018a3b"';
const objectHeaders = {
  'content-type': 'application/octet-stream',
  'content-length': String(body.length),
  etag,
  'last-modified': 'Mon, 25 Nov 2024 10:00:00 GMT',
  'accept-ranges': 'bytes',
};
let n = 0;
const server = createServer((req, res) => {
  const rid = `FB${(n++).toString(16).padStart(14, '0')}`;
  if (req.method === 'GET' || req.method === 'HEAD') {
    req.resume();
    const obj = big !== null && (req.url ?? '').includes('big') ? big : body;
    res.writeHead(200, { ...objectHeaders, 'content-length': String(obj.length), 'x-amz-request-id': rid });
    res.end(req.method === 'GET' ? obj : undefined);
    return;
  }
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { etag, 'content-length': '0', 'x-amz-request-id': rid });
    res.end();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port ?? 0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
// Exit with the parent (no orphan if the test process dies).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
