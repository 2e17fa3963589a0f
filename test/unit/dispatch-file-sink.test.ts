import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FileSink } from '../../src/dispatch/file-sink.js';
import type { QueueItems } from '../../src/dispatch/memory-queue.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

function items(lines: string[]): QueueItems {
  return { json: lines, bytes: lines.map((l) => Buffer.byteLength(l)), timeMs: lines.map(() => Date.now()) };
}

test('file sink: JSONL lines, rotated by size into file.1 ... file.N, each batch a success once written', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger('warn');
  const path = join(dir, 'audit.jsonl');
  const sink = new FileSink({ path, logger, maxBytes: 1000, maxFiles: 3, backoff: { baseMs: 10, maxMs: 100 } });
  await sink.open();
  const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ seq: i, pad: 'x'.repeat(40) }));
  for (let i = 0; i < 200; i += 50) {
    const r = await sink.send(items(lines), i, i + 50, 0);
    assert.equal(r.decision.action, 'success');
  }
  await sink.close();
  const names = (await readdir(dir)).sort();
  assert.deepEqual(names, ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2', 'audit.jsonl.3']);
  const all: string[] = [];
  for (const n of ['audit.jsonl.3', 'audit.jsonl.2', 'audit.jsonl.1', 'audit.jsonl']) {
    const text = await readFile(join(dir, n), 'utf8');
    assert.ok(Buffer.byteLength(text) <= 1000, `${n} within the size bound`);
    all.push(...text.split('\n').filter(Boolean));
  }
  assert.deepEqual(all, lines.slice(lines.length - all.length), 'contiguous, in order, newest kept');
});

test('file sink: a write that fails is a retry decision (never a silent loss), and the next attempt reopens the file', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger('warn');
  const sub = join(dir, 'logs');
  const path = join(sub, 'audit.jsonl');
  const sink = new FileSink({ path, logger, backoff: { baseMs: 10, maxMs: 100 } });
  await sink.open();
  assert.equal((await sink.send(items(['{"a":1}']), 0, 1, 0)).decision.action, 'success');
  // the directory disappears (an operator, a log cleaner); a new sink on that path cannot open it
  await rm(sub, { recursive: true, force: true });
  await sink.close();
  const again = new FileSink({ path, logger, backoff: { baseMs: 10, maxMs: 100 } });
  const r = await again.send(items(['{"a":2}']), 0, 1, 0);
  assert.equal(r.decision.action, 'retry', 'no directory: retry');
  assert.match(r.decision.action === 'retry' ? r.decision.reason : '', /cannot write the audit log/);
  await again.open(); // the directory is back
  assert.equal((await again.send(items(['{"a":2}']), 0, 1, 1)).decision.action, 'success');
  await again.close();
  assert.equal(await readFile(path, 'utf8'), '{"a":2}\n');
});
