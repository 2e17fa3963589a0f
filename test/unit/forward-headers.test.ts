// Hop-by-hop filtering at the proxy boundary (src/proxy/headers.ts), against a plain reference:
// every name lower-cased and looked up, as the functions did before they skipped names whose length
// no hop-by-hop name has. Random header lists mix hop-by-hop names in any letter case, names of the
// same lengths that are not hop-by-hop, Connection-nominated names and signed hop-by-hop names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardRequestHeaders, forwardResponseHeaders } from '../../src/proxy/headers.js';

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

function tokensOf(raw: string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'connection') continue;
    for (const t of raw[i + 1]!.split(',')) { const k = t.trim().toLowerCase(); if (k && k !== 'close' && k !== 'keep-alive') out.add(k); }
  }
  return out;
}

function referenceRequest(raw: string[], keep: ReadonlySet<string> | null): string[] {
  const extra = tokensOf(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if ((HOP.has(lower) || extra.has(lower)) && (keep === null || !keep.has(lower))) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function referenceResponse(raw: string[]): string[] {
  const extra = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') for (const t of raw[i + 1]!.split(',')) { const k = t.trim().toLowerCase(); if (k) extra.add(k); }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP.has(lower) || extra.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

// A small deterministic generator (no dependence on Math.random between runs).
let seed = 0x2545f491;
const rnd = (n: number): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
const mixCase = (s: string): string => [...s].map((c) => (rnd(2) ? c.toUpperCase() : c)).join('');
const NAMES = [...HOP, 'x-amz-date', 'user-agent', 'date', 'content-length', 'etag', 'x-custom', 'x-trailer', 'tee', 'upgraded', 'keep-alive2', 'proxy-connectioN-x', 'content-type', 'last-modified'];

function randomHeaders(): string[] {
  const raw: string[] = [];
  const n = 1 + rnd(10);
  for (let i = 0; i < n; i++) {
    const name = mixCase(NAMES[rnd(NAMES.length)]!);
    const value = name.toLowerCase() === 'connection'
      ? [mixCase('keep-alive'), mixCase('close'), mixCase('x-custom'), mixCase('etag'), mixCase('upgrade')].filter(() => rnd(2)).join(', ') || 'close'
      : `v${i}`;
    raw.push(name, value);
  }
  return raw;
}

test('request headers: the same list as lower-casing every name, over 5000 random lists (with and without signed hop-by-hop names)', () => {
  for (let k = 0; k < 5000; k++) {
    const raw = randomHeaders();
    const keep = rnd(3) === 0 ? new Set([...HOP].filter(() => rnd(2))) : null;
    assert.deepEqual(forwardRequestHeaders(raw, keep), referenceRequest(raw, keep), JSON.stringify({ raw, keep: keep && [...keep] }));
  }
});

test('response headers: the same list as lower-casing every name, over 5000 random lists', () => {
  for (let k = 0; k < 5000; k++) {
    const raw = randomHeaders();
    const buffers = raw.map((s) => Buffer.from(s, 'latin1'));
    assert.deepEqual(forwardResponseHeaders(buffers), referenceResponse(raw), JSON.stringify(raw));
  }
});

test('hop-by-hop names in any letter case go; names of the same length stay; latin1 values stay byte for byte', () => {
  assert.deepEqual(forwardRequestHeaders(['TE', 'trailers', 'Te2', 'x', 'UPGRADE', 'h2c', 'Upgraded', 'y', 'Keep-Alive', 'timeout=5', 'X-Amz-Date', 'z']),
    ['Te2', 'x', 'Upgraded', 'y', 'X-Amz-Date', 'z']);
  const value = Buffer.from([0x63, 0xe9, 0xff]);
  assert.deepEqual(forwardResponseHeaders([Buffer.from('Transfer-Encoding'), Buffer.from('chunked'), Buffer.from('X-Meta'), value]), ['X-Meta', value.toString('latin1')]);
});
