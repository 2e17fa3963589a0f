// The --data-dir lock: a live holder refuses a second process, a stale lock is taken over, and two
// processes taking over the same stale lock end with exactly one holder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireDataDirLock, DataDirLockedError } from '../../src/dispatch/data-dir-lock.js';
import { captureLogger, tempDir } from '../helpers/dispatch-fixtures.js';

/** A pid that was alive a moment ago and is not any more. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const lockJson = (pid: number, host = hostname()): string => JSON.stringify({ pid, host, startedAt: new Date().toISOString() });

test('lock: held by a live process -> DataDirLockedError naming --data-dir, pid and host; released -> gone', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger('warn');
  await writeFile(join(dir, 'lock'), lockJson(process.ppid));
  await assert.rejects(acquireDataDirLock(dir, logger), (err: unknown) => {
    assert.ok(err instanceof DataDirLockedError && err instanceof Error);
    assert.match(err.message, new RegExp(`--data-dir ${dir}.*pid ${process.ppid} on host ${hostname()}`));
    return true;
  });
  await writeFile(join(dir, 'lock'), lockJson(deadPid()));
  const lock = await acquireDataDirLock(dir, logger);
  assert.equal((await stat(lock.path)).mode & 0o777, 0o600);
  assert.equal(JSON.parse(await readFile(lock.path, 'utf8')).pid, process.pid);
  await assert.rejects(acquireDataDirLock(dir, logger), DataDirLockedError, 'this process holds it: a second start here is refused too');
  await lock.release();
  await assert.rejects(stat(lock.path), /ENOENT/);
});

test('lock: not refreshed for 30 s (another host) is stale; two takers of one stale lock -> exactly one holder', async (t) => {
  const dir = await tempDir(t);
  const { logger, logs } = captureLogger('warn');
  const path = join(dir, 'lock');
  await writeFile(path, lockJson(4242, 'another-host'));
  await assert.rejects(acquireDataDirLock(dir, logger), DataDirLockedError, 'fresh lock of another host: held');
  const old = new Date(Date.now() - 60_000);
  await utimes(path, old, old);
  const results = await Promise.allSettled([acquireDataDirLock(dir, logger), acquireDataDirLock(dir, logger)]);
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.ok(lost.reason instanceof DataDirLockedError, String(lost.reason));
  assert.ok(logs.count('stale') >= 1);
  await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireDataDirLock>>>).value.release();
});

test('lock: one naming our own pid that this process did not write (a container pid 1 restarted) is stale', async (t) => {
  const dir = await tempDir(t);
  const { logger, logs } = captureLogger('warn');
  await writeFile(join(dir, 'lock'), lockJson(process.pid));
  const lock = await acquireDataDirLock(dir, logger);
  assert.equal(logs.count('stale'), 1);
  await lock.release();
});
