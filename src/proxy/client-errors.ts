// Requests Node would answer by itself, without a 'request' event (CONNECT, and what it cannot parse:
// 'clientError'): answered as Node (or an S3 backend) would, and audited as `rejected` with the status
// actually sent. Registered once per listener by server.ts; only these error paths run here.
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { RequestObservation } from './observation.js';
import { nextRequestId } from './request-id.js';
import { rawS3Error } from './s3-error-reply.js';
import { isEarlyAnswer, isLingering } from './early-answer.js';
import { endThenDestroy } from './stall-guard.js';

/** The request being read on a socket: a parse error mid-body belongs to it (see 'clientError'). */
export interface ReadingRequest {
  req: IncomingMessage;
  res: ServerResponse;
  obs: RequestObservation;
}

/** A request whose body Node could not parse, answered with an S3 error on the socket: what its event says. */
export interface MidBodyRefusal {
  status: number;
  code: string;
  message: string;
  detail: string;
  sent: number;
}

/** The S3 error for a request Node could not parse: [status, reason, code, message]. */
export function parseErrorReply(err: NodeJS.ErrnoException): [number, string, string, string] {
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT';
  return timeout
    ? [408, 'Request Timeout', 'RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.']
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'RequestHeaderSectionTooLarge', 'Your request header section exceeds the maximum allowed size.']
      : err.code === 'HPE_INVALID_EOF_STATE'
        ? [400, 'Bad Request', 'IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.']
        : [400, 'Bad Request', 'BadRequest', 'The request could not be parsed as HTTP/1.1.'];
}

/**
 * Answers CONNECT and 'clientError' on the S3 listener. (Expect is forwarded, see server.ts; Upgrade
 * requests need nothing here: with no 'upgrade' listener Node hands them to 'request', and the backend
 * answers them as the plain requests S3 takes them for; Upgrade is hop-by-hop and not forwarded.)
 * `reading` and `refusedMidBody` are server.ts's: its onDone reads them. `begin` counts a request the
 * proxy answers here as in flight; `onDone` ends it (counted out, reported).
 */
export function answerClientErrors(server: http.Server, reading: WeakMap<Socket, ReadingRequest>,
  refusedMidBody: WeakMap<RequestObservation, MidBodyRefusal>, begin: () => void, onDone: (obs: RequestObservation) => void): void {
  const answeredByProxy = (req: IncomingMessage, status: number, code: string, message: string): RequestObservation => {
    begin();
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
    begin();
    onDone(obs);
  };
}
