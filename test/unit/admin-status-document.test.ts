// The status document the status page reads: every error text in it (last error, state history,
// recent errors, of the webhook and of the audit log) is scrubbed of the webhook token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webhookDocument } from '../../src/admin/routes.js';
import { unavailableControl } from '../../src/admin/server.js';
import type { AuditControl, TargetStatus } from '../../src/dispatch/types.js';

const SECRET = 'B5A79AAD-D822-46CC-80D1-819F80D7BFB0';

test('error texts of both targets are scrubbed of the webhook token; the rest is passed as it is', () => {
  const base = unavailableControl('n/a').status();
  const leaky = `receiver said: bad token Splunk ${SECRET}`;
  const status: TargetStatus = {
    ...base, state: 'unauthorized', enqueued: 7, queueMaxEvents: 10, queueMaxBytes: 20, spoolMaxBytes: 30,
    deadLetteredByReason: { invalid_event: 2 }, lastError: leaky,
    stateHistory: [{ at: '2026-01-01T00:00:00.000Z', state: 'healthy', error: null }, { at: '2026-01-01T00:00:01.000Z', state: 'unauthorized', error: leaky }],
    recentErrors: [{ at: '2026-01-01T00:00:01.000Z', error: leaky, count: 3 }],
  };
  const control: AuditControl = {
    ...unavailableControl('n/a'),
    webhookConfig: () => ({ endpoint: 'https://hec.example:8088/services/collector/event', authToken: `Splunk ${SECRET}` }),
    status: () => status,
    auditLogStatus: () => ({ path: '/data/audit.jsonl', status }),
  };
  const doc = webhookDocument(control);
  const text = JSON.stringify(doc);
  assert.ok(!text.includes(SECRET), text);
  const st = doc['status'] as TargetStatus;
  assert.equal(st.stateHistory[1]!.state, 'unauthorized');
  assert.equal(st.stateHistory[0]!.error, null);
  assert.match(st.recentErrors[0]!.error, /^receiver said: bad token /);
  assert.equal(st.recentErrors[0]!.count, 3);
  assert.deepEqual([st.enqueued, st.queueMaxEvents, st.queueMaxBytes, st.spoolMaxBytes], [7, 10, 20, 30]);
  assert.deepEqual(st.deadLetteredByReason, { invalid_event: 2 });
  const log = doc['auditLog'] as { path: string; status: TargetStatus };
  assert.equal(log.path, '/data/audit.jsonl');
  assert.ok(!log.status.recentErrors[0]!.error.includes(SECRET));
  // The source status is not changed by the scrubbing.
  assert.equal(status.recentErrors[0]!.error, leaky);
});

test('a control without an audit log target gives auditLog null', () => {
  assert.equal(webhookDocument(unavailableControl('n/a'))['auditLog'], null);
});
