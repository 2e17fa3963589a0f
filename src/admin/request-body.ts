// An admin request's body, read within bounds: at most MAX_BODY_BYTES are kept; a little more is read
// and thrown away so the client gets a clean 413 rather than a reset; beyond that the connection closes.
import type { IncomingMessage } from 'node:http';
import { AdminHttpError } from './errors.js';

/** Request bodies above this are refused with 413. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Oversized bodies up to this much more are read and thrown away, so the client gets a clean 413. */
const DRAIN_BYTES = 1024 * 1024;

/** 413: the body is over MAX_BODY_BYTES; `closeConnection` when too much is left to drain it. */
export class BodyError extends AdminHttpError {
  constructor(readonly closeConnection: boolean, readonly received: number) {
    super(413, 'body_too_large', `request body is larger than ${MAX_BODY_BYTES} bytes`);
  }
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES + DRAIN_BYTES) return Promise.reject(new BodyError(true, 0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    req.on('data', (c: Buffer) => {
      total += c.length;
      if (total <= MAX_BODY_BYTES) chunks.push(c);
      else if (total > MAX_BODY_BYTES + DRAIN_BYTES && !settled) {
        settled = true;
        req.pause();
        reject(new BodyError(true, total));
      }
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      if (total > MAX_BODY_BYTES) reject(new BodyError(false, total));
      else resolve(Buffer.concat(chunks, total));
    });
    req.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
  });
}
