// A backend that records exactly what the proxy sent it (method, target, raw headers, body bytes)
// and answers as each test tells it to: for proving byte-exact forwarding and failure handling.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** True when the request body ended normally; false when the connection closed first. */
  complete: boolean;
}

export type Responder = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export interface SniffBackend {
  url: string;
  port: number;
  seen: SeenRequest[];
  respond: Responder;
  /** Called as soon as a request's head arrives (before its body), e.g. to hang or reset. */
  onHead: ((req: IncomingMessage, res: ServerResponse) => boolean) | null;
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const okResponder: Responder = (_req, res) => {
  res.writeHead(200, { 'x-amz-request-id': 'SNIFF', etag: '"e"' });
  res.end();
};

export async function startSniffBackend(): Promise<SniffBackend> {
  const sockets = new Set<Socket>();
  const backend: SniffBackend = {
    url: '', port: 0, seen: [], respond: okResponder, onHead: null,
    async waitFor(n, timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      while (backend.seen.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      if (backend.seen.length < n) throw new Error(`backend saw ${backend.seen.length} requests, wanted ${n}`);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    if (backend.onHead && backend.onHead(req, res)) {
      const rec: SeenRequest = { method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, headers: req.headers, body: Buffer.alloc(0), complete: false };
      backend.seen.push(rec);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => { rec.complete = true; rec.body = Buffer.concat(chunks); });
      req.on('close', () => { rec.body = Buffer.concat(chunks); });
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      backend.seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, headers: req.headers, body, complete: true });
      backend.respond(req, res, body);
    });
  });
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  backend.port = (server.address() as AddressInfo).port;
  backend.url = `http://127.0.0.1:${backend.port}`;
  return backend;
}
