// Admin changes are audit events too: same schema, kind "admin", no token anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminEvent, type AdminEventInput } from '../../src/admin/admin-event.js';
import { validateEvent } from '../helpers/collecting-sink.js';

const base: AdminEventInput = {
  action: 'EnableAuditWebhook', requestId: '0190b6c2-0000-7000-8000-000000000001', startMs: Date.now(), startMono: performance.now(),
  method: 'POST', path: '/api/v1/audit-webhook/enable', host: '127.0.0.1:9081', userAgent: 'curl/8', contentLength: 120,
  clientIp: '127.0.0.1', clientPort: 50000, statusCode: 200, errorCode: null, errorMessage: null, bytesReceived: 120, bytesSent: 700,
  authorized: true, authProblem: null, hostName: 'proxy-1',
};

test('enable, disable, test, refused: every admin event is valid against schema/audit-event.v1.json', () => {
  const events = [
    buildAdminEvent(base),
    buildAdminEvent({ ...base, action: 'DisableAuditWebhook', path: '/api/v1/audit-webhook/disable', contentLength: null }),
    buildAdminEvent({ ...base, action: 'TestAuditWebhook', path: '/api/v1/audit-webhook/test' }),
    buildAdminEvent({ ...base, statusCode: 400, errorCode: 'unknown_field', errorMessage: 'bogus: unknown field' }),
    buildAdminEvent({ ...base, statusCode: 401, errorCode: 'unauthorized', errorMessage: 'admin token refused', authorized: false, authProblem: 'admin token refused' }),
  ];
  for (const e of events) {
    const json = JSON.parse(JSON.stringify(e)) as unknown;
    assert.ok(validateEvent(json), JSON.stringify(validateEvent.errors));
  }
  const [enable, disable, testEv, bad, refused] = events;
  assert.equal(enable!.kind, 'admin');
  assert.equal(enable!.api.name, 's3ap:EnableAuditWebhook');
  assert.equal(disable!.api.name, 's3ap:DisableAuditWebhook');
  assert.equal(testEv!.api.name, 's3ap:TestAuditWebhook');
  assert.equal(testEv!.api.readOnly, true);
  assert.equal(enable!.auth.type, 'anonymous');
  assert.equal(enable!.auth.accessKey, null);
  assert.equal(enable!.auth.verified, true);
  assert.equal(enable!.outcome, 'completed');
  assert.equal(bad!.outcome, 'rejected');
  assert.equal(bad!.outcomeDetail, 'unknown_field');
  assert.equal(refused!.auth.verified, false);
  assert.equal(refused!.response.statusCode, 401);
  assert.equal(enable!.client.ip, '127.0.0.1');
  assert.equal(enable!.request.method, 'POST');
  assert.equal(enable!.request.path, '/api/v1/audit-webhook/enable');
});
