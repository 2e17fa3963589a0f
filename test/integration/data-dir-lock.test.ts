// One proxy per --data-dir: a second `serve` on a directory in use exits 2 naming the holder while
// the first keeps serving; a lock left by a process that died is taken over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { spawnProxy, tempDir } from '../helpers/proxy.js';

const MAIN = join(projectRoot(), 'dist', 'src', 'cli', 'main.js');
const ARGS = ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'];
const runServe = (args: string[]) =>
  spawnSync(process.execPath, [MAIN, 'serve', ...ARGS, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] }, timeout: 20_000 });

test('a second serve on a --data-dir in use exits 2 naming --data-dir and the holder; the first keeps serving', async (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const first = await spawnProxy([...ARGS, '--data-dir', dir.path]);
  t.after(() => first.stop());
  const pid = first.child.pid!;
  assert.equal(JSON.parse(readFileSync(join(dir.path, 'lock'), 'utf8')).pid, pid);
  for (const extra of [[], ['--workers', '2']]) {
    const r = runServe(['--data-dir', dir.path, ...extra]);
    assert.equal(r.status, 2, `${extra.join(' ')}: exit 2 (status ${r.status}, signal ${r.signal}): ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`--data-dir ${dir.path}: in use by another s3-audit-proxy \\(pid ${pid} on host `));
  }
  const res = await fetch(first.url, { signal: AbortSignal.timeout(5000) });
  assert.ok(res.status > 0, 'the first still answers S3 requests');
  await res.arrayBuffer();
  assert.equal(JSON.parse(readFileSync(join(dir.path, 'lock'), 'utf8')).pid, pid, 'and still holds the lock');
  assert.equal(await first.stop(), 0);
  assert.throws(() => readFileSync(join(dir.path, 'lock')), /ENOENT/, 'released on shutdown');
});

test('a lock left by a dead process on this host is taken over (with a warning)', async (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(join(dir.path, 'lock'), JSON.stringify({ pid: Number(dead.stdout), host: hostname(), startedAt: new Date().toISOString() }));
  const p = await spawnProxy([...ARGS, '--data-dir', dir.path]);
  t.after(() => p.stop());
  assert.ok(p.output.some((l) => l.includes('lock is stale')), p.output.join('\n'));
  assert.equal(JSON.parse(readFileSync(join(dir.path, 'lock'), 'utf8')).pid, p.child.pid);
  assert.equal(await p.stop(), 0);
});
