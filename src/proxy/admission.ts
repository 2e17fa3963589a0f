// Fail-closed admission (serve --audit-required): before a request goes anywhere, the audit side is
// asked to promise room for its event. With no room (memory and spool full, or the spool failing)
// the request is refused here, as an S3 backend sheds load: 503 SlowDown with an S3 XML body and a
// request id, before anything reaches the backend. The refusal is counted (and later evented) by
// the audit side, never silent. Without the flag there is no admission object and nothing changes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendS3Error } from './s3-error-reply.js';
import { nextRequestId } from './request-id.js';

export interface Admission {
  /** A token (>= 0) to carry to the request's event, or -1: refuse the request (already counted). */
  admit(): number;
}

export const SLOW_DOWN_MESSAGE = 'Please reduce your request rate.';

/**
 * Asks `admission` (null: flag off, returns -1 meaning "no reservation") and, when it refuses,
 * answers 503 SlowDown and returns null: the caller does nothing more with the request.
 */
export function admitOrRefuse(admission: Admission | null, req: IncomingMessage, res: ServerResponse): number | null {
  if (admission === null) return -1;
  const token = admission.admit();
  if (token >= 0) return token;
  // The body (if any) is not read: the connection closes after the reply (as for other early answers).
  sendS3Error(res, 503, 'SlowDown', SLOW_DOWN_MESSAGE, (req.url ?? '/').split('?', 1)[0]!, nextRequestId(), { connection: 'close' });
  return null;
}
