// The enable body: every field checked, unknown fields refused, errors name the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AdminHttpError } from '../../src/admin/errors.js';
import { OPTION_FIELDS, parseJsonBody, pointsAt, validateEmptyBody, validateEnableBody, type SelfAddress } from '../../src/admin/validate.js';

const GOOD = { endpoint: 'https://splunk.example.com:8088/services/collector/event', authToken: 'Splunk B5A79AAD-D822-46CC-80D1-819F80D7BFB0' };
const SELF: SelfAddress[] = [{ host: '127.0.0.1', port: 9081, what: 'admin API listener' }, { host: '127.0.0.1', port: 9080, what: 'S3 listener' }];

function refused(body: unknown, self: SelfAddress[] = SELF): AdminHttpError {
  try {
    validateEnableBody(body, self);
  } catch (err) {
    assert.ok(err instanceof AdminHttpError, String(err));
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(body)}`);
}

test('a minimal body and a full body are accepted as given', () => {
  assert.deepEqual(validateEnableBody(GOOD, SELF), GOOD);
  const full = {
    ...GOOD, format: 'hec-raw', index: 'main', source: 's', sourcetype: '_json', host: 'h', gzip: true,
    batchMaxEvents: 100, batchMaxBytes: 2048, batchMaxWaitMs: 0, concurrency: 4, requestTimeoutMs: 5000,
    caFile: '/etc/ca.pem', clientCertFile: '/c.pem', clientKeyFile: '/k.pem', insecureSkipVerify: false, healthCheckIntervalMs: 0,
  };
  assert.deepEqual(validateEnableBody(full, SELF), full);
  assert.deepEqual(validateEnableBody({ ...GOOD, index: null }, SELF), GOOD, 'null means "not set"');
});

test('bad bodies: 400 with a code and a message naming the field', () => {
  const cases: Array<[unknown, string, string | null]> = [
    [null, 'invalid_body', null],
    [[], 'invalid_body', null],
    ['x', 'invalid_body', null],
    [undefined, 'invalid_body', null],
    [{ ...GOOD, bogus: 1 }, 'unknown_field', 'bogus'],
    [{ endpoint: GOOD.endpoint, auth_token: 'x' }, 'unknown_field', 'auth_token'],
    [{ authToken: 'x' }, 'missing_field', 'endpoint'],
    [{ endpoint: GOOD.endpoint }, 'missing_field', 'authToken'],
    [{ ...GOOD, endpoint: 5 }, 'invalid_type', 'endpoint'],
    [{ ...GOOD, authToken: true }, 'invalid_type', 'authToken'],
    [{ ...GOOD, authToken: '   ' }, 'invalid_value', 'authToken'],
    [{ ...GOOD, authToken: 'Splunk a\r\nX-Evil: 1' }, 'invalid_value', 'authToken'],
    [{ ...GOOD, authToken: 'Splunk ünïcode' }, 'invalid_value', 'authToken'],
    [{ ...GOOD, gzip: 'yes' }, 'invalid_type', 'gzip'],
    [{ ...GOOD, batchMaxEvents: '10' }, 'invalid_type', 'batchMaxEvents'],
    [{ ...GOOD, concurrency: 1.5 }, 'invalid_type', 'concurrency'],
    [{ ...GOOD, batchMaxEvents: -1 }, 'out_of_range', 'batchMaxEvents'],
    [{ ...GOOD, batchMaxEvents: 0 }, 'out_of_range', 'batchMaxEvents'],
    [{ ...GOOD, concurrency: -5 }, 'out_of_range', 'concurrency'],
    [{ ...GOOD, concurrency: 1000 }, 'out_of_range', 'concurrency'],
    [{ ...GOOD, requestTimeoutMs: -1 }, 'out_of_range', 'requestTimeoutMs'],
    [{ ...GOOD, batchMaxWaitMs: -1 }, 'out_of_range', 'batchMaxWaitMs'],
    [{ ...GOOD, batchMaxBytes: 10 }, 'out_of_range', 'batchMaxBytes'],
    [{ ...GOOD, healthCheckIntervalMs: -1 }, 'out_of_range', 'healthCheckIntervalMs'],
    [{ ...GOOD, healthCheckIntervalMs: 10 }, 'out_of_range', 'healthCheckIntervalMs'],
    [{ ...GOOD, format: 'xml' }, 'invalid_value', 'format'],
    [{ ...GOOD, index: '' }, 'invalid_value', 'index'],
    [{ ...GOOD, index: 'x'.repeat(300) }, 'out_of_range', 'index'],
    [{ ...GOOD, clientCertFile: '/c.pem' }, 'missing_field', 'clientKeyFile'],
    [{ ...GOOD, endpoint: 'file:///etc/passwd' }, 'unsupported_scheme', 'endpoint'],
    [{ ...GOOD, endpoint: 'gopher://example.com:70/1' }, 'unsupported_scheme', 'endpoint'],
    [{ ...GOOD, endpoint: 'ftp://example.com/' }, 'unsupported_scheme', 'endpoint'],
    [{ ...GOOD, endpoint: 'javascript:alert(1)' }, 'unsupported_scheme', 'endpoint'],
    [{ ...GOOD, endpoint: 'ws://example.com/' }, 'unsupported_scheme', 'endpoint'],
    [{ ...GOOD, endpoint: 'not a url' }, 'invalid_endpoint', 'endpoint'],
    [{ ...GOOD, endpoint: '/services/collector' }, 'invalid_endpoint', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://user:pw@example.com/' }, 'invalid_endpoint', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://example.com/#x' }, 'invalid_endpoint', 'endpoint'],
    [{ ...GOOD, endpoint: `http://example.com/${'a'.repeat(3000)}` }, 'out_of_range', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://127.0.0.1:9081/services/collector/event' }, 'endpoint_is_self', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://localhost:9081/' }, 'endpoint_is_self', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://[::1]:9081/' }, 'endpoint_is_self', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://0.0.0.0:9081/' }, 'endpoint_is_self', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://127.0.0.1:9080/' }, 'endpoint_is_self', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://[::ffff:127.0.0.1]:9080/' }, 'endpoint_is_self', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://[::ffff:7f00:1]:9081/' }, 'endpoint_is_self', 'endpoint'],
    [{ ...GOOD, endpoint: 'http://[::ffff:0:0]:9081/' }, 'endpoint_is_self', 'endpoint'],
  ];
  for (const [body, code, field] of cases) {
    const e = refused(body);
    assert.equal(e.status, 400, JSON.stringify(body)?.slice(0, 80));
    assert.equal(e.code, code, `${JSON.stringify(body)?.slice(0, 80)}: ${e.message}`);
    if (field) {
      assert.equal(e.field, field);
      assert.ok(e.message.startsWith(`${field}:`), e.message);
    }
    assert.ok(!e.message.includes('B5A79AAD'), 'never echoes the token');
  }
});

test('the self check: same port on another host is fine; a listener on 0.0.0.0 is reached by every local address', () => {
  const u = (s: string): URL => new URL(s);
  assert.equal(pointsAt(u('http://splunk.example.com:9081/'), SELF[0]!), false);
  assert.equal(pointsAt(u('http://127.0.0.1:9082/'), SELF[0]!), false);
  assert.equal(pointsAt(u('http://127.0.0.2:9081/'), SELF[0]!), true);
  const any: SelfAddress = { host: '0.0.0.0', port: 80, what: 'admin' };
  assert.equal(pointsAt(u('http://localhost/'), any), true, 'default port 80');
  assert.equal(pointsAt(u('https://localhost/'), any), false, 'https default port is 443');
});

test('property: any body with one unknown field is refused naming that field', () => {
  // Found by this property: names on Object.prototype are not settings.
  for (const key of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) {
    const e = refused(JSON.parse(`{"endpoint": "${GOOD.endpoint}", "authToken": "x", "${key}": 1}`));
    assert.equal(e.code, 'unknown_field', key);
    assert.equal(e.field, key);
  }
  const known = new Set(['endpoint', 'authToken', ...Object.keys(OPTION_FIELDS)]);
  fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 30 }).filter((k) => !known.has(k) && k !== '__proto__'), (key) => {
    const e = refused({ ...GOOD, [key]: 1 });
    assert.equal(e.code, 'unknown_field');
    assert.equal(e.field, key);
  }), { numRuns: 200 });
});

test('property: integers outside the range are refused, inside accepted', () => {
  fc.assert(fc.property(fc.integer({ min: -1e9, max: 1e9 }), (n) => {
    let ok = true;
    try {
      validateEnableBody({ ...GOOD, concurrency: n }, SELF);
    } catch (err) {
      ok = false;
      assert.equal((err as AdminHttpError).code, 'out_of_range');
    }
    assert.equal(ok, n >= 1 && n <= 64);
  }), { numRuns: 300 });
});

test('malformed JSON is reported without quoting the body (it may hold a token)', () => {
  for (const raw of ['{"authToken": "Splunk SECRET-TOKEN-1234567890', '{"authToken": Splunk SECRET-TOKEN-1234567890}', '{,}']) {
    try {
      parseJsonBody(Buffer.from(raw));
      assert.fail('parsed');
    } catch (err) {
      assert.equal((err as AdminHttpError).code, 'malformed_json');
      assert.ok(!(err as Error).message.includes('SECRET'), (err as Error).message);
    }
  }
  assert.equal(parseJsonBody(Buffer.from('  ')), undefined);
  assert.deepEqual(parseJsonBody(Buffer.from('{"a":1}')), { a: 1 });
});

test('action routes take no body or {} only', () => {
  validateEmptyBody(undefined);
  validateEmptyBody({});
  assert.throws(() => validateEmptyBody({ x: 1 }), (e: AdminHttpError) => e.code === 'unknown_field' && e.field === 'x');
  assert.throws(() => validateEmptyBody([]), (e: AdminHttpError) => e.code === 'invalid_body');
});
