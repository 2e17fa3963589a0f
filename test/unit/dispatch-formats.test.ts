import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFormatter, formatFromEndpoint, hecTime, requestPath, healthPath, eventTimeMs } from '../../src/dispatch/formats.js';
import { authorizationHeader, redactToken } from '../../src/dispatch/auth-header.js';
import { JsonValueSplitter } from '../helpers/hec-receiver.js';

function bodyOf(format: 'hec-event' | 'hec-raw' | 'ndjson', events: unknown[], meta = { host: 'h1' } as { host: string; source?: string; sourcetype?: string; index?: string }): { body: Buffer; sizes: number[] } {
  const f = createFormatter(format, meta);
  const json = events.map((e) => JSON.stringify(e));
  const bytes = json.map((j) => Buffer.byteLength(j));
  const times = events.map((e) => eventTimeMs((e as { time?: string }).time));
  return { body: f.body(json, bytes, times), sizes: json.map((_, i) => f.size(bytes[i], times[i])) };
}

test('format is chosen from the endpoint path', () => {
  assert.equal(formatFromEndpoint('https://hec:8088/services/collector/event'), 'hec-event');
  assert.equal(formatFromEndpoint('https://hec:8088/services/collector'), 'hec-event');
  assert.equal(formatFromEndpoint('https://hec:8088/services/collector/'), 'hec-event');
  assert.equal(formatFromEndpoint('https://hec:8088/services/collector/raw'), 'hec-raw');
  assert.equal(formatFromEndpoint('https://hec:8088/services/collector/raw?channel=x'), 'hec-raw');
  assert.equal(formatFromEndpoint('https://hook.example/ingest'), 'ndjson');
  assert.equal(formatFromEndpoint('http://127.0.0.1:9/'), 'ndjson');
});

test('hec-event: one envelope per event with time, host, source, sourcetype _json, no index unless set', () => {
  const ev = { id: 'a', time: '2024-11-25T10:20:30.456Z', nested: { k: 'é✓' } };
  const { body } = bodyOf('hec-event', [ev, { ...ev, id: 'b' }]);
  const parts = new JsonValueSplitter().push(body.toString('utf8')).map((s) => JSON.parse(s) as Record<string, unknown>);
  assert.equal(parts.length, 2);
  assert.deepEqual(parts[0], { time: 1732530030.456, host: 'h1', source: 's3-audit-proxy', sourcetype: '_json', event: ev });
  assert.equal((parts[1]['event'] as { id: string }).id, 'b');
  assert.ok(!('index' in parts[0]));
  assert.match(body.toString(), /^\{"time":1732530030\.456,/);

  const withIndex = bodyOf('hec-event', [ev], { host: 'h2', source: 'src', sourcetype: 'st', index: 'audit' }).body.toString();
  assert.deepEqual(JSON.parse(withIndex), { time: 1732530030.456, host: 'h2', source: 'src', sourcetype: 'st', index: 'audit', event: ev });
});

test('hec time keeps millisecond decimals', () => {
  assert.equal(hecTime(Date.parse('2024-11-25T10:20:30.000Z')), '1732530030.000');
  assert.equal(hecTime(Date.parse('2024-11-25T10:20:30.007Z')), '1732530030.007');
});

test('hec-event: the time written into the body is hecTime() for any time, and size() is exact', () => {
  const f = createFormatter('hec-event', { host: 'hé', index: 'i' });
  const middle = `,"host":"hé","source":"s3-audit-proxy","sourcetype":"_json","index":"i","event":`;
  const json = '{"a":"✓"}';
  const jsonBytes = Buffer.byteLength(json);
  const check = (t: number): void => {
    const want = Buffer.from(`{"time":${hecTime(t)}${middle}${json}}\n`, 'utf8');
    assert.equal(f.size(jsonBytes, t), want.length, `size at ${t}`);
    assert.deepEqual(f.body([json], [jsonBytes], [t]), want, `body at ${t}`);
  };
  for (const t of [0, 0.4, 0.5, 1, 999, 1000, 1001, 9999.5, 1732530030456, 1732530030999.5, 99999999999999, 1e14, 1e15 + 0.5, 1e21, -0.4, -0.5, -1, -1732530030456, NaN, Infinity, -Infinity]) check(t);
  fc.assert(fc.property(fc.double({ min: -1e16, max: 1e16, noNaN: true }), (t) => check(t)), { numRuns: 2000 });
  fc.assert(fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (t) => check(t)), { numRuns: 2000 });
});

test('hec-raw and ndjson: newline-delimited events; raw metadata in the query', () => {
  const evs = [{ a: 1 }, { b: 'two\nlines' }];
  for (const f of ['hec-raw', 'ndjson'] as const) {
    const { body } = bodyOf(f, evs);
    assert.equal(body.toString(), '{"a":1}\n{"b":"two\\nlines"}\n');
  }
  assert.equal(createFormatter('ndjson', { host: 'h' }).contentType, 'application/x-ndjson');
  const p = requestPath(new URL('https://hec:8088/services/collector/raw'), 'hec-raw', { host: 'h 1', index: 'idx' }, 'chan');
  const q = new URL(p, 'http://x').searchParams;
  assert.equal(q.get('channel'), 'chan');
  assert.equal(q.get('sourcetype'), '_json');
  assert.equal(q.get('source'), 's3-audit-proxy');
  assert.equal(q.get('host'), 'h 1');
  assert.equal(q.get('index'), 'idx');
  // parameters in the endpoint win
  const p2 = requestPath(new URL('https://hec/services/collector/raw?sourcetype=custom'), 'hec-raw', { host: 'h' }, 'c');
  assert.equal(new URL(p2, 'http://x').searchParams.get('sourcetype'), 'custom');
  assert.equal(requestPath(new URL('https://hec/services/collector/event?x=1'), 'hec-event', { host: 'h' }, 'c'), '/services/collector/event?x=1');
  assert.equal(healthPath(new URL('https://hec/services/collector/event')), '/services/collector/health');
  assert.equal(healthPath(new URL('https://hec/prefix/services/collector/raw')), '/prefix/services/collector/health');
});

test('formatted size is exact for any event (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.jsonValue(), { minLength: 1, maxLength: 8 }), fc.constantFrom('hec-event', 'hec-raw', 'ndjson'), fc.string(), (vals, format, host) => {
      const events = vals.map((v, i) => ({ i, v, time: new Date(1_700_000_000_000 + i * 1111).toISOString() }));
      const { body, sizes } = bodyOf(format as 'hec-event', events, { host });
      assert.equal(body.length, sizes.reduce((a, b) => a + b, 0));
      const back = new JsonValueSplitter().push(body.toString('utf8')).map((s) => JSON.parse(s) as Record<string, unknown>);
      const got = format === 'hec-event' ? back.map((e) => e['event']) : back;
      assert.deepEqual(got, JSON.parse(JSON.stringify(events)));
    }),
    { numRuns: 200 },
  );
});

test('auth header: scheme kept verbatim, bare token prefixed by format', () => {
  assert.equal(authorizationHeader('Splunk B5A79AAD-D822', 'hec-event'), 'Splunk B5A79AAD-D822');
  assert.equal(authorizationHeader('Bearer abc', 'hec-event'), 'Bearer abc');
  assert.equal(authorizationHeader('B5A79AAD-D822', 'hec-event'), 'Splunk B5A79AAD-D822');
  assert.equal(authorizationHeader('B5A79AAD-D822', 'hec-raw'), 'Splunk B5A79AAD-D822');
  assert.equal(authorizationHeader('abc', 'ndjson'), 'Bearer abc');
  assert.equal(authorizationHeader('Splunk x', 'ndjson'), 'Splunk x');
  assert.equal(authorizationHeader('  tok  ', 'ndjson'), 'Bearer tok');
  assert.equal(authorizationHeader('', 'ndjson'), null);
  assert.equal(redactToken('refused Splunk abcd-1234 for abcd-1234', 'Splunk abcd-1234'), 'refused [REDACTED] for [REDACTED]');
});
