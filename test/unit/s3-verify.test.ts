// SigV4 verification against signatures made by the real AWS SDK v3 and by the AWS documentation
// examples, and against tampered requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  S3Client, GetObjectCommand, PutObjectCommand, ListObjectsV2Command, CreateMultipartUploadCommand, UploadPartCommand,
  DeleteObjectsCommand, CopyObjectCommand, HeadBucketCommand, PutBucketVersioningCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureVerifier, loadCredentialsFile } from '../../src/s3/index.js';
import type { S3RequestInput } from '../../src/s3/index.js';

const AK = 'AKIATESTVERIFY000001';
const SK = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzSECRET';
const verifier = new SignatureVerifier(new Map([[AK, SK], ['OTHERKEY', 'other-secret']]));

interface Captured { method: string; path: string; query: Record<string, string | string[] | null>; headers: Record<string, string> }

/** A client whose transport records the signed request instead of sending it. */
function capturingClient(opts: { endpoint?: string; forcePathStyle?: boolean; secret?: string; sessionToken?: string } = {}) {
  const captured: Captured[] = [];
  const client = new S3Client({
    region: 'eu-west-1',
    endpoint: opts.endpoint ?? 'http://127.0.0.1:9000',
    forcePathStyle: opts.forcePathStyle ?? true,
    credentials: { accessKeyId: AK, secretAccessKey: opts.secret ?? SK, sessionToken: opts.sessionToken },
    maxAttempts: 1,
    requestHandler: {
      handle: async (req: Captured) => {
        captured.push({ method: req.method, path: req.path, query: { ...req.query }, headers: { ...req.headers } });
        throw new Error('captured');
      },
    },
  });
  return { client, captured };
}

/** Query string as the SDK's node handler writes it (sorted, RFC 3986 escaped, bare names for null). */
function queryString(query: Record<string, string | string[] | null>, bareEmpty = false): string {
  const esc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const parts: string[] = [];
  for (const k of Object.keys(query).sort()) {
    const v = query[k];
    if (Array.isArray(v)) for (const x of v) parts.push(`${esc(k)}=${esc(x)}`);
    else if (v === null || (bareEmpty && v === '')) parts.push(esc(k));
    else parts.push(`${esc(k)}=${esc(v)}`);
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

function toInput(c: Captured, bareEmpty = false): S3RequestInput {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.headers)) headers[k.toLowerCase()] = v;
  return { method: c.method, url: c.path + queryString(c.query, bareEmpty), headers, virtualHostDomains: ['s3.example.com'] };
}

async function signed(send: (client: S3Client) => Promise<unknown>, opts?: Parameters<typeof capturingClient>[0]): Promise<S3RequestInput> {
  const { client, captured } = capturingClient(opts);
  await assert.rejects(send(client), /captured/);
  assert.equal(captured.length, 1);
  return toInput(captured[0]);
}

const KEY = 'dir/a b+c!*\'()~ü😀&=?.txt';
const SDK_CASES: [string, (c: S3Client) => Promise<unknown>][] = [
  ['GetObject', (c) => c.send(new GetObjectCommand({ Bucket: 'bkt', Key: KEY, Range: 'bytes=0-9', VersionId: 'v+1' }))],
  ['PutObject', (c) => c.send(new PutObjectCommand({ Bucket: 'bkt', Key: KEY, Body: Buffer.from('hello'), Metadata: { a: '  spaced   value ' } }))],
  ['ListObjectsV2', (c) => c.send(new ListObjectsV2Command({ Bucket: 'bkt', Prefix: 'a b/ü+', Delimiter: '/', MaxKeys: 5 }))],
  ['CreateMultipartUpload', (c) => c.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: KEY }))],
  ['UploadPart', (c) => c.send(new UploadPartCommand({ Bucket: 'bkt', Key: KEY, UploadId: 'u/1+2', PartNumber: 3, Body: 'x' }))],
  ['DeleteObjects', (c) => c.send(new DeleteObjectsCommand({ Bucket: 'bkt', Delete: { Objects: [{ Key: 'a&b' }] } }))],
  ['CopyObject', (c) => c.send(new CopyObjectCommand({ Bucket: 'bkt', Key: 'dst', CopySource: 'src/k%20x?versionId=1' }))],
  ['HeadBucket', (c) => c.send(new HeadBucketCommand({ Bucket: 'bkt' }))],
  ['PutBucketVersioning', (c) => c.send(new PutBucketVersioningCommand({ Bucket: 'bkt', VersioningConfiguration: { Status: 'Enabled' } }))],
];

for (const [name, send] of SDK_CASES) {
  test(`SDK-signed ${name} verifies (path and virtual-host style), tampering is detected`, async () => {
    for (const style of ['path', 'virtual'] as const) {
      const input = await signed(send, style === 'path' ? {} : { endpoint: 'http://s3.example.com:9000', forcePathStyle: false });
      assert.match(input.headers.authorization as string, /^AWS4-HMAC-SHA256 /);
      assert.deepEqual(await verifier.verify(input), { ok: true }, `${style} ${input.method} ${input.url}`);
      assert.deepEqual(await verifier.verify({ ...input, region: 'eu-west-1' }), { ok: true });

      // Unsigned headers may change (the proxy adds none, but clients' hop-by-hop headers vary).
      assert.deepEqual(await verifier.verify({ ...input, headers: { ...input.headers, 'user-agent': 'other', 'x-forwarded-for': '1.2.3.4' } }), { ok: true });

      const auth = input.headers.authorization as string;
      const last = auth.slice(-1) === '0' ? '1' : '0';
      const tampered: [string, S3RequestInput][] = [
        ['signature', { ...input, headers: { ...input.headers, authorization: auth.slice(0, -1) + last } }],
        ['host', { ...input, headers: { ...input.headers, host: 'evil.example.com' } }],
        // One second later (same day, within the skew): only the signature can tell.
        ['x-amz-date', { ...input, headers: { ...input.headers, 'x-amz-date': (input.headers['x-amz-date'] as string).replace(/\d(?=Z$)/, (d) => String((Number(d) + 1) % 10)) } }],
        ['path', { ...input, url: input.url.replace(/^\/[^/?]*/, (p) => p + 'x') }],
        ['query', { ...input, url: input.url.includes('?') ? input.url + '&extra=1' : input.url + '?extra=1' }],
        ['method', { ...input, method: input.method === 'GET' ? 'DELETE' : 'GET' }],
        ['payload hash', { ...input, headers: { ...input.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }],
      ];
      for (const [what, t] of tampered) {
        const r = await verifier.verify(t);
        assert.equal(r.ok, false, `${style} tampered ${what} accepted`);
        if (!r.ok) {
          assert.equal(r.code, 'SignatureDoesNotMatch', `${style} ${what}: ${r.message}`);
          assert.ok(!r.message.includes(auth.slice(-64)), 'signature echoed');
        }
      }
      const wrongRegion = await verifier.verify({ ...input, region: 'us-east-1' });
      assert.equal(wrongRegion.ok, false);
    }
  });
}

test('SDK-signed with a wrong secret or an unknown key', async () => {
  const send = (c: S3Client) => c.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'k' }));
  const wrong = await verifier.verify(await signed(send, { secret: 'not-the-secret' }));
  assert.deepEqual(wrong.ok ? null : wrong.code, 'SignatureDoesNotMatch');
  const onlyOther = new SignatureVerifier(new Map([['OTHERKEY', SK]]));
  const unknown = await onlyOther.verify(await signed(send));
  assert.deepEqual(unknown.ok ? null : unknown.code, 'InvalidAccessKeyId');
});

test('SDK-signed with a session token (token header is signed)', async () => {
  const input = await signed((c) => c.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'k' })), { sessionToken: 'TOKEN/abc+=' });
  assert.equal(input.headers['x-amz-security-token'], 'TOKEN/abc+=');
  assert.deepEqual(await verifier.verify(input), { ok: true });
  const r = await verifier.verify({ ...input, headers: { ...input.headers, 'x-amz-security-token': 'TOKEN/abd+=' } });
  assert.equal(r.ok, false);
});

test('valueless sub-resources sent as "?uploads" or "?uploads=" both verify', async () => {
  const { client, captured } = capturingClient();
  await assert.rejects(client.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'k' })), /captured/);
  assert.deepEqual(await verifier.verify(toInput(captured[0], true)), { ok: true });
  assert.deepEqual(await verifier.verify(toInput(captured[0], false)), { ok: true });
});

test('clock skew on header-signed requests', async () => {
  const input = await signed((c) => c.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'k' })));
  const late = new SignatureVerifier(new Map([[AK, SK]]), { now: () => Date.now() + 16 * 60_000 });
  const r = await late.verify(input);
  assert.deepEqual(r.ok ? null : r.code, 'RequestTimeTooSkewed');
  const early = new SignatureVerifier(new Map([[AK, SK]]), { now: () => Date.now() - 16 * 60_000 });
  const r2 = await early.verify(input);
  assert.deepEqual(r2.ok ? null : r2.code, 'RequestTimeTooSkewed');
  const ok = new SignatureVerifier(new Map([[AK, SK]]), { now: () => Date.now() + 14 * 60_000 });
  assert.deepEqual(await ok.verify(input), { ok: true });
});

async function presigned(command: GetObjectCommand | PutObjectCommand, expiresIn: number, endpoint = 'http://127.0.0.1:9000', forcePathStyle = true) {
  const client = new S3Client({ region: 'eu-west-1', endpoint, forcePathStyle, credentials: { accessKeyId: AK, secretAccessKey: SK } });
  const url = new URL(await getSignedUrl(client, command, { expiresIn }));
  const input: S3RequestInput = {
    method: command instanceof PutObjectCommand ? 'PUT' : 'GET',
    url: url.pathname + url.search, headers: { host: url.host }, virtualHostDomains: ['s3.example.com'],
  };
  return input;
}

test('presigned URLs from @aws-sdk/s3-request-presigner verify; tampering and expiry are detected', async () => {
  for (const [endpoint, pathStyle] of [['http://127.0.0.1:9000', true], ['http://s3.example.com', false]] as const) {
    const get = await presigned(new GetObjectCommand({ Bucket: 'bkt', Key: KEY, ResponseContentType: 'text/plain; a=b' }), 600, endpoint, pathStyle);
    assert.match(get.url, /X-Amz-Signature=/);
    assert.deepEqual(await verifier.verify(get), { ok: true }, get.url);
    const put = await presigned(new PutObjectCommand({ Bucket: 'bkt', Key: KEY }), 604800, endpoint, pathStyle);
    assert.deepEqual(await verifier.verify({ ...put, headers: { ...put.headers, 'content-length': '5', 'x-amz-content-sha256': 'abc' } }), { ok: true });

    const tamperedQuery = await verifier.verify({ ...get, url: get.url.replace('text%2Fplain', 'text%2Fhtml') });
    assert.deepEqual(tamperedQuery.ok ? null : tamperedQuery.code, 'SignatureDoesNotMatch');
    const tamperedSig = await verifier.verify({ ...get, url: get.url.replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === 'a' ? 'b' : 'a'}`) });
    assert.deepEqual(tamperedSig.ok ? null : tamperedSig.code, 'SignatureDoesNotMatch');
    const otherHost = await verifier.verify({ ...get, headers: { host: 'other:1' } });
    assert.deepEqual(otherHost.ok ? null : otherHost.code, 'SignatureDoesNotMatch');

    const later = new SignatureVerifier(new Map([[AK, SK]]), { now: () => Date.now() + 601_000 });
    assert.deepEqual(await later.verify(get), { ok: false, code: 'AccessDenied', message: 'Request has expired.' });
    const before = new SignatureVerifier(new Map([[AK, SK]]), { now: () => Date.now() - 3600_000 });
    const nyv = await before.verify(get);
    assert.deepEqual(nyv.ok ? null : nyv.code, 'AccessDenied');
  }
});

test('presigned parameter errors', async () => {
  const get = await presigned(new GetObjectCommand({ Bucket: 'bkt', Key: 'k' }), 600);
  const code = async (url: string) => { const r = await verifier.verify({ ...get, url }); return r.ok ? 'ok' : r.code; };
  assert.equal(await code(get.url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=604801')), 'AuthorizationQueryParametersError');
  assert.equal(await code(get.url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=-5')), 'AuthorizationQueryParametersError');
  assert.equal(await code(get.url.replace(/&?X-Amz-Date=[^&]*/, '')), 'AuthorizationQueryParametersError');
  assert.equal(await code(get.url.replace(/&?X-Amz-SignedHeaders=[^&]*/, '')), 'AuthorizationQueryParametersError');
  assert.equal(await code(get.url.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512')), 'AuthorizationQueryParametersError');
  assert.equal(await code(get.url.replace(/X-Amz-Credential=[^&]*/, 'X-Amz-Credential=garbage')), 'AuthorizationQueryParametersError');
  assert.equal(await code(get.url.replace(/X-Amz-Credential=[^%]*/, 'X-Amz-Credential=NOPE')), 'InvalidAccessKeyId');
});

// AWS documentation examples (Signature Version 4, "Examples: Signature Calculations", example key pair).
const DOC_KEY = 'AKIAIOSFODNN7EXAMPLE';
const DOC_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const doc = new SignatureVerifier(new Map([[DOC_KEY, DOC_SECRET]]), { now: () => Date.parse('2013-05-24T00:05:00Z') });
const docAuth = (signed: string, sig: string) =>
  `AWS4-HMAC-SHA256 Credential=${DOC_KEY}/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signed},Signature=${sig}`;
const docReq = (method: string, url: string, headers: Record<string, string>): S3RequestInput =>
  ({ method, url, headers: { host: 'examplebucket.s3.amazonaws.com', 'x-amz-date': '20130524T000000Z', ...headers }, virtualHostDomains: ['s3.amazonaws.com'] });

test('AWS documentation examples verify', async () => {
  assert.deepEqual(await doc.verify(docReq('GET', '/test.txt', {
    range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY,
    authorization: docAuth('host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'),
  })), { ok: true }, 'GET Object');
  assert.deepEqual(await doc.verify(docReq('PUT', '/test$file.text', {
    date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
    authorization: docAuth('date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class', '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd'),
  })), { ok: true }, 'PUT Object');
  assert.deepEqual(await doc.verify(docReq('GET', '/?lifecycle', {
    'x-amz-content-sha256': EMPTY,
    authorization: docAuth('host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'),
  })), { ok: true }, 'GET Bucket lifecycle');
  assert.deepEqual(await doc.verify(docReq('GET', '/?max-keys=2&prefix=J', {
    'x-amz-content-sha256': EMPTY,
    authorization: docAuth('host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
  })), { ok: true }, 'GET Bucket (List Objects)');
  // Presigned GET, valid for 86400 s.
  const presignedUrl = '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
    '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
    '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
  const p = { method: 'GET', url: presignedUrl, headers: { host: 'examplebucket.s3.amazonaws.com' }, virtualHostDomains: [] };
  assert.deepEqual(await doc.verify(p), { ok: true }, 'presigned');
  const expired = new SignatureVerifier(new Map([[DOC_KEY, DOC_SECRET]]), { now: () => Date.parse('2013-05-25T00:00:01Z') });
  assert.deepEqual(await expired.verify(p), { ok: false, code: 'AccessDenied', message: 'Request has expired.' });
});

test('header-signed problems: malformed, missing date, unsigned host, missing signed header, scope date', async () => {
  const base = docReq('GET', '/test.txt', { range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY,
    authorization: docAuth('host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41') });
  const code = async (headers: Record<string, string | undefined>) => {
    const r = await doc.verify({ ...base, headers: { ...base.headers, ...headers } });
    return r.ok ? 'ok' : r.code;
  };
  assert.equal(await code({}), 'ok');
  assert.equal(await code({ authorization: 'AWS4-HMAC-SHA256 Credential=x' }), 'AccessDenied');
  assert.equal(await code({ authorization: docAuth('host', 'f0e8').replace('/s3/', '/ec2/') }), 'AccessDenied');
  assert.equal(await code({ 'x-amz-date': undefined }), 'AccessDenied');
  assert.equal(await code({ 'x-amz-date': '20130524T000000' }), 'AccessDenied');
  assert.equal(await code({ authorization: docAuth('range;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41') }), 'AccessDenied');
  assert.equal(await code({ range: undefined }), 'SignatureDoesNotMatch');
  assert.equal(await code({ authorization: (base.headers.authorization as string).replace(/Signature=.*/, 'Signature=zz') }), 'SignatureDoesNotMatch');
  assert.equal(await code({ 'x-amz-date': '20130523T235959Z' }), 'AccessDenied'); // scope says 20130524
});

test('SigV2, anonymous, POST policy, SigV4a and both mechanisms are reported not verified', async () => {
  const r = (input: Partial<S3RequestInput>) =>
    verifier.verify({ method: 'GET', url: '/b/k', headers: { host: 'h' }, virtualHostDomains: [], ...input });
  const v2 = await r({ headers: { host: 'h', authorization: 'AWS AK:c2ln' } });
  assert.equal(v2.ok ? null : v2.code, 'AccessDenied');
  assert.match(v2.ok ? '' : v2.message, /SigV2 signatures are not verified/);
  const v2q = await r({ url: '/b/k?AWSAccessKeyId=AK&Expires=1&Signature=x' });
  assert.match(v2q.ok ? '' : v2q.message, /SigV2/);
  const anon = await r({});
  assert.match(anon.ok ? '' : anon.message, /not signed/);
  const post = await r({ method: 'POST', url: '/b', headers: { host: 'h', 'content-type': 'multipart/form-data; boundary=x' } });
  assert.match(post.ok ? '' : post.message, /POST policy/);
  const v4a = await r({ headers: { host: 'h', authorization: 'AWS4-ECDSA-P256-SHA256 Credential=AK/20240101/s3/aws4_request, SignedHeaders=host, Signature=00' } });
  assert.match(v4a.ok ? '' : v4a.message, /SigV4a/);
  const both = await r({ url: '/b/k?X-Amz-Signature=00', headers: { host: 'h', authorization: docAuth('host', '00') } });
  assert.match(both.ok ? '' : both.message, /Only one auth mechanism/);
  const garbage = await verifier.verify(null as unknown as S3RequestInput);
  assert.equal(garbage.ok, false);
});

test('loadCredentialsFile: JSON and line formats, errors name file and line without secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 's3-creds-'));
  try {
    const f = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
    assert.deepEqual([...loadCredentialsFile(f('a.json', '{"AK1":"s1","AK2":"s:2 x"}'))], [['AK1', 's1'], ['AK2', 's:2 x']]);
    assert.deepEqual([...loadCredentialsFile(f('a.txt', '# comment\n\nAK1:se:cret\r\n  AK2   sec ret  \nAK3 : s3\n'))],
      [['AK1', 'se:cret'], ['AK2', 'sec ret'], ['AK3', 's3']]);
    const bad = (name: string, text: string, re: RegExp) => {
      const p = f(name, text);
      assert.throws(() => loadCredentialsFile(p), (err: Error) => {
        assert.match(err.message, re);
        assert.ok(err.message.includes(p), err.message);
        assert.ok(!err.message.includes('TOPSECRET'), err.message);
        return true;
      });
    };
    bad('b1.txt', 'AK1:TOPSECRET\nlonelyTOPSECRET\n', /line 2/);
    bad('b2.txt', 'AK1:TOPSECRET\nAK1:TOPSECRET2\n', /line 2: access key "AK1" listed twice/);
    bad('b3.json', '{\n"AK1": "TOPSECRET",\n"AK2": TOPSECRET\n}', /line 3: invalid JSON/);
    bad('b4.json', '{"AK1": 5}', /line 1: invalid JSON \(expected the secret as a string\)/);
    bad('b5.json', '["TOPSECRET"]', /line 1: invalid JSON \(expected an object/);
    bad('b8.json', '{"AK1": "TOPSECRET"}\n\n x', /line 3: invalid JSON \(text after the object\)/);
    bad('b9.json', '{"AK1": "TOPSECRET",\n"AK1": "TOPSECRET"}', /line 2: access key "AK1" listed twice/);
    bad('b10.json', '{"AK1": "TOPSECRET"', /line 1: invalid JSON \(expected "," or "}"\)/);
    bad('b11.json', '{"AK1": ""}', /line 1: empty secret/);
    assert.deepEqual([...loadCredentialsFile(f('c.json', ' {\n "A\\u004b": "x\\"y" ,\n "B":"z"\n }\n'))], [['AK', 'x"y'], ['B', 'z']]);
    assert.throws(() => loadCredentialsFile(f('e.json', '{}')), /no credentials/);
    bad('b6.txt', '# nothing\n', /no credentials/);
    bad('b7.txt', 'AK1:\n', /line 1/);
    assert.throws(() => loadCredentialsFile(join(dir, 'missing')), /missing: cannot read \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
