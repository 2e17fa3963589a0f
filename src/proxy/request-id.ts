// Proxy request ids: 16 upper-case hex characters like S3's own, unique per process and cheap
// (a random per-process prefix and a counter: no crypto call per request).
import { randomBytes } from 'node:crypto';

const prefix = randomBytes(3).toString('hex').toUpperCase();
let counter = 0;

export function nextRequestId(): string {
  counter = (counter + 1) % 0x10000000000;
  return prefix + counter.toString(16).toUpperCase().padStart(10, '0');
}
