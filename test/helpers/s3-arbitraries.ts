// fast-check arbitraries for S3 requests as a client could send them (valid, odd and hostile).
import fc from 'fast-check';
import type { S3RequestInput } from '../../src/s3/index.js';

export const anyText = fc.string({ unit: 'binary', maxLength: 40 });
const method = fc.oneof(fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS', 'get', ''), anyText);
const segment = fc.oneof(
  fc.constantFrom('', 'b', 'my.bucket', '%', '%zz', '%e9', '%C3%A9', '%F0%9F%98%80', '%2F', '+', '..', '.', '?', '#', '&', '='),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  anyText,
);
const queryPart = fc.oneof(
  fc.constantFrom('uploads', 'uploadId=1', 'partNumber=99999999999', 'partNumber=2', 'list-type=2', 'versionId=', 'delete',
    'tagging', 'acl', 'X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Credential=AK%2F2024', 'X-Amz-Expires=99999999999999999999',
    'X-Amz-Date=x', 'AWSAccessKeyId=', 'Expires=-1', 'Signature', '%', '=', '&&', '__proto__=1', 'constructor'),
  fc.tuple(segment, segment).map(([a, b]) => `${a}=${b}`),
  anyText,
);
const url = fc.oneof(
  fc.tuple(fc.array(segment, { maxLength: 5 }), fc.array(queryPart, { maxLength: 5 }))
    .map(([segs, qs]) => `/${segs.join('/')}${qs.length > 0 ? '?' + qs.join('&') : ''}`),
  fc.constantFrom('*', '', 'http://b.s3.example.com/k?x', 'https://', 'http://[::1', '//', '/?', '/%'),
  anyText,
);
const authorization = fc.oneof(
  fc.constantFrom('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA256 Credential=', 'AWS ', 'AWS :', 'AWS a:', 'aws4-hmac-sha256 credential=a/b/c/d/e',
    'AWS4-ECDSA-P256-SHA256 Credential=a', 'Bearer', 'Basic dXNlcjpwYXNz'),
  fc.tuple(fc.constantFrom('AWS4-HMAC-SHA256 ', 'AWS ', ''), fc.array(fc.oneof(
    fc.constantFrom('Credential=', 'SignedHeaders=', 'Signature=', ',', ' ', ';', '/', ':', '='), anyText), { maxLength: 8 }))
    .map(([a, parts]) => a + parts.join('')),
  anyText,
);
const headerValue = fc.oneof(anyText, fc.array(anyText, { maxLength: 3 }), fc.constant(undefined));
export const headers = fc.record({
  host: fc.option(fc.oneof(fc.constantFrom('b.s3.example.com', 'S3.EXAMPLE.COM:80', '[::1]:9000', 'x@y', '.'), anyText), { nil: undefined }),
  authorization: fc.option(authorization, { nil: undefined }),
  'content-type': fc.option(fc.oneof(fc.constant('multipart/form-data; boundary=x'), anyText), { nil: undefined }),
  'x-amz-copy-source': fc.option(fc.oneof(fc.constantFrom('b/k', '/b/k?versionId=1', 'arn:aws:s3:::b/object/k', '%', '/'), anyText), { nil: undefined }),
  'x-amz-content-sha256': fc.option(fc.oneof(fc.constantFrom('UNSIGNED-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'), anyText), { nil: undefined }),
  'x-amz-date': fc.option(anyText, { nil: undefined }),
  date: fc.option(anyText, { nil: undefined }),
}, { requiredKeys: [] }).chain((known) =>
  fc.dictionary(anyText, headerValue, { maxKeys: 4 }).map((extra) => ({ ...extra, ...known })));
const domains = fc.oneof(fc.constant(['s3.example.com']), fc.array(anyText, { maxLength: 3 }), fc.constant([]));

export const input: fc.Arbitrary<S3RequestInput> = fc.record({ method, url, headers, virtualHostDomains: domains }) as fc.Arbitrary<S3RequestInput>;

