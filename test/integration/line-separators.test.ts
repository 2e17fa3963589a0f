// U+2028, U+2029 and U+0085 are line breaks for JavaScript and Unicode-aware log tools: an object key
// holding them must not split an audit record (or a log line) in two.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startInProcessProxy, tempDir } from '../helpers/proxy.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startSniffBackend } from '../helpers/sniff-backend.js';

const ANY_LINE_BREAK = /\r\n|\r|\n|\u2028|\u2029|\u0085/;
const RAW_SEPARATOR = /[\u2028\u2029\u0085]/;

test('an object key with U+2028/U+2029/U+0085: one JSONL audit-log line per request, keys intact', async (t) => {
  const sniff = await startSniffBackend();
  t.after(() => sniff.close());
  sniff.respond = (req, res) => {
    if ((req.url ?? '').includes('?delete')) {
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end('<DeleteResult><Deleted><Key>del\u2028a</Key></Deleted><Deleted><Key>del\u0085b</Key></Deleted></DeleteResult>');
      return;
    }
    res.writeHead(404, { 'content-type': 'application/xml' });
    res.end('<Error><Code>NoSuchKey</Code><Message>no key line\u2029sep\u0085x</Message></Error>');
  };
  const dir = tempDir('s3ap-linesep-');
  t.after(() => dir.remove());
  const auditLog = join(dir.path, 'audit.jsonl');
  const proxy = await startInProcessProxy(['--backend', sniff.url, '--audit-log', auditLog, '--audit-request-header', '*', '--admin-token', 'linesep-admin-token-0123456789']);
  // An admin reply echoing a field name holding the separators: escaped too.
  const admin = await rawRequest(`${proxy.admin.url}/api/v1/audit-webhook/enable`, {
    method: 'POST', headers: { authorization: 'Bearer linesep-admin-token-0123456789', 'content-type': 'application/json' },
    body: JSON.stringify({ ['bad\u2028field\u0085']: 1 }),
  });
  assert.equal(admin.status, 400);
  const adminText = admin.body.toString('utf8');
  assert.ok(!RAW_SEPARATOR.test(adminText), adminText);
  assert.match(JSON.stringify(JSON.parse(adminText)), /bad\u2028field/);
  const keys = ['k\u2028one', 'k\u2029two', 'k\u0085three', 'mixed\u2028\u2029\u0085\r\nend'];
  for (const k of keys) {
    const r = await rawRequest(`${proxy.url}/bkt/${encodeURIComponent(k)}`, { headers: { 'x-note': 'plain' } });
    assert.equal(r.status, 404);
  }
  const del = await rawRequest(`${proxy.url}/bkt?delete`, {
    method: 'POST', body: '<Delete><Object><Key>del\u2028a</Key></Object><Object><Key>del\u0085b</Key></Object></Delete>',
  });
  assert.equal(del.status, 200);
  const requests = keys.length + 2; // + the admin call's event
  await proxy.close();

  const text = readFileSync(auditLog, 'utf8');
  assert.ok(!RAW_SEPARATOR.test(text), 'no raw U+2028/U+2029/U+0085 in the audit log');
  const lines = text.split(ANY_LINE_BREAK).filter((l) => l.length > 0);
  assert.equal(lines.length, requests, 'one line per request, whatever splitter reads it');
  const events = lines.map((l) => JSON.parse(l) as { kind: string; api: { object: string | null; objects: Array<{ key: string; result: string }> | null }; response: { errorMessage: string | null } });
  const s3 = events.filter((e) => e.kind === 's3');
  assert.equal(s3.length, keys.length + 1);
  assert.deepEqual(s3.slice(0, keys.length).map((e) => e.api.object), keys, 'JSON.parse gives the keys back');
  assert.equal(s3[0]!.response.errorMessage, 'no key line\u2029sep\u0085x');
  assert.deepEqual(s3[keys.length]!.api.objects!.map((o) => [o.key, o.result]), [['del\u2028a', 'deleted'], ['del\u0085b', 'deleted']]);
  assert.ok(!RAW_SEPARATOR.test(proxy.logs.text()), 'no raw separators in the logs');
});
