// Sequence numbers count the events handed over for delivery, not those built for a live stream only.
// Real processes: the proxy (`--backend` a real s3rver, `--audit-log none`, no webhook at first,
// `--integrity-key-file`), a stream client on GET /api/v1/events/stream, the AWS SDK, the real HEC
// receiver and the `verify` CLI; one process and `--workers 2`.
// - while only the stream is attached, events reach it without `sequence` or `integrity`;
// - the webhook is enabled while requests are in flight, then more requests: every event the stream
//   showed has a `sequence` exactly when the receiver got it (numbered iff delivered);
// - `verify --key-file` over what the receiver got exits 0: no undeclared gap, no chain break (before
//   the fix the stream-only events used numbers 1..N and verify reported them as an undeclared gap).
// No timing decides a pass: every wait is for a condition, with a generous deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { adminCall, waitUntil } from '../helpers/admin.js';
import { bucketName, startBackend } from '../helpers/backend.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, tempDir } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { verifyCli } from '../helpers/verify-cli.js';

type Rec = Record<string, any>;
const HEC_TOKEN = randomUUID().toUpperCase();


/** The stream's lines as they come; `ended` resolves when the proxy ends the stream. */
function openStream(adminUrl: string, token: string): Promise<{ lines: Rec[]; ended: Promise<void>; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${adminUrl}/api/v1/events/stream`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`stream: HTTP ${res.statusCode}`)); res.resume(); return; }
      const lines: Rec[] = [];
      let buf = '';
      let hello = false;
      const ended = new Promise<void>((r) => { res.once('end', r); res.once('close', r); });
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) !== -1) {
          const line = JSON.parse(buf.slice(0, i)) as Rec;
          buf = buf.slice(i + 1);
          lines.push(line);
          if (!hello && line['hello']) { hello = true; resolve({ lines, ended, close: () => req.destroy() }); }
        }
      });
    });
    req.once('error', reject);
  });
}

async function scenario(t: { after(fn: () => unknown): void; diagnostic(s: string): void }, extra: string[]): Promise<void> {
  const dir = tempDir('s3ap-tail-seq-');
  t.after(() => dir.remove());
  const keyFile = join(dir.path, 'integrity.key');
  writeFileSync(keyFile, 'tail-sequence-test-key\n', { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  const backend = await startBackend();
  t.after(() => backend.close());
  const hec = await startHecReceiver({ token: HEC_TOKEN });
  t.after(() => hec.close());
  const dataDir = join(dir.path, 'data');
  const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dataDir, '--backend', backend.url,
    '--audit-log', 'none', '--integrity-key-file', keyFile, ...extra]);
  t.after(() => p.stop('SIGKILL'));
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const s3 = s3Client(p.url, backend);
  t.after(() => s3.destroy());

  // 1. Only the stream wants events.
  const stream = await openStream(p.adminUrl!, token);
  t.after(() => stream.close());
  const bucket = bucketName('tseq');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  let made = 1;
  const put = async (key: string): Promise<void> => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    made++;
  };
  for (let i = 0; i < 10; i++) await put(`before/${i}`);
  const s3Events = (): Rec[] => stream.lines.filter((l) => l['event']?.['kind'] === 's3').map((l) => l['event'] as Rec);
  await waitUntil(() => s3Events().length >= made, 20_000, `the stream shows ${made} events (has ${s3Events().length})`);
  for (const e of s3Events()) {
    assert.equal(e['sequence'], undefined, `a stream-only event is not numbered: ${JSON.stringify(e)}`);
    assert.equal(e['integrity'], undefined, 'nor sealed');
  }

  // 2. The webhook is enabled while requests are in flight (bounded: 4 loops of at most 200 each).
  let enabled = false;
  const during = Promise.all(Array.from({ length: 4 }, async (_, w) => {
    let after = 0;
    for (let i = 0; i < 200 && after < 10; i++) {
      await put(`during/${w}/${i}`);
      if (enabled) after++;
    }
  }));
  const en = await adminCall(p.adminUrl!, 'POST', '/api/v1/audit-webhook/enable', { token, body: { endpoint: hec.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs: 50 } });
  assert.equal(en.status, 200, en.text);
  enabled = true;
  await during;
  for (let i = 0; i < 10; i++) await put(`after/${i}`);

  // 3. A clean stop delivers everything and ends the stream.
  assert.equal(await p.stop('SIGTERM'), 0);
  await stream.ended;
  const shown = s3Events();
  assert.equal(shown.length, made, 'the stream showed every S3 request once');
  const received = new Map(hec.events.map((e) => [(e as Rec)['id'] as string, e as Rec]));
  let numbered = 0;
  for (const e of shown) {
    const got = received.get(e['id']);
    assert.equal(e['sequence'] !== undefined, got !== undefined, `numbered iff delivered: ${e['id']} ${e['api']['object']} sequence ${e['sequence']}`);
    if (got) { numbered++; assert.equal(got['sequence'], e['sequence']); }
  }
  assert.ok(numbered >= 10 && numbered < made, `some events were delivered, not the stream-only ones (${numbered} of ${made})`);
  assert.ok([...received.values()].every((e) => Number.isInteger(e['sequence'])), 'every delivered event is numbered');

  const file = join(dir.path, 'received.ndjson');
  writeFileSync(file, hec.envelopes.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const v = await verifyCli(['--key-file', keyFile, file]);
  t.diagnostic(v.out);
  assert.equal(v.code, 0, v.out);
  assert.doesNotMatch(v.out, /undeclared_gap/);
  assert.match(v.out, /OK: every event accounted for/);
}

test('stream-only events take no sequence number: enabling a webhook later gives verify no undeclared gap', { timeout: 120_000 }, async (t) => {
  await scenario(t, []);
});

test('the same with --workers 2: workers send stream-only events unnumbered', { timeout: 120_000 }, async (t) => {
  await scenario(t, ['--workers', '2']);
});
