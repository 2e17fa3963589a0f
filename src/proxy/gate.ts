// A check a request must pass before it is forwarded (signature verification). It may answer the
// request itself and return false; it never reads the body.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestObservation } from './observation.js';

export interface RequestGate {
  check(req: IncomingMessage, res: ServerResponse, obs: RequestObservation): Promise<boolean>;
}
