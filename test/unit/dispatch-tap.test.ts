// The dispatcher's live tap (dispatch/tap.ts) against a real Writable whose reader the test
// controls: the first line comes first, events are gathered into one write per flush interval, a
// reader that stops gets drops (never more buffered than the bound) and is told how many once it
// reads again, the client limit, detaching on close, and the dispatcher offering events only while
// a client is attached (and being `active` then, so that events are built).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventTap, TapFullError } from '../../src/dispatch/tap.js';
import { AuditDispatcher } from '../../src/dispatch/dispatcher.js';
import { createLogger } from '../../src/log.js';

/** A writable that takes writes only while `reading`; what it took is in `text`. */
class Reader extends Writable {
  text = '';
  writes = 0;
  private held: Array<() => void> = [];
  reading = true;
  constructor() { super({ highWaterMark: 1024, decodeStrings: false }); }
  override _write(chunk: string | Buffer, _enc: string, cb: () => void): void {
    const take = (): void => { this.text += String(chunk); this.writes++; cb(); };
    if (this.reading) take(); else this.held.push(take);
  }
  resume(): void { this.reading = true; const h = this.held; this.held = []; for (const f of h) f(); }
  lines(): Array<Record<string, unknown>> { return this.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>); }
}

/** Past the tap's flush interval (FLUSH_MS here). */
const FLUSH_MS = 5;
const turn = (): Promise<void> => sleep(FLUSH_MS + 5);

const event = (n: number): string => JSON.stringify({ kind: 's3', n, pad: 'x'.repeat(200) });

test('hello first, then the events gathered into one write; the filter decides', async () => {
  const tap = new EventTap({ flushMs: FLUSH_MS });
  const r = new Reader();
  const attaching = tap.attach(r, (json) => !json.includes('"n":2,'), '{"hello":{}}\n');
  tap.publish(event(1)); // offered before the first line is written: kept, and written after it
  await attaching;
  tap.publish(event(2));
  tap.publish(event(3));
  await turn();
  await turn();
  const lines = r.lines();
  assert.deepEqual(lines.map((l) => Object.keys(l)[0]), ['hello', 'event', 'event']);
  assert.deepEqual(lines.slice(1).map((l) => (l['event'] as { n: number }).n), [1, 3]);
  assert.equal(r.writes, 1);
  assert.equal(tap.attached, 1);
  r.destroy();
  await turn();
  assert.equal(tap.attached, 0, 'a closed output detaches');
});

test('a reader that stops: bounded buffer, drops counted, told how many once it reads again', async () => {
  const max = 16 * 1024;
  const tap = new EventTap({ maxBufferedBytes: max, flushMs: FLUSH_MS });
  const r = new Reader();
  const c = await tap.attach(r, () => true, '{"hello":{}}\n');
  await turn();
  r.reading = false;
  let peak = 0;
  for (let i = 0; i < 1000; i++) {
    tap.publish(event(i));
    peak = Math.max(peak, c.bufferedBytes);
    if (i % 10 === 0) await turn();
  }
  await turn();
  assert.ok(peak <= max, `buffered ${peak} > ${max}`);
  assert.ok(c.droppedEvents > 900, `dropped ${c.droppedEvents}`);
  r.resume();
  for (let i = 0; i < 20 && !r.text.includes('dropped'); i++) await turn();
  tap.publish(event(5000));
  for (let i = 0; i < 20 && !r.text.includes('"n":5000'); i++) await turn();
  const lines = r.lines();
  const dropped = lines.filter((l) => l['dropped']).map((l) => l['dropped'] as { count: number; total: number });
  const events = lines.filter((l) => l['event']).length;
  assert.ok(dropped.length >= 1);
  assert.equal(dropped.reduce((s, d) => s + d.count, 0), c.droppedEvents);
  assert.equal(dropped[dropped.length - 1]!.total, c.droppedEvents);
  assert.equal(events + c.droppedEvents, 1001, 'every event is either written or counted');
  assert.equal((lines[lines.length - 1]!['event'] as { n: number }).n, 5000);
  c.end();
});

test('at most maxClients; a detached client frees its place', async () => {
  const tap = new EventTap({ maxClients: 2, flushMs: FLUSH_MS });
  const a = await tap.attach(new Reader(), () => true, '\n');
  await tap.attach(new Reader(), () => true, '\n');
  await assert.rejects(tap.attach(new Reader(), () => true, '\n'), TapFullError);
  a.detach();
  await tap.attach(new Reader(), () => true, '\n');
  assert.equal(tap.attached, 2);
  tap.close();
  assert.equal(tap.attached, 0);
});

test('the first line waits for onAttachedChange (the workers knowing); it runs on the first attach and the last detach', async () => {
  const tap = new EventTap({ flushMs: FLUSH_MS });
  const calls: boolean[] = [];
  let release!: () => void;
  tap.onAttachedChange = (on) => { calls.push(on); return on ? new Promise<void>((r) => { release = r; }) : Promise.resolve(); };
  const r = new Reader();
  const p = tap.attach(r, () => true, '{"hello":{}}\n');
  tap.publish(event(1));
  await turn();
  assert.equal(r.text, '', 'nothing is written before the workers know');
  release();
  const c = await p;
  await turn();
  assert.deepEqual(r.lines().map((l) => Object.keys(l)[0]), ['hello', 'event']);
  c.detach();
  assert.deepEqual(calls, [true, false]);
});

test('the dispatcher: active and offering events only while a client is attached', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's3ap-tap-'));
  const d = new AuditDispatcher({ dataDir: dir, logger: createLogger('silent'), tap: { flushMs: FLUSH_MS } });
  try {
    await d.start();
    assert.equal(d.active, false);
    d.enqueueSerialized(event(1), Date.now());
    const r = new Reader();
    const c = await d.tap.attach(r, () => true, '{"hello":{}}\n');
    assert.equal(d.active, true);
    d.enqueueSerialized(event(2), Date.now());
    await turn();
    assert.deepEqual(r.lines().filter((l) => l['event']).map((l) => (l['event'] as { n: number }).n), [2]);
    c.detach();
    assert.equal(d.active, false);
  } finally {
    await d.close(100);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('silence is broken by a ping every pingMs, not every other one (mocked clock)', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 1_000_000 });
  // a flush delay that is a good part of pingMs: silence counts from when a line was queued
  const tap = new EventTap({ pingMs: 60, flushMs: 20 });
  const r = new Reader();
  const c = await tap.attach(r, () => true, '{"hello":{}}\n');
  const pings = (): string[] => r.lines().filter((l) => typeof l['ping'] === 'string').map((l) => l['ping'] as string);
  // 1 ms steps: the mocked Date then reads each timer's own time
  const advance = (ms: number): void => { for (let i = 0; i < ms; i++) t.mock.timers.tick(1); };
  advance(20); // hello written
  for (let i = 1; i <= 4; i++) {
    advance(60);
    assert.equal(pings().length, i, `ping ${i} after ${i * 60} ms of silence`);
  }
  assert.equal(pings()[0], new Date(1_000_000 + 60).toISOString());
  advance(30);
  tap.publish(event(1));
  advance(60);
  assert.equal(pings().length, 4, 'no ping within pingMs of an event');
  advance(60);
  assert.equal(pings().length, 5);
  c.end();
});

test('an event given as its encoded bytes or as text comes out the same, non-ASCII included; the budget counts bytes', async () => {
  const tap = new EventTap({ flushMs: FLUSH_MS, maxBufferedBytes: 64 * 1024 });
  const r = new Reader();
  await tap.attach(r, () => true, '{"hello":{"filters":{"prefix":"é/"}}}\n');
  const texts = [1, 2, 3, 4].map((n) => JSON.stringify({ kind: 's3', n, key: `dossier-${'é'.repeat(n)}/😀-${n}`, pad: '\u2028' }));
  // As the dispatcher hands them over: encoded into a shared slab (bytes read at once, not kept).
  const slab = Buffer.alloc(4096);
  for (const [i, t] of texts.entries()) {
    if (i % 2 === 0) tap.publish(t);
    else {
      const n = slab.write(t, 0, 'utf8');
      tap.publish(t, slab.subarray(0, n));
      slab.fill(0x7a); // the slab is reused: the tap must have copied what it needs
    }
  }
  await turn();
  await turn();
  const lines = r.text.split('\n').filter(Boolean);
  assert.equal(lines[0], '{"hello":{"filters":{"prefix":"é/"}}}');
  assert.deepEqual(lines.slice(1), texts.map((t) => `{"event":${t}}`));
  assert.equal(r.writes, 1, 'the hello line and the four events in one write');

  // Budget in bytes: a 3-byte character counts three, so an event just over the budget in bytes
  // (though not in UTF-16 units) is dropped.
  const small = new EventTap({ flushMs: FLUSH_MS, maxBufferedBytes: 1000 });
  const stalled = new Reader();
  stalled.reading = false;
  await small.attach(stalled, () => true, '');
  const wide = JSON.stringify({ k: '€'.repeat(330) }); // 340 UTF-16 units, 1000 bytes
  small.publish(wide);
  await turn();
  assert.equal(small.attached, 1);
  assert.deepEqual(stalled.text, '');
  stalled.resume();
  await turn();
  assert.equal(stalled.text, '', 'over the byte budget: dropped, nothing written');
  assert.equal((small as unknown as { clients: Array<{ droppedEvents: number }> }).clients[0]!.droppedEvents, 1);
  r.destroy();
  stalled.destroy();
});
