// UUIDv7 (RFC 9562): 48-bit Unix ms timestamp, then random bits. Time-ordered, so receivers can
// de-duplicate and sort on it. Random bytes come from a pooled buffer: one crypto call per 512 ids.
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 512;
const pool = Buffer.allocUnsafe(POOL_IDS * 10);
let next = POOL_IDS;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

// Many ids are made in the same millisecond: keep the last timestamp's hex.
let lastMs = NaN;
let lastTs = '';

export function uuidv7(nowMs: number = Date.now()): string {
  if (next === POOL_IDS) { randomFillSync(pool); next = 0; }
  const r = next++ * 10;
  if (nowMs !== lastMs) {
    lastTs = nowMs.toString(16).padStart(12, '0').slice(-12);
    lastMs = nowMs;
  }
  const ts = lastTs;
  const b6 = 0x70 | (pool[r]! & 0x0f);
  const b8 = 0x80 | (pool[r + 2]! & 0x3f);
  return `${ts.slice(0, 8)}-${ts.slice(8)}-${HEX[b6]}${HEX[pool[r + 1]!]}-${HEX[b8]}${HEX[pool[r + 3]!]}-` +
    `${HEX[pool[r + 4]!]}${HEX[pool[r + 5]!]}${HEX[pool[r + 6]!]}${HEX[pool[r + 7]!]}${HEX[pool[r + 8]!]}${HEX[pool[r + 9]!]}`;
}
