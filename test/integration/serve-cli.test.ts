// `s3-audit-proxy serve` as a user runs it: settings from flags, environment and file; clear errors;
// the embedded store's first log line; graceful shutdown on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { projectRoot } from '../../src/paths.js';
import { spawnProxy, tempDir } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { startSniffBackend } from '../helpers/sniff-backend.js';

const MAIN = join(projectRoot(), 'dist', 'src', 'cli', 'main.js');
const runCli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'], ...env }, timeout: 20_000 });

test('a taken S3 port stops start-up with exit 2 naming --listen, with one process or with workers (no hang)', async (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const port = (holder.address() as net.AddressInfo).port;
  for (const extra of [[], ['--workers', '2']]) {
    const r = runCli(['serve', '--listen', `127.0.0.1:${port}`, '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, ...extra]);
    assert.equal(r.status, 2, `${extra.join(' ')}: exit 2 (status ${r.status}, signal ${r.signal}): ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`--listen: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  }
});

test('flags win over environment, environment over the config file, the file over defaults', (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const file = join(dir.path, 'config.json');
  writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:7001', backend: 'http://file:9000', logLevel: 'warn', 'virtual-host-domain': ['a.example'], 'spool-max-bytes': '2GiB' }));
  const cfg = loadServeConfig(['--config', file, '--listen', '127.0.0.1:7003'], {
    S3AP_LISTEN: '127.0.0.1:7002', S3AP_BACKEND: 'http://env:9000', S3AP_VIRTUAL_HOST_DOMAIN: 'b.example,c.example',
  });
  assert.deepEqual(cfg.listen, { host: '127.0.0.1', port: 7003 });
  assert.equal(cfg.backend, 'http://env:9000');
  assert.equal(cfg.logLevel, 'warn');
  assert.deepEqual(cfg.virtualHostDomains, ['b.example', 'c.example']);
  assert.equal(cfg.spoolMaxBytes, 2 * 1024 ** 3);
  assert.equal(cfg.connectTimeoutMs, 5000, 'default kept');
});

test('--dead-letter-max-bytes: default 256MiB, from a flag, S3AP_DEAD_LETTER_MAX_BYTES or the config file; in --help', (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  assert.equal(loadServeConfig([], {}).deadLetterMaxBytes, 256 * 1024 ** 2, 'default');
  assert.equal(loadServeConfig(['--dead-letter-max-bytes', '10MiB'], { S3AP_DEAD_LETTER_MAX_BYTES: '20MiB' }).deadLetterMaxBytes, 10 * 1024 ** 2, 'flag over env');
  assert.equal(loadServeConfig([], { S3AP_DEAD_LETTER_MAX_BYTES: '20MiB' }).deadLetterMaxBytes, 20 * 1024 ** 2, 'env');
  for (const key of ['dead-letter-max-bytes', 'deadLetterMaxBytes']) {
    const file = join(dir.path, `${key}.json`);
    writeFileSync(file, JSON.stringify({ [key]: '1GiB' }));
    assert.equal(loadServeConfig(['--config', file], {}).deadLetterMaxBytes, 1024 ** 3, `config file key ${key}`);
  }
  assert.throws(() => loadServeConfig(['--dead-letter-max-bytes', 'lots'], {}), /--dead-letter-max-bytes/);
  assert.throws(() => loadServeConfig([], { S3AP_DEAD_LETTER_MAX_BYTES: 'lots' }), /S3AP_DEAD_LETTER_MAX_BYTES/);
  assert.match(runCli(['serve', '--help']).stdout, /--dead-letter-max-bytes <size>.*default 268435456; env S3AP_DEAD_LETTER_MAX_BYTES/);
});

test('unknown or malformed settings stop start-up with a message naming the setting', (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; names: RegExp }> = [
    { args: ['serve', '--bogus'], names: /--bogus: unknown flag/ },
    { args: ['serve', '--listen', 'nope'], names: /--listen: expected host:port/ },
    { args: ['serve', '--backend', 'ftp://x'], names: /--backend: unsupported scheme ftp:/ },
    { args: ['serve', '--connect-timeout', 'soon'], names: /--connect-timeout: expected a duration/ },
    { args: ['serve', '--log-level', 'loud'], names: /--log-level: expected one of/ },
    { args: ['serve', '--tls-cert', 'x.pem'], names: /--tls-key: --tls-cert and --tls-key go together/ },
    { args: ['serve', '--tls-cert', join(dir.path, 'no.pem'), '--tls-key', join(dir.path, 'no.key')], names: /--tls-cert: cannot read .*no\.pem \(ENOENT\)/ },
    { args: ['serve', '--backend', 'https://s3.example', '--backend-ca', join(dir.path, 'no-ca.pem')], names: /--backend-ca: cannot read .*no-ca\.pem \(ENOENT\)/ },
    { args: ['serve', '--workers', '2', '--credentials-file', join(dir.path, 'no-creds')], names: /--credentials-file: cannot read .*no-creds \(ENOENT\)/ },
    { args: ['serve'], env: { S3AP_LISTEN: '1.2.3.4' }, names: /S3AP_LISTEN: expected host:port/ },
    { args: ['serve'], env: { S3AP_NO_SUCH_THING: '1' }, names: /S3AP_NO_SUCH_THING: unknown environment variable/ },
    { args: ['serve', '--config', join(dir.path, 'missing.json')], names: /--config .*missing\.json: cannot read the config file/ },
  ];
  const bad = join(dir.path, 'bad.json');
  writeFileSync(bad, JSON.stringify({ 'listen-address': '1' }));
  cases.push({ args: ['serve', '--config', bad], names: /bad\.json: "listen-address": unknown setting/ });
  for (const c of cases) {
    const r = runCli([...c.args, '--data-dir', dir.path], c.env);
    assert.equal(r.status, 2, `${c.args.join(' ')}: exit code 2 (${r.stderr})`);
    assert.match(r.stderr, c.names, c.args.join(' '));
  }
  assert.equal(runCli(['frobnicate']).status, 2);
  assert.match(runCli(['serve', '--help']).stdout, /--backend <url>.*env S3AP_BACKEND/);
});

test('without --backend the first log line announces the embedded store, and it works with the AWS SDK', async (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path]);
  t.after(() => p.stop('SIGKILL'));
  const first = JSON.parse(p.output[0]!) as Record<string, unknown>;
  assert.match(String(first['msg']), /embedded local S3 store/);
  assert.equal(first['endpoint'], p.url);
  assert.equal(first['accessKeyId'], 'S3RVER');
  assert.equal(first['secretAccessKey'], 'S3RVER');
  const s3 = s3Client(p.url, { url: p.url, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', kind: 's3rver', close: async () => {} });
  t.after(() => s3.destroy());
  await s3.send(new CreateBucketCommand({ Bucket: 'embedded-bucket' }));
  await s3.send(new PutObjectCommand({ Bucket: 'embedded-bucket', Key: 'k', Body: 'stored under the data dir' }));
  const got = await s3.send(new GetObjectCommand({ Bucket: 'embedded-bucket', Key: 'k' }));
  assert.equal(await (got.Body as { transformToString(): Promise<string> }).transformToString(), 'stored under the data dir');
});

test('SIGTERM lets an in-flight request finish, then exits 0', async (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const backend = await startSniffBackend();
  t.after(() => backend.close());
  backend.respond = (_req, res) => setTimeout(() => { res.writeHead(200, { 'content-length': '4' }); res.end('done'); }, 400);
  const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', backend.url]);
  const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
    http.get(`${p.url}/b/k`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
  await backend.waitFor(0);
  for (let i = 0; i < 100 && backend.seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  // The request has reached the backend; now ask the proxy to stop.
  await new Promise((r) => setTimeout(r, 50));
  const code = p.stop('SIGTERM');
  assert.deepEqual(await reply, { status: 200, body: 'done' });
  assert.equal(await code, 0);
  const msgs = p.output.map((l) => { try { return (JSON.parse(l) as { msg: string }).msg; } catch { return l; } });
  assert.ok(msgs.includes('shutting down') && msgs.includes('shutdown complete'), msgs.join(' | '));
});

// The mount options of the file system holding `path` (the longest mount point that contains it).
function mountOptionsOf(path: string): string[] {
  let best = { point: '', options: [] as string[] };
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      const point = f[4]?.replace(/\\040/g, ' ');
      if (point === undefined || !(path === point || path.startsWith(point.endsWith('/') ? point : `${point}/`))) continue;
      if (point.length >= best.point.length) best = { point, options: (f[5] ?? '').split(',') };
    }
  } catch { /* not Linux: no mount table to read */ }
  return best.options;
}

test('the package bin is an executable node script, and npx s3-audit-proxy runs it inside the checkout', (t) => {
  const root = projectRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const bin = join(root, pkg.bin['s3-audit-proxy']!);
  assert.equal(readFileSync(bin, 'utf8').split('\n')[0], '#!/usr/bin/env node');
  // npm marks bins executable only where it links them; a checkout runs the build's file directly.
  assert.ok((statSync(bin).mode & 0o111) !== 0, `${bin} is not executable: "npm run build" must chmod it`);
  if (mountOptionsOf(bin).includes('noexec')) {
    t.skip(`${bin} is on a noexec mount: no shell can run it there`);
    return;
  }
  // ignore-scripts: npx would otherwise run "prepare" (tsc) and rewrite dist/ under the other test files.
  const r = spawnSync('npx', ['--no-install', 's3-audit-proxy', 'help'], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, npm_config_ignore_scripts: 'true' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /audit-webhook enable/);
});

test('serve ignores the audit-webhook CLI\'s settings in a shared environment, but not its own', async (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'], {
    S3AP_DATA_DIR: dir.path, S3AP_ENDPOINT: 'http://hec:8088/services/collector/event', S3AP_AUTH_TOKEN: 'x',
  });
  t.after(() => p.stop('SIGKILL'));
  const first = JSON.parse(p.output[0]!) as Record<string, unknown>;
  assert.equal(first['directory'], join(dir.path, 's3'), 'S3AP_DATA_DIR honoured');
});
