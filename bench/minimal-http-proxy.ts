// The runner-up engine as a minimal proxy: http-proxy with a keep-alive agent, nothing else.
// Usage: node dist/bench/minimal-http-proxy.js <backend origin>
// Prints "LISTENING <port>" when ready.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';

const target = process.argv[2];
if (!target) {
  process.stderr.write('usage: minimal-http-proxy <backend origin>\n');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 4000 });
const proxy = httpProxy.createProxyServer({ target, agent, xfwd: false });
// Without an 'error' handler http-proxy throws (REFERENCE §5).
proxy.on('error', (_err, _req, res) => {
  const r = res as http.ServerResponse;
  if ('headersSent' in r && !r.headersSent) {
    r.writeHead(502, { 'content-type': 'text/plain' });
    r.end('bad gateway');
  } else if ('destroy' in r) r.destroy();
});

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => proxy.web(req, res));
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`);
});
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
