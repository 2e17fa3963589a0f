// GC headroom for streaming (src/proxy/gc-headroom.ts): the growing factor leaves ~48 MiB above a
// small live heap, leaves large heaps to V8, and follows the heap after every mark-compact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { GC_HEADROOM_BYTES, growingPercentFor, keepGcHeadroom } from '../../src/proxy/gc-headroom.js';

const MiB = 1024 * 1024;

test('a small heap gets 48 MiB of room (at most 4x), a large one V8\'s own factor', () => {
  assert.equal(growingPercentFor(14 * MiB), 300, 'capped at 4x');
  assert.equal(growingPercentFor(0), 300);
  assert.equal(growingPercentFor(30 * MiB), 160);
  assert.ok(30 * MiB * (1 + 160 / 100) - 30 * MiB >= GC_HEADROOM_BYTES);
  assert.equal(growingPercentFor(96 * MiB), 50);
  assert.equal(growingPercentFor(200 * MiB), 0, 'left to V8');
});

test('the flag is set at once, again after a mark-compact when the heap changed, and not repeated', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  let live = 14 * MiB;
  const set: string[] = [];
  const stop = keepGcHeadroom({ liveBytes: () => live, setFlags: (f) => set.push(f) });
  try {
    assert.deepEqual(set, ['--heap-growing-percent=300']);
    gc(); // a mark-compact, same heap: nothing new to set
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(set, ['--heap-growing-percent=300']);
    live = 200 * MiB;
    gc();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(set, ['--heap-growing-percent=300', '--heap-growing-percent=0']);
  } finally {
    stop();
  }
  live = 30 * MiB;
  gc();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(set.length, 2, 'stopped: no longer follows the heap');
});
