// The S3 listener: accepts client connections, hands each request to the forwarder, reports each
// finished exchange to the observer, and shuts down gracefully.
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Pool } from 'undici';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import { forward, type ForwardContext } from './forward.js';
import { CaptureAccount, captureBudget, RequestObservation, type RequestObserver } from './observation.js';
import { DeleteObjectsRequestStream, DeleteObjectsResultStream } from '../s3/index.js';
import { nextRequestId } from './request-id.js';
import { rawS3Error, sendS3Error } from './s3-error-reply.js';
import type { RequestGate } from './gate.js';
import { ConfigError } from '../errors.js';
import { interpretRequest } from '../s3/index.js';
import { interpretPolicyFromConfig } from './interpret-policy.js';
import { expectAgent } from './forward-expect.js';
import { isEarlyAnswer, isLingering } from './early-answer.js';
import { endThenDestroy } from './stall-guard.js';
import { admitOrRefuse, type Admission } from './admission.js';
import { addAcceptQueues, type AcceptQueues } from './accept-queues.js';
import cluster from 'node:cluster';

export { ERROR_CAPTURE_LIMIT } from './observation.js';

export interface ProxyServer {
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
  /** Requests being served now. */
  inFlight(): number;
  /** The listening socket's polled copies (--accept-queues). */
  readonly acceptQueues: AcceptQueues;
  /** Stop accepting, let in-flight requests finish within the deadline, then close. */
  close(deadlineMs: number): Promise<void>;
}

export interface ProxyOptions {
  config: ServeConfig;
  backend: string;
  logger: Logger;
  observer: RequestObserver;
  /** Optional check before forwarding (signature verification); null = forward everything. */
  gate?: RequestGate | null;
  /** serve --audit-required: room for each request's event is promised before it goes on; null = off. */
  admission?: Admission | null;
}

function backendPool(cfg: ServeConfig, origin: string): Pool {
  const https = origin.startsWith('https:');
  return new Pool(origin, {
    connections: cfg.backendConnections,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    // Idle backend sockets close after 4 s even when the backend's Keep-Alive hint is longer: with no
    // cap on connections, a burst must not leave its peak of descriptors open for a minute.
    keepAliveMaxTimeout: 4_000,
    headersTimeout: cfg.backendHeadersTimeoutMs,
    bodyTimeout: cfg.backendBodyTimeoutMs,
    connect: {
      timeout: cfg.connectTimeoutMs,
      ...(https && cfg.backendCa ? { ca: readFileSync(cfg.backendCa) } : {}),
      ...(https && cfg.backendInsecureSkipVerify ? { rejectUnauthorized: false } : {}),
    },
  });
}

/** CompleteMultipartUpload and CopyObject/UploadPartCopy can answer 200 with an <Error> body. */
function mayHideError(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  return req.method === 'POST' ? url.includes('?') : req.method === 'PUT' && req.headers['x-amz-copy-source'] !== undefined;
}

function isDeleteObjects(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const q = (req.url ?? '').indexOf('?');
  return q !== -1 && /[?&]delete(?:=|&|$)/.test((req.url ?? '').slice(q));
}

/** An aws-chunked body (SigV4 streaming upload): its framing is removed before the body is read. */
function isAwsChunked(req: IncomingMessage): boolean {
  const sha = req.headers['x-amz-content-sha256'];
  return (typeof sha === 'string' && sha.startsWith('STREAMING-')) || /aws-chunked/i.test(String(req.headers['content-encoding'] ?? ''));
}

/** The URL a client on this host uses for the S3 listener (a wildcard address becomes loopback). */
export function listenerUrl(cfg: ServeConfig, port: number): string {
  const scheme = cfg.tlsCert ? 'https' : 'http';
  const host = cfg.listen.host === '0.0.0.0' || cfg.listen.host === '::' ? '127.0.0.1' : cfg.listen.host;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function startProxy(opts: ProxyOptions): Promise<ProxyServer> {
  const { config: cfg, logger, observer } = opts;
  const gate = opts.gate ?? null;
  const admission = opts.admission ?? null;
  const pool = backendPool(cfg, opts.backend);
  const interpretPolicy = interpretPolicyFromConfig(cfg);
  let active = 0;
  const idle: Array<() => void> = [];

  /** The request being read on each socket: a parse error mid-body belongs to it (see 'clientError'). */
  const reading = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse; obs: RequestObservation }>();
  /** Requests whose body Node could not parse, answered with an S3 error on the socket: what their event says. */
  const refusedMidBody = new WeakMap<RequestObservation, { status: number; code: string; message: string; detail: string; sent: number }>();

  const onDone = (obs: RequestObservation): void => {
    active--;
    if (reading.get(obs.socket)?.obs === obs) reading.delete(obs.socket);
    const refused = refusedMidBody.get(obs);
    if (refused !== undefined) {
      // A body cut short by the client's FIN is its abort (it may be gone, or still reading the 400).
      obs.outcome = refused.detail === 'HPE_INVALID_EOF_STATE' ? 'client-aborted' : 'rejected';
      obs.outcomeDetail = refused.detail;
      obs.statusCode = refused.status;
      obs.proxyReply = { code: refused.code, message: refused.message };
      obs.responseHeaders = null;
      obs.bytesSent = refused.sent;
    }
    if (active === 0) while (idle.length) idle.pop()!();
    if (logger.isLevelEnabled('debug')) {
      logger.debug({
        reqId: obs.id, method: obs.req.method, path: (obs.req.url ?? '').split('?', 1)[0],
        status: obs.statusCode, outcome: obs.outcome, rx: obs.bytesReceived, tx: obs.bytesSent,
        ms: Math.round((obs.endMono - obs.startMono) * 1000) / 1000,
      }, 'request');
    }
    try {
      observer.end(obs);
    } catch (err) {
      logger.error({ err, reqId: obs.id }, 'audit observer failed');
    }
    obs.releaseCaptures();
  };

  // Requests with an Expect header go through node:http (undici cannot send Expect over HTTP/1.1).
  const agent = expectAgent(opts.backend, {
    maxSockets: cfg.backendConnections,
    ...(cfg.backendCa ? { ca: readFileSync(cfg.backendCa) } : {}),
    ...(cfg.backendInsecureSkipVerify ? { rejectUnauthorized: false } : {}),
  });
  const ctx: ForwardContext = {
    pool, backendOrigin: opts.backend, onDone, expectAgent: agent,
    headersTimeoutMs: cfg.backendHeadersTimeoutMs, bodyTimeoutMs: cfg.backendBodyTimeoutMs,
    clientSendTimeoutMs: cfg.clientSendTimeoutMs, clientBodyTimeoutMs: cfg.clientBodyTimeoutMs,
  };

  /** Answer a request at the proxy with an S3 error; it is audited as `rejected`. */
  const rejectRequest = (req: IncomingMessage, res: ServerResponse, obs: RequestObservation, status: number, code: string, message: string): void => {
    obs.statusCode = status;
    obs.outcome = 'rejected';
    obs.outcomeDetail = code;
    obs.proxyReply = { code, message };
    const done = (): void => { if (obs.endMono < 0) { obs.endMono = performance.now(); onDone(obs); } };
    res.once('finish', done);
    res.once('close', done);
    obs.firstByteMono = performance.now();
    // The body (if any) is not read: close the connection rather than drain an unknown amount.
    obs.bytesSent = sendS3Error(res, status, code, message, (req.url ?? '/').split('?', 1)[0]!, obs.id, { connection: 'close' });
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // A connection in a lingering close after an early answer: what follows the body is not a request.
    if (isLingering(req.socket)) { req.socket.destroy(); return; }
    // No response header the backend did not send: Node would add `Keep-Alive: timeout=65` to every
    // reply (a client that copies a reply's headers into its next signed request would then sign a
    // header the backend never sees). Only the header goes: the server's idle timeout stays.
    (res as unknown as { _keepAliveTimeout: number })._keepAliveTimeout = 0;
    const reservation = admitOrRefuse(admission, req, res);
    if (reservation === null) return; // 503 SlowDown: no room to keep its event (--audit-required)
    active++;
    const obs = new RequestObservation(nextRequestId(), req);
    obs.auditReservation = reservation;
    reading.set(req.socket, { req, res, obs });
    // One reading shared with the backend, or a refusal (src/s3/interpret.ts): absolute-form targets
    // become origin-form (userinfo never survives), ambiguous Hosts and paths are answered here.
    const target = interpretRequest(req.url ?? '/', req.rawHeaders, interpretPolicy);
    req.url = target.url;
    if (target.refusal !== null) {
      obs.targetProblem = target.refusal.reason;
      rejectRequest(req, res, obs, target.refusal.status, target.refusal.code, target.refusal.message);
      return;
    }
    if (observer.capturing) {
      // The response body capture starts at the response head, only for statuses it is read for.
      obs.captureErrors = true;
      if (isDeleteObjects(req)) {
        // Captures draw on one process-wide bound (captureBudget), not a fixed size per request.
        const account = obs.captureAccount = new CaptureAccount(captureBudget);
        // Read incrementally as the bodies stream: no copy, no size cap (see src/s3/delete-objects.ts).
        obs.deleteRequest = new DeleteObjectsRequestStream({ awsChunked: isAwsChunked(req), memory: account });
        obs.deleteResult = new DeleteObjectsResultStream(account);
      } else {
        obs.captureSuccessBody = mayHideError(req);
      }
    }
    // Expect (100-continue or any other value) is the backend's to answer: forward() relays its 100
    // or its final answer, and the client's body flows only after the backend asked for it.
    if (gate === null) {
      forward(req, res, obs, ctx);
      return;
    }
    // The gate is asynchronous: a client that leaves meanwhile ends its request here (one event,
    // client-aborted), and whatever the gate says later is not acted on.
    let pending = true;
    const leftDuringGate = (): void => {
      if (!pending || obs.endMono >= 0) return;
      pending = false;
      obs.outcome = 'client-aborted';
      obs.outcomeDetail = 'closed during signature check';
      obs.endMono = performance.now();
      onDone(obs);
    };
    res.once('close', leftDuringGate);
    let verdict: Promise<boolean>;
    try {
      verdict = gate.check(req, res, obs);
    } catch (err) {
      verdict = Promise.reject(err);
    }
    verdict.then((allowed) => {
      if (!pending) return;
      pending = false;
      res.off('close', leftDuringGate);
      if (!allowed) {
        // The gate answered (e.g. 403 SignatureDoesNotMatch); it calls back when the reply is done.
        const done = (): void => { if (obs.endMono < 0) { obs.endMono = performance.now(); onDone(obs); } };
        res.once('finish', done);
        res.once('close', done);
        if (res.writableFinished) done();
        return;
      }
      forward(req, res, obs, ctx);
    }, (err: unknown) => {
      if (!pending) return;
      pending = false;
      res.off('close', leftDuringGate);
      if (cfg.requireValidSignature) {
        // Fail closed: a request that could not be checked is never forwarded when a check is required.
        logger.error({ err, reqId: obs.id }, 'request gate failed; refused (--require-valid-signature)');
        obs.signatureProblem = `InternalError: ${(err as Error)?.message ?? String(err)}`;
        rejectRequest(req, res, obs, 500, 'InternalError', 'We encountered an internal error. Please try again.');
        return;
      }
      logger.error({ err, reqId: obs.id }, 'request gate failed; forwarding');
      forward(req, res, obs, ctx);
    });
  };

  const serverOptions: http.ServerOptions = {
    keepAliveTimeout: cfg.keepAliveTimeoutMs,
    headersTimeout: cfg.clientHeadersTimeoutMs,
    requestTimeout: cfg.clientRequestTimeoutMs,
    requireHostHeader: false,
    // Node checks header/request timeouts on this tick (default 30 s): keep it well under the timeouts.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(cfg.clientHeadersTimeoutMs / 4))),
  };
  const server: http.Server = cfg.tlsCert && cfg.tlsKey
    ? https.createServer({ ...serverOptions, cert: readFileSync(cfg.tlsCert), key: readFileSync(cfg.tlsKey) })
    : http.createServer(serverOptions);
  // A client that half-closes after its request still gets the reply (then the connection closes);
  // by default Node would abort the request and end the connection unanswered.
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => handle(req, res));
  // Expect: 100-continue, and any other Expect value (Node would answer 417 by itself): forwarded,
  // the backend decides, exactly as it would for a direct client.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res));
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => handle(req, res));
  // Requests Node would answer by itself, without a 'request' event: answered as Node (or an S3
  // backend) would, and audited as `rejected` with the status actually sent. (Expect is forwarded,
  // see above; Upgrade requests need
  // nothing here: with no 'upgrade' listener Node hands them to 'request', and the backend answers
  // them as the plain requests S3 takes them for; Upgrade is hop-by-hop and not forwarded.)
  const answeredByProxy = (req: IncomingMessage, status: number, code: string, message: string): RequestObservation => {
    active++;
    const obs = new RequestObservation(nextRequestId(), req);
    obs.statusCode = status;
    obs.outcome = 'rejected';
    obs.outcomeDetail = code;
    obs.proxyReply = { code, message };
    obs.firstByteMono = performance.now();
    return obs;
  };
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    // CONNECT (Node would drop the connection without a word): the error an S3 endpoint gives.
    const obs = answeredByProxy(req, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    const done = (): void => { if (obs.endMono < 0) { obs.endMono = performance.now(); onDone(obs); } };
    socket.once('close', done);
    socket.on('error', () => socket.destroy());
    if (!socket.writable) { socket.destroy(); return; }
    const reply = rawS3Error(405, 'Method Not Allowed', obs.proxyReply!.code, obs.proxyReply!.message, obs.id);
    obs.bytesSent = Buffer.byteLength(reply) - reply.indexOf('\r\n\r\n') - 4;
    endThenDestroy(socket, reply);
  });

  /** The S3 error for a request Node could not parse: [status, reason, code, message]. */
  const parseErrorReply = (err: NodeJS.ErrnoException): [number, string, string, string] => {
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT';
    return timeout
      ? [408, 'Request Timeout', 'RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'RequestHeaderSectionTooLarge', 'Your request header section exceeds the maximum allowed size.']
        : err.code === 'HPE_INVALID_EOF_STATE'
          ? [400, 'Bad Request', 'IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.']
          : [400, 'Bad Request', 'BadRequest', 'The request could not be parsed as HTTP/1.1.'];
  };

  const answered = new WeakSet<Socket>();
  /** Sockets whose parse error is answered only after the reply to the request before it. */
  const deferred = new WeakSet<Socket>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // After an early answer the connection only drains and closes: nothing more is a request.
    if (isLingering(socket)) { socket.destroy(); return; }
    // An error inside the body of the request being read belongs to that request: its own event
    // tells it (client-aborted when the client left, rejected when the body could not be parsed and
    // the proxy answered), never a second event. A client that half-closes inside its body gets
    // the backend's answer when it already came (an early answer), else the proxy's 400 IncompleteBody.
    const current = reading.get(socket);
    if (current !== undefined && !current.req.complete) {
      const { obs, res } = current;
      const gone = err.code === 'ECONNRESET' || !socket.writable;
      if (!gone && res.headersSent && isEarlyAnswer(socket)) return; // the reply finishes, then the connection closes
      if (gone || res.headersSent) {
        if (obs.outcomeDetail === null) obs.outcomeDetail = err.code ?? null;
        socket.destroy();
        return;
      }
      answered.add(socket);
      const [status, reason, code, message] = parseErrorReply(err);
      const reply = rawS3Error(status, reason, code, message, obs.id);
      refusedMidBody.set(obs, { status, code, message, detail: err.code ?? 'HPE_INVALID', sent: Buffer.byteLength(reply) - reply.indexOf('\r\n\r\n') - 4 });
      endThenDestroy(socket, reply);
      return;
    }
    // Bytes after a complete request whose reply is not finished (e.g. a body longer than its
    // Content-Length): answered only after that reply, never overtaking it on the connection.
    if (deferred.has(socket)) return;
    if (current !== undefined && !current.res.writableFinished && !current.res.destroyed) {
      deferred.add(socket);
      current.res.once('close', () => {
        if (isLingering(socket) || !socket.writable || answered.has(socket)) return;
        answerUnparsed(err, socket);
      });
      return;
    }
    answerUnparsed(err, socket);
  });

  const answerUnparsed = (err: NodeJS.ErrnoException, socket: Socket): void => {
    // A request Node could not parse never reaches 'request': answer it as S3 would, then account for it.
    // Once per connection: a client still writing after our reply must not count as more requests.
    if (answered.has(socket)) { socket.destroy(); return; }
    answered.add(socket);
    const id = nextRequestId();
    const [status, reason, code, message] = parseErrorReply(err);
    // Observed before the reply: the peer's address is read while the socket is still open.
    const stand = { method: undefined, url: undefined, headers: {}, rawHeaders: [], socket };
    const obs = new RequestObservation(id, stand);
    let sent = 0;
    if (socket.writable) {
      const reply = rawS3Error(status, reason, code, message, id);
      sent = Buffer.byteLength(reply);
      endThenDestroy(socket, reply);
    } else {
      socket.destroy();
    }
    if (err.code === 'ECONNRESET') return; // a peer hanging up between requests is not a request
    obs.statusCode = status;
    obs.outcome = 'rejected';
    obs.outcomeDetail = err.code ?? 'HPE_INVALID';
    obs.proxyReply = { code, message };
    obs.bytesSent = sent;
    obs.firstByteMono = obs.endMono = performance.now();
    active++;
    onDone(obs);
  };

  await new Promise<void>((resolve, reject) => {
    const onErr = (err: NodeJS.ErrnoException): void => {
      void pool.close().catch(() => pool.destroy());
      reject(new ConfigError('--listen', `cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${err.code ?? err.message}`));
    };
    server.once('error', onErr);
    server.listen(cfg.listen.port, cfg.listen.host, () => { server.off('error', onErr); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  // In a --workers process the primary accepts and hands connections over: nothing to add here.
  const acceptQueues = addAcceptQueues(server, logger, { queues: cluster.isWorker ? 1 : cfg.acceptQueues, noDelay: true, keepAlive: false });
  server.once('close', () => acceptQueues.close());

  return {
    server,
    port,
    url: listenerUrl(cfg, port),
    inFlight: () => active,
    acceptQueues,
    async close(deadlineMs: number): Promise<void> {
      acceptQueues.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (active > 0) {
        await Promise.race([
          new Promise<void>((resolve) => idle.push(resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
      agent.destroy();
      await pool.close().catch(() => pool.destroy());
    },
  };
}
