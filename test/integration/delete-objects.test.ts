// DeleteObjects audit through the proxy: the event names every key the backend deleted, whatever
// padding the request carries (comments, > 1 MiB before the keys, 1000 long keys), with each key's
// real result from the reply (quiet mode: unlisted = deleted).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AuditEvent } from '../../src/audit/event.js';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { CollectingSink } from '../helpers/collecting-sink.js';
import { startInProcessProxy, type InProcessProxy } from '../helpers/proxy.js';
import { rawRequest, signedHeaders } from '../helpers/raw-http.js';
import { s3Client } from '../helpers/s3.js';
import { startSniffBackend, type SniffBackend } from '../helpers/sniff-backend.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function deleteXml(keys: string[], opts: { quiet?: boolean; padding?: string } = {}): string {
  return '<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' + (opts.padding ?? '') +
    keys.map((k) => `<Object><Key>${esc(k)}</Key></Object>`).join('') + (opts.quiet ? '<Quiet>true</Quiet>' : '') + '</Delete>';
}

describe('DeleteObjects events against s3rver', () => {
  let backend: TestBackend;
  let proxy: InProcessProxy;
  let direct: S3Client;
  const sink = new CollectingSink();
  const bucket = bucketName('delobj');

  before(async () => {
    backend = await startBackend();
    proxy = await startInProcessProxy(['--backend', backend.url], { logLevel: 'info', parts: { sink } });
    direct = s3Client(backend.url, backend);
    await direct.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => { direct?.destroy(); await proxy?.close(); await backend?.close(); });

  async function putAll(keys: string[]): Promise<void> {
    // Straight to the backend: only the DeleteObjects goes through the proxy.
    for (let i = 0; i < keys.length; i += 25) {
      await Promise.all(keys.slice(i, i + 25).map((k) => direct.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'x' }))));
    }
  }

  async function exists(key: string): Promise<boolean> {
    try { await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key })); return true; } catch { return false; }
  }

  async function deleteObjects(xml: string): Promise<{ status: number; body: string; event: AuditEvent }> {
    const url = `${proxy.url}/${bucket}?delete`;
    const body = Buffer.from(xml, 'utf8');
    const md5 = createHash('md5').update(body).digest('base64');
    const headers = await signedHeaders(url, 'POST', backend, { 'content-md5': md5, 'content-type': 'application/xml' });
    const before = sink.events.length;
    const r = await rawRequest(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, body });
    const [event] = await sink.waitFor((e) => sink.events.indexOf(e) >= before && e.api.name === 'DeleteObjects', 1, 10_000);
    return { status: r.status, body: r.body.toString(), event: event! };
  }

  test('keys after an XML comment of more than 1 MiB: both deleted, both in the event as deleted', async () => {
    // (s3rver does not decode entities in DeleteObjects bodies: entity-escaped keys are covered by the
    // scripted-backend test below and the unit tests.)
    const keys = ['padded/one', 'padded/two ü+x'];
    await putAll(keys);
    const r = await deleteObjects(deleteXml(keys, { padding: `<!--${'p'.repeat(1100 * 1024)}-->` }));
    if (r.status !== 200 && backend.kind === 'ceph') {
      // Ceph RGW refuses a DeleteObjects body past its parameter size limit (rgw_max_put_param_size,
      // 1 MiB), answering before it has read the keys: nothing is deleted, and the event says the
      // request failed with that status; any key it lists is an error, none is "deleted".
      assert.ok(r.status >= 400 && r.status < 500, `RGW refused the padded request: ${r.status}`);
      for (const k of keys) assert.equal(await exists(k), true, `${k} not deleted at the backend`);
      assert.equal(r.event.response.statusCode, r.status);
      for (const o of r.event.api.objects ?? []) assert.equal(o.result, 'error', JSON.stringify(o));
      return;
    }
    assert.equal(r.status, 200);
    for (const k of keys) assert.equal(await exists(k), false, `${k} deleted at the backend`);
    assert.equal(r.event.api.objectsTruncated, false);
    assert.equal(r.event.api.objectsSkipped, 0);
    assert.deepEqual(r.event.api.objects, keys.map((key) => ({ key, versionId: null, result: 'deleted', errorCode: null })));
    assert.ok(r.event.bytes.received > 1024 * 1024);
  });

  test('1000 keys of about 1 KiB: every key in the event with its result', async () => {
    // '/' every 200 bytes: s3rver stores keys as file paths (255-byte names).
    const keys = Array.from({ length: 1000 }, (_, i) => `long/${String(i).padStart(4, '0')}/` + Array.from({ length: 5 }, () => 'k'.repeat(199)).join('/'));
    assert.ok(Buffer.byteLength(keys[0]!) >= 1000);
    // Every 50th key exists (S3, like s3rver, reports an absent key as deleted too): keeps the test short.
    const stored = keys.filter((_, i) => i % 50 === 0 || i === 999);
    await putAll(stored);
    const r = await deleteObjects(deleteXml(keys));
    assert.equal(r.status, 200);
    for (const k of stored) assert.equal(await exists(k), false, 'deleted at the backend');
    assert.equal(r.event.api.objectsTruncated, false);
    assert.equal(r.event.api.objects!.length, 1000);
    assert.deepEqual(r.event.api.objects!.map((o) => o.key), keys);
    assert.ok(r.event.api.objects!.every((o) => o.result === 'deleted'), 'every key deleted');
  });

  test('quiet mode: keys the reply does not list were deleted', async () => {
    const keys = ['quiet/a', 'quiet/b'];
    await putAll(keys);
    const r = await deleteObjects(deleteXml(keys, { quiet: true }));
    assert.equal(r.status, 200);
    for (const o of r.event.api.objects!) assert.equal(o.result, 'deleted');
    assert.deepEqual(sink.invalid.map((i) => i.errors), [], 'events match the schema');
  });
});

describe('DeleteObjects per-key errors (scripted backend)', () => {
  let sniff: SniffBackend;
  let proxy: InProcessProxy;
  const sink = new CollectingSink();
  before(async () => {
    sniff = await startSniffBackend();
    proxy = await startInProcessProxy(['--backend', sniff.url], { logLevel: 'info', parts: { sink } });
  });
  after(async () => { await proxy?.close(); await sniff?.close(); });

  test('quiet mode with one error: the error as listed, the rest deleted; the reply reaches the client unchanged', async () => {
    // The reply is sent in small pieces, so the scanner sees it split mid-tag.
    const reply = '<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      '<!-- <Deleted><Key>q/2</Key></Deleted> --><Error><Key>q/2</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>';
    sniff.respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': 'SNIFF' });
      const buf = Buffer.from(reply);
      let at = 0;
      const next = (): void => {
        if (at >= buf.length) { res.end(); return; }
        res.write(buf.subarray(at, at + 13));
        at += 13;
        setImmediate(next);
      };
      next();
    };
    const xml = deleteXml(['q/1', 'q/2', 'q/3'], { quiet: true, padding: `<!--${' '.repeat(1100 * 1024)}-->` });
    const r = await rawRequest(`${proxy.url}/bkt?delete`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: xml });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), reply, 'reply unchanged');
    assert.equal(sniff.seen.at(-1)!.body.toString(), xml, 'request body reached the backend unchanged');
    const [ev] = await sink.waitFor((e) => e.api.name === 'DeleteObjects');
    assert.deepEqual(ev!.api.objects!.map((o) => [o.key, o.result, o.errorCode]),
      [['q/1', 'deleted', null], ['q/2', 'error', 'AccessDenied'], ['q/3', 'deleted', null]]);
  });

  test('a request refused as a whole (400 MalformedXML): every key is an error, nothing deleted', async () => {
    sniff.respond = (_req, res) => {
      res.writeHead(400, { 'content-type': 'application/xml' });
      res.end('<Error><Code>MalformedXML</Code><Message>bad</Message></Error>');
    };
    const keys = Array.from({ length: 1001 }, (_, i) => `many/${i}`);
    const r = await rawRequest(`${proxy.url}/bkt?delete`, { method: 'POST', body: deleteXml(keys) });
    assert.equal(r.status, 400);
    const ev = (await sink.waitFor((e) => e.api.name === 'DeleteObjects' && e.response.statusCode === 400))[0]!;
    assert.equal(ev.api.objectsTruncated, true, 'more than 1000 objects: S3 refuses the list');
    assert.equal(ev.api.objects!.length, 1000);
    assert.ok(ev.api.objects!.every((o) => o.result === 'error' && o.errorCode === 'MalformedXML'));
    assert.deepEqual(sink.invalid.map((i) => i.errors), []);
  });
});
