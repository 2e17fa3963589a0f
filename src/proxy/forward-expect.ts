// Forwarding a request that carries an `Expect` header. undici cannot send `Expect` over HTTP/1.1
// (REFERENCE §5), so these requests take node:http: the header goes to the backend unchanged (it
// may be signed), the backend decides (its `100 Continue` is relayed to the client, or its final
// answer, before any body), and the client's body flows to the backend as the client sends it.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Outcome } from '../audit/event.js';
import { armEarlyAnswer } from './early-answer.js';
import type { ForwardContext } from './forward.js';
import { forwardRequestHeaders, forwardResponseHeaders } from './headers.js';
import type { RequestObservation } from './observation.js';
import { sendS3Error } from './s3-error-reply.js';
import { LINGER_MS, STALL_DETAIL, StallWatch, type StallKind } from './stall-guard.js';
import { gcHeadroom, isLargeBody } from './gc-headroom.js';

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE']);

/** Keep-alive agent for the backend origin (the node:http path only). */
export function expectAgent(origin: string, opts: { maxSockets: number; ca?: Buffer; rejectUnauthorized?: boolean }): http.Agent {
  return origin.startsWith('https:')
    ? new https.Agent({ keepAlive: true, maxSockets: opts.maxSockets, ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}) })
    : new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets });
}

export function forwardWithExpect(req: IncomingMessage, res: ServerResponse, obs: RequestObservation, ctx: ForwardContext, agent: http.Agent,
  keep: ReadonlySet<string> | null = null): void {
  obs.backend = ctx.backendOrigin;
  const origin = new URL(ctx.backendOrigin);
  const mod = origin.protocol === 'https:' ? https : http;
  let done = false;
  let clientGone = false;
  let backendDone = false; // the backend's exchange is over: no more body goes to it
  let gotResponse = false;
  // A large body streams (request or response): gcHeadroom.end() is owed at the end.
  let headroom = isLargeBody(req.headers['content-length']) && gcHeadroom.begin();
  const finish = (): void => {
    if (done) return;
    done = true;
    if (headroom) { headroom = false; gcHeadroom.end(); }
    obs.endMono = performance.now();
    ctx.onDone(obs);
  };
  const reply = (status: number, code: string, message: string, outcome: Outcome, detail: string): void => {
    obs.outcome = outcome;
    obs.outcomeDetail = detail;
    obs.statusCode = status;
    obs.proxyReply = { code, message };
    obs.firstByteMono = performance.now();
    res.once('finish', finish);
    res.once('close', finish);
    obs.bytesSent = sendS3Error(res, status, code, message, (req.url ?? '/').split('?', 1)[0]!, obs.id, status === 503 ? { 'retry-after': '1' } : {});
  };

  // A client that stops reading the answer, or stops sending the body it was asked for, is closed
  // (--client-send-timeout, --client-body-timeout), and its backend request with it.
  const onStall = (kind: StallKind): void => {
    if (done || clientGone) return;
    obs.outcome = 'client-stalled';
    obs.outcomeDetail = STALL_DETAIL[kind];
    clientGone = true;
    backendDone = true;
    breq.destroy();
    if (kind === 'body' && !res.headersSent) {
      const message = 'Your socket connection to the server was not read from or written to within the timeout period.';
      obs.statusCode = 408;
      obs.proxyReply = { code: 'RequestTimeout', message };
      obs.firstByteMono = performance.now();
      res.once('finish', finish);
      res.once('close', finish);
      obs.bytesSent = sendS3Error(res, 408, 'RequestTimeout', message, (req.url ?? '/').split('?', 1)[0]!, obs.id, { connection: 'close' });
      const socket = obs.socket;
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
      return;
    }
    res.destroy();
    finish();
  };
  const stall = new StallWatch(obs.socket, ctx.clientSendTimeoutMs, ctx.clientBodyTimeoutMs, onStall);
  res.once('close', () => stall.stop());

  const breq = mod.request({
    protocol: origin.protocol, hostname: origin.hostname.replace(/^\[|\]$/g, ''), port: origin.port || undefined,
    method: req.method, path: req.url ?? '/', agent, setHost: false,
    headers: forwardRequestHeaders(req.rawHeaders, keep),
  });
  breq.setTimeout(ctx.headersTimeoutMs);
  breq.on('timeout', () => breq.destroy(Object.assign(new Error('backend timeout'), { code: gotResponse ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT' })));

  // The client's body, as it arrives, to the backend (counted; DeleteObjects scanned).
  const scan = obs.deleteRequest;
  const onData = (chunk: Buffer): void => {
    obs.bytesReceived += chunk.length;
    if (scan !== null) scan.write(chunk);
    if (backendDone) return;
    if (!breq.write(chunk)) req.pause();
  };
  req.on('data', onData);
  breq.on('drain', () => { if (!backendDone) req.resume(); });
  req.once('end', () => { if (!backendDone) breq.end(); });

  breq.on('continue', () => {
    // The backend asked for the body: relay its 100 (the client sends only now).
    if (!res.headersSent && !clientGone) {
      res.writeContinue();
      stall.watchBody(req);
    }
  });

  breq.on('response', (bres: IncomingMessage) => {
    gotResponse = true;
    breq.setTimeout(ctx.bodyTimeoutMs);
    const status = bres.statusCode ?? 502;
    const headers = forwardResponseHeaders(bres.rawHeaders.map((s) => Buffer.from(s, 'latin1')));
    obs.statusCode = status;
    obs.responseHeaders = headers;
    obs.startResponseCapture(status);
    if (status !== 200) obs.deleteResult = null;
    if (clientGone) { bres.destroy(); return; }
    if (!headroom && isLargeBody(bres.headers['content-length'])) headroom = gcHeadroom.begin();
    armEarlyAnswer(req, res, obs.socket);
    res.writeHead(status, bres.statusMessage, headers);
    obs.firstByteMono = performance.now();
    const onDrain = (): void => { stall.sendDrained(); bres.resume(); };
    res.on('drain', onDrain);
    bres.on('data', (chunk: Buffer) => {
      if (clientGone) return;
      if (obs.responseCapture !== null) obs.responseCapture.add(chunk);
      if (obs.deleteResult !== null) obs.deleteResult.write(chunk);
      obs.bytesSent += chunk.length;
      if (!res.write(chunk)) {
        bres.pause();
        stall.sendBlocked();
      }
    });
    bres.once('end', () => {
      res.off('drain', onDrain);
      if (!breq.writableFinished) {
        // The backend answered before it had the whole body: that backend connection is done.
        backendDone = true;
        breq.destroy();
      }
      if (clientGone) return;
      res.end(finish);
    });
    bres.once('aborted', () => {
      if (clientGone || done) return;
      obs.outcome = 'backend-error';
      obs.outcomeDetail = 'ECONNRESET';
      res.destroy();
      finish();
    });
  });

  breq.on('error', (err: NodeJS.ErrnoException) => {
    backendDone = true;
    if (clientGone || done) { finish(); return; }
    const code = err.code ?? 'Error';
    if (req.errored || (req.destroyed && !req.complete)) {
      obs.outcome = 'client-aborted';
      obs.outcomeDetail = code;
      res.destroy();
      finish();
      return;
    }
    if (res.headersSent) {
      if (res.writableFinished) return;
      obs.outcome = 'backend-error';
      obs.outcomeDetail = code;
      res.destroy(err);
      finish();
      return;
    }
    if (code.startsWith('HPE_')) { reply(502, 'BadGateway', 'The S3 backend sent an invalid response.', 'backend-error', code); return; }
    if (code === 'UND_ERR_HEADERS_TIMEOUT') { reply(504, 'GatewayTimeout', 'The backend did not answer in time.', 'backend-unreachable', code); return; }
    if (code === 'ERR_INVALID_HTTP_TOKEN' || code === 'ERR_INVALID_CHAR' || code === 'ERR_HTTP_INVALID_HEADER_VALUE') {
      reply(400, 'InvalidRequest', 'The request could not be forwarded: ' + err.message, 'rejected', code);
      return;
    }
    reply(503, 'ServiceUnavailable', 'The S3 backend is unreachable; please retry.', UNREACHABLE.has(code) ? 'backend-unreachable' : 'backend-error', code);
  });

  res.on('close', () => {
    if (res.writableFinished) return;
    clientGone = true;
    if (obs.outcome === 'completed') obs.outcome = 'client-aborted';
    backendDone = true;
    breq.destroy();
    finish();
  });
  req.once('error', () => { if (!req.complete && !backendDone) { backendDone = true; breq.destroy(); } });
  req.once('aborted', () => { if (!req.complete && !backendDone) { backendDone = true; breq.destroy(); } });

  // Send the head now: the backend answers `Expect` before any body.
  breq.flushHeaders();
}
