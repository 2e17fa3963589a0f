// `s3-audit-proxy spool inspect` as a user runs it, on a spool written by the Spool class: intact,
// then with one flipped byte; and its usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { Spool } from '../../src/dispatch/spool.js';
import type { SpoolReport } from '../../src/dispatch/spool-inspect.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

const MAIN = join(projectRoot(), 'dist', 'src', 'cli', 'main.js');
const runCli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] }, timeout: 20_000 });

const json = (i: number): string => JSON.stringify({ seq: i, what: 'PutObject' });

async function makeSpool(dataDir: string, n: number, delivered: number): Promise<void> {
  const { logger } = captureLogger('warn');
  const sp = await Spool.open({ dir: join(dataDir, 'spool'), maxBytes: 1e8, fsyncIntervalMs: 0, logger, segmentMaxBytes: 4000 });
  const all = Array.from({ length: n }, (_, i) => json(i));
  sp.append({ json: all, bytes: all.map((j) => Buffer.byteLength(j)), timeMs: all.map((_, i) => Date.UTC(2025, 0, 1) + i * 1000) });
  const r = await sp.read(delivered, 1e9, (b) => b);
  sp.ack(r!.endSeg[delivered - 1], r!.endOff[delivered - 1], delivered);
  await sp.close();
}

test('spool inspect: an intact spool -> exit 0, a table and a JSON document that agree with what was written', async (t) => {
  const dataDir = await tempDir(t);
  await makeSpool(dataDir, 300, 10);
  const h = runCli(['spool', 'inspect', '--data-dir', dataDir]);
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /Cursor: +segment 1, offset \d+ \(agrees with the segments\)/);
  assert.match(h.stdout, /SEGMENT +BYTES +RECORDS +UNREAD +FIRST EVENT +LAST EVENT +PROBLEMS/);
  assert.match(h.stdout, /2025-01-01T00:00:00\.000Z/);
  assert.match(h.stdout, /Unread: +290 events/);
  assert.match(h.stdout, /Status: +intact/);
  const j = runCli(['spool', 'inspect', '--data-dir', dataDir, '--json']);
  assert.equal(j.status, 0);
  const rep = JSON.parse(j.stdout) as SpoolReport;
  assert.equal(rep.intact, true);
  assert.equal(rep.unreadEvents, 290);
  assert.equal(rep.segments.reduce((n, s) => n + s.records, 0), 300);
  assert.ok(rep.segments.length > 2);
  assert.equal(rep.segments[rep.segments.length - 1]!.lastEventTime, new Date(Date.UTC(2025, 0, 1) + 299_000).toISOString());
  assert.deepEqual(rep.corruptRegions, []);
});

test('spool inspect: a flipped byte -> exit 1 naming the corrupt region; usage errors -> exit 2 naming the flag', async (t) => {
  const dataDir = await tempDir(t);
  await makeSpool(dataDir, 300, 10);
  const spool = join(dataDir, 'spool');
  const seg = (await readdir(spool)).filter((f) => f.endsWith('.seg')).sort()[1]!;
  const buf = await readFile(join(spool, seg));
  let at = 0;
  for (let k = 0; k < 3; k++) at += 8 + buf.readUInt32LE(at); // the fourth record of the segment
  buf[at + 20] ^= 0x01;
  await writeFile(join(spool, seg), buf);
  const j = runCli(['spool', 'inspect', '--data-dir', dataDir, '--json']);
  assert.equal(j.status, 1, j.stderr);
  const rep = JSON.parse(j.stdout) as SpoolReport;
  assert.equal(rep.intact, false);
  assert.equal(rep.corruptRegions.length, 1);
  assert.equal(rep.corruptRegions[0]!.segment, Number(seg.slice(0, 16)));
  assert.equal(rep.corruptRegions[0]!.offset, at);
  assert.equal(rep.corruptRegions[0]!.bytes, 8 + buf.readUInt32LE(at));
  assert.equal(rep.unreadEvents, 289);
  const h = runCli(['spool', 'inspect', '--data-dir', dataDir]);
  assert.equal(h.status, 1);
  assert.match(h.stdout, /Corrupt: segment \d+ offset \d+, \d+ bytes skipped/);
  assert.match(h.stdout, /Status: +NOT intact/);

  const bad = runCli(['spool', 'inspect', '--data-dir', dataDir, '--bogus']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /spool inspect: --bogus: unknown flag/);
  assert.equal(runCli(['spool', 'frobnicate']).status, 2);
  assert.equal(runCli(['spool']).status, 2);
  assert.match(runCli(['help']).stdout, /spool inspect/);
});
