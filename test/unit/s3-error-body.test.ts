import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseS3ErrorBody, errorCodeForStatus } from '../../src/s3/index.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const FULL = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>' +
  '<Key>a&amp;b</Key><RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>';

test('parses a complete S3 error document', () => {
  assert.deepEqual(parseS3ErrorBody(b(FULL)), { code: 'NoSuchKey', message: 'The specified key does not exist.' });
});

test('entities, namespaces, BOM, comments, empty message (Ceph)', () => {
  assert.deepEqual(parseS3ErrorBody(b('<Error><Code>InvalidArgument</Code><Message>a &lt;b&gt; &amp; &#233;&#x1F600;</Message></Error>')),
    { code: 'InvalidArgument', message: 'a <b> & é😀' });
  assert.deepEqual(parseS3ErrorBody(b('\uFEFF<!-- c --><s3:Error xmlns:s3="x"><s3:Code>X</s3:Code></s3:Error>')), { code: 'X', message: null });
  assert.deepEqual(parseS3ErrorBody(b('<Error><Code>NoSuchBucket</Code><Message/><BucketName>b</BucketName></Error>')),
    { code: 'NoSuchBucket', message: null });
  assert.deepEqual(parseS3ErrorBody(b('<Error>\n  <Code> SlowDown </Code>\n  <Message>Please reduce your request rate.</Message>\n</Error>')),
    { code: 'SlowDown', message: 'Please reduce your request rate.' });
});

test('truncated documents: regex fallback keeps complete elements', () => {
  for (let cut = FULL.indexOf('</Code>') + 7; cut < FULL.length; cut++) {
    const r = parseS3ErrorBody(b(FULL.slice(0, cut)));
    assert.equal(r?.code, 'NoSuchKey', `cut at ${cut}`);
    const messageDone = cut >= FULL.indexOf('</Message>') + 10;
    if (messageDone) assert.equal(r?.message, 'The specified key does not exist.', `cut at ${cut}`);
  }
  assert.deepEqual(parseS3ErrorBody(b('<Error><Code>Access&amp;Denied</Code><Message>cut her')), { code: 'Access&Denied', message: null });
  assert.deepEqual(parseS3ErrorBody(b('<Error><Co')), { code: null, message: null });
  // A multibyte character cut in half must not matter.
  const multi = Buffer.from('<Error><Code>X</Code><Message>é', 'utf8');
  assert.equal(parseS3ErrorBody(multi.subarray(0, multi.length - 1))?.code, 'X');
});

test('not an S3 error document -> null, never throws', () => {
  for (const s of ['', 'garbage', '<html><body><h1>502 Bad Gateway</h1></body></html>', '{"error":"x"}',
    '<ListBucketResult><Error>no</Error></ListBucketResult>', '<ErrorPage><Code>X</Code></ErrorPage>', '\u0000\u0001<<<>>>',
    '<?xml version="1.0"?><DeleteResult><Error><Key>k</Key><Code>AccessDenied</Code></Error></DeleteResult>']) {
    assert.equal(parseS3ErrorBody(b(s)), null, s);
  }
  assert.equal(parseS3ErrorBody(undefined as unknown as Buffer), null);
  assert.equal(parseS3ErrorBody(Buffer.from([0xff, 0xfe, 0x00, 0x3c])), null);
  // Entity expansion tricks stay inert.
  const bomb = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><Error><Code>&b;</Code></Error>';
  assert.doesNotThrow(() => parseS3ErrorBody(b(bomb)));
  assert.doesNotThrow(() => parseS3ErrorBody(b('<Error><__proto__>x</__proto__><Code>C</Code></Error>')));
  assert.equal(parseS3ErrorBody(b('<Error><__proto__>x</__proto__><Code>C</Code></Error>'))?.code, 'C');
});

test('errorCodeForStatus', () => {
  const cases: [number, string, string | null][] = [
    [200, 'HeadObject', null], [204, 'DeleteObject', null], [299, 'GetObject', null],
    [404, 'HeadObject', 'NoSuchKey'], [404, 'GetObject', 'NoSuchKey'], [404, 'HeadBucket', 'NoSuchBucket'],
    [404, 'ListObjectsV2', 'NoSuchBucket'], [404, 'ListParts', 'NoSuchUpload'], [404, 'Unknown', 'NotFound'],
    [403, 'HeadObject', 'AccessDenied'], [400, 'HeadObject', 'BadRequest'], [301, 'HeadBucket', 'PermanentRedirect'],
    [304, 'HeadObject', 'NotModified'], [412, 'HeadObject', 'PreconditionFailed'], [416, 'GetObject', 'InvalidRange'],
    [409, 'DeleteBucket', 'Conflict'], [500, 'HeadObject', 'InternalError'], [503, 'HeadObject', 'ServiceUnavailable'],
    [405, 'X', 'MethodNotAllowed'], [411, 'PutObject', 'MissingContentLength'], [418, 'X', 'ClientError'],
    [599, 'X', 'ServerError'], [399, 'X', 'Redirect'], [700, 'X', 'UnknownError'], [Number.NaN, 'X', null],
  ];
  for (const [status, api, code] of cases) assert.equal(errorCodeForStatus(status, api), code, `${status} ${api}`);
});
