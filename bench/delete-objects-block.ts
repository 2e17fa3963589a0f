// How long reading a DeleteObjects exchange blocks the event loop (src/s3/delete-objects.ts reads both
// bodies as they stream): the longest single chunk (Node hands a body over in chunks of at most
// 64 KiB) and the sum over a 1000-key request of ~1 KiB keys and its reply, entries included.
// Used by bench/micro-audit.ts and by `npm run bench` (scenario 4): `node dist/bench/delete-objects-block.js`
// prints `RESULT {...}`.
import { deleteObjectsOutcomes, DeleteObjectsRequestStream, DeleteObjectsResultStream } from '../src/s3/index.js';

export interface DeleteObjectsBlock {
  requestMiB: number;
  replyMiB: number;
  chunkMedianMs: number;
  chunkP99Ms: number;
  chunkMaxMs: number;
  totalMedianMs: number;
}

export function measureDeleteObjectsBlock(runs = 50): DeleteObjectsBlock {
  const keys = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(4, '0')}/` + 'k'.repeat(1019));
  const xml = Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    keys.map((k) => `<Object><Key>${k}</Key></Object>`).join('') + '</Delete>');
  const reply = Buffer.from('<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    keys.map((k) => `<Deleted><Key>${k}</Key></Deleted>`).join('') + '</DeleteResult>');
  const CHUNK = 64 * 1024;
  let maxChunk = 0;
  const chunkTimes: number[] = [];
  const totals: number[] = [];
  for (let r = 0; r < runs + 10; r++) {
    const req = new DeleteObjectsRequestStream();
    const res = new DeleteObjectsResultStream();
    let total = 0;
    for (const [body, s] of [[xml, req], [reply, res]] as const) {
      for (let at = 0; at < body.length; at += CHUNK) {
        const t0 = performance.now();
        s.write(body.subarray(at, at + CHUNK));
        const dt = performance.now() - t0;
        total += dt;
        if (r >= 10) { chunkTimes.push(dt); if (dt > maxChunk) maxChunk = dt; }
      }
    }
    const t0 = performance.now();
    const entries = deleteObjectsOutcomes(req, res, 200, null);
    total += performance.now() - t0;
    if (entries.length !== 1000 || entries.some((e) => e.result !== 'deleted')) throw new Error('DeleteObjects bench: wrong result');
    if (r >= 10) totals.push(total);
  }
  totals.sort((x, y) => x - y);
  chunkTimes.sort((x, y) => x - y);
  const pct = (p: number): number => chunkTimes[Math.min(chunkTimes.length - 1, Math.floor(chunkTimes.length * p))]!;
  const r3 = (v: number): number => Math.round(v * 1000) / 1000;
  return {
    requestMiB: r3(xml.length / 1048576), replyMiB: r3(reply.length / 1048576),
    chunkMedianMs: r3(pct(0.5)), chunkP99Ms: r3(pct(0.99)), chunkMaxMs: r3(maxChunk), totalMedianMs: r3(totals[totals.length >> 1]!),
  };
}

if (process.argv[1]?.endsWith('delete-objects-block.js')) {
  process.stdout.write(`RESULT ${JSON.stringify(measureDeleteObjectsBlock())}\n`);
}
