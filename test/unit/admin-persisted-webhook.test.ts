// The saved webhook: atomic, private (0600), validated when read back, applied at start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AuditControl, TargetStatus, WebhookTargetConfig } from '../../src/dispatch/types.js';
import { Registry } from 'prom-client';
import { clearWebhook, loadWebhook, restorePersistedWebhook, saveWebhook, webhookFilePath } from '../../src/admin/persisted-webhook.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

const CFG: WebhookTargetConfig = { endpoint: 'https://hec.example:8088/services/collector/event', authToken: 'Splunk B5A79AAD-D822-46CC-80D1-819F80D7BFB0', gzip: true, batchMaxEvents: 50 };

class FakeControl implements AuditControl {
  applied: Array<WebhookTargetConfig | null> = [];
  failWith: string | null = null;
  webhookConfig(): WebhookTargetConfig | null { return this.applied.at(-1) ?? null; }
  async setWebhook(c: WebhookTargetConfig | null): Promise<void> {
    if (this.failWith) throw new Error(this.failWith);
    this.applied.push(c);
  }
  status(): TargetStatus { throw new Error('unused'); }
  async sendTestEvent(): Promise<never> { throw new Error('unused'); }
  metricsRegistry(): Registry { return new Registry(); }
}

test('save writes <dataDir>/audit-webhook.json with mode 0600 and no temporary file left; load reads it back; clear removes it', async (t) => {
  const dir = await tempDir(t, 's3ap-admin-persist-');
  const path = await saveWebhook(dir, CFG);
  assert.equal(path, webhookFilePath(dir));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['audit-webhook.json']);
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { version: number; config: unknown; savedAt: string };
  assert.equal(doc.version, 1);
  assert.deepEqual(doc.config, CFG);
  assert.deepEqual(await loadWebhook(dir), CFG);
  await saveWebhook(dir, { ...CFG, gzip: false });
  assert.equal((await loadWebhook(dir))!.gzip, false, 'replaced');
  assert.deepEqual(readdirSync(dir), ['audit-webhook.json']);
  await clearWebhook(dir);
  assert.equal(existsSync(path), false);
  await clearWebhook(dir); // absent: no error
  assert.equal(await loadWebhook(dir), null);
});

test('restore applies the saved webhook; a bad file or a refused config leaves auditing disabled, logged, never throws', async (t) => {
  const dir = await tempDir(t, 's3ap-admin-persist-');
  const { logger, logs } = captureLogger();
  const c = new FakeControl();
  assert.equal(await restorePersistedWebhook(dir, c, logger), null, 'nothing saved');
  assert.equal(c.applied.length, 0);
  await saveWebhook(dir, CFG);
  chmodSync(webhookFilePath(dir), 0o644);
  assert.deepEqual(await restorePersistedWebhook(dir, c, logger), CFG);
  assert.deepEqual(c.applied, [CFG]);
  assert.equal(statSync(webhookFilePath(dir)).mode & 0o777, 0o600, 'tightened');
  assert.equal(logs.count('audit webhook restored'), 1);

  c.failWith = 'cannot read webhook CA file /x: ENOENT';
  assert.equal(await restorePersistedWebhook(dir, c, logger), null);
  assert.equal(logs.count('could not be enabled'), 1);
  c.failWith = null;

  for (const bad of ['{not json', '{"version": 2, "config": {}}', JSON.stringify({ version: 1, config: { ...CFG, endpoint: 'file:///etc/passwd' } }), JSON.stringify({ version: 1, config: { ...CFG, bogus: 1 } })]) {
    writeFileSync(webhookFilePath(dir), bad);
    assert.equal(await restorePersistedWebhook(dir, c, logger), null, bad);
  }
  assert.equal(logs.count('saved audit webhook cannot be used'), 4);
  assert.deepEqual(c.applied, [CFG], 'nothing else applied');
  assert.ok(!JSON.stringify(logs.lines).includes('B5A79AAD'), 'the token is never logged');
});
