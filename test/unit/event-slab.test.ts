// Queued events as off-heap UTF-8: every view keeps its own bytes across slab roll-overs, the bytes
// equal Buffer.from(json), and bodies and spool records built from views equal those from strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventSlab, writeEventJson, eventJsonText } from '../../src/dispatch/event-slab.js';
import { createFormatter } from '../../src/dispatch/formats.js';
import { encodeRecords } from '../../src/dispatch/spool-segment.js';

test('encode: same bytes as Buffer.from, views never overlap, across many slabs and big events', () => {
  const slab = new EventSlab();
  const texts: string[] = [];
  const views: Buffer[] = [];
  for (let i = 0; i < 5000; i++) {
    const t = i % 997 === 0 ? 'B'.repeat(400_000) : `{"i":${i},"k":"ünï😀\u2028${'x'.repeat(i % 700)}"}`;
    texts.push(t);
    views.push(slab.encode(t));
  }
  for (let i = 0; i < texts.length; i++) {
    assert.ok(views[i]!.equals(Buffer.from(texts[i]!, 'utf8')), `event ${i} changed after later writes`);
    assert.equal(eventJsonText(views[i]!), texts[i]);
  }
});

test('encode: any string, including lone surrogates, gives Buffer.from\'s bytes', () => {
  const slab = new EventSlab();
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
    assert.ok(slab.encode(s).equals(Buffer.from(s, 'utf8')));
  }), { numRuns: 2000 });
});

test('HEC bodies and spool records are the same bytes whether events are strings or slab views', () => {
  const slab = new EventSlab();
  const json = ['{"a":1}', '{"k":"ünï"}', '{"e":"😀"}'];
  const views = json.map((j) => slab.encode(j));
  const bytes = json.map((j) => Buffer.byteLength(j));
  const times = [1_732_530_000_000, 1_732_530_000_001, 1_732_530_000_002];
  for (const format of ['hec-event', 'hec-raw', 'ndjson'] as const) {
    const f = createFormatter(format, { host: 'h', index: 'main' });
    assert.ok(f.body(json, bytes, times).equals(f.body(views, bytes, times)), format);
    assert.ok(f.body(json, bytes, times, 1, 3).equals(f.body([json[0]!, views[1]!, views[2]!], bytes, times, 1, 3)), `${format} mixed`);
  }
  assert.ok(encodeRecords(json, bytes, times).equals(encodeRecords(views, bytes, times)));
});

test('writeEventJson refuses a byte count that does not match (a sizing bug must not corrupt a body)', () => {
  const buf = Buffer.alloc(64);
  assert.throws(() => writeEventJson(buf, 0, 'ünï', 6), /mismatch/);
  assert.throws(() => writeEventJson(buf, 0, Buffer.from('abc'), 4), /mismatch/);
  assert.equal(writeEventJson(buf, 2, Buffer.from('abc'), 3), 5);
});
