// UUIDv7 (RFC 9562): layout, the millisecond timestamp (also across the per-ms cache), uniqueness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uuidv7 } from '../../src/audit/uuidv7.js';

const LAYOUT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const msOf = (id: string): number => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

test('version 7, variant 10, and the given millisecond in the first 48 bits', () => {
  for (const ms of [0, 1, 1_732_530_000_000, 1_732_530_000_001, 1_732_530_000_000, 2 ** 48 - 1]) {
    const id = uuidv7(ms);
    assert.match(id, LAYOUT);
    assert.equal(msOf(id), ms, id);
  }
});

test('ids sort by time, and 100k ids made in a few milliseconds are all different', () => {
  const base = Date.now();
  const ids = Array.from({ length: 100_000 }, (_, i) => uuidv7(base + Math.floor(i / 25_000)));
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 1; i < ids.length; i++) assert.ok(msOf(ids[i]!) >= msOf(ids[i - 1]!));
  assert.ok(ids[99_999]! > ids[0]!, 'lexical order follows time');
});
