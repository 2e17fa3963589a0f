// DeadLetter: bounded dead-letter files (bytes on disk + pending <= maxBytes, across restarts),
// refusals and write errors reported through onLost, lines that parse, no awaiting in write().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeadLetter, type DeadLetterOptions } from '../../src/dispatch/dead-letter.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

type Lost = Record<'dead_letter_full' | 'dead_letter_error', number>;

function make(dir: string, maxBytes: number): { dl: DeadLetter; lost: Lost; calls: number[]; logs: ReturnType<typeof captureLogger>['logs'] } {
  const { logger, logs } = captureLogger();
  const lost: Lost = { dead_letter_full: 0, dead_letter_error: 0 };
  const calls: number[] = [];
  const opts: DeadLetterOptions = {
    dir,
    maxBytes,
    logger,
    onLost: (n, r) => {
      lost[r] += n;
      calls.push(n);
    },
  };
  return { dl: new DeadLetter(opts), lost, calls, logs };
}

const events = (from: number, to: number, pad = 0): string[] => {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(JSON.stringify({ seq: i, p: 'é'.repeat(pad) }));
  return out;
};

async function readLines(dir: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const name of (await readdir(dir)).sort()) {
    for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) if (line) out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

async function diskBytes(dir: string): Promise<number> {
  let n = 0;
  for (const name of await readdir(dir)) n += (await stat(join(dir, name))).size;
  return n;
}

test('lines parse and carry the event, reason, status, reply and endpoint; files 0600 in a 0700 dir', async (t) => {
  const dir = join(await tempDir(t), 'dead-letter');
  const { dl, lost } = make(dir, 1024 * 1024);
  await dl.open();
  const json = [...events(0, 3)].map((s, i) => (i === 1 ? Buffer.from(s) : s)); // strings and slab bytes
  assert.equal(dl.write(json, 1, 3, 'invalid_event', 400, 'bad "event" #1', 'https://hec.example/services/collector'), 2);
  assert.equal(dl.write(json, 0, 1, 'too_large', null, 'x'.repeat(10_000), 'https://e'), 1);
  await dl.close();
  const lines = await readLines(dir);
  assert.deepEqual(lines.map((l) => (l['event'] as { seq: number }).seq), [1, 2, 0]);
  assert.deepEqual(lines[0], { ...lines[0], reason: 'invalid_event', statusCode: 400, reply: 'bad "event" #1', endpoint: 'https://hec.example/services/collector' });
  assert.equal(lines[2]!['statusCode'], null);
  assert.equal((lines[2]!['reply'] as string).length, 4096, 'reply kept up to 4096 characters');
  const names = await readdir(dir);
  assert.deepEqual(names, [`${new Date().toISOString().slice(0, 10)}.ndjson`]);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(dir, names[0]!))).mode & 0o777, 0o600);
  assert.equal(dl.bytes, await diskBytes(dir));
  assert.deepEqual(lost, { dead_letter_full: 0, dead_letter_error: 0 });
});

test('the bound holds, whole lines only; refused events are reported, and count across restarts', async (t) => {
  const dir = join(await tempDir(t), 'dead-letter');
  const a = make(dir, 1000);
  await a.dl.open();
  const json = events(0, 100, 20);
  const accepted = a.dl.write(json, 0, 100, 'rejected', 400, 'no', 'https://e');
  assert.ok(accepted > 0 && accepted < 100, `accepted ${accepted}`);
  assert.equal(a.lost.dead_letter_full, 100 - accepted);
  assert.deepEqual(a.calls, [100 - accepted], 'one onLost call per refused write');
  assert.ok(a.dl.bytes <= 1000);
  await a.dl.close();
  const onDisk = await diskBytes(dir);
  assert.ok(onDisk <= 1000 && onDisk > 1000 - 200, `on disk ${onDisk}`);
  assert.equal((await readLines(dir)).length, accepted, 'every line whole');

  // A new run counts the files left by the first one.
  const b = make(dir, 1000);
  await b.dl.open();
  assert.equal(b.dl.bytes, onDisk);
  assert.equal(b.dl.write(json, 0, 10, 'rejected', 400, 'no', 'https://e'), 0);
  assert.equal(b.lost.dead_letter_full, 10);
  await b.dl.close();
  // A small event still fits in the room left, a big one does not (checked per event).
  const mixed = [JSON.stringify({ big: 'x'.repeat(2000) }), '1'];
  const c = make(dir, onDisk + 200);
  await c.dl.open();
  assert.equal(c.dl.write(mixed, 0, 2, 'rejected', 400, 'no', 'https://e'), 1);
  assert.equal(c.lost.dead_letter_full, 1);
  await c.dl.close();
  assert.ok(c.dl.bytes <= onDisk + 200);
  assert.equal(c.dl.bytes, await diskBytes(dir));
});

test('many write() calls without awaiting: one writer, every accepted line written once, bound kept', async (t) => {
  const dir = join(await tempDir(t), 'dead-letter');
  const max = 64 * 1024;
  const { dl, lost } = make(dir, max);
  await dl.open();
  let accepted = 0;
  let offered = 0;
  for (let k = 0; k < 2000; k++) {
    const json = events(k * 3, k * 3 + 3, k % 7);
    accepted += dl.write(json, 0, 3, 'rejected', 400, `reply ${k}`, 'https://e');
    offered += 3;
    assert.ok(dl.bytes <= max);
  }
  assert.ok(accepted > 0 && accepted < offered);
  assert.equal(accepted + lost.dead_letter_full, offered);
  await dl.flush();
  const lines = await readLines(dir);
  assert.equal(lines.length, accepted);
  const seqs = lines.map((l) => (l['event'] as { seq: number }).seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'written in order');
  assert.equal(new Set(seqs).size, seqs.length, 'no line twice');
  assert.equal(dl.bytes, await diskBytes(dir));
  assert.ok(dl.bytes <= max);
  await dl.close();
});

test('a write error (the directory path is a file) is counted as dead_letter_error and logged once per 10 s', async (t) => {
  const base = await tempDir(t);
  const dir = join(base, 'dead-letter');
  await writeFile(dir, 'not a directory');
  const { dl, lost, logs } = make(dir, 1024 * 1024);
  await dl.open(); // never throws
  assert.equal(dl.bytes, 0);
  const json = events(0, 10);
  for (let k = 0; k < 5; k++) assert.equal(dl.write(json, 2 * k, 2 * k + 2, 'rejected', 400, 'no', 'https://e'), 2, 'accepted, fails later');
  await dl.flush();
  assert.deepEqual(lost, { dead_letter_full: 0, dead_letter_error: 10 });
  assert.equal(dl.bytes, 0, 'nothing pending after the failure');
  assert.equal(dl.write(json, 0, 4, 'rejected', 400, 'no', 'https://e'), 4);
  await dl.close();
  assert.equal(lost.dead_letter_error, 14);
  const errs = logs.lines.filter((l) => String(l['msg']).includes('cannot write refused events'));
  assert.equal(errs.length, 2, 'the first failure, then the rest at close');
  assert.equal(errs.reduce((s, l) => s + (l['lostEvents'] as number), 0), 14);
  // After close, writes are refused.
  assert.equal(dl.write(json, 0, 1, 'rejected', 400, 'no', 'https://e'), 0);
  assert.equal(lost.dead_letter_error, 15);
});

test('U+2028/U+2029/U+0085 in the reply or an event never split a dead-letter line', async (t) => {
  const dir = join(await tempDir(t), 'dead-letter');
  const { dl } = make(dir, 1024 * 1024);
  await dl.open();
  const json = [JSON.stringify({ seq: 0, key: 'a\u2028b' }), JSON.stringify({ seq: 1, key: 'c\u0085d' })];
  assert.equal(dl.write(json, 0, 2, 'invalid_event', 400, 'bad\u2029reply', 'https://e'), 2);
  await dl.close();
  const text = (await readdir(dir)).map((n) => n).length ? await readFile(join(dir, (await readdir(dir))[0]!), 'utf8') : '';
  assert.ok(!/[\u0085\u2028\u2029]/.test(text));
  assert.equal(text.split(/\r\n|\r|\n|\u2028|\u2029|\u0085/).filter(Boolean).length, 2);
  const lines = await readLines(dir);
  assert.deepEqual(lines.map((l) => [(l['event'] as { key: string }).key, l['reply']]), [['a\u2028b', 'bad\u2029reply'], ['c\u0085d', 'bad\u2029reply']]);
});
