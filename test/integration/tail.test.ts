// `s3-audit-proxy tail` and GET /api/v1/events/stream with real processes: the proxy (embedded
// store, one process and --workers 2), the tail CLI as a child, the AWS SDK, the real HEC receiver.
// - `tail --json` shows every event of the requests made while it runs: the same ids as the audit
//   log, each a valid event; `tail --bucket B` shows only B; the terminal form has one line each;
//   Ctrl-C ends it with 0; every stream line is a documented StreamLine.
// - a wrong token is refused with a message that says where tokens come from; a bad flag names it.
// - a reader that never reads (a raw socket) is bounded: the proxy drops events for it alone
//   (s3ap_audit_stream_events_dropped_total), S3 keeps answering and the webhook gets every event.
// - `serve --workers 2`: the workers send events while a tail is attached, and only then.
// - the first run: no flags but the ports, one S3 request, and the event is in data/audit.jsonl, as
//   the start-up log said.
// No timing decides a pass: every wait is for a condition, with a generous deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Pool } from 'undici';
import { spawnProxy, tempDir, type ChildProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import type { TestBackend } from '../helpers/backend.js';
import { validateEvent } from '../helpers/collecting-sink.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { adminCall, CLI_MAIN, loadOpenApi, logRecords, runCli, waitUntil } from '../helpers/admin.js';

type Rec = Record<string, any>;
const EMBEDDED: TestBackend = { url: '', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', kind: 's3rver', close: async () => {} };
const HEC_TOKEN = randomUUID().toUpperCase();

interface Tail {
  child: ChildProcess;
  stdout: string[];
  stderr(): string;
  exited: Promise<number | null>;
  events(): Rec[];
  /** Ctrl-C; resolves with the exit code. */
  interrupt(): Promise<number | null>;
}

/** `s3-audit-proxy tail <args>`; resolves once it says it is streaming (the proxy sent hello). */
async function startTail(args: string[], t: { after(fn: () => unknown): void }): Promise<Tail> {
  const child = spawn(process.execPath, [CLI_MAIN, 'tail', ...args], { env: { PATH: process.env['PATH'], HOME: process.env['HOME'] }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    let i;
    while ((i = out.indexOf('\n')) !== -1) { stdout.push(out.slice(0, i)); out = out.slice(i + 1); }
  });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let gone = false;
  void exited.then(() => { gone = true; });
  await waitUntil(() => err.includes('streaming events from') || gone, 20_000, `tail ${args.join(' ')} attached`);
  assert.ok(!gone, `tail exited: ${err}`);
  return {
    child, stdout, exited,
    stderr: () => err,
    events: () => stdout.map((l) => JSON.parse(l) as Rec),
    interrupt: async () => { child.kill('SIGINT'); return exited; },
  };
}

function auditLog(dir: string): Rec[] {
  const file = join(dir, 'audit.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec);
}

const token = (dir: string): string => readFileSync(join(dir, 'admin-token'), 'utf8').trim();

async function traffic(s3: S3Client, buckets: string[], perBucket: number): Promise<string[]> {
  const keys: string[] = [];
  for (const b of buckets) await s3.send(new CreateBucketCommand({ Bucket: b }));
  for (const b of buckets) {
    for (let i = 0; i < perBucket; i++) {
      const key = `k-${i}-${randomUUID()}`;
      await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: `body ${i}` }));
      await (await s3.send(new GetObjectCommand({ Bucket: b, Key: key }))).Body!.transformToString();
      keys.push(`${b}/${key}`);
    }
  }
  return keys;
}

async function startProxy(t: { after(fn: () => unknown): void }, extra: string[] = []): Promise<{ p: ChildProxy; dir: string }> {
  const dir = tempDir('s3ap-tail-');
  const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, ...extra]);
  t.after(async () => { await p.stop('SIGKILL'); dir.remove(); });
  return { p, dir: dir.path };
}

test('tail --json shows every event of the requests made while it runs; --bucket B only B; Ctrl-C ends it', async (t) => {
  const { p, dir } = await startProxy(t);
  const admin = ['--admin', p.adminUrl!, '--data-dir', dir];
  const all = await startTail([...admin, '--json'], t);
  const onlyB = await startTail([...admin, '--json', '--bucket', 'bucket-b'], t);
  const text = await startTail(admin, t);
  const s3 = s3Client(p.url, EMBEDDED);
  t.after(() => s3.destroy());
  const keys = await traffic(s3, ['bucket-a', 'bucket-b'], 5);
  const expected = 2 + keys.length * 2; // CreateBucket x2, then a PutObject and a GetObject per key
  await waitUntil(() => auditLog(dir).length >= expected, 15_000, 'the audit log has every event');
  const logged = auditLog(dir);
  assert.equal(logged.length, expected);
  await waitUntil(() => all.stdout.length >= expected, 15_000, `tail --json shows ${expected} events (has ${all.stdout.length})`);
  const seen = all.events();
  assert.deepEqual(seen.map((e) => e['id']).sort(), logged.map((e) => e['id']).sort(), 'tail --json: exactly the events of the audit log');
  for (const e of seen) assert.ok(validateEvent(e), JSON.stringify(validateEvent.errors));
  for (const k of keys) assert.ok(seen.some((e) => `${e['api']['bucket']}/${e['api']['object']}` === k && e['api']['name'] === 'PutObject'), k);

  const inB = logged.filter((e) => e['api']['bucket'] === 'bucket-b').length;
  await waitUntil(() => onlyB.stdout.length >= inB, 15_000, 'tail --bucket shows the events of bucket-b');
  assert.equal(onlyB.stdout.length, inB);
  assert.ok(onlyB.events().every((e) => e['api']['bucket'] === 'bucket-b'));
  assert.match(onlyB.stderr(), /filters \{"bucket":"bucket-b"\}/);

  await waitUntil(() => text.stdout.length >= expected, 15_000, 'the terminal tail has a line per event');
  assert.equal(text.stdout.length, expected);
  assert.ok(text.stdout.every((l) => /^\d\d:\d\d:\d\d\.\d{3} +127\.0\.0\.1 +(CreateBucket|PutObject|GetObject) +bucket-[ab](\/\S+)? +200 +↑\S+ ↓\S+ +\S+s$/.test(l)), text.stdout.join('\n'));
  assert.doesNotMatch(text.stdout.join('\n'), /\u001b/, 'no colour when stdout is not a terminal');

  for (const tail of [all, onlyB, text]) assert.equal(await tail.interrupt(), 0, tail.stderr());
  assert.doesNotMatch(all.stderr(), /dropped|broke|ended/);
});

test('the stream answers documented lines; a bad query is 400 naming the parameter; wrong tokens and bad flags are refused clearly', async (t) => {
  const { p, dir } = await startProxy(t);
  const { validate } = loadOpenApi();
  // The raw stream: hello (with the filters), then an event, each a documented StreamLine.
  const ac = new AbortController();
  t.after(() => ac.abort());
  const res = await fetch(new URL('/api/v1/events/stream?kind=s3&status=2xx', p.adminUrl!), { headers: { authorization: `Bearer ${token(dir)}` }, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
  const reader = res.body!.getReader();
  let buf = '';
  const lines: Rec[] = [];
  const s3 = s3Client(p.url, EMBEDDED);
  t.after(() => s3.destroy());
  const read = async (n: number): Promise<void> => {
    while (lines.length < n) {
      const { value, done } = await reader.read();
      assert.ok(!done);
      buf += Buffer.from(value!).toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) !== -1) { lines.push(JSON.parse(buf.slice(0, i)) as Rec); buf = buf.slice(i + 1); }
    }
  };
  await read(1);
  assert.deepEqual(lines[0], { hello: { filters: { kind: ['s3'], status: ['2xx'] }, maxBufferedBytes: 1024 * 1024 } });
  await s3.send(new CreateBucketCommand({ Bucket: 'streamed' }));
  await read(2);
  assert.equal(lines[1]!['event']['api']['name'], 'CreateBucket');
  for (const l of lines) assert.equal(validate('StreamLine', l), null, JSON.stringify(l).slice(0, 300));
  ac.abort();

  const bad = await adminCall(p.adminUrl!, 'GET', '/api/v1/events/stream?minDuration=soon', { token: token(dir) });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, 'minDuration');
  assert.equal((await adminCall(p.adminUrl!, 'GET', '/api/v1/events/stream', { token: 'nope' })).status, 401);

  const wrong = await runCli(['tail', '--admin', p.adminUrl!, '--admin-token', 'not-the-token']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /refused the admin token \(taken from --admin-token\)\. The proxy takes its admin token from/);
  assert.doesNotMatch(wrong.stderr, /not-the-token/);
  assert.equal(wrong.stdout, '');
  const badFlag = await runCli(['tail', '--admin', p.adminUrl!, '--data-dir', dir, '--status', '99x']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /^s3-audit-proxy tail: --status: expected a status like 403/);
  const down = await runCli(['tail', '--admin', 'http://127.0.0.1:1', '--data-dir', dir]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:1/);
});

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

test('a stream reader that never reads is dropped for alone: S3 keeps answering, the webhook gets every event', async (t) => {
  const hec = await startHecReceiver({ token: HEC_TOKEN });
  t.after(() => hec.close());
  const { p, dir } = await startProxy(t, ['--audit-log', 'none']);
  const tok = token(dir);
  const en = await adminCall(p.adminUrl!, 'POST', '/api/v1/audit-webhook/enable', { token: tok, body: { endpoint: hec.eventUrl, authToken: `Splunk ${HEC_TOKEN}`, batchMaxWaitMs: 50 } });
  assert.equal(en.status, 200, en.text);
  const s3 = s3Client(p.url, EMBEDDED);
  t.after(() => s3.destroy());
  // Long keys make big events (about 3 KB): the stalled client's buffers fill sooner.
  const key = `stall/${`${'k'.repeat(99)}/`.repeat(9)}end`; // path components under the file system's 255
  await s3.send(new CreateBucketCommand({ Bucket: 'stall' }));
  await s3.send(new PutObjectCommand({ Bucket: 'stall', Key: key, Body: 'x' }));
  const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'stall', Key: key }), { expiresIn: 3600 }));

  // The stalled reader: asks for the stream, then never reads a byte.
  const sock = net.connect(new URL(p.adminUrl!).port ? Number(new URL(p.adminUrl!).port) : 80, '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write(`GET /api/v1/events/stream HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${tok}\r\n\r\n`);
  sock.pause();
  const metrics = async (): Promise<string> => (await adminCall(p.adminUrl!, 'GET', '/metrics')).text;
  await waitUntil(async () => metric(await metrics(), 's3ap_audit_stream_clients') === 1, 10_000, 'the stalled client is attached');

  const pool = new Pool(url.origin, { connections: 8 });
  t.after(() => pool.close());
  let made = 3; // the enable's admin event, CreateBucket, PutObject
  const burst = async (n: number): Promise<void> => {
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < n / 8; i++) {
        const r = await pool.request({ method: 'GET', path: url.pathname + url.search });
        assert.equal(r.statusCode, 200);
        await r.body.text();
        made++;
      }
    }));
  };
  // Until the proxy drops for the stalled client (kernel buffers, then its 1 MiB), bounded.
  for (let round = 0; round < 60 && !(metric(await metrics(), 's3ap_audit_stream_events_dropped_total') > 0); round++) await burst(400);
  const dropped = metric(await metrics(), 's3ap_audit_stream_events_dropped_total');
  assert.ok(dropped > 0, `no drops after ${made} requests`);
  await burst(400); // and S3 goes on
  await waitUntil(() => hec.events.length >= made, 60_000, `the webhook gets all ${made} events (has ${hec.events.length})`);
  const doc = await adminCall(p.adminUrl!, 'GET', '/api/v1/audit-webhook', { token: tok });
  assert.equal(doc.json.status.delivered, made);
  assert.equal(doc.json.status.dropped, 0);
  assert.equal(hec.events.length, made);
  const m = await metrics();
  assert.equal(metric(m, 's3ap_audit_stream_clients'), 1, 'still attached: it is only dropped for');
  assert.ok(metric(m, 's3ap_audit_stream_events_dropped_total') > dropped, 'every later event was dropped for it too');
  t.diagnostic(`requests ${made}, dropped for the stalled reader ${metric(m, 's3ap_audit_stream_events_dropped_total')}`);
  sock.destroy();
  await waitUntil(async () => metric(await metrics(), 's3ap_audit_stream_clients') === 0, 10_000, 'the client detaches when its socket closes');
});

test('serve --workers 2: the workers send events while a tail is attached', async (t) => {
  const { p, dir } = await startProxy(t, ['--workers', '2', '--audit-log', 'none']);
  const s3 = s3Client(p.url, EMBEDDED);
  t.after(() => s3.destroy());
  await s3.send(new CreateBucketCommand({ Bucket: 'w-before' })); // no target, no tail: not built
  const tail = await startTail(['--admin', p.adminUrl!, '--data-dir', dir, '--json'], t);
  const keys = await traffic(s3, ['w-during'], 8);
  const expected = 1 + keys.length * 2;
  await waitUntil(() => tail.stdout.length >= expected, 15_000, `tail shows ${expected} events (has ${tail.stdout.length})`);
  const seen = tail.events();
  assert.equal(seen.length, expected);
  assert.ok(seen.every((e) => e['api']['bucket'] === 'w-during'));
  assert.equal(new Set(seen.map((e) => e['proxy']['instance'])).size >= 1, true);
  for (const k of keys) assert.ok(seen.some((e) => `${e['api']['bucket']}/${e['api']['object']}` === k), k);
  assert.equal(await tail.interrupt(), 0);
});

test('first run: serve with no flags but its ports, one S3 request, and the event is in data/audit.jsonl as the log said', async (t) => {
  const cwd = tempDir('s3ap-first-run-');
  t.after(() => cwd.remove());
  const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'], {}, 15_000, { cwd: cwd.path });
  t.after(() => p.stop('SIGKILL'));
  const file = join(cwd.path, 'data', 'audit.jsonl');
  const said = logRecords(p.output).find((r) => r['auditLog'] === file);
  assert.ok(said, `the start-up log names ${file}:\n${p.output.join('\n')}`);
  assert.match(String(said['msg']), /tail -f .*audit\.jsonl.*s3-audit-proxy tail --data-dir/);
  const s3 = s3Client(p.url, EMBEDDED);
  t.after(() => s3.destroy());
  await s3.send(new CreateBucketCommand({ Bucket: 'first' }));
  await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').includes('"CreateBucket"'), 15_000, 'the event in data/audit.jsonl');
  const [e] = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);
  assert.equal(e!['api']['name'], 'CreateBucket');
  assert.equal(e!['api']['bucket'], 'first');
  assert.ok(validateEvent(e), JSON.stringify(validateEvent.errors));
});
