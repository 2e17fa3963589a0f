// Queued events as off-heap UTF-8: every view keeps its own bytes across slab roll-overs, the bytes
// equal Buffer.from(json), and bodies and spool records built from views equal those from strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventSlab, SLAB_POOL_MAX, writeEventJson, eventJsonText } from '../../src/dispatch/event-slab.js';
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

// ---- reuse (session 7): a slab comes back only when every holder of every view released it --------

/** Events of ~1.1 KiB: 1000 of them take more than one 1 MiB slab. */
function fill(slab: EventSlab, n: number, holders: number, tag: string): { views: Buffer[]; texts: string[] } {
  const views: Buffer[] = [];
  const texts: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = `{"tag":"${tag}","i":${i},"p":"${'y'.repeat(1100)}"}`;
    texts.push(t);
    views.push(slab.encode(t, holders));
  }
  return { views, texts };
}

test('reuse: a slab is reused only after every holder released every view, never while it is written', () => {
  const slab = new EventSlab();
  const a = fill(slab, 1000, 2, 'a'); // more than one slab: the first is sealed, the second is current
  const first = a.views[0]!.buffer;
  assert.notEqual(a.views.at(-1)!.buffer, first, 'the events span two slabs');
  const inFirst = a.views.filter((v) => v.buffer === first);
  for (const v of inFirst) slab.release(v); // one holder of two
  assert.equal(slab.pooled, 0, 'the other holder still has them');
  for (const v of inFirst.slice(0, -1)) slab.release(v);
  assert.equal(slab.pooled, 0, 'one view is still held');
  slab.release(inFirst.at(-1)!);
  assert.equal(slab.pooled, 1, 'every view of the sealed slab released: pooled');
  // the current slab is not pooled even when all its views are released
  for (const v of a.views.filter((x) => x.buffer !== first)) { slab.release(v); slab.release(v); }
  assert.equal(slab.pooled, 1, 'the slab being written is not pooled');
  // a roll-over takes the pooled slab; views still held elsewhere keep their bytes
  const b = fill(slab, 1000, 1, 'b');
  assert.equal(slab.reused, 1);
  assert.ok(b.views.some((v) => v.buffer === first), 'the released slab was written again');
  for (let i = 0; i < b.views.length; i++) assert.equal(b.views[i]!.toString('utf8'), b.texts[i]);
});

test('reuse: views nobody will release (holders 0, the default) pin their slab for good', () => {
  const slab = new EventSlab();
  const a = fill(slab, 1000, 1, 'a');
  const pinned = slab.encode('{"pinned":true}'); // into the current (second) slab
  for (const v of a.views) slab.release(v);
  fill(slab, 1500, 1, 'c'); // seals the second slab
  assert.equal(slab.pooled + slab.reused, 1, 'only the first slab came back');
  assert.notEqual(pinned.buffer, a.views[0]!.buffer);
  fill(slab, 3000, 0, 'd');
  assert.equal(pinned.toString('utf8'), '{"pinned":true}', 'the pinned view keeps its bytes');
});

test('reuse: the pool is bounded; releasing too often throws; strings and foreign buffers are ignored', () => {
  const slab = new EventSlab();
  const all: Buffer[] = [];
  for (let k = 0; k < SLAB_POOL_MAX + 3; k++) all.push(...fill(slab, 1000, 1, `k${k}`).views);
  const current = all.at(-1)!.buffer;
  for (const v of all) slab.release(v);
  const sealed = new Set(all.map((v) => v.buffer).filter((b) => b !== current)).size;
  assert.ok(sealed > SLAB_POOL_MAX, `${sealed} sealed slabs`);
  assert.equal(slab.pooled, SLAB_POOL_MAX, 'never more than SLAB_POOL_MAX idle slabs');
  assert.throws(() => slab.release(all.at(-1)!), /released more often than it was held/);
  slab.release('{"a":1}');
  slab.release(Buffer.from('{"a":1}'));
  const big = slab.encode('B'.repeat(400_000), 1); // its own buffer, not a slab
  slab.release(big);
  assert.equal(big.toString('latin1'), 'B'.repeat(400_000));
});
