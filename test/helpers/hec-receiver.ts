// A real HTTP server on 127.0.0.1 that speaks enough Splunk HEC for tests:
//   POST /services/collector/event, /services/collector   concatenated JSON envelopes
//   POST /services/collector/raw                           raw events (JSON objects, one per line)
//   GET  /services/collector/health[/1.0]                  {"text":"HEC is healthy","code":17}
//   POST <any other path>                                  NDJSON (the "ndjson" webhook format)
// It checks `Authorization: Splunk <token>` (Bearer too on non-HEC paths) with HEC's codes (401
// code 2 when missing, 401 code 3 when malformed, 403 code 4 when wrong), requires and records
// X-Splunk-Request-Channel on HEC paths (400 code 10 when missing), gunzips Content-Encoding: gzip,
// and keeps every event and every request in arrival order.
//
// Runtime control: setMode('ok' | 'up' | 'down' | 'hang' | '503' | '401' | 'slow' | 'reject400'), where
// 'down' closes the listener and every socket (connections are refused) and any other mode reopens it
// on the SAME port, and 'reject400' answers every POST (after the auth check) with a bare
// `400 Bad Request` in plain text, no HEC code (a generic endpoint refusing everything);
// rejectEventNumber(n) answers code 6 with invalid-event-number for the event whose number is n (by
// default its `seq` field); setPoison(n) answers 400 code 6 "Invalid data format" WITHOUT
// invalid-event-number to any request that contains event n (nothing of it indexed);
// setMaxContentLength(n) changes the 413 limit; setToken(t) changes the expected token.
// setAckMode('off' | 'on' | 'withhold' | 'error') turns HEC indexer acknowledgement on (hec-ack.ts):
// ackIds per channel, POST /services/collector/ack.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { HecAckState, type AckMode } from './hec-ack.js';

export type ReceiverMode = 'ok' | 'up' | 'down' | 'hang' | '503' | '401' | 'slow' | 'reject400';

export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Body bytes on the wire, and after gunzip. */
  wireBytes: number;
  bodyBytes: number;
  gzip: boolean;
  status: number;
  /** Events accepted from this request. */
  events: number;
  reply: string;
  /** HTTPS with client certificates: the client certificate's CN, else null. */
  clientCertCN: string | null;
}

export interface HecReceiverOptions {
  /** Expected token; undefined = no auth check. */
  token?: string;
  /** Require X-Splunk-Request-Channel (or ?channel=) on HEC endpoints (default true). */
  requireChannel?: boolean;
  /** Number of an event for rejectEventNumber (default: its numeric `seq` field). */
  eventNumber?: (event: unknown) => number | undefined;
  /** Port to listen on (default 0: any free port). */
  port?: number;
  /** Bodies larger than this (after gunzip) get 413, like HEC's max_content_length. */
  maxContentLength?: number;
  /** Serve HTTPS with this key and certificate; `ca` + requestCert require client certificates. */
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; requestCert?: boolean };
}

export interface ModeOptions {
  /** '503': Retry-After header value, seconds. */
  retryAfterSec?: number;
  /** 'slow': delay before each answer, ms (default 200). */
  delayMs?: number;
}

export interface HecReceiver {
  /** Origin, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** `${url}/services/collector/event` */
  eventUrl: string;
  /** The events (the `event` member of each envelope; each object on /raw and NDJSON paths), in order. */
  events: unknown[];
  /** The whole envelopes received on the event endpoints, in order. */
  envelopes: Record<string, unknown>[];
  /** Every request, answered or not, in order. */
  requests: ReceivedRequest[];
  /** Current mode (change it with setMode). */
  readonly mode: ReceiverMode;
  waitForEvents(n: number, timeoutMs?: number): Promise<void>;
  /** Added to a wait's time-out error: the sender's side of the story (setupDispatch sets it). */
  explainTimeout: (() => string) | null;
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  setMode(mode: ReceiverMode, opts?: ModeOptions): Promise<void>;
  rejectEventNumber(n: number | null): void;
  /** Any request containing event number n gets 400 code 6 without invalid-event-number (null: off). */
  setPoison(n: number | null): void;
  /** Bodies larger than n bytes (after gunzip) get 413 (null: no limit). */
  setMaxContentLength(n: number | null): void;
  setToken(token: string | undefined): void;
  /** HEC indexer acknowledgement (hec-ack.ts); 'withhold' accepts and never acknowledges until changed. */
  setAckMode(mode: AckMode): void;
  /** The receiver's acknowledgement books (ids waiting, polls answered, ids acknowledged). */
  readonly ack: HecAckState;
  close(): Promise<void>;
}

/** Splits whitespace-separated JSON values (objects/arrays) as they stream in. */
export class JsonValueSplitter {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escape = false;
  private start = -1;
  private scanned = 0;

  /** Feeds text; returns the complete top-level values found so far (as text). */
  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    for (let i = this.scanned; i < this.buf.length; i++) {
      const c = this.buf.charCodeAt(i);
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === 0x5c) this.escape = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c !== 0x7b && c !== 0x5b) throw new Error(`unexpected ${JSON.stringify(this.buf[i])} between JSON values at ${i}`);
        this.start = i;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          out.push(this.buf.slice(this.start, i + 1));
          this.start = -1;
        }
      }
    }
    // keep only the unfinished value
    if (this.depth === 0) {
      this.buf = '';
      this.scanned = 0;
    } else {
      this.buf = this.buf.slice(this.start);
      this.scanned = this.buf.length;
      this.start = 0;
    }
    return out;
  }

  /** Throws when a value was left unfinished. */
  end(): void {
    if (this.depth !== 0 || this.inString) throw new Error('truncated JSON value at end of body');
  }
}

function hecPathKind(path: string): 'event' | 'raw' | 'health' | 'ack' | 'other' {
  const p = path.replace(/\/+$/, '');
  if (p === '/services/collector/ack' || p === '/services/collector/ack/1.0') return 'ack';
  if (p === '/services/collector/event' || p === '/services/collector' || p === '/services/collector/event/1.0') return 'event';
  if (p === '/services/collector/raw' || p === '/services/collector/raw/1.0') return 'raw';
  if (p === '/services/collector/health' || p === '/services/collector/health/1.0') return 'health';
  return 'other';
}

export async function startHecReceiver(opts: HecReceiverOptions = {}): Promise<HecReceiver> {
  let token = opts.token;
  const requireChannel = opts.requireChannel ?? true;
  const eventNumber = opts.eventNumber ?? ((e: unknown) => {
    const s = (e as { seq?: unknown } | null)?.seq;
    return typeof s === 'number' ? s : undefined;
  });
  let mode: ReceiverMode = 'ok';
  let modeOpts: ModeOptions = {};
  let rejected: number | null = null;
  let poison: number | null = null;
  let maxContentLength: number | null = opts.maxContentLength ?? null;
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  const waiters = new Set<() => void>();
  const events: unknown[] = [];
  const envelopes: Record<string, unknown>[] = [];
  const requests: ReceivedRequest[] = [];
  let closed = false;
  const ack = new HecAckState();

  const notify = (): void => {
    for (const w of [...waiters]) w();
  };

  const answer = (res: ServerResponse, rec: ReceivedRequest, status: number, body: Record<string, unknown> | string, headers: Record<string, string> = {}): void => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    rec.status = status;
    rec.reply = text;
    const send = (): void => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
      res.end(text);
    };
    if (mode === 'slow') {
      const t = setTimeout(send, modeOpts.delayMs ?? 200);
      res.on('close', () => clearTimeout(t));
    } else send();
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    const u = new URL(req.url ?? '/', 'http://x');
    const kind = hecPathKind(u.pathname);
    const rec: ReceivedRequest = {
      method: req.method ?? '',
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: req.headers,
      wireBytes: raw.length,
      bodyBytes: raw.length,
      gzip: false,
      status: 0,
      events: 0,
      reply: '',
      clientCertCN: null,
    };
    const peer = (req.socket as TLSSocket).getPeerCertificate?.();
    if (peer && typeof peer.subject?.CN === 'string') rec.clientCertCN = peer.subject.CN;
    requests.push(rec);
    notify();
    if (mode === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (kind === 'health') {
      if (mode === '503') return answer(res, rec, 503, { text: 'Server is busy', code: 9 });
      return answer(res, rec, 200, { text: 'HEC is healthy', code: 17 });
    }
    if (req.method !== 'POST') return answer(res, rec, 405, { text: 'Method not allowed', code: 404 });
    // auth
    if (mode === '401') return answer(res, rec, 401, { text: 'Invalid authorization', code: 3 });
    if (token !== undefined) {
      const auth = req.headers['authorization'];
      if (!auth) return answer(res, rec, 401, { text: 'Token is required', code: 2 });
      const m = /^(\S+)\s+(.+)$/.exec(auth);
      const schemeOk = m && (m[1] === 'Splunk' || (kind === 'other' && m[1] === 'Bearer'));
      if (!m || !schemeOk) return answer(res, rec, 401, { text: 'Invalid authorization', code: 3 });
      if (m[2] !== token) return answer(res, rec, 403, { text: 'Invalid token', code: 4 });
    }
    if (mode === 'reject400') return answer(res, rec, 400, 'Bad Request');
    if (mode === '503') {
      const h: Record<string, string> = modeOpts.retryAfterSec !== undefined ? { 'retry-after': String(modeOpts.retryAfterSec) } : {};
      return answer(res, rec, 503, { text: 'Server is busy', code: 9 }, h);
    }
    const channel = String(req.headers['x-splunk-request-channel'] ?? u.searchParams.get('channel') ?? '') || null;
    if (kind === 'ack') {
      const a = ack.answer(channel, raw.toString('utf8'));
      return answer(res, rec, a.status, a.body);
    }
    if (kind !== 'other' && (requireChannel || ack.on) && !channel) {
      return answer(res, rec, 400, { text: 'Data channel is missing', code: 10 });
    }
    let body = raw;
    if (String(req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip') {
      try {
        body = gunzipSync(raw);
        rec.gzip = true;
        rec.bodyBytes = body.length;
      } catch {
        return answer(res, rec, 400, { text: 'Invalid data format', code: 6 });
      }
    }
    if (maxContentLength !== null && body.length > maxContentLength) {
      return answer(res, rec, 413, { text: 'Content too large', code: 27 });
    }
    let values: unknown[];
    try {
      const sp = new JsonValueSplitter();
      const texts = sp.push(body.toString('utf8'));
      sp.end();
      values = texts.map((t) => JSON.parse(t) as unknown);
    } catch {
      return answer(res, rec, 400, { text: 'Invalid data format', code: 6, 'invalid-event-number': 0 });
    }
    if (values.length === 0) return answer(res, rec, 400, { text: 'No data', code: 5 });
    if (poison !== null) {
      const p = poison;
      const has = values.some((v) => eventNumber(kind === 'event' ? (v as Record<string, unknown> | null)?.['event'] : v) === p);
      if (has) return answer(res, rec, 400, { text: 'Invalid data format', code: 6 });
    }
    const accepted: unknown[] = [];
    const acceptedEnv: Record<string, unknown>[] = [];
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      let ev: unknown = v;
      if (kind === 'event') {
        const env = v as Record<string, unknown>;
        if (typeof env !== 'object' || env === null || !('event' in env)) {
          return finishPartial(res, rec, accepted, acceptedEnv, 400, { text: 'Event field is required', code: 12, 'invalid-event-number': i });
        }
        if (env['event'] === '' || env['event'] === null) {
          return finishPartial(res, rec, accepted, acceptedEnv, 400, { text: 'Event field cannot be blank', code: 13, 'invalid-event-number': i });
        }
        ev = env['event'];
      }
      if (rejected !== null && eventNumber(ev) === rejected) {
        return finishPartial(res, rec, accepted, acceptedEnv, 400, { text: 'Invalid data format', code: 6, 'invalid-event-number': i });
      }
      accepted.push(ev);
      if (kind === 'event') acceptedEnv.push(v as Record<string, unknown>);
    }
    const ackId = kind !== 'other' ? ack.issue(channel ?? '') : null;
    return finishPartial(res, rec, accepted, acceptedEnv, 200, ackId === null ? { text: 'Success', code: 0 } : { text: 'Success', code: 0, ackId });
  };

  // Events before a refused one are indexed, as HEC does.
  const finishPartial = (res: ServerResponse, rec: ReceivedRequest, accepted: unknown[], env: Record<string, unknown>[], status: number, body: Record<string, unknown>): void => {
    for (const e of accepted) events.push(e);
    for (const e of env) envelopes.push(e);
    rec.events = accepted.length;
    notify();
    answer(res, rec, status, body);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
    req.on('error', () => {});
  };
  const server: Server = opts.tls
    ? createHttpsServer(
        { key: opts.tls.key, cert: opts.tls.cert, ca: opts.tls.ca, requestCert: opts.tls.requestCert === true, rejectUnauthorized: opts.tls.requestCert === true },
        onRequest,
      )
    : createServer(onRequest);
  server.on('tlsClientError', () => {});
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const onErr = (err: Error): void => reject(err);
      server.once('error', onErr);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', onErr);
        resolve((server.address() as AddressInfo).port);
      });
    });

  const stopListening = async (): Promise<void> => {
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const r of hanging) r.destroy();
    hanging.clear();
    for (const s of sockets) s.destroy();
    sockets.clear();
    await done;
  };

  const port = await listen(opts.port ?? 0);
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  const waitFor = (cond: () => boolean, what: () => string, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      if (cond()) return resolve();
      const check = (): void => {
        if (cond()) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        let why = '';
        try {
          why = r.explainTimeout ? `; sender: ${r.explainTimeout()}` : '';
        } catch (err) {
          why = `; sender: cannot explain (${(err as Error).message})`;
        }
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}${why}`));
      }, timeoutMs);
      waiters.add(check);
    });

  const r: HecReceiver = {
    url,
    port,
    explainTimeout: null,
    eventUrl: `${url}/services/collector/event`,
    events,
    envelopes,
    requests,
    get mode() {
      return mode;
    },
    waitForEvents(n, timeoutMs = 5000) {
      return waitFor(() => events.length >= n, () => `${n} events (have ${events.length}, ${requests.length} requests)`, timeoutMs);
    },
    waitForRequests(n, timeoutMs = 5000) {
      return waitFor(() => requests.length >= n, () => `${n} requests (have ${requests.length})`, timeoutMs);
    },
    async setMode(m, o = {}) {
      if (closed) throw new Error('receiver closed');
      const wasDown = mode === 'down';
      mode = m === 'up' ? 'ok' : m;
      modeOpts = o;
      if (m === 'down' && !wasDown) await stopListening();
      else if (m !== 'down' && wasDown) await listen(port);
      if (m !== 'hang') {
        for (const res of hanging) res.destroy();
        hanging.clear();
      }
    },
    rejectEventNumber(n) {
      rejected = n;
    },
    setPoison(n) {
      poison = n;
    },
    setMaxContentLength(n) {
      maxContentLength = n;
    },
    setToken(t) {
      token = t;
    },
    setAckMode(m) {
      ack.setMode(m);
    },
    ack,
    async close() {
      if (closed) return;
      closed = true;
      if (mode !== 'down') await stopListening();
      for (const w of [...waiters]) w();
    },
  };
  return r;
}
