// Writing an admin reply: JSON or text with its length and the API's fixed headers, or a live stream
// handed over to its writer; and the reply an AdminHttpError makes.
import type { ServerResponse } from 'node:http';
import { stringifyJsonLine } from '../json-text.js';
import type { AdminHttpError } from './errors.js';
import type { Reply } from './routes.js';

/** Sends the reply (once: nothing when the head already went out); the body bytes sent. */
export function sendReply(res: ServerResponse, requestId: string, reply: Reply): number {
  if (reply.stream) {
    // A live stream: chunked, no length, handed over to the tap (which ends it at shutdown).
    if (res.headersSent || res.destroyed) return 0;
    res.writeHead(reply.status, {
      'content-type': reply.contentType ?? 'application/x-ndjson',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-accel-buffering': 'no',
      'x-request-id': requestId,
      ...reply.headers,
    });
    reply.stream(res);
    return 0;
  }
  const body = reply.text !== undefined ? reply.text : `${stringifyJsonLine(reply.json ?? {})}\n`;
  const buf = Buffer.from(body, 'utf8');
  if (!res.headersSent && !res.destroyed) {
    res.writeHead(reply.status, {
      'content-type': reply.contentType ?? 'application/json; charset=utf-8',
      'content-length': String(buf.length),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-request-id': requestId,
      ...reply.headers,
    });
    res.end(buf);
  }
  return buf.length;
}

export function errorReply(err: AdminHttpError): Reply {
  return { status: err.status, json: err.toJSON(), headers: err.headers };
}
