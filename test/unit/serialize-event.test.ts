// serializeEvent (the proxy's fixed-shape serializer) against JSON.stringify on the awkward cases
// (the property: JSON.parse gives the same value, the text is JSON.stringify's with U+2028, U+2029 and
// U+0085 escaped, and none of them appears raw):
// escapes, lone surrogates, non-ASCII, the rare nested parts, admin events, header maps. The
// property test over buildEvent's whole input space is in audit-fuzz.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { authSectionsKept, serializeEvent } from '../../src/audit/serialize.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { buildAdminEvent } from '../../src/admin/admin-event.js';
import { escapeLineSeparators } from '../../src/json-text.js';
import { createLogger } from '../../src/log.js';
import { Writable } from 'node:stream';

function event(over: (e: AuditEvent) => void = () => {}): AuditEvent {
  const e: AuditEvent = {
    version: '1', id: '0190b6c2-0000-7000-8000-000000000001', kind: 's3', time: '2026-11-25T13:00:00.000Z',
    api: {
      name: 'GetObject', bucket: 'b', object: 'k', addressing: 'path', readOnly: true, versionId: null, uploadId: null,
      partNumber: null, copySource: null, objects: null, objectsTruncated: false,
    },
    request: {
      id: 'R1', method: 'GET', path: '/b/k', query: {}, host: 'h:1', userAgent: null, contentLength: null,
      decodedContentLength: null, headers: {},
    },
    response: { statusCode: 200, errorCode: null, errorMessage: null, requestId: null, hostId: null, contentLength: 4, headers: {} },
    auth: {
      type: 'sigv4-header', accessKey: 'AK', region: 'us-east-1', signatureVersion: 'SigV4', signedHeaders: ['host'],
      payloadSigning: 'UNSIGNED-PAYLOAD', sessionToken: false, verified: null, problem: null,
    },
    client: { ip: '127.0.0.1', port: 1, peerIp: null },
    tls: null,
    bytes: { received: 0, sent: 4 },
    timing: { firstByteMs: 0.125, totalMs: 1.5 },
    outcome: 'completed', outcomeDetail: null,
    proxy: { host: 'p', backend: 'http://127.0.0.1:9000' },
  };
  over(e);
  return e;
}

const RAW_SEPARATOR = /[\u0085\u2028\u2029]/;

const same = (e: AuditEvent): void => {
  const out = serializeEvent(e);
  const ref = JSON.stringify(e);
  assert.ok(!RAW_SEPARATOR.test(out), 'no raw U+2028/U+2029/U+0085');
  assert.deepEqual(JSON.parse(out), JSON.parse(ref), 'JSON.parse gives the same value');
  assert.equal(out, escapeLineSeparators(ref));
};

test('plain event: identical to JSON.stringify', () => same(event()));

test('strings that need escaping, lone surrogates, non-ASCII, U+2028/U+2029/U+0085 in every string field', () => {
  for (const s of ['a"b', 'back\\slash', 'tab\there', 'nl\n', '\u0000\u001f', '\ud800', 'x\udc00y', '😀', 'ünï', '\u2028\u2029', 'a\u0085b', 'k\u2028"\u2029\\', '</script>', '']) {
    same(event((e) => {
      e.api.object = s;
      e.request.path = s;
      e.request.query = { [s]: s, 'x-id': 'GetObject' };
      e.request.headers = { [s]: s };
      e.response.errorMessage = s;
      e.auth.problem = s;
      e.auth.signedHeaders = [s, 'host'];
    }));
  }
});

test('rare parts: copy source, DeleteObjects entries, TLS, verified true/false, nulls and integer-like map keys', () => {
  same(event((e) => {
    e.api.copySource = { bucket: 'src', key: 'a/"b"\u2028', versionId: null };
    e.api.objects = [{ key: 'k"1\u2029\u0085', versionId: null, result: 'deleted', errorCode: null }, { key: 'k2', versionId: 'v', result: 'error', errorCode: 'AccessDenied' }];
    e.api.objectsTruncated = true;
    e.tls = { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' };
    e.auth.verified = false;
    e.auth.signedHeaders = null;
    e.client.port = null;
    e.timing.firstByteMs = null;
    e.request.query = { b: '1', 10: 'x', 2: 'y', a: '' };
  }));
  same(event((e) => { e.auth.verified = true; e.response.statusCode = 503; e.outcome = 'backend-unreachable'; e.outcomeDetail = 'ECONNREFUSED'; }));
});

test('timings (rounded to 3 decimals by buildEvent, printed from integer parts) print as JSON.stringify prints them', () => {
  for (const t of [0, -0, 0.001, 0.01, 0.1, 0.125, 1.5, 2, 10.05, 123.456, 999.999, 1000, 86_400_000.001, 999_999_999.999, 1e9, 1e21, 0.0001, 1 / 3, -1.5, NaN, Infinity]) {
    same(event((e) => { e.timing.totalMs = t; e.timing.firstByteMs = t; }));
  }
  fc.assert(fc.property(fc.integer({ min: 0, max: 2e12 }), (k) => {
    same(event((e) => { e.timing.totalMs = Math.round(k) / 1000; e.timing.firstByteMs = k / 7; }));
  }), { numRuns: 5000 });
});

test('admin events (the other builder) serialise identically too', () => {
  same(buildAdminEvent({
    action: 'EnableAuditWebhook', requestId: 'r', startMs: Date.now(), startMono: performance.now(), method: 'POST',
    path: '/api/v1/audit-webhook/enable', host: null, userAgent: 'curl/8', contentLength: 10, clientIp: '::1', clientPort: 5,
    statusCode: 400, errorCode: 'unknown_field', errorMessage: '"x": unknown field', bytesReceived: 10, bytesSent: 70,
    authorized: true, authProblem: null, hostName: 'h',
  }));
});

test('any strings and numbers in any field: identical to JSON.stringify', () => {
  fc.assert(fc.property(
    fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })),
    fc.double(), fc.integer(),
    (s1, s2, dict, d, n) => {
      same(event((e) => {
        e.api.object = s1;
        e.request.userAgent = s2;
        e.request.headers = dict;
        e.response.headers = dict;
        e.timing.totalMs = d;
        e.bytes.sent = n;
      }));
    },
  ), { numRuns: 500 });
});

test('line separators: the escaping helper and the pino logs', () => {
  assert.equal(escapeLineSeparators(JSON.stringify({ k: 'a\u2028b\u2029c\u0085d' })), '{"k":"a\\u2028b\\u2029c\\u0085d"}');
  const lines: string[] = [];
  const dest = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString('utf8')); cb(); } });
  const logger = createLogger('info', dest);
  logger.info({ key: 'x\u2028y\u0085z' }, 'msg \u2029 here');
  const text = lines.join('');
  assert.ok(!RAW_SEPARATOR.test(text), text);
  const rec = JSON.parse(text) as { key: string; msg: string };
  assert.deepEqual([rec.key, rec.msg], ['x\u2028y\u0085z', 'msg \u2029 here']);
});

test('sections reused from the previous event (auth, proxy) are rewritten whenever any of their values differs', () => {
  const shared = ['host', 'x-amz-date'];
  const variants: Array<(e: AuditEvent) => void> = [
    () => {},
    (e) => { e.auth.signedHeaders = shared; },
    (e) => { e.auth.signedHeaders = shared; }, // same array again: the memo is used
    (e) => { shared.push('x-amz-content-sha256'); e.auth.signedHeaders = shared; }, // same array, changed in place
    (e) => { e.auth.accessKey = 'AK2'; },
    (e) => { e.auth.region = null; },
    (e) => { e.auth.type = 'anonymous'; e.auth.signatureVersion = null; e.auth.signedHeaders = null; },
    (e) => { e.auth.sessionToken = true; },
    (e) => { e.auth.verified = true; },
    (e) => { e.auth.verified = false; },
    (e) => { e.auth.problem = 'bad "scope"'; },
    (e) => { e.auth.payloadSigning = null; },
    (e) => { e.proxy.instance = '0190b6c2-0000-7000-8000-00000000abcd'; },
    (e) => { e.proxy.instance = '0190b6c2-0000-7000-8000-00000000abcd'; e.auth.verified = true; },
    (e) => { e.proxy.backend = null; },
    (e) => { e.proxy.host = 'other\u2028host'; },
    () => {},
  ];
  for (let round = 0; round < 2; round++) for (const v of variants) same(event(v));
});

test('auth sections kept per access key: a kept section is used only when every value is the same', () => {
  // Each change alone, for a client whose section is kept, with another client's event in between
  // (the old single memo would have been rewritten by it; the per-key one must still notice).
  const changes: Array<(e: AuditEvent) => void> = [
    (e) => { e.auth.type = 'sigv4-query'; },
    (e) => { e.auth.region = null; },
    (e) => { e.auth.region = 'eu-west-1'; },
    (e) => { e.auth.signatureVersion = 'SigV2'; },
    (e) => { e.auth.payloadSigning = null; },
    (e) => { e.auth.sessionToken = true; },
    (e) => { e.auth.verified = true; },
    (e) => { e.auth.verified = false; },
    (e) => { e.auth.problem = 'p "q"'; },
    (e) => { e.auth.signedHeaders = ['host', 'x-amz-date']; },
    (e) => { e.auth.signedHeaders = null; },
  ];
  for (const [i, change] of changes.entries()) {
    const mine = (e: AuditEvent): void => { e.auth.accessKey = `AKIAFIELD${i}`; };
    same(event(mine));
    same(event((e) => { e.auth.accessKey = `AKIAOTHER${i}`; }));
    same(event((e) => { mine(e); change(e); }));
    same(event(mine));
  }
  // No access key (anonymous requests) is a key of its own.
  same(event((e) => { e.auth.accessKey = null; }));
  same(event((e) => { e.auth.accessKey = null; e.auth.type = 'anonymous'; e.auth.signatureVersion = null; }));
});

test('auth sections kept per access key: bounded, a long list not kept, values changed past the bound', () => {
  // 70 interleaved clients, more than are kept: the count never passes the bound, and a client whose
  // section was forgotten and then changed is written from its values.
  for (let round = 0; round < 3; round++) {
    for (let c = 0; c < 70; c++) {
      same(event((e) => {
        e.auth.accessKey = `AKIA${String(c).padStart(16, '0')}`;
        if (round === 2) e.auth.region = `region-${c}`;
      }));
      assert.ok(authSectionsKept() <= 64, `kept ${authSectionsKept()}`);
    }
  }
  assert.ok(authSectionsKept() > 0, 'sections are kept');
  const before = authSectionsKept();
  const long = Array.from({ length: 200 }, (_, i) => `x-amz-meta-header-${i}`);
  same(event((e) => { e.auth.accessKey = 'AKIALONGLIST'; e.auth.signedHeaders = long; }));
  same(event((e) => { e.auth.accessKey = 'AKIALONGLIST'; e.auth.signedHeaders = long; }));
  assert.equal(authSectionsKept(), before, 'a section over 2 KiB is not kept');
});

test('auth sections kept per access key: once full, new clients are not kept until the set is forgotten', () => {
  // Fill the set with clients of its own (whatever earlier tests left), then a stream of new
  // clients: the set stays full (no entry replaced per miss), is forgotten within 4096 misses, and
  // then keeps the new clients. Every 97th event is checked against JSON.stringify.
  for (let c = 0; c < 64; c++) same(event((e) => { e.auth.accessKey = `AKIAFILL${c}`; }));
  assert.equal(authSectionsKept(), 64);
  let forgottenAfter = -1;
  for (let c = 0; c < 5000 && forgottenAfter < 0; c++) {
    const e = event((ev) => { ev.auth.accessKey = `AKIACHURN${c}`; });
    if (c % 97 === 0) same(e);
    else serializeEvent(e);
    if (authSectionsKept() < 64) forgottenAfter = c;
    else assert.equal(authSectionsKept(), 64);
  }
  assert.ok(forgottenAfter >= 0 && forgottenAfter <= 4096, `forgotten after ${forgottenAfter} misses`);
  same(event((e) => { e.auth.accessKey = 'AKIANEWCLIENT'; }));
  same(event((e) => { e.auth.accessKey = 'AKIANEWCLIENT2'; }));
  assert.ok(authSectionsKept() >= 2, 'new clients are kept again');
  same(event((e) => { e.auth.accessKey = 'AKIANEWCLIENT'; e.auth.region = 'ap-south-1'; }));
  // With room in the set, a section over 2 KiB is still not kept.
  const kept = authSectionsKept();
  const long = Array.from({ length: 200 }, (_, i) => `x-amz-meta-header-${i}`);
  same(event((e) => { e.auth.accessKey = 'AKIALONGLIST2'; e.auth.signedHeaders = long; }));
  assert.equal(authSectionsKept(), kept, 'a section over 2 KiB is not kept');
});

test('the strings that are never null (id, kind, time, name, request id, method, path, client ip, outcome) with escapes', () => {
  fc.assert(fc.property(fc.array(fc.string({ unit: 'binary' }), { minLength: 9, maxLength: 9 }), fc.string({ unit: 'binary' }), fc.option(fc.array(fc.string({ unit: 'binary' }))),
    (s, key, signed) => {
      same(event((e) => {
        [e.id, e.time, e.api.name, e.request.id, e.request.method, e.request.path, e.client.ip] = s as [string, string, string, string, string, string, string];
        (e as { kind: string }).kind = s[7]!;
        (e as { outcome: string }).outcome = s[8]!;
        e.auth.accessKey = key;
        e.auth.signedHeaders = signed;
        e.proxy.host = key;
      }));
    }), { numRuns: 500 });
});

test('fields remembered as safe (user agent, bucket, method, ...) are escaped again whenever the value changes', () => {
  const values = ['aws-cli/2', 'aws-cli/2', 'a"b', 'aws-cli/2', 'x\u2028y', 'x\u2028y', '\ud800', 'aws-cli/2', 'é', 'aws-cli/2'];
  for (const v of values) {
    same(event((e) => {
      e.request.userAgent = v;
      e.request.host = v;
      e.api.bucket = v;
      e.api.name = v;
      e.request.method = v;
      e.client.ip = v;
      e.outcome = v as AuditEvent['outcome'];
    }));
    same(event((e) => { e.request.userAgent = null; e.api.bucket = null; e.api.addressing = null; }));
  }
});
