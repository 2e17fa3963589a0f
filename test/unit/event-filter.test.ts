// The live stream's filters (audit/event-filter.ts): the query parser refuses bad values naming the
// parameter, the spec survives a round trip through `tail`'s query, and the compiled predicate
// keeps exactly the events each filter describes (over the events' JSON text, as the tap sees them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter, describeFilter, emptyFilter, FilterError, filterToQuery, parseEventFilter } from '../../src/audit/event-filter.js';
import { serializeEvent } from '../../src/audit/serialize.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { sampleEvent } from '../../bench/sample-event.js';

function ev(over: { bucket?: string | null; key?: string | null; api?: string; status?: number; errorCode?: string | null; accessKey?: string | null; totalMs?: number; outcome?: string; kind?: string }): string {
  const e = sampleEvent(1) as AuditEvent & Record<string, unknown>;
  if (over.bucket !== undefined) e.api.bucket = over.bucket;
  if (over.key !== undefined) e.api.object = over.key;
  if (over.api !== undefined) e.api.name = over.api;
  if (over.status !== undefined) e.response.statusCode = over.status;
  if (over.errorCode !== undefined) e.response.errorCode = over.errorCode;
  if (over.accessKey !== undefined) e.auth.accessKey = over.accessKey;
  if (over.totalMs !== undefined) e.timing.totalMs = over.totalMs;
  if (over.outcome !== undefined) e.outcome = over.outcome as AuditEvent['outcome'];
  if (over.kind !== undefined) (e as { kind: string }).kind = over.kind;
  return serializeEvent(e);
}

const q = (s: string): URLSearchParams => new URLSearchParams(s);
const keep = (query: string, json: string): boolean => compileFilter(parseEventFilter(q(query)))(json);

test('no filter keeps everything, without parsing (even text that is not JSON)', () => {
  const f = compileFilter(emptyFilter());
  assert.equal(f('not json'), true);
  assert.deepEqual(describeFilter(parseEventFilter(q(''))), {});
});

test('bucket and prefix', () => {
  assert.equal(keep('bucket=b1', ev({ bucket: 'b1' })), true);
  assert.equal(keep('bucket=b1', ev({ bucket: 'b10' })), false);
  assert.equal(keep('bucket=b1', ev({ bucket: null })), false);
  assert.equal(keep('prefix=logs/', ev({ key: 'logs/a' })), true);
  assert.equal(keep('prefix=logs/', ev({ key: 'xlogs/a' })), false);
  assert.equal(keep('prefix=logs/', ev({ key: null })), false);
  assert.equal(keep('bucket=b1&prefix=a', ev({ bucket: 'b1', key: 'b' })), false);
});

test('api (repeatable, any case), accessKey, kind', () => {
  assert.equal(keep('api=PutObject&api=GetObject', ev({ api: 'GetObject' })), true);
  assert.equal(keep('api=putobject', ev({ api: 'PutObject' })), true);
  assert.equal(keep('api=PutObject', ev({ api: 'HeadObject' })), false);
  assert.equal(keep('accessKey=AKIA1', ev({ accessKey: 'AKIA1' })), true);
  assert.equal(keep('accessKey=AKIA1', ev({ accessKey: null })), false);
  assert.equal(keep('kind=admin', ev({ kind: 's3' })), false);
  assert.equal(keep('kind=admin&kind=s3', ev({ kind: 's3' })), true);
  assert.equal(keep('kind=gap', '{"version":"1","kind":"gap","gap":{"count":3}}'), true);
  assert.equal(keep('bucket=b', '{"version":"1","kind":"gap","gap":{"count":3}}'), false);
});

test('status: exact codes and classes; errors; minDuration', () => {
  assert.equal(keep('status=403', ev({ status: 403 })), true);
  assert.equal(keep('status=403', ev({ status: 404 })), false);
  assert.equal(keep('status=4xx', ev({ status: 404 })), true);
  assert.equal(keep('status=4XX', ev({ status: 404 })), true);
  assert.equal(keep('status=5xx', ev({ status: 404 })), false);
  assert.equal(keep('status=5xx&status=403', ev({ status: 503 })), true);
  assert.equal(keep('errors=1', ev({ status: 200, errorCode: null, outcome: 'completed' })), false);
  assert.equal(keep('errors=1', ev({ status: 500 })), true);
  assert.equal(keep('errors=1', ev({ status: 200, errorCode: null, outcome: 'client-aborted' })), true);
  assert.equal(keep('errors=0', ev({ status: 200, errorCode: null, outcome: 'completed' })), true);
  assert.equal(keep('minDuration=250ms', ev({ totalMs: 249.9 })), false);
  assert.equal(keep('minDuration=250ms', ev({ totalMs: 250 })), true);
  assert.equal(keep('minDuration=1s', ev({ totalMs: 999 })), false);
  assert.equal(keep('minDuration=100', ev({ totalMs: 100 })), true);
});

test('a bad value is refused naming the parameter', () => {
  const bad: Array<[string, string]> = [
    ['status=99x', 'status'], ['status=600', 'status'], ['status=', 'status'], ['errors=yes', 'errors'],
    ['minDuration=soon', 'minDuration'], ['bucket=a&bucket=b', 'bucket'], ['api=Get%20Object', 'api'],
    ['kind=%0a', 'kind'], ['nope=1', 'nope'], [`bucket=${'x'.repeat(1100)}`, 'bucket'],
  ];
  for (const [query, param] of bad) {
    assert.throws(() => parseEventFilter(q(query)), (err: unknown) => err instanceof FilterError && err.param === param && err.message.startsWith(`${param}: `), query.slice(0, 40));
  }
});

test('the spec round-trips through the query tail sends', () => {
  const s = parseEventFilter(q('bucket=b&prefix=p/&api=GetObject&api=PutObject&accessKey=AK&status=403&status=5xx&errors=1&minDuration=2s&kind=s3'));
  assert.deepEqual(parseEventFilter(filterToQuery(s)), s);
  assert.deepEqual(describeFilter(s), {
    bucket: 'b', prefix: 'p/', api: ['GetObject', 'PutObject'], accessKey: 'AK', status: ['403', '5xx'], errors: true, minDurationMs: 2000, kind: ['s3'],
  });
});

test('a line that is not JSON is not kept when a filter is set', () => {
  assert.equal(keep('bucket=b', '{"bucket":'), false);
});
