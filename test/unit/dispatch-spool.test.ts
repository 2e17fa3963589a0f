import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { crc32, crc32Table, encodeRecord, encodeRecords, parseRecord, recordSize, segmentFileName } from '../../src/dispatch/spool-segment.js';
import { scanSegment, SegmentFileReader } from '../../src/dispatch/spool-scan.js';
import { open } from 'node:fs/promises';
import { Spool } from '../../src/dispatch/spool.js';
import type { QueueItems } from '../../src/dispatch/memory-queue.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

function items(from: number, to: number, pad = 0): QueueItems {
  const json: string[] = [];
  for (let i = from; i < to; i++) json.push(JSON.stringify({ seq: i, p: 'é'.repeat(pad) }));
  return { json, bytes: json.map((j) => Buffer.byteLength(j)), timeMs: json.map((_, k) => 1_700_000_000_000 + from + k) };
}

const seqOf = (json: ReadonlyArray<string | Buffer>): number[] => json.map((j) => (JSON.parse(j.toString()) as { seq: number }).seq);
const cost = (b: number): number => b;

test('crc32 matches the IEEE check values', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.alloc(0)), 0);
  assert.equal(crc32(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  const b = Buffer.from('hello, world: 0123456789abcdef');
  assert.equal(crc32(b, 7, b.length, crc32(b, 0, 7)), crc32(b), 'continues across pieces');
});

test('native crc32 equals the JS table CRC-32 on any bytes and any range (segments written before stay readable)', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.nat(), (bytes, x, y) => {
    const buf = Buffer.from(bytes);
    const a = Math.min(x, y) % (buf.length + 1);
    const b = Math.max(a, Math.max(x, y) % (buf.length + 1));
    assert.equal(crc32(buf, a, b), crc32Table(buf, a, b));
    assert.equal(crc32(buf, b, buf.length, crc32(buf, 0, b)), crc32Table(buf));
  }), { numRuns: 1000 });
});

test('record framing round-trips and rejects bit flips (property)', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 300 }), fc.double({ noNaN: true }), fc.nat(), (s, t, flip) => {
      const bytes = Buffer.byteLength(s);
      const buf = Buffer.alloc(recordSize(bytes));
      assert.equal(encodeRecord(buf, 0, s, bytes, t), buf.length);
      const r = parseRecord(buf, 0, buf.length);
      assert.equal(r.kind, 'record');
      if (r.kind === 'record') {
        assert.equal(r.json, s);
        assert.ok(Object.is(r.timeMs, t));
        assert.equal(r.end, buf.length);
      }
      const i = flip % buf.length;
      buf[i] ^= 0x01;
      const bad = parseRecord(buf, 0, buf.length);
      assert.notEqual(bad.kind, 'record', `flip at ${i} went unnoticed`);
    }),
    { numRuns: 300 },
  );
});

test('scanSegment: a torn tail (cut record, garbage, zero fill) ends the valid part, never throws', async (t) => {
  const dir = await tempDir(t);
  const it = items(0, 20);
  const good = encodeRecords(it.json, it.bytes, it.timeMs);
  const path = join(dir, segmentFileName(1));
  const cases: Array<[string, Buffer]> = [
    ['cut record', good.subarray(0, good.length - 5)],
    ['cut header', Buffer.concat([good, Buffer.from([1, 2, 3])])],
    ['zero fill', Buffer.concat([good, Buffer.alloc(4096)])],
    ['garbage', Buffer.concat([good, Buffer.from('garbage garbage garbage garbage')])],
    ['huge length', Buffer.concat([good, Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0])])],
  ];
  for (const [name, content] of cases) {
    await writeFile(path, content);
    const s = await scanSegment(path, 0, 64); // tiny chunks: exercise the refill path
    const expect = name === 'cut record' ? 19 : 20;
    assert.equal(s.records, expect, name);
    assert.ok(s.problem, `${name}: problem reported`);
    assert.ok(s.validEnd <= content.length);
  }
  await writeFile(path, good);
  const clean = await scanSegment(path, 0);
  assert.deepEqual(clean, { records: 20, validEnd: good.length, fileSize: good.length, problem: null, corrupt: [], tornTail: null });
});

test('spool: append, read in order, ack, and an empty directory once delivered', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger('warn');
  const sp = await Spool.open({ dir, maxBytes: 10_000_000, fsyncIntervalMs: 0, logger, segmentMaxBytes: 2000 });
  assert.equal(sp.append(items(0, 50)), 50);
  assert.equal(sp.append(items(50, 100)), 50);
  assert.equal(sp.events, 100);
  const got: number[] = [];
  for (;;) {
    const r = await sp.read(7, 1e9, cost);
    if (!r) break;
    got.push(...seqOf(r.json));
    sp.ack(r.endSeg[r.endSeg.length - 1], r.endOff[r.endOff.length - 1], r.json.length);
  }
  assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
  assert.equal(sp.events, 0);
  await sp.flush();
  await sp.close();
  const left = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
  assert.deepEqual(left, [], 'delivered segments are deleted');
});

test('spool: the cursor survives a restart (delivered records are not re-read); rotation makes several segments', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger('warn');
  let sp = await Spool.open({ dir, maxBytes: 10_000_000, fsyncIntervalMs: 5, logger, segmentMaxBytes: 1500 });
  sp.append(items(0, 200));
  await sp.flush();
  assert.ok((await readdir(dir)).filter((n) => n.endsWith('.seg')).length > 3, 'rotated');
  const r = await sp.read(75, 1e9, cost);
  assert.ok(r);
  sp.ack(r.endSeg[74], r.endOff[74], 75);
  await sp.close();

  sp = await Spool.open({ dir, maxBytes: 10_000_000, fsyncIntervalMs: 5, logger, segmentMaxBytes: 1500 });
  assert.equal(sp.recovered, 125);
  const got: number[] = [];
  for (;;) {
    const x = await sp.read(1000, 1e9, cost);
    if (!x) break;
    got.push(...seqOf(x.json));
    sp.ack(x.endSeg[x.endSeg.length - 1], x.endOff[x.endOff.length - 1], x.json.length);
  }
  assert.deepEqual(got, Array.from({ length: 125 }, (_, i) => i + 75));
  await sp.close();
});

test('spool: max bytes refuses new events (full) and frees room as events are delivered', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger('warn');
  const one = recordSize(items(0, 1).bytes[0]);
  const sp = await Spool.open({ dir, maxBytes: one * 10 + 5, fsyncIntervalMs: 1000, logger, segmentMaxBytes: one * 3 });
  assert.equal(sp.append(items(0, 25)), 10);
  assert.equal(sp.full, true);
  assert.equal(sp.append(items(10, 11)), 0);
  await sp.flush();
  const r = await sp.read(4, 1e9, cost);
  assert.ok(r);
  sp.ack(r.endSeg[3], r.endOff[3], 4);
  assert.equal(sp.full, false, 'a delivered segment freed room');
  assert.ok(sp.append(items(10, 13)) >= 3);
  await sp.close();
});

test('spool: a torn tail left by a crash is skipped with a warning; a corrupt record found while reading costs only itself', async (t) => {
  const dir = await tempDir(t);
  const { logger, logs } = captureLogger('warn');
  let sp = await Spool.open({ dir, maxBytes: 10_000_000, fsyncIntervalMs: 0, logger, segmentMaxBytes: 1_000_000 });
  sp.append(items(0, 30));
  await sp.flush();
  await sp.close();
  const seg = join(dir, (await readdir(dir)).find((n) => n.endsWith('.seg'))!);
  const size = (await stat(seg)).size;
  await truncate(seg, size - 7); // kill -9 in the middle of the last record
  await appendFile(join(dir, segmentFileName(99)), Buffer.from([9, 9, 9])); // a segment with only a torn header

  sp = await Spool.open({ dir, maxBytes: 10_000_000, fsyncIntervalMs: 0, logger });
  assert.equal(sp.recovered, 29);
  assert.ok(logs.count('torn') >= 1 || logs.count('bad or torn') >= 1, 'warned');
  // new events go to a new segment after the torn one
  sp.append(items(30, 35));
  const got: number[] = [];
  for (;;) {
    const r = await sp.read(8, 1e9, cost);
    if (!r) break;
    got.push(...seqOf(r.json));
    sp.ack(r.endSeg[r.endSeg.length - 1], r.endOff[r.endOff.length - 1], r.json.length);
  }
  assert.deepEqual(got, [...Array.from({ length: 29 }, (_, i) => i), 30, 31, 32, 33, 34]);
  await sp.close();

  // flip a byte inside a record of a fresh spool while it is open: the reader cuts there
  const dir2 = await tempDir(t);
  let lost = 0;
  const sp2 = await Spool.open({ dir: dir2, maxBytes: 10_000_000, fsyncIntervalMs: 0, logger, onLost: (n) => (lost += n) });
  sp2.append(items(0, 10));
  await sp2.flush();
  const seg2 = join(dir2, (await readdir(dir2)).find((n) => n.endsWith('.seg'))!);
  const buf = await readFile(seg2);
  const at = recordSize(items(0, 1).bytes[0]) * 4 + 12;
  buf[at] ^= 0xff;
  await writeFile(seg2, buf);
  const r = await sp2.read(100, 1e9, cost);
  assert.deepEqual(seqOf(r!.json), [0, 1, 2, 3, 5, 6, 7, 8, 9]);
  assert.equal(lost, 1, 'one corrupt region, reported as one lost event');
  assert.equal(sp2.corruptRecords, 1);
  assert.equal(sp2.skippedBytes, recordSize(items(0, 1).bytes[0]));
  assert.ok(logs.count('corrupt record') >= 1);
  sp2.ack(r!.endSeg[8], r!.endOff[8], 9);
  assert.equal(sp2.events, 0);
  await sp2.close();
});

test('records read without waiting (whole in the buffer) are the records written, across many refills', async (t) => {
  const dir = await tempDir(t);
  const json = Array.from({ length: 400 }, (_, i) => JSON.stringify({ i, pad: 'é'.repeat(i % 50), s: 'x'.repeat((i * 37) % 300) }));
  const bytes = json.map((j) => Buffer.byteLength(j));
  const times = json.map((_, i) => Date.UTC(2026, 0, 1) + i);
  const path = join(dir, segmentFileName(1));
  await writeFile(path, encodeRecords(json, bytes, times));
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const rf = new SegmentFileReader(fh, 1024); // small chunks: many refills while views are held
    const got: string[] = [];
    let off = 0;
    let viaViews = 0;
    while (off < size) {
      const now = rf.recordNow(off, size);
      if (now) viaViews++;
      const r = now ?? await rf.recordAt(off, size);
      assert.equal(r.kind, 'record');
      if (r.kind !== 'record') break;
      assert.equal(r.timeMs, times[got.length]);
      got.push(r.json);
      off = r.end;
    }
    assert.ok(viaViews > 100, `most records came from the buffer (${viaViews})`);
    assert.deepEqual(got, json);
  } finally {
    await fh.close();
  }
});
