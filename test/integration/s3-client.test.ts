// The client-level suite: real S3 clients (AWS SDK v3, the aws CLI when installed) through the proxy
// to a real S3 server. Runs against @20minutes/s3rver by default, or against the backend named by
// S3AP_TEST_BACKEND_URL (npm run test:ceph runs it against Ceph RGW).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand,
  CreateMultipartUploadCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand,
  DeleteObjectTaggingCommand, GetObjectCommand, GetObjectTaggingCommand, HeadBucketCommand, HeadObjectCommand,
  ListBucketsCommand, ListMultipartUploadsCommand, ListObjectsCommand, ListObjectsV2Command, ListPartsCommand,
  PutObjectCommand, PutObjectTaggingCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { startInProcessProxy, tempDir, type InProcessProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { rawRequest, signedHeaders, type RawResponse } from '../helpers/raw-http.js';

const MiB = 1024 * 1024;

async function bodyText(b: unknown): Promise<string> {
  return (b as { transformToString(): Promise<string> }).transformToString();
}

/** Deterministic pseudo-random stream of `size` bytes, generated as it is read (never held whole). */
function patternStream(size: number, seed: number): Readable {
  let left = size;
  let x = seed >>> 0;
  return new Readable({
    read() {
      if (left === 0) { this.push(null); return; }
      const n = Math.min(left, 256 * 1024);
      const buf = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i += 4) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; buf.writeUInt32LE(x, i); }
      left -= n;
      this.push(buf);
    },
  });
}

async function hashOf(stream: AsyncIterable<Buffer | Uint8Array>): Promise<{ sha: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of stream) { h.update(c); bytes += c.length; }
  return { sha: h.digest('hex'), bytes };
}

/** Outcomes the proxy logged at debug level, by proxy request id order. */
function loggedRequests(p: InProcessProxy): Array<{ method: string; path: string; status: number; outcome: string; rx: number; tx: number }> {
  return p.logs.records.filter((r) => r['msg'] === 'request') as never;
}

/**
 * Operations @20minutes/s3rver 4 does not implement (it answers NotImplemented, MethodNotAllowed or
 * InternalError even when called directly). Against it, the suite checks that the proxy passes the
 * backend's own answer through unchanged; the Ceph RGW tier (npm run test:ceph) checks the real thing.
 */
const S3RVER_GAPS = new Set(['ListMultipartUploads', 'ListParts', 'AbortMultipartUpload', 'DeleteObjectTagging', 'ListObjectsV2 MaxKeys']);

describe('S3 clients through the proxy', () => {
  let backend: TestBackend;
  let proxy: InProcessProxy;
  let s3: S3Client;
  let direct: S3Client;
  const bucket = bucketName('suite');

  /** True when the backend lacks `op`; then asserts the proxy relays the backend's refusal unchanged. */
  async function lacks(op: string, viaProxy: () => Promise<unknown>, viaDirect: () => Promise<unknown>): Promise<boolean> {
    if (backend.kind !== 's3rver' || !S3RVER_GAPS.has(op)) return false;
    const err = async (f: () => Promise<unknown>): Promise<string> => {
      try { await f(); return 'no error'; } catch (e) { return `${(e as Error).name} ${(e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode}`; }
    };
    const [p, d] = [await err(viaProxy), await err(viaDirect)];
    assert.notEqual(d, 'no error', `s3rver now implements ${op}: drop it from S3RVER_GAPS`);
    assert.equal(p, d, `${op}: the proxy relays the backend's own answer`);
    return true;
  }

  before(async () => {
    backend = await startBackend();
    proxy = await startInProcessProxy(['--backend', backend.url]);
    // S3AP_TEST_DIRECT=1 points the suite at the backend itself: tells backend quirks from proxy bugs.
    s3 = s3Client(process.env['S3AP_TEST_DIRECT'] === '1' ? backend.url : proxy.url, backend);
    direct = s3Client(backend.url, backend);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  after(async () => {
    // Empty and remove the bucket (keeps a shared Ceph clean), then stop everything.
    try {
      const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      for (const o of list.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
      await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch { /* best effort */ }
    s3?.destroy();
    direct?.destroy();
    await proxy?.close();
    await backend?.close();
  });

  test('create, list, head and delete a bucket', async () => {
    const b = bucketName('crud');
    await s3.send(new CreateBucketCommand({ Bucket: b }));
    const list = await s3.send(new ListBucketsCommand({}));
    assert.ok(list.Buckets?.some((x) => x.Name === b), 'new bucket listed');
    const head = await s3.send(new HeadBucketCommand({ Bucket: b }));
    assert.equal(head.$metadata.httpStatusCode, 200);
    await s3.send(new DeleteBucketCommand({ Bucket: b }));
    const after = await s3.send(new ListBucketsCommand({}));
    assert.ok(!after.Buckets?.some((x) => x.Name === b), 'deleted bucket gone');
  });

  test('put, get, head and delete an object with user metadata', async () => {
    const key = 'dir/hello world ünï.txt';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'hello proxy', ContentType: 'text/plain', Metadata: { colour: 'blue', 'x-owner': 'ann' } }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(await bodyText(got.Body), 'hello proxy');
    assert.equal(got.ContentType, 'text/plain');
    assert.deepEqual(got.Metadata, { colour: 'blue', 'x-owner': 'ann' });
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(head.ContentLength, 11);
    assert.equal(head.Metadata?.['colour'], 'blue');
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 404);
  });

  test('CopyObject copies data and metadata', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy/src', Body: 'copy me', Metadata: { a: '1' } }));
    const r = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/dst', CopySource: `${bucket}/copy/src` }));
    assert.ok(r.CopyObjectResult?.ETag, 'copy result has an ETag');
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'copy/dst' }));
    assert.equal(await bodyText(got.Body), 'copy me');
    assert.equal(got.Metadata?.['a'], '1');
  });

  test('multipart upload: create, upload parts, list parts, complete', async () => {
    const key = 'mp/object.bin';
    const part1 = randomBytes(5 * MiB);
    const part2 = randomBytes(1 * MiB + 17);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    assert.ok(UploadId);
    const listUploads = new ListMultipartUploadsCommand({ Bucket: bucket });
    if (!await lacks('ListMultipartUploads', () => s3.send(listUploads), () => direct.send(listUploads))) {
      const uploads = await s3.send(listUploads);
      assert.ok(uploads.Uploads?.some((u) => u.UploadId === UploadId), 'upload listed');
    }
    const p1 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: part1 }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: part2 }));
    const listParts = new ListPartsCommand({ Bucket: bucket, Key: key, UploadId });
    if (!await lacks('ListParts', () => s3.send(listParts), () => direct.send(listParts))) {
      const parts = await s3.send(listParts);
      assert.deepEqual(parts.Parts?.map((p) => p.PartNumber), [1, 2]);
    }
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket: bucket, Key: key, UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
    }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const { sha, bytes } = await hashOf(got.Body as Readable);
    assert.equal(bytes, part1.length + part2.length);
    assert.equal(sha, createHash('sha256').update(part1).update(part2).digest('hex'));
  });

  test('multipart upload: abort', async () => {
    const key = 'mp/aborted.bin';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: randomBytes(1024) }));
    const abort = new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId });
    if (await lacks('AbortMultipartUpload', () => s3.send(abort), () => direct.send(abort))) return;
    await s3.send(abort);
    // AWS and MinIO answer NoSuchUpload; Ceph RGW 16.2 answers NoSuchKey.
    await assert.rejects(s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId })), (e: Error) => ['NoSuchUpload', 'NoSuchKey'].includes(e.name));
  });

  test('ListObjects v1 and v2 with prefix, delimiter and pagination', async () => {
    const b = bucketName('list');
    await s3.send(new CreateBucketCommand({ Bucket: b }));
    const keys = ['a/1', 'a/2', 'a/3', 'a/sub/4', 'b/5', 'top'];
    for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }));
    const v2 = await s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: 'a/', Delimiter: '/' }));
    assert.deepEqual(v2.Contents?.map((o) => o.Key), ['a/1', 'a/2', 'a/3']);
    assert.deepEqual(v2.CommonPrefixes?.map((p) => p.Prefix), ['a/sub/']);
    const firstPage = new ListObjectsV2Command({ Bucket: b, MaxKeys: 2 });
    if (!await lacks('ListObjectsV2 MaxKeys', () => s3.send(firstPage), () => direct.send(firstPage))) {
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: b, MaxKeys: 2, ContinuationToken: token }));
        seen.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.NextContinuationToken;
        pages++;
      } while (token && pages < 10);
      assert.deepEqual(seen, keys);
      assert.equal(pages, 3);
    }
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: b, Delimiter: '/' }));
    assert.deepEqual(v1.Contents?.map((o) => o.Key), ['top']);
    assert.deepEqual(v1.CommonPrefixes?.map((p) => p.Prefix), ['a/', 'b/']);
    const v1page = await s3.send(new ListObjectsCommand({ Bucket: b, MaxKeys: 2 }));
    assert.equal(v1page.IsTruncated, true);
    const v1next = await s3.send(new ListObjectsCommand({ Bucket: b, MaxKeys: 10, Marker: v1page.Contents!.at(-1)!.Key }));
    assert.deepEqual(v1next.Contents?.map((o) => o.Key), keys.slice(2));
    for (const k of keys) await s3.send(new DeleteObjectCommand({ Bucket: b, Key: k }));
    await s3.send(new DeleteBucketCommand({ Bucket: b }));
  });

  test('range GET returns exactly the asked bytes', async () => {
    const data = randomBytes(100_000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'range.bin', Body: data }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'range.bin', Range: 'bytes=1000-1999' }));
    assert.equal(got.$metadata.httpStatusCode, 206);
    assert.equal(got.ContentRange, 'bytes 1000-1999/100000');
    const body = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    assert.ok(body.equals(data.subarray(1000, 2000)));
  });

  test('presigned GET and PUT URLs signed for the proxy work through it', async () => {
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: 'presigned.txt' }), { expiresIn: 300 });
    const put = await rawRequest(putUrl, { method: 'PUT', body: 'via presigned put' });
    assert.equal(put.status, 200, put.body.toString());
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'presigned.txt' }), { expiresIn: 300 });
    const get = await rawRequest(getUrl);
    assert.equal(get.status, 200);
    assert.equal(get.body.toString(), 'via presigned put');
    // A tampered presigned URL is refused by the backend, through the proxy.
    const bad = await rawRequest(getUrl.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000'));
    assert.equal(bad.status, 403);
    assert.match(bad.body.toString(), /<Code>SignatureDoesNotMatch<\/Code>/);
  });

  test('object tagging: put, get, delete', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'tagged', Body: 't' }));
    await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'tagged', Tagging: { TagSet: [{ Key: 'team', Value: 'storage' }] } }));
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged' }));
    assert.deepEqual(tags.TagSet, [{ Key: 'team', Value: 'storage' }]);
    const del = new DeleteObjectTaggingCommand({ Bucket: bucket, Key: 'tagged' });
    if (await lacks('DeleteObjectTagging', () => s3.send(del), () => direct.send(del))) return;
    await s3.send(del);
    const none = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged' }));
    assert.deepEqual(none.TagSet ?? [], []);
  });

  test('DeleteObjects removes several keys', async () => {
    for (const k of ['del/1', 'del/2', 'del/3']) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
    const r = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'del/1' }, { Key: 'del/2' }, { Key: 'del/3' }] } }));
    assert.deepEqual(r.Deleted?.map((d) => d.Key).sort(), ['del/1', 'del/2', 'del/3']);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'del/' }));
    assert.equal(left.KeyCount ?? 0, 0);
  });

  test('backend errors pass through unchanged: NoSuchKey, NoSuchBucket, SignatureDoesNotMatch', async () => {
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'missing' })), (e: Error) => e.name === 'NoSuchKey');
    await assert.rejects(s3.send(new ListObjectsV2Command({ Bucket: bucketName('nope') })), (e: Error) => e.name === 'NoSuchBucket');
    const wrong = s3Client(proxy.url, { ...backend, secretAccessKey: 'wrong-secret-wrong-secret' });
    try {
      await assert.rejects(wrong.send(new ListObjectsV2Command({ Bucket: bucket })), (e: Error) => e.name === 'SignatureDoesNotMatch');
    } finally { wrong.destroy(); }
  });

  test('Expect: 100-continue is answered, then the body flows', async () => {
    // The SDK sends Expect: 100-continue for bodies above 2 MiB.
    const big = randomBytes(3 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'expect.bin', Body: big }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'expect.bin' }));
    assert.equal(head.ContentLength, big.length);
    // And on the wire: the proxy sends "100 Continue" before the client sends the body.
    const url = `${proxy.url}/${bucket}/expect-raw.txt`;
    const headers = await signedHeaders(url, 'PUT', backend, { 'content-length': '5' });
    const { continued, status } = await new Promise<{ continued: boolean; status: number }>((resolve, reject) => {
      let continued = false;
      const req = http.request(url, { method: 'PUT', headers: { ...headers, expect: '100-continue' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ continued, status: res.statusCode ?? 0 }));
      });
      req.on('continue', () => { continued = true; req.end('12345'); });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(continued, true, 'got 100 Continue');
    assert.equal(status, 200);
  });

  test('a 200 MiB upload and download keep their bytes (compared by hash)', async () => {
    const size = 200 * MiB;
    const expected = await hashOf(patternStream(size, 42));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'big.bin', Body: patternStream(size, 42), ContentLength: size }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
    const actual = await hashOf(got.Body as Readable);
    assert.deepEqual(actual, expected);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
  });

  test('a client abort mid-upload aborts the backend request; the backend sees what a direct abort shows it', async () => {
    const abortUpload = async (origin: string, key: string): Promise<void> => {
      const url = `${origin}/${bucket}/${key}`;
      const headers = await signedHeaders(url, 'PUT', backend, { 'content-length': String(20 * MiB) });
      await new Promise<void>((resolve) => {
        const req = http.request(url, { method: 'PUT', headers, agent: false });
        req.on('error', () => resolve());
        req.write(randomBytes(2 * MiB), () => setTimeout(() => { req.destroy(); resolve(); }, 50));
      });
    };
    await abortUpload(backend.url, 'aborted-direct.bin');
    await abortUpload(proxy.url, 'aborted-upload.bin');
    // The proxy logs the exchange as client-aborted once its side has wound down (bounded wait).
    let rec: { outcome: string; path: string } | undefined;
    for (let i = 0; i < 100 && !rec; i++) {
      rec = loggedRequests(proxy).find((r) => r.path.endsWith('/aborted-upload.bin'));
      if (!rec) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(rec?.outcome, 'client-aborted');
    // Whatever the backend keeps of an aborted upload (s3rver keeps the partial bytes; real servers
    // keep nothing), it must be the same whether the client aborted directly or through the proxy.
    const state = async (key: string): Promise<string> => {
      for (let i = 0; i < 40; i++) {
        try {
          const h = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
          if ((h.ContentLength ?? 0) < 20 * MiB) return 'partial';
          return 'complete';
        } catch { await new Promise((r) => setTimeout(r, 25)); }
      }
      return 'absent';
    };
    const [directState, proxiedState] = [await state('aborted-direct.bin'), await state('aborted-upload.bin')];
    assert.equal(proxiedState, directState);
    assert.notEqual(proxiedState, 'complete');
    // And the proxy is still serving.
    const head = await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    assert.equal(head.$metadata.httpStatusCode, 200);
  });

  test('a request made directly and through the proxy get the same status, headers and body', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'same.txt', Body: 'identical bytes', ContentType: 'text/plain', Metadata: { m: 'v' } }));
    const cases: Array<{ method: string; path: string; headers?: Record<string, string> }> = [
      { method: 'GET', path: `/${bucket}/same.txt` },
      { method: 'HEAD', path: `/${bucket}/same.txt` },
      { method: 'GET', path: `/${bucket}/same.txt`, headers: { range: 'bytes=2-6' } },
      { method: 'GET', path: `/${bucket}/no-such-key` },
      { method: 'HEAD', path: `/${bucket}/no-such-key` },
      { method: 'GET', path: `/${bucket}?list-type=2&prefix=same` },
      { method: 'GET', path: `/${bucket}?location` },
    ];
    const send = async (origin: string, c: (typeof cases)[number]): Promise<RawResponse> => {
      const url = origin + c.path;
      return rawRequest(url, { method: c.method, headers: await signedHeaders(url, c.method, backend, c.headers ?? {}) });
    };
    const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date']);
    const asMap = (r: RawResponse): Map<string, string> => {
      const m = new Map<string, string>();
      for (let i = 0; i < r.rawHeaders.length; i += 2) if (!HOP.has(r.rawHeaders[i]!.toLowerCase())) m.set(r.rawHeaders[i]!, r.rawHeaders[i + 1]!);
      return m;
    };
    // Ids and timestamps differ between any two requests: learn which, from two direct requests.
    const mask = (s: string): string => s.replace(/<(RequestId|HostId)>[^<]*</g, '<$1><');
    for (const c of cases) {
      const d1 = await send(backend.url, c);
      const d2 = await send(backend.url, c);
      const p = await send(proxy.url, c);
      const label = `${c.method} ${c.path}`;
      assert.equal(p.status, d1.status, label);
      assert.equal(p.statusMessage, d1.statusMessage, label);
      const [m1, m2, mp] = [asMap(d1), asMap(d2), asMap(p)];
      const volatile = new Set([...m1.keys()].filter((k) => m1.get(k) !== m2.get(k)));
      assert.deepEqual([...mp.keys()], [...m1.keys()], `${label}: same header names, same order`);
      for (const [k, v] of m1) if (!volatile.has(k)) assert.equal(mp.get(k), v, `${label}: header ${k}`);
      assert.equal(mask(p.body.toString('latin1')), mask(d1.body.toString('latin1')), `${label}: body`);
    }
  });

  test('the aws CLI works through the proxy', async (t) => {
    if (spawnSync('aws', ['--version']).status !== 0) { t.skip('aws CLI not installed'); return; }
    const dir = tempDir();
    t.after(() => dir.remove());
    const env = { ...process.env, AWS_ACCESS_KEY_ID: backend.accessKeyId, AWS_SECRET_ACCESS_KEY: backend.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    // Asynchronous on purpose: the proxy runs in this process and must keep serving meanwhile.
    const aws = async (...args: string[]): Promise<string> =>
      (await promisify(execFile)('aws', ['--endpoint-url', proxy.url, ...args], { env, encoding: 'utf8', timeout: 120_000 })).stdout;
    const src = join(dir.path, 'cli.bin');
    writeFileSync(src, randomBytes(9 * MiB)); // above the CLI's 8 MiB multipart threshold
    await aws('s3', 'cp', src, `s3://${bucket}/cli/cli.bin`, '--only-show-errors');
    assert.match(await aws('s3', 'ls', `s3://${bucket}/cli/`), /cli\.bin/);
    const back = join(dir.path, 'back.bin');
    await aws('s3', 'cp', `s3://${bucket}/cli/cli.bin`, back, '--only-show-errors');
    assert.ok(readFileSync(back).equals(readFileSync(src)), 'downloaded bytes equal uploaded bytes');
    await aws('s3', 'rm', `s3://${bucket}/cli/cli.bin`, '--only-show-errors');
  });

  test('nothing is left in flight', async () => {
    for (let i = 0; i < 100 && proxy.proxy.inFlight() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(proxy.proxy.inFlight(), 0);
    // Every exchange the proxy logged was accounted for exactly once.
    const ids = proxy.logs.records.filter((r) => r['msg'] === 'request').map((r) => r['reqId']);
    assert.equal(new Set(ids).size, ids.length);
  });
});
