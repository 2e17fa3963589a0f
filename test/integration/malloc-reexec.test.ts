// `serve` started without malloc settings re-executes itself once with the image's (src/proxy/
// malloc-env.ts) where Node has process.execve (22.15+; Linux, glibc): the same process id, the
// settings in its environment, "malloc":"tuned" in the listening line. Not with --malloc-tuning=false,
// not over a caller's own MALLOC_* setting, and on a Node without execve it starts as it is.
// The Node running the tests is Node 20 in CI: TEST_NODE_EXECVE names a Node that has execve
// (.ci/run fetches Node 24 from the npm registry); CI fails without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { spawnProxy, tempDir, type ChildProxy } from '../helpers/proxy.js';
import { logRecords } from '../helpers/admin.js';
import { environOf } from '../helpers/environ.js';

type TestContext = { after(fn: () => unknown): void; skip(msg?: string): void };


function hasExecve(node: string): boolean {
  const r = spawnSync(node, ['-p', 'typeof process.execve'], { encoding: 'utf8', timeout: 10_000 });
  return r.stdout.trim() === 'function';
}

async function start(t: TestContext, node: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ p: ChildProxy; listening: Record<string, unknown> }> {
  const dir = tempDir('s3ap-malloc-');
  const p = await spawnProxy(['--backend', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, ...args], env, 20_000, { node });
  t.after(async () => { await p.stop(); dir.remove(); });
  const listening = logRecords(p.output).find((r) => r['msg'] === 's3-audit-proxy listening')!;
  return { p, listening };
}

const linuxGlibc = process.platform === 'linux' && typeof (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime === 'string';

test('the Node running the tests: re-executed with the settings if it has execve, else started as it is', async (t) => {
  if (!linuxGlibc || !existsSync('/proc/self/environ')) return t.skip('Linux with glibc only');
  const { p, listening } = await start(t, process.execPath);
  assert.equal(listening['pid'], p.child.pid, 'the same process id');
  const env = environOf(p.child.pid!);
  if (hasExecve(process.execPath)) {
    assert.equal(listening['malloc'], 'tuned');
    assert.equal(env.get('MALLOC_TRIM_THRESHOLD_'), '33554432');
  } else {
    assert.equal(listening['malloc'], 'glibc defaults');
    assert.equal(env.get('MALLOC_TRIM_THRESHOLD_'), undefined);
  }
});

test('a Node with process.execve: re-executed once, same id; not with --malloc-tuning=false, not over MALLOC_ARENA_MAX', async (t) => {
  if (!linuxGlibc || !existsSync('/proc/self/environ')) return t.skip('Linux with glibc only');
  const node = hasExecve(process.execPath) ? process.execPath : process.env['TEST_NODE_EXECVE'];
  if (node === undefined || !hasExecve(node)) {
    if (process.env['CI']) assert.fail('CI needs a Node with process.execve: TEST_NODE_EXECVE (see .ci/run)');
    return t.skip('no Node with process.execve here (set TEST_NODE_EXECVE)');
  }
  const tuned = await start(t, node);
  assert.equal(tuned.listening['pid'], tuned.p.child.pid, 'the same process id after the re-execution');
  assert.equal(tuned.listening['malloc'], 'tuned');
  const env = environOf(tuned.p.child.pid!);
  assert.equal(env.get('MALLOC_TRIM_THRESHOLD_'), '33554432');
  assert.equal(env.get('MALLOC_MMAP_THRESHOLD_'), '4194304');
  assert.equal(logRecords(tuned.p.output).filter((r) => r['msg'] === 's3-audit-proxy listening').length, 1, 'started once');

  const off = await start(t, node, ['--malloc-tuning=false']);
  assert.equal(off.listening['malloc'], 'glibc defaults');
  assert.equal(environOf(off.p.child.pid!).get('MALLOC_TRIM_THRESHOLD_'), undefined);

  const own = await start(t, node, [], { MALLOC_ARENA_MAX: '2' });
  assert.equal(own.listening['malloc'], 'custom');
  assert.equal(environOf(own.p.child.pid!).get('MALLOC_TRIM_THRESHOLD_'), undefined);
  assert.equal(environOf(own.p.child.pid!).get('MALLOC_ARENA_MAX'), '2');
});
