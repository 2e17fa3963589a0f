// The request path's shortcuts (docs/performance.md "Request-path cost (session 6)") give what the
// plain computation gives: the SigV4 scope memo across clients, the scheme test without a copy, the
// event time from a per-second prefix, response headers found without lower-casing, the shared
// empty query.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { parseAuth, parseQuery, parseTarget, redactQuery } from '../../src/s3/index.js';
import type { S3RequestInput } from '../../src/s3/index.js';
import { buildEvent, type EventContext } from '../../src/audit/build-event.js';
import { TrustedProxies } from '../../src/audit/client-address.js';
import { RequestObservation } from '../../src/proxy/observation.js';

const SIG = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41';
const v4 = (key: string, region: string, sig: string = SIG): string =>
  `AWS4-HMAC-SHA256 Credential=${key}/20240102/${region}/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=${sig}`;
const req = (authorization: string): S3RequestInput =>
  ({ method: 'GET', url: '/b/k', headers: { host: 'localhost', authorization, 'x-amz-date': '20240102T030405Z' }, virtualHostDomains: [] });

test('SigV4 scope memo: clients taking turns each get their own scope, and a signature-less header is told', () => {
  const heads: Array<[string, string]> = [['AKIDONE', 'eu-west-1'], ['AKIDTWO', 'us-east-2'], ['AKIDONE', 'eu-west-1'], ['AKIDONE', 'eu-west-2']];
  for (let round = 0; round < 3; round++) {
    for (const [key, region] of heads) {
      const a = parseAuth(req(v4(key, region, round === 0 ? SIG : SIG.replace('f0', String(round).padStart(2, '0')))));
      assert.equal(a.accessKey, key);
      assert.equal(a.region, region);
      assert.equal(a.problem, null);
      assert.deepEqual(a.signedHeaders, ['host', 'x-amz-date']);
    }
  }
  // A first Signature parameter before the cut wins, also when the memo is used.
  const early = 'AWS4-HMAC-SHA256 Signature=, Credential=AK/20240102/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=abc';
  for (let i = 0; i < 2; i++) assert.match(parseAuth(req(early)).problem ?? '', /no Signature/);
  // A tail that is not a signature (a space, a comma, a non-ASCII space) is parsed whole.
  for (const tail of ['', 'ab cd', 'ab,c', 'ab\u00a0cd']) {
    const a = parseAuth(req(v4('AKIDONE', 'eu-west-1', tail)));
    assert.equal(a.type, 'sigv4-header');
    assert.equal(a.accessKey, 'AKIDONE');
  }
});

test('the scheme is recognised in any letter case, and a non-ASCII scheme is not taken for one', () => {
  assert.equal(parseAuth(req(v4('AK', 'eu-west-1').toLowerCase())).type, 'sigv4-header');
  assert.equal(parseAuth(req('aws4-ecdsa-p256-sha256 Credential=AK/20240102/s3/aws4_request, SignedHeaders=host, Signature=ab')).type, 'sigv4-header');
  assert.equal(parseAuth(req('aws AKIDV2:c2lnbmF0dXJl')).type, 'sigv2-header');
  assert.equal(parseAuth(req('aws AKIDV2:c2lnbmF0dXJl')).accessKey, 'AKIDV2');
  for (const odd of ['AWß AKID:sig', 'AWS4-HMAC-SHAß56 Credential=x', '\u00e1ws4-hmac-sha256 x', 'AW', 'Bearer abc']) {
    assert.equal(parseAuth(req(odd)).type, 'anonymous', odd);
  }
});

const ctx: EventContext = { virtualHostDomains: [], trustedProxies: new TrustedProxies([]), requestHeaders: [], responseHeaders: [], hostName: 'h' };
function observation(startMs: number, responseHeaders: string[] | null = null): RequestObservation {
  const socket = { remoteAddress: '127.0.0.1', remotePort: 1 } as unknown as Socket;
  const obs = new RequestObservation('R1', { method: 'GET', url: '/b/k', headers: { host: 'localhost' }, rawHeaders: ['Host', 'localhost'], socket });
  (obs as { startEpochMs: number }).startEpochMs = startMs;
  obs.statusCode = 200;
  obs.responseHeaders = responseHeaders;
  obs.endMono = obs.startMono;
  return obs;
}

test('event time: the per-second prefix gives toISOString for every millisecond, across seconds and years', () => {
  const base = Date.UTC(2026, 11, 6, 23, 59, 59, 998);
  const times = [base, base, base + 1, base + 2, base + 1001, base - 1000, 0, 999, 1000, -1, -1001, 253402300799999, 253402300800000, 253402300800001, base];
  for (const ms of times) assert.equal(buildEvent(observation(ms), ctx).time, new Date(ms).toISOString(), String(ms));
});

test('response headers are found whatever the letter case the backend used', () => {
  const obs = observation(Date.now(), ['X-AMZ-REQUEST-ID', 'r1', 'x-Amz-Id-2', 'h2', 'CONTENT-LENGTH', '12', 'x-amz-request-idd', 'no']);
  assert.equal(obs.responseHeader('x-amz-request-id'), 'r1');
  assert.equal(obs.responseHeader('x-amz-id-2'), 'h2');
  assert.equal(obs.responseHeader('content-length'), '12');
  assert.equal(obs.responseHeader('x-amz-request-ie'), null);
  const e = buildEvent(obs, ctx);
  assert.deepEqual([e.response.requestId, e.response.hostId, e.response.contentLength], ['r1', 'h2', 12]);
});

test('an empty query is one shared, empty, unchangeable answer', () => {
  const a = parseQuery('');
  assert.equal(a.query.size, 0);
  assert.equal(a.bad, false);
  assert.equal(parseTarget({ method: 'GET', url: '/b/k', headers: {}, virtualHostDomains: [] }).query.size, 0);
  const q = redactQuery(a.query);
  assert.deepEqual(q, Object.create(null));
  assert.equal(Object.getPrototypeOf(q), null);
  assert.ok(Object.isFrozen(q));
  assert.deepEqual({ ...redactQuery(parseQuery('x=1').query) }, { x: '1' });
});
