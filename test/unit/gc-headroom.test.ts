// GC headroom while large bodies stream (src/proxy/gc-headroom.ts): ~48 MiB above a small live
// heap while at least one large body streams, V8's own factor otherwise, re-evaluated after every
// mark-compact, and nothing at all until enabled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { GC_HEADROOM_BYTES, GcHeadroom, growingPercentFor, isLargeBody } from '../../src/proxy/gc-headroom.js';
import { loadServeConfig } from '../../src/config/serve-config.js';

const MiB = 1024 * 1024;
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

test('a small heap gets 48 MiB of room (at most 4x), a large one V8\'s own factor', () => {
  assert.equal(growingPercentFor(14 * MiB), 300, 'capped at 4x');
  assert.equal(growingPercentFor(0), 300);
  assert.equal(growingPercentFor(30 * MiB), 160);
  assert.ok(30 * MiB * (1 + 160 / 100) - 30 * MiB >= GC_HEADROOM_BYTES);
  assert.equal(growingPercentFor(96 * MiB), 50);
  assert.equal(growingPercentFor(200 * MiB), 0, 'left to V8');
});

test('large bodies are told by their Content-Length', () => {
  assert.equal(isLargeBody('8388608'), true);
  assert.equal(isLargeBody('1073741824'), true);
  assert.equal(isLargeBody('8388607'), false);
  assert.equal(isLargeBody('4096'), false);
  assert.equal(isLargeBody(undefined), false);
  assert.equal(isLargeBody(null), false);
  assert.equal(isLargeBody(['1073741824']), false);
  assert.equal(isLargeBody('not a number'), false);
});

test('the headroom is kept while a large body streams, followed after mark-compacts, and dropped after the last one', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  let live = 14 * MiB;
  const set: string[] = [];
  const h = new GcHeadroom({ liveBytes: () => live, setFlags: (f) => set.push(f) });
  assert.equal(h.begin(), false, 'inert until enabled');
  assert.deepEqual(set, []);
  h.enable();
  assert.equal(h.begin(), true);
  assert.deepEqual(set, ['--heap-growing-percent=300']);
  assert.equal(h.begin(), true, 'a second large body');
  gc(); // a mark-compact, same heap: nothing new to set
  await settle();
  assert.deepEqual(set, ['--heap-growing-percent=300']);
  live = 30 * MiB;
  gc();
  await settle();
  assert.deepEqual(set, ['--heap-growing-percent=300', '--heap-growing-percent=160']);
  h.end();
  assert.equal(h.active, 1);
  assert.equal(set.length, 2, 'one large body still streams');
  h.end();
  assert.deepEqual(set.at(-1), '--heap-growing-percent=0', 'V8\'s own factor again');
  live = 14 * MiB;
  gc();
  await settle();
  assert.equal(set.length, 3, 'no large body: no longer follows the heap');
  h.end();
  assert.equal(h.active, 0, 'an extra end() is ignored');
});

test('--gc-headroom: on by default; false (flag or S3AP_GC_HEADROOM) leaves V8 its own heap sizing; a bad value names the flag', () => {
  assert.equal(loadServeConfig([], {}).gcHeadroom, true);
  assert.equal(loadServeConfig(['--gc-headroom=false'], {}).gcHeadroom, false);
  assert.equal(loadServeConfig([], { S3AP_GC_HEADROOM: 'false' }).gcHeadroom, false);
  assert.throws(() => loadServeConfig(['--gc-headroom=maybe'], {}), /--gc-headroom/);
});
