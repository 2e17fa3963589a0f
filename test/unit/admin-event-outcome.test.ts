// The admin audit trail tells the truth: each admin change's event is recorded once the answer is
// known and carries the status actually answered, also when the change fails (a failing
// AuditControl stands in for the dispatcher).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent } from '../../src/audit/event.js';
import { loadServeConfig } from '../../src/config/serve-config.js';
import type { AuditControl, WebhookTargetConfig } from '../../src/dispatch/types.js';
import { startAdminServer, unavailableControl } from '../../src/admin/server.js';
import { RequestMetrics } from '../../src/admin/metrics.js';
import { CollectingSink } from '../helpers/collecting-sink.js';
import { adminCall } from '../helpers/admin.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

const TOKEN = 'admin-token-for-the-outcome-test';
const HEC = { endpoint: 'https://hec.example:8088/services/collector/event', authToken: 'Splunk 00000000-0000-0000-0000-000000000000' };

/** A control whose webhook is enabled and whose setWebhook fails with `err`, recording what it was asked. */
function failingControl(err: string): AuditControl & { calls: Array<WebhookTargetConfig | null> } {
  const base = unavailableControl('unused');
  const calls: Array<WebhookTargetConfig | null> = [];
  return {
    ...base,
    calls,
    webhookConfig: () => ({ ...HEC }),
    setWebhook: async (c) => {
      calls.push(c);
      // Whatever the admin route does before the change has happened by now: the event must not be.
      await new Promise((r) => setTimeout(r, 20));
      throw new Error(err);
    },
  };
}

async function startWith(t: Parameters<typeof tempDir>[0], control: AuditControl): Promise<{ sink: CollectingSink; call: (path: string, body: unknown) => ReturnType<typeof adminCall> }> {
  const dir = await tempDir(t, 's3ap-admin-outcome-');
  const config = loadServeConfig(['--admin-listen', '127.0.0.1:0', '--data-dir', dir, '--admin-token', TOKEN], {});
  const sink = new CollectingSink();
  const { logger } = captureLogger('warn');
  const server = await startAdminServer({ config, logger, control, sink, metrics: new RequestMetrics(), s3Url: 'http://127.0.0.1:9', backend: 'http://127.0.0.1:9', hostName: 'test-host' });
  t.after(() => server.close());
  return { sink, call: (path, body) => adminCall(server.url, 'POST', path, { token: TOKEN, body }) };
}

const adminEvents = (sink: CollectingSink, name: string): AuditEvent[] => sink.events.filter((e) => e.kind === 'admin' && e.api.name === name);

test('a disable that fails is recorded with the error status it answered, not as a success', async (t) => {
  const control = failingControl('the target cannot be switched off');
  const { sink, call } = await startWith(t, control);
  const r = await call('/api/v1/audit-webhook/disable', {});
  assert.equal(r.status, 500, r.text);
  assert.deepEqual(control.calls, [null], 'the change was attempted');
  const events = adminEvents(sink, 's3ap:DisableAuditWebhook');
  assert.equal(events.length, 1, 'one event per call');
  assert.equal(events[0]!.response.statusCode, 500);
  assert.equal(events[0]!.response.errorCode, 'internal');
  assert.equal(events[0]!.outcome, 'rejected');
  assert.deepEqual(sink.invalid, []);
});

test('a disable refused because the proxy is shutting down is recorded as 503', async (t) => {
  const { sink, call } = await startWith(t, failingControl('audit dispatcher is shutting down'));
  const r = await call('/api/v1/audit-webhook/disable', {});
  assert.equal(r.status, 503, r.text);
  const events = adminEvents(sink, 's3ap:DisableAuditWebhook');
  assert.deepEqual(events.map((e) => [e.response.statusCode, e.response.errorCode, e.outcome]), [[503, 'shutting_down', 'rejected']]);
});

test('an enable the target refuses is recorded with its 400', async (t) => {
  const { sink, call } = await startWith(t, failingControl('bad CA bundle'));
  const r = await call('/api/v1/audit-webhook/enable', HEC);
  assert.equal(r.status, 400, r.text);
  const events = adminEvents(sink, 's3ap:EnableAuditWebhook');
  assert.deepEqual(events.map((e) => [e.response.statusCode, e.response.errorCode, e.outcome]), [[400, 'webhook_rejected', 'rejected']]);
});

test('a disable that succeeds is recorded once, after the change, as 200', async (t) => {
  let enabled: WebhookTargetConfig | null = { ...HEC };
  let eventsAtChange = -1;
  const sinkRef: { sink?: CollectingSink } = {};
  const control: AuditControl = {
    ...unavailableControl('unused'),
    webhookConfig: () => enabled,
    setWebhook: async (c) => {
      eventsAtChange = sinkRef.sink!.events.length;
      enabled = c;
    },
  };
  const { sink, call } = await startWith(t, control);
  sinkRef.sink = sink;
  const r = await call('/api/v1/audit-webhook/disable', {});
  assert.equal(r.status, 200, r.text);
  assert.equal(eventsAtChange, 0, 'nothing recorded before the change');
  const events = adminEvents(sink, 's3ap:DisableAuditWebhook');
  assert.deepEqual(events.map((e) => [e.response.statusCode, e.outcome]), [[200, 'completed']]);
});
