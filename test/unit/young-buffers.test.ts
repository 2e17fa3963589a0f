// The scavenge every 16 MiB of socket reads while a large body streams (src/proxy/young-buffers.ts):
// asked for only when V8's external memory grew that much since the last collection (ours or V8's),
// the floor following collections down; no timer when nothing streams; gives up when no minor GC can
// be run. GcHeadroom starts it with the first large body and stops it after the last.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GcHeadroom } from '../../src/proxy/gc-headroom.js';
import { SCAVENGE_AFTER_BYTES, YoungBufferScavenger } from '../../src/proxy/young-buffers.js';

const MiB = 1024 * 1024;

function fake(start = 100 * MiB): { external: number; gcs: number; gcWorks: boolean; freedByGc: number; hooks: { externalBytes(): number; minorGc(): boolean } } {
  const s = {
    external: start, gcs: 0, gcWorks: true, freedByGc: 0,
    hooks: {
      externalBytes: () => s.external,
      minorGc: () => { if (!s.gcWorks) return false; s.gcs++; s.external -= s.freedByGc; return true; },
    },
  };
  return s;
}

test('a scavenge only once the external memory grew 16 MiB since the last collection', () => {
  assert.equal(SCAVENGE_AFTER_BYTES, 16 * MiB);
  const f = fake();
  const s = new YoungBufferScavenger(f.hooks);
  s.start();
  try {
    f.external += 15 * MiB;
    s.check();
    assert.equal(f.gcs, 0, 'below the threshold');
    f.external += 1 * MiB;
    f.freedByGc = 16 * MiB;
    s.check();
    assert.equal(f.gcs, 1, 'at the threshold');
    assert.equal(s.scavenges, 1);
    f.external += 10 * MiB;
    s.check();
    assert.equal(f.gcs, 1, 'counted from after the scavenge');
  } finally {
    s.stop();
  }
});

test('the floor follows V8\'s own collections (and late sweeping) down', () => {
  const f = fake();
  const s = new YoungBufferScavenger(f.hooks);
  s.start();
  try {
    f.external += 12 * MiB;
    s.check();
    f.external -= 30 * MiB; // V8 scavenged on its own: 82 MiB now
    s.check();
    f.external += 15 * MiB; // 97 MiB: 15 above the new floor, not 16
    s.check();
    assert.equal(f.gcs, 0);
    f.external += 1 * MiB;
    f.freedByGc = 0; // swept later, concurrently
    s.check();
    assert.equal(f.gcs, 1);
    f.external -= 16 * MiB; // the sweep lands
    s.check();
    f.external += 15 * MiB;
    s.check();
    assert.equal(f.gcs, 1, 'measured from the swept level');
  } finally {
    s.stop();
  }
});

test('no minor GC to be had: it stops looking', () => {
  const f = fake();
  f.gcWorks = false;
  const s = new YoungBufferScavenger(f.hooks);
  s.start();
  f.external += 20 * MiB;
  s.check();
  assert.equal(s.running, false);
  assert.equal(s.scavenges, 0);
});

test('it looks on a timer only between start and stop', async () => {
  const f = fake();
  const s = new YoungBufferScavenger(f.hooks, 16 * MiB, 5);
  assert.equal(s.running, false);
  s.start();
  s.start();
  assert.equal(s.running, true);
  f.external += 32 * MiB;
  f.freedByGc = 32 * MiB;
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(f.gcs, 1, 'the timer looked');
  s.stop();
  s.stop();
  f.external += 32 * MiB;
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(f.gcs, 1, 'no look after stop');
});

test('GcHeadroom runs the scavenger while at least one large body streams', () => {
  const f = fake();
  const scavenger = new YoungBufferScavenger(f.hooks);
  const h = new GcHeadroom({ liveBytes: () => 14 * MiB, setFlags: () => {} }, scavenger);
  assert.equal(h.begin(), false, 'inert until enabled');
  assert.equal(scavenger.running, false);
  h.enable();
  h.begin();
  h.begin();
  assert.equal(scavenger.running, true);
  h.end();
  assert.equal(scavenger.running, true, 'one body still streams');
  f.external += 16 * MiB;
  scavenger.check();
  assert.equal(h.scavenges, 1);
  h.end();
  assert.equal(scavenger.running, false);
});
