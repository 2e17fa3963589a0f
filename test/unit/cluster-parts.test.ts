// The cluster store's small parts: the token seal, key and credential files, the settings document,
// member states, --cluster-store parsing, Weka's quoted token and the batch-config body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readClusterKey, readClusterCredentials, seal, unseal } from '../../src/cluster/secrets.js';
import { decodeSettings, encodeSettings, sameSettings } from '../../src/cluster/settings-doc.js';
import { memberState, MEMBER_FORMAT, type Heartbeat } from '../../src/cluster/members.js';
import { loadServeConfig, parseClusterStore } from '../../src/config/serve-config.js';
import { stripOneQuoteLayer } from '../../src/cli/audit-webhook-options.js';
import { validateBatchBody } from '../../src/admin/validate.js';
import { AdminHttpError } from '../../src/admin/errors.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../helpers/proxy.js';

test('key files: hex, base64 or raw 32 bytes; mode 0600 enforced; anything else refused naming the flag', (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const key = randomBytes(32);
  const forms = { hex: `${key.toString('hex')}\n`, b64: key.toString('base64'), raw: key };
  const ids = new Set<string>();
  for (const [name, content] of Object.entries(forms)) {
    const f = join(dir.path, name);
    writeFileSync(f, content, { mode: 0o600 });
    const k = readClusterKey(f);
    assert.deepEqual(k.key, key);
    ids.add(k.keyId);
  }
  assert.equal(ids.size, 1, 'one key, one id');
  const open = join(dir.path, 'open');
  writeFileSync(open, key.toString('hex'), { mode: 0o600 });
  chmodSync(open, 0o640);
  assert.throws(() => readClusterKey(open), (e: unknown) => e instanceof ConfigError && /--cluster-key-file/.test(e.message) && /chmod 600/.test(e.message));
  const short = join(dir.path, 'short');
  writeFileSync(short, 'abcd', { mode: 0o600 });
  assert.throws(() => readClusterKey(short), /256-bit key/);
  const creds = join(dir.path, 'creds');
  writeFileSync(creds, '{"accessKeyId":"A"}', { mode: 0o600 });
  assert.throws(() => readClusterCredentials(creds), /--cluster-credentials-file/);
});

test('the token seal: AES-256-GCM, never the token in clear, refused under another key or when altered', () => {
  const k1 = { key: randomBytes(32), keyId: 'k1' };
  const k2 = { key: randomBytes(32), keyId: 'k2' };
  const token = 'Splunk B5A79AAD-D822-46CC-80D1-819F80D7BFB0';
  const s = seal(k1, token);
  assert.ok(!JSON.stringify(s).includes('B5A79AAD'));
  assert.equal(unseal(k1, s), token);
  assert.notEqual(seal(k1, token).iv, s.iv, 'a fresh IV each time');
  assert.throws(() => unseal(k2, s), /another key/);
  assert.throws(() => unseal({ ...k2, keyId: 'k1' }, s), /does not authenticate/);
  const data = Buffer.from(s.data, 'base64');
  data[0] ^= 1;
  assert.throws(() => unseal(k1, { ...s, data: data.toString('base64') }), /does not authenticate/);
});

test('the settings document round-trips, validated like an enable body', () => {
  const k = { key: randomBytes(32), keyId: 'x' };
  const cfg = { endpoint: 'http://hec.example:8088/services/collector/event', authToken: 'Splunk abc-123', batchMaxEvents: 10 };
  const doc = encodeSettings(k, cfg, { revision: 3, changedAt: new Date().toISOString(), changedBy: { instance: 'i', host: 'h', peer: null, requestId: null }, action: 'enable' });
  assert.ok(!JSON.stringify(doc).includes('abc-123'));
  const back = decodeSettings(k, JSON.stringify(doc));
  assert.ok(sameSettings(back.webhook, cfg));
  assert.equal(back.doc.revision, 3);
  const bad = { ...doc, webhook: { ...doc.webhook!, batchMaxEvents: 0 } };
  assert.throws(() => decodeSettings(k, JSON.stringify(bad)), /batchMaxEvents/);
  assert.throws(() => decodeSettings(k, '{"format":"other"}'), /not a s3ap-cluster-settings/);
  assert.equal(decodeSettings(k, JSON.stringify({ ...doc, webhook: null })).webhook, null);
});

test('members: up, lost after 30 s of silence, stopped', () => {
  const now = Date.now();
  const hb = (agoMs: number, stopped = false): Heartbeat => ({
    format: MEMBER_FORMAT, instance: 'i', host: 'h', version: '1', startedAt: new Date(now - 60_000).toISOString(), heartbeatAt: new Date(now - agoMs).toISOString(),
    stopped, revision: 1, delivery: 'healthy', queued: 0, spooled: 0, dropped: 0, lastError: null, store: 'ok',
  });
  assert.equal(memberState(hb(1000), now).state, 'up');
  assert.equal(memberState(hb(31_000), now).state, 'lost');
  assert.equal(memberState(hb(1000, true), now).state, 'stopped');
});

test('--cluster-store and its companions: parsed, and every misuse names its flag', (t) => {
  assert.deepEqual(parseClusterStore('s3://s3ap-cluster/a/b/'), { bucket: 's3ap-cluster', prefix: 'a/b' });
  assert.deepEqual(parseClusterStore('s3://s3ap-cluster'), { bucket: 's3ap-cluster', prefix: '' });
  for (const bad of ['http://x/y', 's3://UPPER/x', 's3://ok-bucket/../x', 's3://ok-bucket/a b']) assert.throws(() => parseClusterStore(bad), /--cluster-store/);
  const dir = tempDir();
  t.after(() => dir.remove());
  const key = join(dir.path, 'k');
  writeFileSync(key, 'ab'.repeat(32), { mode: 0o600 });
  const base = ['--data-dir', dir.path];
  const err = (args: string[]): string => { try { loadServeConfig([...base, ...args], {}); return 'accepted'; } catch (e) { return (e as Error).message; } };
  assert.match(err(['--cluster-key-file', key]), /^--cluster-key-file: needs --cluster-store/);
  assert.match(err(['--cluster-store', 's3://s3ap-c/x']), /^--cluster-key-file: required/);
  assert.match(err(['--cluster-store', 's3://s3ap-c/x', '--cluster-key-file', key, '--backend', 'http://127.0.0.1:1']), /^--cluster-credentials-file: required/);
  assert.match(err(['--cluster-store', 's3://s3ap-c/x', '--cluster-key-file', key, '--cluster-poll-interval', '10ms']), /^--cluster-poll-interval/);
  assert.equal(err(['--cluster-store', 's3://s3ap-c/x', '--cluster-key-file', key]), 'accepted', 'the embedded store needs no credentials file');
  const cfg = loadServeConfig([...base, '--cluster-store', 's3://s3ap-c/x', '--cluster-key-file', key], {});
  assert.ok(cfg.clusterPollIntervalMs <= 2000, 'the default poll applies changes well within 5 s');
});

test('Weka\'s quoted token: one layer of surrounding quotes removed, nothing else', () => {
  assert.equal(stripOneQuoteLayer('"Splunk B5A79AAD"'), 'Splunk B5A79AAD');
  assert.equal(stripOneQuoteLayer("'Splunk B5A79AAD'"), 'Splunk B5A79AAD');
  assert.equal(stripOneQuoteLayer('""Splunk x""'), '"Splunk x"', 'one layer only');
  assert.equal(stripOneQuoteLayer('Splunk "x"'), 'Splunk "x"');
  assert.equal(stripOneQuoteLayer('"Splunk x\''), '"Splunk x\'', 'quotes must match');
  assert.equal(stripOneQuoteLayer('"'), '"');
});

test('the batch-config body: any of the three, in range, nothing else', () => {
  assert.deepEqual(validateBatchBody({ batchMaxEvents: 10 }), { batchMaxEvents: 10 });
  assert.deepEqual(validateBatchBody({ batchMaxBytes: 2048, batchMaxWaitMs: 0 }), { batchMaxBytes: 2048, batchMaxWaitMs: 0 });
  const field = (b: unknown): string | null => { try { validateBatchBody(b); return null; } catch (e) { return e instanceof AdminHttpError ? `${e.status} ${e.code}` : 'other'; } };
  assert.equal(field({}), '400 missing_field');
  assert.equal(field({ batchMaxEvents: 0 }), '400 out_of_range');
  assert.equal(field({ endpoint: 'x' }), '400 unknown_field');
  assert.equal(field([]), '400 invalid_body');
});
