import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAuth, redactQuery, redactHeaders, parseTarget } from '../../src/s3/index.js';
import type { AuthInfo, S3RequestInput } from '../../src/s3/index.js';

const SIG = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41';
const TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLETOKENxyz/+=';
const V2SIG = 'frJIUN8DYpKDtOLCwo//yllqDzg=';
const HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SECRETS = [SIG, TOKEN, V2SIG, encodeURIComponent(TOKEN), encodeURIComponent(V2SIG)];

function req(url: string, headers: S3RequestInput['headers'] = {}, method = 'GET'): S3RequestInput {
  return { method, url, headers: { host: 'localhost:9000', ...headers }, virtualHostDomains: [] };
}

function noSecrets(a: AuthInfo): void {
  const text = JSON.stringify(a);
  for (const s of SECRETS) assert.ok(!text.includes(s), `secret copied into ${text}`);
  assert.equal(a.verified, null);
}

const V4 = `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-1/s3/aws4_request, ` +
  `SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${SIG}`;

test('sigv4 header', () => {
  const a = parseAuth(req('/b/k', { authorization: V4, 'x-amz-date': '20240102T030405Z', 'x-amz-content-sha256': HASH }));
  noSecrets(a);
  assert.deepEqual(a, {
    type: 'sigv4-header', accessKey: 'AKIDEXAMPLE', region: 'eu-west-1', signatureVersion: 'SigV4',
    signedHeaders: ['host', 'x-amz-content-sha256', 'x-amz-date'], payloadSigning: 'sha256',
    signedAt: '2024-01-02T03:04:05.000Z', expiresInSeconds: null, sessionToken: false, verified: null, problem: null,
  });
});

test('sigv4 header: spacing, ordering, session token, streaming payload, Date fallback', () => {
  const auth = `AWS4-HMAC-SHA256   Signature = ${SIG} ,SignedHeaders=Host;X-Amz-Date,Credential=AK/20240102/us-east-1/s3/aws4_request`;
  const a = parseAuth(req('/b/k', {
    authorization: auth, 'x-amz-security-token': TOKEN, date: 'Tue, 02 Jan 2024 03:04:05 GMT',
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  }));
  noSecrets(a);
  assert.equal(a.accessKey, 'AK');
  assert.deepEqual(a.signedHeaders, ['host', 'x-amz-date']);
  assert.equal(a.sessionToken, true);
  assert.equal(a.payloadSigning, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER');
  assert.equal(a.signedAt, '2024-01-02T03:04:05.000Z');
  assert.equal(a.problem, null);
  assert.equal(parseAuth(req('/', { authorization: V4, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' })).payloadSigning, 'UNSIGNED-PAYLOAD');
  assert.equal(parseAuth(req('/', { authorization: V4, 'x-amz-content-sha256': 'nonsense' })).payloadSigning, null);
  assert.equal(parseAuth(req('/', { authorization: V4, 'x-amz-content-sha256': 'STREAMING-' + 'x'.repeat(5) })).payloadSigning, null);
});

test('sigv4 header malformed: best effort, problem, no secrets', () => {
  const cases: [string, RegExp, string | null][] = [
    [`AWS4-HMAC-SHA256 Signature=${SIG}`, /no Credential/, null],
    [`AWS4-HMAC-SHA256 Credential=AKX/2024, Signature=${SIG}`, /malformed Credential/, 'AKX'],
    [`AWS4-HMAC-SHA256 Credential=AKX/20240102/r/s3/aws4_request`, /no Signature/, 'AKX'],
    [`AWS4-HMAC-SHA256`, /no Credential/, null],
    [`AWS4-HMAC-SHA256 Credential=AKX/20240102/r/s3/aws4_request, Signature=${SIG}`, /no SignedHeaders/, 'AKX'],
    [`AWS4-ECDSA-P256-SHA256 Credential=AKX/20240102/s3/aws4_request, SignedHeaders=host, Signature=${SIG}`, /SigV4a/, 'AKX'],
  ];
  for (const [authorization, problem, key] of cases) {
    const a = parseAuth(req('/b/k', { authorization }));
    noSecrets(a);
    assert.equal(a.type, 'sigv4-header', authorization);
    assert.equal(a.accessKey, key, authorization);
    assert.match(a.problem ?? '', problem, authorization);
  }
});

test('sigv4 presigned query', () => {
  const url = '/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDQ%2F20240102%2Fus-east-1%2Fs3%2Faws4_request' +
    `&X-Amz-Date=20240102T030405Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=${SIG}` +
    `&X-Amz-Security-Token=${encodeURIComponent(TOKEN)}&x-id=GetObject`;
  const a = parseAuth(req(url));
  noSecrets(a);
  assert.deepEqual(a, {
    type: 'sigv4-query', accessKey: 'AKIDQ', region: 'us-east-1', signatureVersion: 'SigV4', signedHeaders: ['host'],
    payloadSigning: null, signedAt: '2024-01-02T03:04:05.000Z', expiresInSeconds: 900, sessionToken: true,
    verified: null, problem: null,
  });
  // The query may be passed in pre-parsed.
  assert.deepEqual(parseAuth(req(url), parseTarget(req(url)).query), a);
  const presignedPut = parseAuth(req(url + '&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD', {}, 'PUT'));
  assert.equal(presignedPut.payloadSigning, 'UNSIGNED-PAYLOAD');
});

test('sigv4 presigned malformed', () => {
  const cases: [string, RegExp][] = [
    [`X-Amz-Signature=${SIG}`, /X-Amz-Algorithm missing.*X-Amz-Credential missing.*X-Amz-Date missing.*X-Amz-Expires missing/],
    [`X-Amz-Algorithm=HMAC&X-Amz-Credential=AK%2Fx&X-Amz-Date=bad&X-Amz-Expires=-1&X-Amz-Signature=${SIG}`,
      /unsupported X-Amz-Algorithm.*malformed X-Amz-Credential.*malformed X-Amz-Date.*malformed X-Amz-Expires/],
    ['X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604801', /exceeds 604800.*X-Amz-Signature missing/],
  ];
  for (const [qs, problem] of cases) {
    const a = parseAuth(req(`/b/k?${qs}`));
    noSecrets(a);
    assert.equal(a.type, 'sigv4-query');
    assert.match(a.problem ?? '', problem);
  }
  assert.equal(parseAuth(req('/b/k?X-Amz-Expires=604801&X-Amz-Algorithm=AWS4-HMAC-SHA256')).expiresInSeconds, 604801);
});

test('sigv2 header and query', () => {
  const h = parseAuth(req('/b/k', { authorization: `AWS AKIDV2:${V2SIG}`, date: 'Tue, 02 Jan 2024 03:04:05 GMT' }));
  noSecrets(h);
  assert.deepEqual([h.type, h.accessKey, h.signatureVersion, h.signedAt, h.problem, h.region],
    ['sigv2-header', 'AKIDV2', 'SigV2', '2024-01-02T03:04:05.000Z', null, null]);
  const bad = parseAuth(req('/b/k', { authorization: `AWS ${V2SIG}` }));
  noSecrets(bad);
  assert.equal(bad.type, 'sigv2-header');
  assert.equal(bad.accessKey, null);
  assert.match(bad.problem ?? '', /malformed/);
  assert.match(parseAuth(req('/', { authorization: 'AWS AK:' })).problem ?? '', /no signature/);

  const q = parseAuth(req(`/b/k?AWSAccessKeyId=AKIDV2&Expires=1704164645&Signature=${encodeURIComponent(V2SIG)}`));
  noSecrets(q);
  assert.deepEqual([q.type, q.accessKey, q.signatureVersion, q.signedAt, q.problem],
    ['sigv2-query', 'AKIDV2', 'SigV2', '2024-01-02T03:04:05.000Z', null]);
  const q2 = parseAuth(req(`/b/k?Signature=${encodeURIComponent(V2SIG)}`));
  noSecrets(q2);
  assert.equal(q2.type, 'sigv2-query');
  assert.match(q2.problem ?? '', /AWSAccessKeyId missing.*Expires missing/);
});

test('post-policy, anonymous, unknown schemes, both mechanisms', () => {
  const p = parseAuth(req('/b', { 'content-type': 'multipart/form-data; boundary=x' }, 'POST'));
  assert.deepEqual([p.type, p.accessKey, p.signatureVersion, p.problem], ['post-policy', null, null, null]);
  assert.equal(parseAuth(req('/b', { 'content-type': 'multipart/form-data' }, 'PUT')).type, 'anonymous');
  const anon = parseAuth(req('/b/k'));
  assert.deepEqual(anon, {
    type: 'anonymous', accessKey: null, region: null, signatureVersion: null, signedHeaders: null, payloadSigning: null,
    signedAt: null, expiresInSeconds: null, sessionToken: false, verified: null, problem: null,
  });
  const bearer = parseAuth(req('/b/k', { authorization: `Bearer ${TOKEN}` }));
  noSecrets(bearer);
  assert.equal(bearer.type, 'anonymous');
  assert.equal(bearer.problem, 'unrecognised Authorization scheme "Bearer"');
  const bare = parseAuth(req('/b/k', { authorization: TOKEN }));
  noSecrets(bare);
  assert.equal(bare.problem, 'unrecognised Authorization header');
  const both = parseAuth(req(`/b/k?X-Amz-Signature=${SIG}&X-Amz-Algorithm=AWS4-HMAC-SHA256`, { authorization: V4 }));
  noSecrets(both);
  assert.equal(both.type, 'sigv4-header');
  assert.match(both.problem ?? '', /both/);
  const tokenOnly = parseAuth(req(`/b/k?X-Amz-Security-Token=${encodeURIComponent(TOKEN)}`));
  noSecrets(tokenOnly);
  assert.equal(tokenOnly.sessionToken, true);
});

test('parseAuth on garbage input does not throw', () => {
  for (const input of [null, {}, { headers: { authorization: ['AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request'] } },
    { url: 5, headers: { authorization: 42 } }, { method: 'POST', url: '/?%', headers: { 'content-type': ['multipart/form-data'] } }]) {
    const a = parseAuth(input as unknown as S3RequestInput);
    assert.equal(typeof a.type, 'string');
  }
});

test('redactQuery: signatures, tokens and SSE-C keys redacted; credential scope kept', () => {
  const q = new Map([
    ['X-Amz-Signature', SIG], ['x-amz-security-token', TOKEN], ['Signature', V2SIG], ['X-Amz-Credential', 'AK/20240102/r/s3/aws4_request'],
    ['AWSAccessKeyId', 'AK'], ['prefix', 'a b'], ['uploads', ''], ['__proto__', 'x'],
    ['X-Amz-Server-Side-Encryption-Customer-Key', 'c2VjcmV0'], ['continuation-token', 'ct'],
  ]);
  const r = redactQuery(q);
  assert.deepEqual({ ...r }, {
    'X-Amz-Signature': 'REDACTED', 'x-amz-security-token': 'REDACTED', Signature: 'REDACTED',
    'X-Amz-Credential': 'AK/20240102/r/s3/aws4_request', AWSAccessKeyId: 'AK', prefix: 'a b', uploads: '',
    ['__proto__']: 'x', 'X-Amz-Server-Side-Encryption-Customer-Key': 'REDACTED', 'continuation-token': 'ct',
  });
  assert.equal(Object.getPrototypeOf(r), null);
  assert.ok(!JSON.stringify(r).includes(SIG));
});

test('redactHeaders: allow-list only, secrets dropped even when allowed', () => {
  const headers = {
    authorization: V4, cookie: 'c', 'set-cookie': ['a', 'b'], 'proxy-authorization': 'p', 'x-amz-security-token': TOKEN,
    'x-amz-server-side-encryption-customer-key': 'k', 'x-amz-server-side-encryption-customer-key-md5': 'm',
    'x-amz-copy-source-server-side-encryption-customer-key': 'k2', 'x-amz-copy-source-server-side-encryption-customer-key-md5': 'm2',
    'content-type': 'text/plain', 'x-amz-meta-a': ['1', '2'], 'user-agent': 'ua', 'x-undefined': undefined,
  };
  const all = Object.keys(headers).map((h) => h.toUpperCase());
  assert.deepEqual({ ...redactHeaders(headers, all) }, { 'content-type': 'text/plain', 'x-amz-meta-a': '1, 2', 'user-agent': 'ua' });
  assert.deepEqual({ ...redactHeaders(headers, ['Content-Type']) }, { 'content-type': 'text/plain' });
  assert.deepEqual({ ...redactHeaders(headers, ['*']) }, { 'content-type': 'text/plain', 'x-amz-meta-a': '1, 2', 'user-agent': 'ua' });
  assert.deepEqual({ ...redactHeaders(headers, []) }, {});
});

test('sigv4 header: the memoised scope parse gives what the full parse gives, for any header text', () => {
  // ", Signature=<sig>" last is the memoised path; the same parameters with Signature first take the full parse.
  const part = fc.string({ maxLength: 40 });
  const sig = fc.oneof(fc.constant(SIG), fc.string({ maxLength: 8 }));
  fc.assert(fc.property(part, part, sig, fc.boolean(), (cred, signed, s, v4a) => {
    const algo = v4a ? 'AWS4-ECDSA-P256-SHA256' : 'AWS4-HMAC-SHA256';
    const memo = `${algo} Credential=${cred}, SignedHeaders=${signed}, Signature=${s}`;
    const full = `${algo} Signature=${s}, Credential=${cred}, SignedHeaders=${signed}`;
    const a = parseAuth(req('/b/k', { authorization: memo }));
    const again = parseAuth(req('/b/k', { authorization: memo }));
    assert.deepEqual(again, a);
    if (/^[^,\s=]+$/.test(s)) assert.deepEqual(a, parseAuth(req('/b/k', { authorization: full })));
    again.signedHeaders?.push('mutated');
    assert.deepEqual(parseAuth(req('/b/k', { authorization: memo })), a, 'a caller cannot alter the memo');
  }), { numRuns: 1000 });
});
