// The malloc settings `serve` hands its workers and the image sets (src/proxy/malloc-env.ts): added
// only to an environment without malloc settings of its own, and described in the start-up log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeMallocEnv, MALLOC_ENV, mallocEnvFor, mallocReexecPlan } from '../../src/proxy/malloc-env.js';
import { loadServeConfig } from '../../src/config/serve-config.js';

test('an environment without malloc settings gets the trim and mmap thresholds', () => {
  assert.deepEqual(mallocEnvFor({ PATH: '/usr/bin', NODE_OPTIONS: '--max-old-space-size=512' }), {
    MALLOC_TRIM_THRESHOLD_: '33554432', MALLOC_MMAP_THRESHOLD_: '4194304',
  });
  // Tunables that are not malloc's do not count as malloc settings.
  assert.deepEqual(Object.keys(mallocEnvFor({ GLIBC_TUNABLES: 'glibc.cpu.hwcaps=-AVX2' })), Object.keys(MALLOC_ENV));
});

test('any malloc setting of the caller wins: nothing is added', () => {
  assert.deepEqual(mallocEnvFor({ MALLOC_ARENA_MAX: '2' }), {});
  assert.deepEqual(mallocEnvFor({ MALLOC_TRIM_THRESHOLD_: '131072' }), {});
  assert.deepEqual(mallocEnvFor({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=131072' }), {});
  assert.deepEqual(mallocEnvFor({ GLIBC_TUNABLES: 'glibc.cpu.x86_rep_movsb_threshold=2048:glibc.malloc.arena_max=2' }), {});
});

test('the start-up log says whose settings are in effect', () => {
  assert.equal(describeMallocEnv({}), 'glibc defaults');
  assert.equal(describeMallocEnv({ ...MALLOC_ENV }), 'tuned');
  assert.equal(describeMallocEnv({ ...MALLOC_ENV, PATH: '/bin' }), 'tuned');
  assert.equal(describeMallocEnv({ MALLOC_TRIM_THRESHOLD_: '33554432' }), 'custom');
  assert.equal(describeMallocEnv({ ...MALLOC_ENV, MALLOC_ARENA_MAX: '2' }), 'tuned');
  assert.equal(describeMallocEnv({ GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' }), 'custom');
  // The proxy's own values leave the caller's environment untouched.
  const env = { PATH: '/bin' };
  mallocEnvFor(env);
  assert.deepEqual(env, { PATH: '/bin' });
});

test('serve re-executes itself only on Linux with glibc and process.execve, and never over settings of the caller', () => {
  const yes = { platform: 'linux', glibc: true, execve: true };
  assert.equal(mallocReexecPlan({ PATH: '/bin' }, yes), 'exec');
  assert.equal(mallocReexecPlan({ ...MALLOC_ENV }, yes), 'own settings', 'after the re-execution: never twice');
  assert.equal(mallocReexecPlan({ MALLOC_ARENA_MAX: '2' }, yes), 'own settings');
  assert.equal(mallocReexecPlan({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, yes), 'own settings');
  assert.equal(mallocReexecPlan({}, { ...yes, platform: 'darwin' }), 'not linux');
  assert.equal(mallocReexecPlan({}, { ...yes, glibc: false }), 'not glibc');
  assert.equal(mallocReexecPlan({}, { ...yes, execve: false }), 'no process.execve');
});

test('--malloc-tuning: on by default; false by flag or S3AP_MALLOC_TUNING; a bad value names the flag', () => {
  const base = ['--backend', 'http://127.0.0.1:9000'];
  assert.equal(loadServeConfig(base, {}).mallocTuning, true);
  assert.equal(loadServeConfig([...base, '--malloc-tuning=false'], {}).mallocTuning, false);
  assert.equal(loadServeConfig(base, { S3AP_MALLOC_TUNING: 'false' }).mallocTuning, false);
  assert.throws(() => loadServeConfig([...base, '--malloc-tuning=maybe'], {}), /--malloc-tuning/);
});
