// A Spool whose disk write fails, in its own process (run under a file-size limit or on a full tmpfs):
// it appends until a write fails, optionally reads and acknowledges everything that was written
// (mode "retire": the spool then wants to retire its active segment), and then proves its event
// loop is still alive by printing a TICK every 50 ms for 1 s. A starved event loop prints nothing.
// Usage: node spool-child.js '{"dir":"/x/spool","fsyncMs":200,"mode":"sync"|"retire"}'
import { Writable } from 'node:stream';
import { Spool } from '../../../src/dispatch/spool.js';
import { createLogger } from '../../../src/log.js';

const { dir, fsyncMs, mode } = JSON.parse(process.argv[2] ?? '{}') as { dir: string; fsyncMs: number; mode: 'sync' | 'retire' };
const logger = createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() }));
let lost = 0;
const spool = await Spool.open({ dir, maxBytes: 1024 ** 3, fsyncIntervalMs: fsyncMs, logger, onLost: (n) => { lost += n; } });
const ev = JSON.stringify({ kind: 's3', pad: 'x'.repeat(1000) });
const batch = (n: number) => ({ json: Array<string>(n).fill(ev), bytes: Array<number>(n).fill(Buffer.byteLength(ev)), timeMs: Array<number>(n).fill(Date.now()) });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
for (let i = 0; i < 5000 && !spool.error; i++) {
  spool.append(batch(5));
  await sleep(2); // let the writer run without an explicit flush (fsync left to the interval)
}
process.stdout.write(`BROKEN ${JSON.stringify({ error: spool.error, lost, held: spool.events })}\n`);
if (mode === 'retire') {
  // deliver what was written: read it all and acknowledge it (the spool then retires its segment)
  for (let i = 0; i < 10_000; i++) {
    const r = await spool.read(100, 1 << 20, (b) => b);
    if (!r) break;
    spool.ack(r.endSeg[r.endSeg.length - 1], r.endOff[r.endOff.length - 1], r.json.length);
  }
  process.stdout.write(`ACKED ${spool.events}\n`);
}
let ticks = 0;
const iv = setInterval(() => process.stdout.write(`TICK ${++ticks}\n`), 50);
await sleep(1000);
clearInterval(iv);
process.stdout.write(`DONE ${ticks}\n`);
process.exit(0);
