// The admin token: given, read from a file, or generated once into the data directory (0600).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminAuth, AuthFailureLog, loadAdminToken } from '../../src/admin/auth.js';
import { ConfigError } from '../../src/errors.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

test('no token configured: one is generated into <dataDir>/admin-token (mode 0600, 32 random bytes) and reused', async (t) => {
  const dir = await tempDir(t, 's3ap-admin-auth-');
  const { logger, logs } = captureLogger();
  const a = await loadAdminToken({ adminToken: null, adminTokenFile: null, dataDir: dir }, logger);
  assert.equal(a.source, 'generated');
  assert.equal(a.file, join(dir, 'admin-token'));
  assert.match(a.value, /^[A-Za-z0-9_-]{43}$/, 'base64url of 32 bytes');
  assert.equal(statSync(a.file!).mode & 0o777, 0o600);
  assert.equal(readFileSync(a.file!, 'utf8').trim(), a.value);
  const b = await loadAdminToken({ adminToken: null, adminTokenFile: null, dataDir: dir }, logger);
  assert.equal(b.value, a.value, 'reused on the next start');
  assert.equal(b.source, 'data-dir');
  const text = JSON.stringify(logs.lines);
  assert.ok(!text.includes(a.value), 'the token is never logged');
  assert.ok(text.includes(a.file!), 'where it is, is logged');
});

test('a token file readable by others is tightened to 0600, with a warning', async (t) => {
  const dir = await tempDir(t, 's3ap-admin-auth-');
  const file = join(dir, 'admin-token');
  writeFileSync(file, 'an-existing-token-of-enough-length\n');
  chmodSync(file, 0o644);
  const { logger, logs } = captureLogger();
  const tok = await loadAdminToken({ adminToken: null, adminTokenFile: null, dataDir: dir }, logger);
  assert.equal(tok.value, 'an-existing-token-of-enough-length');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(logs.count('readable by others'), 1);
});

test('--admin-token wins; --admin-token-file is read (first line); a missing or empty file stops start-up', async (t) => {
  const dir = await tempDir(t, 's3ap-admin-auth-');
  const { logger, logs } = captureLogger();
  const given = await loadAdminToken({ adminToken: 'given-token-0123456789', adminTokenFile: join(dir, 'nope'), dataDir: dir }, logger);
  assert.deepEqual(given, { value: 'given-token-0123456789', source: 'option', file: null });
  const f = join(dir, 'tok');
  writeFileSync(f, '\n  file-token-0123456789  \nsecond line\n');
  const fromFile = await loadAdminToken({ adminToken: null, adminTokenFile: f, dataDir: dir }, logger);
  assert.equal(fromFile.value, 'file-token-0123456789');
  await assert.rejects(loadAdminToken({ adminToken: null, adminTokenFile: join(dir, 'missing'), dataDir: dir }, logger),
    (e: ConfigError) => e instanceof ConfigError && e.setting === '--admin-token-file' && /ENOENT/.test(e.message));
  writeFileSync(f, '\n\n');
  await assert.rejects(loadAdminToken({ adminToken: null, adminTokenFile: f, dataDir: dir }, logger), /holds no token/);
  const short = await loadAdminToken({ adminToken: 'short', adminTokenFile: null, dataDir: dir }, logger);
  assert.equal(short.value, 'short');
  assert.equal(logs.count('admin API token is short'), 1);
  assert.ok(!JSON.stringify(logs.lines).includes('given-token-0123456789'));
});

test('AdminAuth: only "Bearer <the token>" passes', () => {
  const auth = new AdminAuth('s3cr3t-token-value');
  assert.equal(auth.check('Bearer s3cr3t-token-value'), 'ok');
  assert.equal(auth.check('bearer   s3cr3t-token-value  '), 'ok');
  assert.equal(auth.check(undefined), 'missing');
  assert.equal(auth.check(''), 'missing');
  assert.equal(auth.check('Bearer wrong'), 'invalid');
  assert.equal(auth.check('Bearer s3cr3t-token-valuE'), 'invalid');
  assert.equal(auth.check('Bearer s3cr3t-token-value-and-more'), 'invalid');
  assert.equal(auth.check('Basic s3cr3t-token-value'), 'invalid');
  assert.equal(auth.check('s3cr3t-token-value'), 'invalid');
  assert.equal(auth.check(['Bearer s3cr3t-token-value']), 'invalid');
});

test('refusals are logged with the peer, then summarised when there are too many', () => {
  const { logger, logs } = captureLogger();
  const log = new AuthFailureLog(logger, 3, 60_000);
  for (let i = 0; i < 10; i++) log.refused({ peer: '10.0.0.9', method: 'GET', path: '/api/v1/audit-webhook', reason: 'invalid', requestId: `r${i}` });
  assert.equal(logs.count('request refused (401)'), 3);
  assert.equal(logs.lines[0]!['peer'], '10.0.0.9');
  assert.equal(logs.lines[0]!['level'], 'warn');
});
