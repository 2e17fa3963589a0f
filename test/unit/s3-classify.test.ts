// One test per classification rule, each checked in both addressing styles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, parseTarget, API_RULES, parseCopySource } from '../../src/s3/index.js';

import type { S3RequestInput } from '../../src/s3/index.js';
import { CASES, BUCKET, KEY, DOMAIN, caseRequests as requests } from '../helpers/api-cases.js';

for (const c of CASES) {
  test(`classify ${c.api}: ${c.m} ${c.t}${c.q !== undefined ? ' ?' + c.q : ''}${c.h ? ' +' + Object.keys(c.h).join(',') : ''}`, () => {
    for (const { style, input } of requests(c)) {
      const info = classify(input);
      assert.equal(info.apiName, c.api, `${style} ${input.method} ${input.url}`);
      assert.equal(info.bucket, c.t === 'service' ? null : BUCKET, style);
      assert.equal(info.object, c.t === 'object' ? KEY : null, style);
      assert.equal(info.addressing, c.t === 'service' ? 'path' : style, style);
      assert.equal(info.problem, null, style);
      const readOnly = /^(Get|Head|List)/.test(c.api) || c.api === 'SelectObjectContent' || c.api === 'CorsPreflight';
      assert.equal(info.readOnly, readOnly, `${style} readOnly`);
      const expected = { versionId: null, uploadId: null, partNumber: null, copySource: null, ...(c.x ?? {}) };
      for (const [k, v] of Object.entries(expected)) {
        assert.deepEqual((info as unknown as Record<string, unknown>)[k], v, `${style} ${k}`);
      }
    }
  });
}

test('every rule of the table has a test case', () => {
  const covered = new Set(CASES.map((c) => `${c.t} ${c.m} ${c.api}`));
  for (const r of API_RULES) assert.ok(covered.has(`${r.level} ${r.method} ${r.api}`), `${r.level} ${r.method} ${r.api}`);
});

test('parseTarget: keys, encodings, hosts', () => {
  const t = (url: string, host?: string, domains: string[] = [DOMAIN]) =>
    parseTarget({ method: 'GET', url, headers: host === undefined ? {} : { host }, virtualHostDomains: domains });
  assert.deepEqual({ ...t('/b/a+b%2Bc/d%20e'), query: undefined },
    { bucket: 'b', key: 'a+b+c/d e', addressing: 'path', query: undefined, problem: null });
  const bad = t('/b/a%zz%e9');
  assert.equal(bad.key, 'a%zz%e9');
  assert.match(bad.problem ?? '', /percent-encoding/);
  assert.equal(t('/b/').key, null);
  assert.equal(t('/b').bucket, 'b');
  assert.equal(t('/').bucket, null);
  assert.equal(t('/b//x').key, '/x');
  const q = t('/b?uploads&prefix=a+b%2B&x=1&x=2&=v').query;
  assert.deepEqual([...q], [['uploads', ''], ['prefix', 'a b+'], ['x', '1']]);
  // Virtual host: longest domain, port and case ignored, dotted bucket names, bare domain is path style.
  assert.deepEqual([t('/k', 'a.b.s3.example.com').bucket, t('/k', 'a.b.s3.example.com').key], ['a.b', 'k']);
  assert.equal(t('/k', 'x.s3.example.com', ['example.com', DOMAIN]).bucket, 'x');
  assert.equal(t('/b/k', 's3.example.com', ['example.com', DOMAIN]).addressing, 'path');
  assert.equal(t('/b/k', 'other.host').bucket, 'b');
  assert.equal(t('/b/k', 'xs3.example.com').bucket, 'b'); // not a sub-domain
  assert.equal(t('/k', 'bkt.s3.example.com.').bucket, 'bkt');
  // Absolute-form target: the authority wins over Host.
  const abs = t('http://bkt.s3.example.com:80/k?acl', 'ignored');
  assert.deepEqual([abs.bucket, abs.key, abs.addressing, [...abs.query.keys()]], ['bkt', 'k', 'virtual-host', ['acl']]);
  const star = t('*');
  assert.equal(star.bucket, null);
  assert.ok(star.problem !== null);
  assert.match(t('//x').problem ?? '', /empty bucket/);
});

test('parseCopySource forms', () => {
  assert.deepEqual(parseCopySource('b/k'), { bucket: 'b', key: 'k', versionId: null });
  assert.deepEqual(parseCopySource('/b/k%2Fx%20y?versionId=v%201'), { bucket: 'b', key: 'k/x y', versionId: 'v 1' });
  assert.deepEqual(parseCopySource('arn:aws:s3:::bkt/object/dir/k'), { bucket: 'bkt', key: 'dir/k', versionId: null });
  assert.deepEqual(parseCopySource('arn:aws:s3:us-west-2:123456789012:accesspoint/ap/object/k?versionId=z'),
    { bucket: 'arn:aws:s3:us-west-2:123456789012:accesspoint/ap', key: 'k', versionId: 'z' });
  assert.equal(parseCopySource('bucketonly'), null);
  assert.equal(parseCopySource('/b/'), null);
  assert.deepEqual(parseCopySource('b/%zz'), { bucket: 'b', key: '%zz', versionId: null });
  const info = classify({ method: 'PUT', url: '/b/k', headers: { 'x-amz-copy-source': 'nokey' }, virtualHostDomains: [] });
  assert.equal(info.apiName, 'CopyObject');
  assert.equal(info.copySource, null);
  assert.match(info.problem ?? '', /copy-source/);
});

test('classify accepts a pre-parsed target and odd inputs', () => {
  const input: S3RequestInput = { method: 'GET', url: '/b/k?tagging', headers: {}, virtualHostDomains: [] };
  assert.equal(classify(input, parseTarget(input)).apiName, 'GetObjectTagging');
  const odd = classify({ method: undefined, url: null, headers: null, virtualHostDomains: null } as unknown as S3RequestInput);
  assert.equal(odd.apiName, 'Unknown');
  assert.equal(classify({ method: 'PUT', url: '/b/k?partNumber=x&uploadId=u', headers: {}, virtualHostDomains: [] }).partNumber, null);
  const arr = classify({ method: 'PUT', url: '/b/k', headers: { 'x-amz-copy-source': ['a/b', 'c/d'] }, virtualHostDomains: [] });
  assert.deepEqual(arr.copySource, { bucket: 'a', key: 'b', versionId: null });
});

test('CORS preflights and STS/IAM actions on an S3 endpoint get their names', () => {
  const c = (method: string, url: string) => classify({ method, url, headers: { host: '127.0.0.1:9080' }, virtualHostDomains: [] });
  for (const url of ['/', '/bkt', '/bkt/k']) {
    const r = c('OPTIONS', url);
    assert.equal(r.apiName, 'CorsPreflight', url);
    assert.equal(r.readOnly, true);
  }
  assert.equal(c('POST', '/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15').apiName, 'AssumeRoleWithWebIdentity');
  assert.equal(c('POST', '/?Action=CreateUser').apiName, 'CreateUser');
  assert.equal(c('POST', '/?Action=bad%20name').apiName, 'Unknown', 'only action-shaped names');
  assert.equal(c('POST', '/bkt?Action=AssumeRole').apiName, 'Unknown', 'only on the service endpoint');
});
