// The S3 listener: hands each request to the forwarder and reports each finished exchange to the
// observer. The listener's lifecycle (listening, drain at close) is listener.ts's; what Node answers
// without a 'request' event (CONNECT, parse errors) is client-errors.ts's.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import { forward, type ForwardContext } from './forward.js';
import { CaptureAccount, captureBudget, RequestObservation, type RequestObserver } from './observation.js';
import { DeleteObjectsRequestStream, DeleteObjectsResultStream, interpretRequest } from '../s3/index.js';
import { nextRequestId } from './request-id.js';
import { sendS3Error } from './s3-error-reply.js';
import type { RequestGate } from './gate.js';
import { interpretPolicyFromConfig } from './interpret-policy.js';
import { isLingering } from './early-answer.js';
import { admitOrRefuse, type Admission } from './admission.js';
import type { AcceptQueues } from './accept-queues.js';
import { backendExpectAgent, backendPool, closePool } from './backend-connections.js';
import { isAwsChunked, isDeleteObjects, mayHideError } from './capture-kind.js';
import { answerClientErrors, type MidBodyRefusal, type ReadingRequest } from './client-errors.js';
import { createListener, drainListener, listen, listenerUrl } from './listener.js';

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

export async function startProxy(opts: ProxyOptions): Promise<ProxyServer> {
  const { config: cfg, logger, observer } = opts;
  const gate = opts.gate ?? null;
  const admission = opts.admission ?? null;
  const pool = backendPool(cfg, opts.backend);
  const interpretPolicy = interpretPolicyFromConfig(cfg);
  let active = 0;
  const idle: Array<() => void> = [];

  /** The request being read on each socket: a parse error mid-body belongs to it (see client-errors.ts). */
  const reading = new WeakMap<Socket, ReadingRequest>();
  /** Requests whose body Node could not parse, answered with an S3 error on the socket: what their event says. */
  const refusedMidBody = new WeakMap<RequestObservation, MidBodyRefusal>();

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

  const agent = backendExpectAgent(cfg, opts.backend);
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

  const server = createListener(cfg);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => handle(req, res));
  // Expect: 100-continue, and any other Expect value (Node would answer 417 by itself): forwarded,
  // the backend decides, exactly as it would for a direct client.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res));
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => handle(req, res));
  answerClientErrors(server, reading, refusedMidBody, () => { active++; }, onDone);

  const acceptQueues = await listen(server, cfg, logger, () => void closePool(pool));
  const port = (server.address() as AddressInfo).port;
  const inFlight = (): number => active;

  return {
    server,
    port,
    url: listenerUrl(cfg, port),
    inFlight,
    acceptQueues,
    async close(deadlineMs: number): Promise<void> {
      await drainListener(server, acceptQueues, inFlight, idle, deadlineMs);
      agent.destroy();
      await closePool(pool);
    },
  };
}
