// A finished RequestObservation like the proxy's for a 4 KiB GET with a SigV4 header (the wrk
// requests of `npm run bench`), and the event context of a default `serve`: what the request-path
// micro-benchmarks build events from.
import type { Socket } from 'node:net';
import type { EventContext } from '../../src/audit/build-event.js';
import { TrustedProxies } from '../../src/audit/client-address.js';
import { RequestObservation } from '../../src/proxy/observation.js';
import { S3_HEADERS } from './wrk.js';

export const sampleHeaders: Record<string, string> = { host: '127.0.0.1:9080', ...Object.fromEntries(Object.entries(S3_HEADERS).map(([k, v]) => [k.toLowerCase(), v])) };
const rawHeaders = Object.entries(sampleHeaders).flat();
const socket = { remoteAddress: '127.0.0.1', remotePort: 40123 } as unknown as Socket;
const responseHeaders = ['Server', 'nginx/1.22.1', 'Date', 'Tue, 25 Nov 2025 10:44:52 GMT', 'Content-Type', 'application/octet-stream',
  'Content-Length', '4096', 'Last-Modified', 'Tue, 25 Nov 2025 10:40:00 GMT', 'ETag', '"6925860c-1000"', 'Accept-Ranges', 'bytes'];
export const sampleContext: EventContext = { virtualHostDomains: [], trustedProxies: new TrustedProxies([]), requestHeaders: [], responseHeaders: [], hostName: 'bench-host' };

export function sampleObservation(i: number): RequestObservation {
  const obs = new RequestObservation(`C972C7${i.toString(16).padStart(10, '0')}`, { method: 'GET', url: `/bench/obj-${i & 1023}`, headers: sampleHeaders, rawHeaders, socket });
  obs.statusCode = 200;
  obs.responseHeaders = responseHeaders;
  obs.bytesSent = 4096;
  obs.firstByteMono = obs.startMono + 0.3;
  obs.endMono = obs.startMono + 0.4;
  obs.backend = 'http://127.0.0.1:8080';
  return obs;
}
