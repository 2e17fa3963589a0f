#!/usr/bin/env node
// Ceph test tier: runs the client-level S3 suite against a real Ceph RADOS
// Gateway (a throwaway one-mon, one-OSD cluster started by test/ceph/rgw.sh).
//
//   node test/ceph/run.mjs [test files...]
//   (default: dist/test/integration/s3-client.test.js; `npm run test:ceph` builds first)
//
// Environment:
//   S3AP_CEPH_KEEP_WORKDIR=1   keep the cluster's workdir (logs, conf) after the run
//   S3AP_CEPH_SKIP_INSTALL=1   do not run install-deps.sh
//
// The cluster is always stopped: on success, on failure, on SIGINT/SIGTERM.
// Exit code: the test run's exit code (1 when the cluster could not be started,
// 128+n when interrupted by signal n).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const rgwScript = path.join(here, 'rgw.sh');
const installScript = path.join(here, 'install-deps.sh');
// plus every dist/test/integration/conformance-*.test.js: the same request sent to the backend directly
// and through the proxy must get the same answer (status, error code, headers bar hop-by-hop and Date)
const CONFORMANCE_DIR = path.join(repoRoot, 'dist', 'test', 'integration');
const DEFAULT_TESTS = ['dist/test/integration/s3-client.test.js', 'dist/test/integration/proxy-wire.test.js', 'dist/test/integration/evasion.test.js', 'dist/test/integration/delete-objects.test.js',
  // cluster mode: the settings and members store in RGW itself (REFERENCE §9)
  'dist/test/integration/cluster.test.js',
  ...(existsSync(CONFORMANCE_DIR) ? readdirSync(CONFORMANCE_DIR).filter((f) => /^conformance-.*\.test\.js$/.test(f)).sort().map((f) => `dist/test/integration/${f}`) : [])];
const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

const say = (msg) => process.stderr.write(`ceph-tier: ${msg}\n`);

let currentChild = null; // the child we are waiting on, to forward signals to
let interruptedBy = null;
let stopping = false; // while `rgw.sh stop` runs, signals are not forwarded

function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repoRoot, ...opts });
    currentChild = child;
    let stdout = '';
    if (child.stdout) {
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d) => {
        stdout += d;
      });
    }
    child.on('error', (err) => {
      currentChild = null;
      say(`could not run ${cmd}: ${err.message}`);
      resolve({ code: 127, signal: null, stdout });
    });
    child.on('close', (code, signal) => {
      currentChild = null;
      resolve({ code, signal, stdout });
    });
  });
}

function exitCodeOf({ code, signal }) {
  if (code !== null && code !== undefined) return code;
  return 128 + (SIGNAL_NUMBERS[signal] ?? 1);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function makeWorkdir() {
  // Admin socket paths must stay short (unix socket limit); rgw.sh checks <= 60 chars.
  let base = os.tmpdir();
  if (base.length > 30) base = '/tmp';
  return mkdtempSync(path.join(base, 's3ap-ceph-'));
}

async function main() {
  const tests = process.argv.slice(2);
  const testFiles = tests.length > 0 ? tests : DEFAULT_TESTS;
  for (const f of testFiles) {
    if (!existsSync(path.resolve(repoRoot, f))) {
      say(`test file not found: ${f} (did the build run? use \`npm run test:ceph\`)`);
      return 1;
    }
  }

  if (process.env.S3AP_CEPH_SKIP_INSTALL !== '1') {
    const t = Date.now();
    const inst = await run('bash', [installScript], { stdio: 'inherit' });
    if (interruptedBy) return exitCodeOf({ code: null, signal: interruptedBy });
    if (inst.code !== 0) {
      say(`install-deps.sh failed (exit ${exitCodeOf(inst)})`);
      return 1;
    }
    say(`dependencies ready in ${((Date.now() - t) / 1000).toFixed(1)}s`);
  }

  const port = await freePort();
  const workdir = makeWorkdir();
  let testResult = null;
  let exitCode = 1;
  try {
    const t = Date.now();
    say(`starting Ceph (mon + osd + radosgw) in ${workdir}, S3 on 127.0.0.1:${port}`);
    const start = await run('bash', [rgwScript, 'start', workdir, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (interruptedBy) return exitCodeOf({ code: null, signal: interruptedBy });
    if (start.code !== 0) {
      say(`rgw.sh start failed (exit ${exitCodeOf(start)}); see the log tails above`);
      return 1;
    }
    const vars = {};
    for (const line of start.stdout.split('\n')) {
      const m = /^(S3AP_TEST_[A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) vars[m[1]] = m[2];
    }
    for (const k of ['S3AP_TEST_BACKEND_URL', 'S3AP_TEST_ACCESS_KEY', 'S3AP_TEST_SECRET_KEY']) {
      if (!vars[k]) {
        say(`rgw.sh start did not print ${k}; got:\n${start.stdout}`);
        return 1;
      }
    }
    vars.S3AP_TEST_BACKEND_KIND = 'ceph';
    say(`Ceph ready in ${((Date.now() - t) / 1000).toFixed(1)}s: ${vars.S3AP_TEST_BACKEND_URL}`);

    say(`running: node --test --test-concurrency=1 ${testFiles.join(' ')}`);
    testResult = await run(
      process.execPath,
      ['--test', '--test-concurrency=1', ...testFiles],
      { stdio: 'inherit', env: { ...process.env, ...vars } },
    );
    exitCode = interruptedBy
      ? exitCodeOf({ code: null, signal: interruptedBy })
      : exitCodeOf(testResult);
    say(`tests finished with exit code ${exitCode}`);
    return exitCode;
  } finally {
    stopping = true;
    const stop = await run('bash', [rgwScript, 'stop', workdir], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (stop.code !== 0) {
      say(`WARNING: rgw.sh stop failed (exit ${exitCodeOf(stop)}); Ceph daemons may be left running`);
      // A passing run must not hide leftover daemons.
      if (testResult && exitCode === 0) process.exitCode = 1;
    }
    if (process.env.S3AP_CEPH_KEEP_WORKDIR === '1') {
      say(`kept workdir ${workdir}`);
    } else if (stop.code === 0) {
      rmSync(workdir, { recursive: true, force: true });
    } else {
      say(`kept workdir ${workdir} for inspection`);
    }
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (!interruptedBy) say(`got ${sig}, stopping`);
    interruptedBy = interruptedBy ?? sig;
    // Forward to whatever we wait on (not to `rgw.sh stop`, which must finish).
    if (currentChild && !stopping) {
      try {
        currentChild.kill(sig);
      } catch {
        // already gone
      }
    }
  });
}

main().then(
  (code) => {
    if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = code;
  },
  (err) => {
    say(`unexpected error: ${err?.stack ?? err}`);
    process.exitCode = 1;
  },
);
