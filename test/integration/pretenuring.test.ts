// `serve` turns V8's allocation-site pretenuring off before it takes load (src/proxy/pretenuring.ts),
// unless --v8-pretenuring: the real CLI runs, under --trace-pretenuring, a workload V8 pretenures
// when it may (test/helpers/tenure-workload.ts, started by a signal once the proxy listens). Off, V8
// prints no pretenuring decision at all; on, it prints its decisions on the workload's literal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { spawnProxy, tempDir } from '../helpers/proxy.js';

const WORKLOAD = join(projectRoot(), 'dist', 'test', 'helpers', 'tenure-workload.js');

async function pretenuringLines(extra: string[]): Promise<string[]> {
  const dir = tempDir();
  const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', 'http://127.0.0.1:9', ...extra],
    { TENURE_WORKLOAD_ON_SIGNAL: '1' }, 15_000,
    { nodeArgs: ['--trace-pretenuring', '--trace-pretenuring-statistics', '--import', WORKLOAD] });
  try {
    const from = p.output.length;
    p.child.kill('SIGUSR2');
    for (let i = 0; i < 600 && !p.output.includes('tenure workload done'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(p.output.includes('tenure workload done'), `the workload ran in the proxy:\n${p.output.slice(-20).join('\n')}`);
    return p.output.slice(from).filter((l) => l.includes('pretenuring: AllocationSite('));
  } finally {
    await p.stop();
    dir.remove();
  }
}

test('serve: no pretenuring decision by default; --v8-pretenuring leaves V8 pretenuring', async () => {
  assert.deepEqual(await pretenuringLines([]), [], 'pretenuring is off in serve by default');
  // On, V8 weighs the workload's literal ("maybe tenure", then "tenure" once a scavenge finds the young
  // generation at its largest, which a busy test machine may not reach within the workload).
  const on = await pretenuringLines(['--v8-pretenuring']);
  assert.ok(on.some((l) => /=> (maybe )?tenure\b/.test(l)), `with --v8-pretenuring V8 weighs the workload for pretenuring:\n${on.slice(0, 5).join('\n')}`);
});
