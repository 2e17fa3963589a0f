// verify's speed, and the cost of sealing an event (HMAC-SHA256 over ~1 KB) on the request thread.
//   npx tsc -p tsconfig.json && node dist/bench/verify-bench.js [events]
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { EventStamper, keyIdOf } from '../src/audit/sequence.js';
import { serializeEvent } from '../src/audit/serialize.js';
import { verifyCommand } from '../src/cli/verify.js';
import { sampleEvent } from './sample-event.js';

const N = Number(process.argv[2] ?? 1_000_000);
const key = Buffer.from('bench-integrity-key-0123456789abcdef');

// 1. sealing: serialise alone vs serialise + HMAC, per event
const ev = sampleEvent(1);
const json = serializeEvent(ev);
const M = 200_000;
let prev = '';
let t0 = performance.now();
for (let i = 0; i < M; i++) prev = createHmac('sha256', key).update(prev).update(json).digest('base64url');
const hmacUs = ((performance.now() - t0) * 1000) / M;
const plain = new EventStamper(null, { hostName: 'bench' });
const sealed = new EventStamper({ key, keyId: keyIdOf(key) }, { hostName: 'bench' });
sealed.handOver = () => {};
for (const s of [plain, sealed]) for (let i = 0; i < 20_000; i++) s.stampEvent(sampleEvent(i), 0); // warm-up // warm-up
t0 = performance.now();
for (let i = 0; i < M; i++) plain.stampEvent(ev, 0);
const plainUs = ((performance.now() - t0) * 1000) / M;
t0 = performance.now();
for (let i = 0; i < M; i++) sealed.stampEvent(ev, 0);
const sealedUs = ((performance.now() - t0) * 1000) / M;
console.log(`event JSON ${Buffer.byteLength(json)} bytes: HMAC-SHA256 ${hmacUs.toFixed(2)} µs/event; stamp (number + serialise) ${plainUs.toFixed(2)} µs, with the seal ${sealedUs.toFixed(2)} µs (+${(sealedUs - plainUs).toFixed(2)} µs)`);

// 2. verify over N events in a file (HEC envelopes), with and without the key
const dir = mkdtempSync(join(tmpdir(), 's3ap-verify-bench-'));
const file = join(dir, 'events.ndjson');
const keyFile = join(dir, 'key');
(await import('node:fs')).writeFileSync(keyFile, key, { mode: 0o600 });
const w = createWriteStream(file);
const stamper = new EventStamper({ key, keyId: keyIdOf(key) }, { hostName: 'bench' });
const write = async (line: string): Promise<void> => { if (!w.write(line)) await once(w, 'drain'); };
stamper.handOver = (j) => { w.write(`{"time":0,"host":"bench","event":${j}}\n`); };
for (let i = 0; i < N; i++) {
  const s = stamper.stampEvent(sampleEvent(i), 0);
  await write(`{"time":0,"host":"bench","event":${s.json}}\n`);
}
w.end();
await once(w, 'finish');
const quiet = { out: () => {}, err: (s: string) => process.stderr.write(s) };
for (const args of [[file], ['--key-file', keyFile, file]]) {
  const t = performance.now();
  const code = await verifyCommand(args, {}, quiet);
  const s = (performance.now() - t) / 1000;
  console.log(`verify ${args.length > 1 ? '--key-file ' : ''}${N} events: ${s.toFixed(2)} s, ${Math.round(N / s)} events/s (exit ${code})`);
}
rmSync(dir, { recursive: true, force: true });
