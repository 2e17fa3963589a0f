// Property tests: whatever a client sends, the request-understanding functions return well-typed
// values and never throw; secrets in signature/token positions never come back out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  classify, parseAuth, parseTarget, redactQuery, redactHeaders, parseS3ErrorBody, errorCodeForStatus,
  parseDeleteObjectsRequest, parseDeleteObjectsResult, SignatureVerifier,
} from '../../src/s3/index.js';
import { anyText, headers, input } from '../helpers/s3-arbitraries.js';

const RUNS = 2000;
const AUTH_TYPES = ['sigv4-header', 'sigv4-query', 'sigv2-header', 'sigv2-query', 'post-policy', 'anonymous'];

const isStrOrNull = (v: unknown) => v === null || typeof v === 'string';

test('parseTarget never throws and is well-typed', () => {
  fc.assert(fc.property(input, (i) => {
    const t = parseTarget(i);
    assert.ok(isStrOrNull(t.bucket) && isStrOrNull(t.key) && isStrOrNull(t.problem));
    assert.ok(t.addressing === 'path' || t.addressing === 'virtual-host');
    assert.ok(t.query instanceof Map);
    for (const [k, v] of t.query) assert.ok(typeof k === 'string' && k.length > 0 && typeof v === 'string');
  }), { numRuns: RUNS });
});

test('classify never throws and is well-typed', () => {
  fc.assert(fc.property(input, (i) => {
    const c = classify(i);
    assert.ok(typeof c.apiName === 'string' && c.apiName.length > 0);
    assert.equal(typeof c.readOnly, 'boolean');
    assert.ok(isStrOrNull(c.bucket) && isStrOrNull(c.object) && isStrOrNull(c.versionId) && isStrOrNull(c.uploadId));
    assert.ok(c.partNumber === null || Number.isSafeInteger(c.partNumber));
    assert.ok(c.copySource === null || (typeof c.copySource.bucket === 'string' && typeof c.copySource.key === 'string'));
    if (c.apiName === 'Unknown') assert.equal(c.readOnly, false);
  }), { numRuns: RUNS });
});

test('parseAuth never throws, is well-typed, never returns a secret', () => {
  const secret = fc.stringMatching(/^[A-Za-z0-9+/=]{24,40}$/).map((s) => `SeCrEt${s}`);
  const withSecrets = fc.tuple(input, secret, fc.constantFrom('header-v4', 'header-v2', 'query-v4', 'query-v2', 'token-h', 'token-q'))
    .map(([i, s, where]) => {
      const h = { ...i.headers };
      let u = i.url;
      const sep = u.includes('?') ? '&' : '?';
      if (where === 'header-v4') h.authorization = `AWS4-HMAC-SHA256 Credential=AK/20240101/r/s3/aws4_request, SignedHeaders=host, Signature=${s}`;
      if (where === 'header-v2') h.authorization = `AWS AK:${s}`;
      if (where === 'query-v4') u += `${sep}X-Amz-Signature=${encodeURIComponent(s)}`;
      if (where === 'query-v2') u += `${sep}Signature=${encodeURIComponent(s)}`;
      if (where === 'token-h') h['x-amz-security-token'] = s;
      if (where === 'token-q') u += `${sep}X-Amz-Security-Token=${encodeURIComponent(s)}`;
      return { input: { ...i, url: u, headers: h }, s };
    });
  fc.assert(fc.property(withSecrets, ({ input: i, s }) => {
    const a = parseAuth(i);
    assert.ok(AUTH_TYPES.includes(a.type));
    assert.ok(isStrOrNull(a.accessKey) && isStrOrNull(a.region) && isStrOrNull(a.payloadSigning) &&
      isStrOrNull(a.signedAt) && isStrOrNull(a.problem));
    assert.ok(a.signatureVersion === null || a.signatureVersion === 'SigV4' || a.signatureVersion === 'SigV2');
    assert.ok(a.signedHeaders === null || a.signedHeaders.every((h) => typeof h === 'string'));
    assert.ok(a.expiresInSeconds === null || Number.isSafeInteger(a.expiresInSeconds));
    assert.equal(typeof a.sessionToken, 'boolean');
    assert.equal(a.verified, null);
    const text = JSON.stringify(a);
    assert.ok(!text.includes('SeCrEt'), text);
    const q = JSON.stringify(redactQuery(parseTarget(i).query));
    assert.ok(!q.includes('SeCrEt'), q);
    const hs = JSON.stringify(redactHeaders(i.headers, ['*']));
    assert.ok(!hs.includes('SeCrEt'), hs);
  }), { numRuns: RUNS });
});

test('redactQuery and redactHeaders never throw', () => {
  fc.assert(fc.property(fc.array(fc.tuple(anyText, anyText), { maxLength: 8 }), headers, fc.array(anyText, { maxLength: 4 }),
    (pairs, h, allow) => {
      const r = redactQuery(new Map(pairs));
      for (const v of Object.values(r)) assert.equal(typeof v, 'string');
      const rh = redactHeaders(h, allow);
      for (const v of Object.values(rh)) assert.equal(typeof v, 'string');
      assert.equal(rh.authorization, undefined);
    }), { numRuns: RUNS });
});

test('XML readers never throw on garbage or cut documents', () => {
  const docs = fc.oneof(
    anyText,
    fc.tuple(fc.constantFrom(
      '<Error><Code>NoSuchKey</Code><Message>m &amp; &#x1F600;</Message></Error>',
      '<Delete><Object><Key>a&lt;</Key><VersionId>v</VersionId></Object><Object><Key>b</Key></Object></Delete>',
      '<DeleteResult><Deleted><Key>k</Key></Deleted><Error><Key>e</Key><Code>AccessDenied</Code></Error></DeleteResult>',
    ), fc.nat(), anyText).map(([d, cut, tail]) => d.slice(0, cut % (d.length + 1)) + tail),
  );
  fc.assert(fc.property(docs, fc.boolean(), (d, truncated) => {
    const body = Buffer.from(d, 'utf8');
    const e = parseS3ErrorBody(body);
    assert.ok(e === null || (isStrOrNull(e.code) && isStrOrNull(e.message)));
    const r = parseDeleteObjectsRequest(body);
    void truncated;
    assert.ok(Array.isArray(r.objects) && typeof r.truncated === 'boolean');
    for (const o of r.objects) assert.ok(typeof o.key === 'string' && isStrOrNull(o.versionId));
    for (const [k, v] of parseDeleteObjectsResult(body)) {
      assert.equal(typeof k, 'string');
      assert.ok(v.result === 'deleted' || v.result === 'error');
    }
  }), { numRuns: RUNS });
  fc.assert(fc.property(fc.integer(), anyText, (status, api) => {
    const c = errorCodeForStatus(status, api);
    assert.ok(status < 300 ? c === null : typeof c === 'string');
  }), { numRuns: RUNS });
});

test('SignatureVerifier.verify never rejects', async () => {
  const v = new SignatureVerifier(new Map([['AK', 'secret']]));
  await fc.assert(fc.asyncProperty(input, async (i) => {
    const r = await v.verify(i);
    assert.ok(r.ok === true || typeof r.message === 'string');
  }), { numRuns: 300 });
});
