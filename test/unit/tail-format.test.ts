// `tail`'s terminal line (cli/tail-format.ts): every column in place and aligned whatever the
// field lengths, colour only when asked, control characters from the network shown escaped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatEvent, shortBytes, shortDuration } from '../../src/cli/tail-format.js';
import { sampleEvent } from '../../bench/sample-event.js';

const plain = { color: false };
const event = (f: (e: ReturnType<typeof sampleEvent>) => void): Record<string, unknown> => {
  const e = sampleEvent(7);
  f(e);
  return JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
};

test('an S3 event: time, client, API, bucket/key, status, bytes, duration', () => {
  const line = formatEvent(event((e) => {
    e.time = '2026-12-06T10:11:12.345Z'; e.client.ip = '10.1.2.3'; e.api.name = 'PutObject'; e.api.bucket = 'photos'; e.api.object = 'cat.jpg';
    e.response.statusCode = 200; e.response.errorCode = null; e.outcome = 'completed'; e.bytes.received = 12_345; e.bytes.sent = 0; e.timing.totalMs = 3.14;
  }), plain);
  assert.match(line, /^10:11:12\.345 +10\.1\.2\.3 +PutObject +photos\/cat\.jpg +200 +↑12\.1K ↓0 +3\.1ms$/);
});

test('columns stay aligned whatever the lengths; a long key keeps its end', () => {
  const a = formatEvent(event((e) => { e.api.object = 'k'; e.response.statusCode = 200; e.response.errorCode = null; e.outcome = 'completed'; }), plain);
  const b = formatEvent(event((e) => { e.api.bucket = 'analytics-prod'; e.api.object = `${'deep/'.repeat(30)}last-part.bin`; e.response.statusCode = 403; e.response.errorCode = 'AccessDenied'; }), plain);
  assert.equal(a.indexOf('↑'), b.indexOf('↑'));
  assert.equal(a.length, b.length);
  assert.match(b, / analytics-prod\/…[a-z/]*last-part\.bin /, 'the bucket stays whole');
  assert.match(b, / 403 AccessDenied /);
});

test('colour only when asked: red for a 5xx, yellow for a 4xx, green otherwise', () => {
  const e5 = event((e) => { e.response.statusCode = 503; e.response.errorCode = 'SlowDown'; });
  assert.doesNotMatch(formatEvent(e5, plain), /\u001b/);
  assert.match(formatEvent(e5, { color: true }), /\u001b\[31m503 SlowDown/);
  assert.match(formatEvent(event((e) => { e.response.statusCode = 404; e.response.errorCode = null; e.outcome = 'completed'; }), { color: true }), /\u001b\[33m404/);
  assert.match(formatEvent(event((e) => { e.response.statusCode = 200; e.response.errorCode = null; e.outcome = 'completed'; }), { color: true }), /\u001b\[32m200/);
});

test('an aborted exchange shows its outcome', () => {
  assert.match(formatEvent(event((e) => { e.response.statusCode = 200; e.response.errorCode = null; e.outcome = 'client-aborted'; }), plain), / 200 client-aborted /);
});

test('escape sequences and line breaks from the network are shown, not interpreted', () => {
  const line = formatEvent(event((e) => { e.api.object = 'a\u001b[2Jb\nc'; e.client.ip = '\r1.2.3.4'; }), { color: true });
  assert.doesNotMatch(line, /\n|\r|\u001b\[2J/);
  assert.match(line, /a\\x1b\[2Jb\\nc/);
});

test('admin, gap and other kinds have a line too', () => {
  assert.match(formatEvent({ kind: 'admin', time: '2026-12-06T10:11:12.000Z', api: { name: 's3ap:EnableAuditWebhook' }, request: { path: '/api/v1/audit-webhook/enable' }, response: { statusCode: 200, errorCode: null }, client: { ip: '127.0.0.1' }, outcome: 'completed', bytes: { received: 10, sent: 20 }, timing: { totalMs: 1 } }, plain),
    /s3ap:EnableAuditWebhook +\/api\/v1\/audit-webhook\/enable +200/);
  assert.match(formatEvent({ kind: 'gap', time: '2026-12-06T10:11:12.000Z', gap: { count: 5, reason: 'spool_full' } }, plain), /gap +5 events lost \(spool_full\)$/);
  assert.match(formatEvent({ kind: 'test', time: 'x', message: 'hello' }, plain), /test +hello$/);
  assert.match(formatEvent({}, plain), /^-/);
});

test('sizes and durations are short', () => {
  assert.deepEqual([0, 1023, 1024, 1536, 10 * 1024 ** 2, 300 * 1024 ** 3].map(shortBytes), ['0', '1023', '1.0K', '1.5K', '10.0M', '300G']);
  assert.deepEqual([0.44, 12.34, 250, 1250, 75_000, 150_000].map(shortDuration), ['0.4ms', '12.3ms', '250ms', '1.25s', '75.0s', '150s']);
  assert.equal(shortBytes(null), '-');
});
