// The "Done when": a tiny queue and spool, the HEC receiver down during 1,500 PUTs through
// the real proxy, then back: `verify --key-file` over what the receiver got exits 0 and reports the
// declared gap; the same file with one event's key edited, or one event removed, exits 1 naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { adminCall } from '../helpers/admin.js';
import { startBackend, bucketName } from '../helpers/backend.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { startInProcessProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { projectRoot } from '../../src/paths.js';
import { verifyCli } from '../helpers/verify-cli.js';

const TOKEN = 'seq-gaps-hec-token';
const MAIN = join(projectRoot(), 'dist', 'src', 'cli', 'main.js');


async function waitFor(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('receiver down during 1,500 PUTs with --queue-max-events 50 --spool-max-bytes 262144: the loss is declared, verify --key-file proves the rest, an edit or a removal is named', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 's3ap-seq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'integrity.key');
  writeFileSync(keyFile, 'a-secret-integrity-key-for-the-test\n', { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  const backend = await startBackend();
  t.after(() => backend.close());
  const r = await startHecReceiver({ token: TOKEN });
  t.after(() => r.close());
  const proxy = await startInProcessProxy(['--backend', backend.url, '--queue-max-events', '50', '--spool-max-bytes', '262144', '--integrity-key-file', keyFile], { logLevel: 'warn' });
  let closed = false;
  t.after(async () => { if (!closed) await proxy.close(); });
  const adminToken = readFileSync(join(proxy.dataDir, 'admin-token'), 'utf8').trim();
  const en = await adminCall(proxy.admin.url, 'POST', '/api/v1/audit-webhook/enable', {
    token: adminToken, body: { endpoint: r.eventUrl, authToken: TOKEN, batchMaxWaitMs: 50, healthCheckIntervalMs: 1000 },
  });
  assert.equal(en.status, 200, en.text);
  const client = s3Client(proxy.url, backend);
  t.after(() => client.destroy());
  const bucket = bucketName('seq');
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await r.waitForEvents(2, 10_000);

  await r.setMode('down');
  const PUTS = 1500;
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < PUTS) {
      const i = next++;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `k/${i}`, Body: 'x' }));
    }
  }));
  const d = proxy.dispatcher!;
  assert.ok(d.status().dropped > 0, `the tiny queue and spool overflowed: ${JSON.stringify(d.status())}`);
  await r.setMode('up');
  const isGap = (e: unknown): boolean => (e as { kind?: string }).kind === 'gap';
  await waitFor(() => {
    const s = d.status();
    return s.queued === 0 && s.spooled === 0 && s.inFlight === 0 && r.events.some(isGap);
  }, 60_000, () => `delivery after the outage: ${JSON.stringify(d.status())}, gap events ${r.events.filter(isGap).length}`);
  await proxy.close();
  closed = true;

  const file = join(dir, 'received.ndjson');
  writeFileSync(file, r.envelopes.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const ok = await verifyCli(['--key-file', keyFile, file]);
  t.diagnostic(ok.out);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /spool_full \d+/);
  assert.match(ok.out, /OK: every event accounted for/);
  const gap = r.events.find(isGap) as { gap: { count: number; ranges: number[][] } };
  assert.equal(gap.gap.count, d.status().dropped, 'the gap event declares every dropped event');

  // one event's object key edited
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const idx = lines.findIndex((l) => l.includes('"name":"PutObject"') && l.includes('"object":"k/7"'));
  const target = idx >= 0 ? idx : lines.findIndex((l) => l.includes('"name":"PutObject"'));
  const victim = JSON.parse(lines[target]!) as { event: { id: string; sequence: number; api: { object: string } } };
  const edited = [...lines];
  edited[target] = edited[target]!.replace(`"object":"${victim.event.api.object}"`, '"object":"k/innocent"');
  writeFileSync(join(dir, 'edited.ndjson'), edited.join('\n') + '\n');
  const bad = await verifyCli(['--key-file', keyFile, join(dir, 'edited.ndjson')]);
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, new RegExp(`mac_mismatch .*sequence ${victim.event.sequence} event ${victim.event.id}`));

  // one event removed (every copy of it, should the receiver have got it twice)
  const removed = lines.filter((l) => !l.includes(`"id":"${victim.event.id}"`));
  writeFileSync(join(dir, 'removed.ndjson'), removed.join('\n') + '\n');
  const gone = await verifyCli(['--key-file', keyFile, join(dir, 'removed.ndjson')]);
  assert.equal(gone.code, 1, gone.out);
  assert.match(gone.out, new RegExp(`undeclared_gap .*sequence ${victim.event.sequence}\\b`));

  // usage errors name the flag
  const usage = await verifyCli(['--key-fil', keyFile, file]);
  assert.equal(usage.code, 2);
  assert.match(usage.out, /--key-fil/);
});

test('serve refuses an integrity key readable by group or others (exit 2 naming the flag)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 's3ap-seq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'k');
  writeFileSync(keyFile, 'secret');
  chmodSync(keyFile, 0o644);
  const out = await new Promise<{ code: number; text: string }>((resolve) => {
    execFile(process.execPath, [MAIN, 'serve', '--data-dir', join(dir, 'd'), '--integrity-key-file', keyFile, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'], { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err && typeof err.code === 'number' ? err.code : 0, text: stdout + stderr });
    });
  });
  assert.equal(out.code, 2, out.text);
  assert.match(out.text, /--integrity-key-file/);
});
