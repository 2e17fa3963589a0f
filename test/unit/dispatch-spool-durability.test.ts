// The spool on disk after things went wrong: a cursor that disagrees with the segments, corrupt
// records in the middle of a segment, torn and zero-filled tails, unreadable files, file modes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordSize, segmentFileName } from '../../src/dispatch/spool-segment.js';
import { Spool, type SpoolOptions } from '../../src/dispatch/spool.js';
import type { QueueItems } from '../../src/dispatch/memory-queue.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

function items(from: number, to: number): QueueItems {
  const json: string[] = [];
  for (let i = from; i < to; i++) json.push(JSON.stringify({ seq: i, p: 'x'.repeat(i % 7) }));
  return { json, bytes: json.map((j) => Buffer.byteLength(j)), timeMs: json.map((_, k) => 1_700_000_000_000 + from + k) };
}
const seqOf = (json: ReadonlyArray<string | Buffer>): number[] => json.map((j) => (JSON.parse(j.toString()) as { seq: number }).seq);
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
const cost = (b: number): number => b;

type Env = Awaited<ReturnType<typeof setup>>;

async function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = join(await tempDir(t), 'spool'); // created by the spool: its mode is the spool's
  const { logger, logs } = captureLogger('warn');
  let lost = 0;
  const open = (extra: Partial<SpoolOptions> = {}): Promise<Spool> =>
    Spool.open({ dir, maxBytes: 100_000_000, fsyncIntervalMs: 0, logger, segmentMaxBytes: 2000, onLost: (n) => (lost += n), ...extra });
  return { dir, logs, open, lost: () => lost };
}

/** Writes events [0, n) and closes: several segments of 2000 bytes. */
async function fill(env: Env, n: number, extra: Partial<SpoolOptions> = {}): Promise<string[]> {
  const sp = await env.open(extra);
  sp.append(items(0, n));
  await sp.close();
  return (await readdir(env.dir)).filter((f) => f.endsWith('.seg')).sort();
}

/** Reads (and acknowledges) everything; returns the sequence numbers in read order. */
async function drain(sp: Spool, ack = true): Promise<number[]> {
  const got: number[] = [];
  for (;;) {
    const r = await sp.read(64, 1e9, cost);
    if (!r) break;
    got.push(...seqOf(r.json));
    if (ack) sp.ack(r.endSeg[r.endSeg.length - 1], r.endOff[r.endOff.length - 1], r.json.length);
  }
  return got;
}

const writeCursor = (env: Env, c: unknown): Promise<void> => writeFile(join(env.dir, 'cursor.json'), typeof c === 'string' ? c : JSON.stringify(c));

test('reconcile: a cursor beyond the last segment keeps every segment, warns, and reads from the first', async (t) => {
  const env = await setup(t);
  const segs = await fill(env, 200);
  assert.ok(segs.length > 3);
  await writeCursor(env, { segment: 9999, offset: 0 });
  const sp = await env.open();
  assert.equal(sp.recovered, 200);
  assert.equal(env.logs.count('disagrees with the segments'), 1);
  assert.deepEqual((await readdir(env.dir)).filter((f) => f.endsWith('.seg')).sort(), segs, 'nothing deleted');
  // the corrected cursor is on disk at once: a crash now cannot judge the old one against new segments
  assert.deepEqual(JSON.parse(await readFile(join(env.dir, 'cursor.json'), 'utf8')), { segment: 1, offset: 0 });
  sp.append(items(200, 210));
  assert.deepEqual(await drain(sp), range(0, 210));
  await sp.close();
});

test('reconcile: an inconsistent cursor followed by a crash before any acknowledgement still loses nothing', async (t) => {
  const env = await setup(t);
  await fill(env, 100);
  await writeCursor(env, { segment: 50, offset: 0 });
  let sp = await env.open();
  sp.append(items(100, 120));
  await sp.flush(); // "crash": no close, no ack
  sp = await env.open();
  assert.equal(sp.recovered, 120);
  assert.deepEqual(await drain(sp), range(0, 120));
  await sp.close();
});

test('reconcile: a cursor offset beyond its segment, or inside a record, keeps every segment', async (t) => {
  for (const bad of ['beyond', 'inside']) {
    const env = await setup(t);
    await fill(env, 200);
    const size = (await stat(join(env.dir, segmentFileName(2)))).size;
    await writeCursor(env, { segment: 2, offset: bad === 'beyond' ? size + 100 : 5 });
    const sp = await env.open();
    assert.equal(sp.recovered, 200, bad);
    assert.equal(env.logs.count('disagrees with the segments'), 1, bad);
    assert.deepEqual(await drain(sp), range(0, 200), bad);
    await sp.close();
  }
});

test('reconcile: a corrupted byte in cursor.json, or an unreadable cursor file, warns and keeps every record', async (t) => {
  for (const kind of ['flipped byte', 'unreadable']) {
    const env = await setup(t);
    let sp = await env.open();
    sp.append(items(0, 100));
    const r = await sp.read(40, 1e9, cost);
    sp.ack(r!.endSeg[39], r!.endOff[39], 40);
    await sp.close();
    const path = join(env.dir, 'cursor.json');
    if (kind === 'flipped byte') {
      const c = await readFile(path);
      c[c.indexOf(':'.charCodeAt(0))] ^= 0x40;
      await writeFile(path, c);
    } else {
      await rm(path);
      await mkdir(path); // a directory where the file should be: reading fails with EISDIR
    }
    sp = await env.open();
    assert.equal(env.logs.count('disagrees with the segments'), 1, kind);
    assert.equal(sp.recovered, 100, `${kind}: the 40 delivered ones too (duplicates rather than loss)`);
    assert.deepEqual(await drain(sp), range(0, 100), kind);
    await sp.close();
  }
});

test('reconcile: a consistent cursor deletes the delivered segments before it, also when its own segment is gone', async (t) => {
  const env = await setup(t);
  const segs = await fill(env, 200);
  await writeCursor(env, { segment: 3, offset: 0 });
  await rm(join(env.dir, segmentFileName(3)));
  const sp = await env.open();
  assert.equal(env.logs.count('disagrees'), 0);
  const left = (await readdir(env.dir)).filter((f) => f.endsWith('.seg')).sort();
  assert.deepEqual(left, segs.slice(3), 'segments 1 and 2 deleted as delivered');
  const got = await drain(sp);
  assert.equal(got.length, sp.recovered);
  assert.equal(got[got.length - 1], 199);
  await sp.close();
});

test('corruption: one flipped byte in the middle of a 1000-record segment loses that record only', async (t) => {
  const env = await setup(t);
  const segs = await fill(env, 1000, { segmentMaxBytes: 10_000_000 });
  assert.equal(segs.length, 1);
  const path = join(env.dir, segs[0]);
  const buf = await readFile(path);
  let at = 0;
  for (let i = 0; i < 500; i++) at += recordSize(items(i, i + 1).bytes[0]);
  const hit = at + 8 + 8 + 3; // inside record 500's JSON
  buf[hit] ^= 0x20;
  await writeFile(path, buf);
  const sp = await env.open({ segmentMaxBytes: 10_000_000 });
  assert.equal(sp.recovered, 999);
  assert.deepEqual(await drain(sp), [...range(0, 500), ...range(501, 1000)]);
  assert.equal(sp.corruptRecords, 1);
  assert.equal(sp.skippedBytes, recordSize(items(500, 501).bytes[0]));
  assert.equal(env.lost(), 1, 'one region reported as one lost event');
  assert.equal(sp.events, 0);
  await sp.close();
});

test('corruption: a bad length field mid-segment is resynchronised too (any byte of the header)', async (t) => {
  for (const byte of [0, 1, 2, 3, 4, 7]) {
    const env = await setup(t);
    const segs = await fill(env, 50, { segmentMaxBytes: 10_000_000 });
    const path = join(env.dir, segs[0]);
    const buf = await readFile(path);
    let at = 0;
    for (let i = 0; i < 20; i++) at += recordSize(items(i, i + 1).bytes[0]);
    buf[at + byte] ^= 0x10;
    await writeFile(path, buf);
    const sp = await env.open({ segmentMaxBytes: 10_000_000 });
    assert.deepEqual(await drain(sp), [...range(0, 20), ...range(21, 50)], `header byte ${byte}`);
    await sp.close();
  }
});

test('torn tails: a truncated segment and a zero-filled tail keep every whole record, warn once, never throw', async (t) => {
  for (const kind of ['truncated', 'zero fill']) {
    const env = await setup(t);
    const segs = await fill(env, 30, { segmentMaxBytes: 10_000_000 });
    const path = join(env.dir, segs[0]);
    if (kind === 'truncated') await truncate(path, (await stat(path)).size - 5);
    else await appendFile(path, Buffer.alloc(8192));
    const sp = await env.open();
    assert.equal(env.logs.count('torn record'), 1, kind);
    const expect = kind === 'truncated' ? 29 : 30;
    assert.equal(sp.recovered, expect, kind);
    assert.deepEqual(await drain(sp), range(0, expect), kind);
    assert.equal(sp.corruptRecords, 0, `${kind}: a torn tail is not a corrupt region`);
    await sp.close();
  }
});

test('an unreadable segment file is logged and skipped, the others are read; no crash', async (t) => {
  const env = await setup(t);
  await fill(env, 100);
  await mkdir(join(env.dir, segmentFileName(500))); // a directory where a segment should be
  const sp = await env.open();
  assert.equal(env.logs.count('segment file unreadable'), 1);
  assert.deepEqual(await drain(sp), range(0, 100));
  await sp.close();
});

test('file modes: spool directory 0700, segments and cursor 0600', async (t) => {
  const env = await setup(t);
  const sp = await env.open();
  sp.append(items(0, 10));
  const r = await sp.read(5, 1e9, cost);
  sp.ack(r!.endSeg[4], r!.endOff[4], 5);
  await sp.close();
  assert.equal((await stat(env.dir)).mode & 0o777, 0o700);
  for (const f of await readdir(env.dir)) assert.equal((await stat(join(env.dir, f))).mode & 0o777, 0o600, f);
  assert.deepEqual((await readdir(env.dir)).filter((f) => f.endsWith('.tmp')), [], 'no temporary cursor left');
});
