// Property test: whatever a client sends and whatever the backend answers, building the audit event
// never throws and always yields an event valid against schema/audit-event.v1.json, serialised by
// serializeEvent byte for byte as JSON.stringify would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Socket } from 'node:net';
import { buildEvent } from '../../src/audit/build-event.js';
import { serializeEvent } from '../../src/audit/serialize.js';
import { TrustedProxies } from '../../src/audit/client-address.js';
import { BodyCapture, RequestObservation } from '../../src/proxy/observation.js';
import { escapeLineSeparators } from '../../src/json-text.js';
import { DeleteObjectsRequestStream, DeleteObjectsResultStream } from '../../src/s3/index.js';
import { validateEvent } from '../helpers/collecting-sink.js';
import { anyText, input } from '../helpers/s3-arbitraries.js';

const body = fc.oneof(
  fc.constantFrom('', '<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>', '<Error><Code>', '<html>oops</html>',
    '<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code></Error></DeleteResult>',
    '<Delete><Object><Key>a</Key><VersionId>v</VersionId></Object><Object><Key>b'),
  anyText,
);

const scenario = fc.record({
  input,
  status: fc.integer({ min: 0, max: 999 }),
  outcome: fc.constantFrom('completed', 'client-aborted', 'backend-error', 'backend-unreachable', 'rejected' as const),
  reqBody: fc.option(body, { nil: null }),
  resBody: fc.option(body, { nil: null }),
  responseHeaders: fc.array(anyText, { maxLength: 6 }).map((a) => (a.length % 2 ? a.slice(1) : a)),
  peer: fc.constantFrom('127.0.0.1', '::1', '::ffff:10.0.0.1', '', '203.0.113.9'),
  proxyReply: fc.boolean(),
});

const trusted = new TrustedProxies(['127.0.0.0/8', '::1']);

test('buildEvent never throws and always yields a schema-valid event', () => {
  fc.assert(fc.property(scenario, (s) => {
    const socket = { remoteAddress: s.peer, remotePort: 1234 } as unknown as Socket;
    const req = { method: s.input.method, url: s.input.url, headers: s.input.headers, rawHeaders: [], socket };
    const obs = new RequestObservation('ABCDEF0123456789', req as never);
    obs.statusCode = s.status;
    obs.outcome = s.outcome;
    obs.responseHeaders = s.responseHeaders;
    if (s.reqBody !== null) { obs.deleteRequest = new DeleteObjectsRequestStream(); obs.deleteRequest.write(Buffer.from(s.reqBody)); obs.bytesReceived = Buffer.byteLength(s.reqBody); }
    if (s.resBody !== null) { obs.deleteResult = new DeleteObjectsResultStream(); obs.deleteResult.write(Buffer.from(s.resBody)); }
    if (s.resBody !== null) { obs.responseCapture = new BodyCapture(1024); obs.responseCapture.add(Buffer.from(s.resBody)); obs.captureSuccessBody = true; }
    if (s.proxyReply) obs.proxyReply = { code: 'ServiceUnavailable', message: 'x' };
    obs.endMono = performance.now();
    const built = buildEvent(obs, {
      virtualHostDomains: s.input.virtualHostDomains, trustedProxies: trusted, requestHeaders: ['*'], responseHeaders: ['*'], hostName: 'h',
    });
    // The proxy's fixed-shape serializer must write exactly what JSON.stringify writes.
    const json = serializeEvent(built);
    assert.equal(json, escapeLineSeparators(JSON.stringify(built)));
    assert.ok(!/[\u0085\u2028\u2029]/.test(json));
    const event = JSON.parse(json) as unknown;
    assert.ok(validateEvent(event), JSON.stringify(validateEvent.errors));
  }), { numRuns: 1500 });
});
