import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffDelay, decide, parseRetryAfter, type SendResult } from '../../src/dispatch/retry-policy.js';

const opts = { baseMs: 1000, maxMs: 30_000, random: () => 0.5 };
const reply = (statusCode: number, body: unknown = '', headers: Record<string, string> = {}): SendResult => ({
  kind: 'reply',
  statusCode,
  headers,
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

test('2xx and HEC code 0 are success', () => {
  assert.equal(decide(reply(200, { text: 'Success', code: 0 }), 0, 10, opts).action, 'success');
  assert.equal(decide(reply(204), 0, 10, opts).action, 'success');
});

test('network errors, 408, 429, 5xx (not 501) and HEC 8, 9, 18-20 are retried', () => {
  assert.equal(decide({ kind: 'error', code: 'ECONNREFUSED', message: 'connect refused' }, 0, 1, opts).action, 'retry');
  for (const s of [408, 429, 500, 502, 503, 504]) assert.equal(decide(reply(s), 0, 1, opts).action, 'retry', String(s));
  for (const code of [8, 9, 18, 19, 20]) assert.equal(decide(reply(503, { text: 'busy', code }), 0, 1, opts).action, 'retry', `code ${code}`);
  const d501 = decide(reply(501), 0, 1, opts);
  assert.equal(d501.action, 'retry');
  assert.equal(d501.action === 'retry' && d501.misconfigured, true);
});

test('Retry-After is honoured on 429/503', () => {
  const d = decide(reply(503, { text: 'Server is busy', code: 9 }, { 'retry-after': '7' }), 0, 1, opts);
  assert.equal(d.action === 'retry' && d.delayMs, 7000);
  const d2 = decide(reply(429, '', { 'retry-after': '100000' }), 0, 1, opts);
  assert.equal(d2.action === 'retry' && d2.delayMs, 300_000);
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 5000).toUTCString(), Date.now()) !== null, true);
  assert.equal(parseRetryAfter('soon'), null);
  assert.equal(parseRetryAfter(undefined), null);
});

test('401/403 keep the events (unauthorized), never dead-letter', () => {
  assert.equal(decide(reply(401, { text: 'Token is required', code: 2 }), 0, 5, opts).action, 'unauthorized');
  assert.equal(decide(reply(403, { text: 'Invalid token', code: 4 }), 0, 5, opts).action, 'unauthorized');
  assert.equal(decide(reply(403, { text: 'Token disabled', code: 1 }), 0, 5, opts).action, 'unauthorized');
});

test('code 6 with invalid-event-number is a partial success', () => {
  const d = decide(reply(400, { text: 'Invalid data format', code: 6, 'invalid-event-number': 3 }), 0, 10, opts);
  assert.deepEqual(d.action === 'partial' && d.accepted, 3);
  // out of range: locate the bad event by splitting instead
  assert.equal(decide(reply(400, { text: 'Invalid data format', code: 6, 'invalid-event-number': 10 }), 0, 10, opts).action, 'split');
  assert.equal(decide(reply(400, { text: 'Invalid data format', code: 6 }), 0, 10, opts).action, 'split');
});

test('413 splits; 400 code 5 dead-letters; config errors are kept and retried', () => {
  assert.equal(decide(reply(413, 'Content-Length of 2000000 too large'), 0, 10, opts).action, 'split');
  assert.equal(decide(reply(400, { text: 'No data', code: 5 }), 0, 10, opts).action, 'dead-letter');
  assert.equal(decide(reply(400, 'bad request'), 0, 10, opts).action, 'split');
  for (const [s, body] of [[400, { text: 'Incorrect index', code: 7 }], [400, { text: 'Data channel is missing', code: 10 }], [400, { text: 'Invalid data channel', code: 11 }], [404, 'not found'], [405, ''], [301, '']] as const) {
    const d = decide(reply(s, body), 0, 10, opts);
    assert.equal(d.action, 'retry', `${s} ${JSON.stringify(body)}`);
    assert.equal(d.action === 'retry' && d.misconfigured, true);
  }
});

test('backoff: full jitter within [0, min(max, base * 2^attempt)] (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 60 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 100_000 }), (attempt, r, base, max) => {
      const d = backoffDelay(attempt, { baseMs: base, maxMs: max, random: () => r });
      assert.ok(d >= 0 && d <= Math.min(max, base * 2 ** attempt), `${d}`);
    }),
  );
  assert.equal(backoffDelay(0, { baseMs: 1000, maxMs: 30_000, random: () => 0.999 }), 999);
  assert.equal(backoffDelay(10, { baseMs: 1000, maxMs: 30_000, random: () => 0.5 }), 15_000);
});
