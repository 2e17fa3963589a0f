// Forwarding one request to the backend through an undici Pool, streaming both ways.
// The handler below is undici's dispatch handler: it sees the raw response head and every body
// chunk, which is where bytes and timings are measured without touching the bodies.
import type { Agent as HttpAgent, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { armEarlyAnswer } from './early-answer.js';
import { forwardWithExpect } from './forward-expect.js';
import { forwardRequestHeaders, forwardResponseHeaders, signedHopByHop } from './headers.js';
import type { Outcome } from '../audit/event.js';
import type { RequestObservation } from './observation.js';
import { sendS3Error } from './s3-error-reply.js';
import { LINGER_MS, STALL_DETAIL, StallWatch, type StallKind } from './stall-guard.js';
import { gcHeadroom, isLargeBody } from './gc-headroom.js';

/** Error codes that mean "no usable answer from the backend". */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED',
]);

export interface ForwardContext {
  pool: Dispatcher;
  backendOrigin: string;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** --client-send-timeout, --client-body-timeout (0 = none). */
  clientSendTimeoutMs: number;
  clientBodyTimeoutMs: number;
  onDone: (obs: RequestObservation) => void;
  /** Requests with an `Expect` header go through node:http with this agent (undici cannot send Expect). */
  expectAgent?: HttpAgent | null;
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string }; name?: string };
  return e?.code ?? e?.cause?.code ?? e?.name ?? 'Error';
}

class ForwardHandler implements Dispatcher.DispatchHandler {
  private abortBackend: ((err: Error) => void) | null = null;
  private resumeBackend: (() => void) | null = null;
  private clientGone = false;
  private done = false;
  /** A large body streams (request or response): gcHeadroom.end() is owed at the end. */
  private headroom = false;
  readonly stall: StallWatch;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly obs: RequestObservation,
    private readonly ctx: ForwardContext,
  ) {
    res.on('close', this.onClientClose);
    res.on('drain', this.onDrain);
    if (isLargeBody(req.headers['content-length'])) this.headroom = gcHeadroom.begin();
    this.stall = new StallWatch(obs.socket, ctx.clientSendTimeoutMs, ctx.clientBodyTimeoutMs, this.onStall);
  }

  private onDrain = (): void => {
    this.stall.sendDrained();
    const resume = this.resumeBackend;
    if (resume) resume();
  };

  private onClientClose = (): void => {
    if (this.res.writableFinished) return;
    // The client went away before the whole response was written: stop the backend request too.
    this.clientGone = true;
    if (this.obs.outcome === 'completed') this.obs.outcome = 'client-aborted';
    if (this.abortBackend) this.abortBackend(new Error('client closed the connection'));
    this.finish();
  };

  /**
   * The client stopped reading the response or sending the body for too long (StallWatch): close its
   * connection and abort the backend request, so nothing it holds (a backend connection) stays held.
   */
  private onStall = (kind: StallKind): void => {
    if (this.done || this.clientGone) return;
    const obs = this.obs;
    obs.outcome = 'client-stalled';
    obs.outcomeDetail = STALL_DETAIL[kind];
    if (kind === 'send' || this.res.headersSent) {
      this.res.off('close', this.onClientClose);
      this.res.destroy();
      this.onClientClose();
      return;
    }
    // No body byte for --client-body-timeout: 408 and close, as nginx does on client_body_timeout.
    const message = 'Your socket connection to the server was not read from or written to within the timeout period.';
    obs.statusCode = 408;
    obs.proxyReply = { code: 'RequestTimeout', message };
    obs.responseHeaders = null;
    obs.firstByteMono = performance.now();
    obs.bytesSent = sendS3Error(this.res, 408, 'RequestTimeout', message, (this.req.url ?? '/').split('?', 1)[0]!, obs.id, { connection: 'close' });
    this.res.once('finish', this.finish);
    this.res.once('close', this.finish);
    const socket = obs.socket;
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
    this.clientGone = true;
    const abort = this.abortBackend;
    this.abortBackend = null;
    if (abort) abort(new Error('client stopped sending the request body'));
  };

  onConnect(abort: (err?: Error) => void): void {
    if (this.clientGone) { abort(new Error('client closed the connection')); return; }
    this.abortBackend = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx informational: not relayed (requests with Expect take forward-expect.ts)
    this.resumeBackend = resume;
    const obs = this.obs;
    const headers = forwardResponseHeaders(rawHeaders);
    obs.statusCode = statusCode;
    obs.responseHeaders = headers;
    obs.startResponseCapture(statusCode);
    if (statusCode !== 200) obs.deleteResult = null;
    if (this.clientGone) return false;
    if (!this.headroom && isLargeBody(obs.responseHeader('content-length'))) this.headroom = gcHeadroom.begin();
    armEarlyAnswer(this.req, this.res, obs.socket);
    this.res.writeHead(statusCode, statusText, headers);
    obs.firstByteMono = performance.now();
    return true;
  }

  onData(chunk: Buffer): boolean {
    const obs = this.obs;
    if (this.clientGone) return false;
    // undici's parser, resumed after a pause, hands over an empty body slice: writing it would cost
    // the client socket one write(fd, NULL, 0) per paused chunk (16k per GiB to a slower reader).
    if (chunk.length === 0) return true;
    if (obs.responseCapture !== null) obs.responseCapture.add(chunk);
    if (obs.deleteResult !== null) obs.deleteResult.write(chunk);
    obs.bytesSent += chunk.length;
    if (this.res.write(chunk)) return true;
    this.stall.sendBlocked();
    return false;
  }

  onComplete(): void {
    if (this.clientGone) return;
    this.res.end(this.finish);
    if (!this.res.writableFinished && this.res.writableLength > 0) this.stall.sendBlocked();
  }

  onError(err: Error): void {
    const obs = this.obs;
    if (this.clientGone || this.done) { this.finish(); return; }
    const code = errorCode(err);
    if (this.req.errored || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || (this.req.destroyed && !this.req.complete)) {
      // The request body failed (client aborted mid-upload): nobody to answer.
      obs.outcome = 'client-aborted';
      obs.outcomeDetail = code;
      this.res.destroy();
      this.finish();
      return;
    }
    if (this.res.headersSent) {
      // The backend failed mid-response: close the client connection so it sees a truncated reply, never a hang.
      obs.outcome = 'backend-error';
      obs.outcomeDetail = code;
      this.res.destroy(err);
      this.finish();
      return;
    }
    if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
      // undici refused the request as malformed (e.g. a header value): the client's fault, not the backend's.
      this.reply(400, 'InvalidRequest', 'The request could not be forwarded: ' + err.message, 'rejected', code);
      return;
    }
    if (code.startsWith('HPE_') || code === 'HTTPParserError' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO') {
      // The backend answered something that is not valid HTTP.
      this.reply(502, 'BadGateway', 'The S3 backend sent an invalid response.', 'backend-error', code);
      return;
    }
    const timeout = code === 'UND_ERR_HEADERS_TIMEOUT';
    const outcome = timeout || UNREACHABLE_CODES.has(code) ? 'backend-unreachable' : 'backend-error';
    if (timeout) this.reply(504, 'GatewayTimeout', 'The backend did not answer in time.', outcome, code);
    else this.reply(503, 'ServiceUnavailable', 'The S3 backend is unreachable; please retry.', outcome, code);
  }

  private reply(status: number, s3code: string, message: string, outcome: Outcome, detail: string): void {
    const obs = this.obs;
    obs.outcome = outcome;
    obs.outcomeDetail = detail;
    obs.statusCode = status;
    obs.proxyReply = { code: s3code, message };
    const pathOnly = (this.req.url ?? '/').split('?', 1)[0]!;
    const extra: Record<string, string> = status === 503 ? { 'retry-after': '1' } : {};
    obs.bytesSent = sendS3Error(this.res, status, s3code, message, pathOnly, obs.id, extra);
    obs.firstByteMono = performance.now();
    this.res.once('finish', this.finish);
    this.res.once('close', this.finish);
  }

  private finish = (): void => {
    if (this.done) return;
    this.done = true;
    this.stall.stop();
    if (this.headroom) { this.headroom = false; gcHeadroom.end(); }
    this.res.off('drain', this.onDrain);
    this.obs.endMono = performance.now();
    this.ctx.onDone(this.obs);
  };
}

/** True when the request carries a body (a Content-Length above zero or a Transfer-Encoding). */
function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function forward(req: IncomingMessage, res: ServerResponse, obs: RequestObservation, ctx: ForwardContext): void {
  // Expect, and signed hop-by-hop headers, cannot go through undici (it refuses or rewrites them):
  // those requests take node:http (forward-expect.ts), headers unchanged.
  const keep = signedHopByHop(req.rawHeaders, req.url ?? '/');
  if ((req.headers.expect !== undefined || keep !== null) && ctx.expectAgent) { forwardWithExpect(req, res, obs, ctx, ctx.expectAgent, keep); return; }
  obs.backend = ctx.backendOrigin;
  let body: IncomingMessage | null = null;
  if (hasBody(req)) {
    body = req;
    // Count (and maybe capture) bytes as undici reads them. pause() right after adding the listener
    // keeps the stream still until undici attaches its own listener and resumes it: nothing is missed.
    const scan = obs.deleteRequest;
    req.on('data', (chunk: Buffer) => {
      obs.bytesReceived += chunk.length;
      if (scan !== null) scan.write(chunk);
    });
    req.pause();
  }
  const handler = new ForwardHandler(req, res, obs, ctx);
  if (body !== null) handler.stall.watchBody(body);
  try {
    ctx.pool.dispatch(
      {
        origin: ctx.backendOrigin,
        method: req.method as Dispatcher.HttpMethod,
        path: req.url ?? '/',
        headers: forwardRequestHeaders(req.rawHeaders),
        body,
        headersTimeout: ctx.headersTimeoutMs,
        bodyTimeout: ctx.bodyTimeoutMs,
      },
      handler,
    );
  } catch (err) {
    // undici refuses some requests synchronously (e.g. a header value it considers invalid).
    handler.onError(err as Error);
  }
}
