import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileTarget } from '../../src/dispatch/file-target.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

test('audit log file: JSONL lines, rotated by size into file.1 ... file.N', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger('warn');
  const path = join(dir, 'audit.jsonl');
  const ft = await FileTarget.open({ path, logger, maxBytes: 1000, maxFiles: 3, flushIntervalMs: 5 });
  const lines: string[] = [];
  for (let i = 0; i < 200; i++) {
    const json = JSON.stringify({ seq: i, pad: 'x'.repeat(40) });
    lines.push(json);
    assert.equal(ft.append(json, Buffer.byteLength(json)), true);
    if (i % 50 === 49) await ft.flush();
  }
  await ft.close();
  const names = (await readdir(dir)).sort();
  assert.deepEqual(names, ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2', 'audit.jsonl.3']);
  // newest lines are in the current file, the older ones in .1, .2, .3 (the oldest deleted)
  const all: string[] = [];
  for (const n of ['audit.jsonl.3', 'audit.jsonl.2', 'audit.jsonl.1', 'audit.jsonl']) {
    const text = await readFile(join(dir, n), 'utf8');
    assert.ok(Buffer.byteLength(text) <= 1000, `${n} within the size bound`);
    all.push(...text.split('\n').filter(Boolean));
  }
  assert.deepEqual(all, lines.slice(lines.length - all.length), 'contiguous, in order, newest kept');
  assert.equal(ft.written, 200);
});

test('audit log file: a full buffer drops new lines and counts them', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger('warn');
  const ft = await FileTarget.open({ path: join(dir, 'a.jsonl'), logger, maxBufferBytes: 100, flushIntervalMs: 10_000 });
  let ok = 0;
  for (let i = 0; i < 20; i++) if (ft.append('{"x":"0123456789"}', 18)) ok++;
  assert.ok(ok < 20);
  assert.equal(ft.dropped['file_buffer_full'], 20 - ok);
  await ft.close();
  assert.equal((await readFile(join(dir, 'a.jsonl'), 'utf8')).split('\n').filter(Boolean).length, ok);
});
