// V8's allocation-site pretenuring is off for `serve` (src/proxy/pretenuring.ts): the flag it sets,
// its effect on a real V8 (a workload V8 pretenures when it may, in a child process), and the option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { disablePretenuring, NO_PRETENURING } from '../../src/proxy/pretenuring.js';
import { loadServeConfig } from '../../src/config/serve-config.js';

const DIST = join(projectRoot(), 'dist');

/** The "pretenuring:" decision lines V8 prints for the workload, with or without disablePretenuring(). */
function decisions(disable: boolean): string[] {
  const script = `
    const { runTenureWorkload } = await import(${JSON.stringify(join(DIST, 'test', 'helpers', 'tenure-workload.js'))});
    const { disablePretenuring } = await import(${JSON.stringify(join(DIST, 'src', 'proxy', 'pretenuring.js'))});
    if (${disable}) disablePretenuring();
    runTenureWorkload();
    console.log('workload done');`;
  const out = execFileSync(process.execPath, ['--trace-pretenuring', '--trace-pretenuring-statistics', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.match(out, /workload done/);
  return out.split('\n').filter((l) => l.includes('pretenuring: AllocationSite('));
}

test('disablePretenuring() sets exactly --no-allocation-site-pretenuring', () => {
  const set: string[] = [];
  disablePretenuring((f) => set.push(f));
  assert.deepEqual(set, ['--no-allocation-site-pretenuring']);
  assert.equal(NO_PRETENURING, '--no-allocation-site-pretenuring');
});

test('on a real V8: the workload is weighed for pretenuring by default, and not looked at once pretenuring is off', () => {
  const on = decisions(false);
  // "maybe tenure" first; "tenure" once a scavenge finds the young generation at its largest.
  assert.ok(on.some((l) => /=> (maybe )?tenure\b/.test(l)), `V8 weighs the workload's literal by default:\n${on.slice(0, 5).join('\n')}`);
  assert.deepEqual(decisions(true), [], 'no pretenuring decision at all once it is off');
});

test('--v8-pretenuring: off by default; the flag or S3AP_V8_PRETENURING=true leaves it on; a bad value names the flag', () => {
  assert.equal(loadServeConfig([], {}).v8Pretenuring, false);
  assert.equal(loadServeConfig(['--v8-pretenuring'], {}).v8Pretenuring, true);
  assert.equal(loadServeConfig(['--v8-pretenuring=false'], {}).v8Pretenuring, false);
  assert.equal(loadServeConfig([], { S3AP_V8_PRETENURING: 'true' }).v8Pretenuring, true);
  assert.throws(() => loadServeConfig(['--v8-pretenuring=sometimes'], {}), /--v8-pretenuring/);
});
