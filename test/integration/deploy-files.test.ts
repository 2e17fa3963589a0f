// The deployment files (deploy/Dockerfile, docker-compose.yml, deploy/**) checked without a
// container engine: the compose file parses, every S3AP_* variable they set is a real setting
// and the values serve would get are accepted, the image's entry point exists in the build, the
// demo's tokens and index agree across files, and the exact `audit-webhook` command lines use
// flags the real CLI lists in its --help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { SERVE_OPTIONS, loadServeConfig } from '../../src/config/serve-config.js';
import { envName } from '../../src/config/options.js';
import { projectRoot } from '../../src/paths.js';

import { serviceBlock, serviceEnv, unquote, commandScript, shellWords, dockerfileEnv } from '../helpers/compose-file.js';

const ROOT = projectRoot();
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');
const has = (cmd: string, args: string[] = ['--version']): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

// ---- a reader for the parts of docker-compose.yml the checks need (no YAML library here) ----






/**
 * The cluster store's key and credentials files are made at deploy time (cluster-init, an init
 * container): the paths are checked, then stand-in files (mode 0600) let serve read them.
 */
function withClusterFiles(env: Record<string, string>): Record<string, string> {
  assert.equal(env['S3AP_CLUSTER_KEY_FILE'], '/cluster/key');
  assert.equal(env['S3AP_CLUSTER_CREDENTIALS_FILE'], '/cluster/credentials.json');
  const dir = mkdtempSync(join(tmpdir(), 's3ap-deploy-'));
  writeFileSync(join(dir, 'key'), 'ab'.repeat(32), { mode: 0o600 });
  writeFileSync(join(dir, 'credentials.json'), '{"accessKeyId":"a","secretAccessKey":"b"}', { mode: 0o600 });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return { ...env, S3AP_CLUSTER_KEY_FILE: join(dir, 'key'), S3AP_CLUSTER_CREDENTIALS_FILE: join(dir, 'credentials.json') };
}

/** Every file under deploy/, recursively. */
function deployFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(ROOT, p));
    }
  };
  walk(join(ROOT, 'deploy'));
  return out.sort();
}


const DEMO_TOKEN_RE = /^Splunk ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

test('docker-compose.yml parses (docker-compose config -q)', (t) => {
  const bin = has('docker-compose') ? ['docker-compose'] : has('docker', ['compose', 'version']) ? ['docker', 'compose'] : null;
  if (!bin) {
    // CI installs Debian's docker-compose (.ci/run); there the check must run, not skip.
    assert.notEqual(process.env['CI'], 'true', 'CI must have docker-compose installed');
    t.skip('neither docker-compose nor the docker compose plugin is installed (Debian: apt-get install docker-compose)');
    return;
  }
  const r = spawnSync(bin[0]!, [...bin.slice(1), '-f', join(ROOT, 'docker-compose.yml'), 'config', '-q'], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'], HOME: process.env['HOME'] } });
  assert.equal(r.status, 0, `${bin.join(' ')} config -q:\n${r.stderr}${r.stdout}`);
  // What compose itself resolves for the init step is the line the other tests read from the text.
  const full = spawnSync(bin[0]!, [...bin.slice(1), '-f', join(ROOT, 'docker-compose.yml'), 'config'], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'], HOME: process.env['HOME'] } });
  assert.equal(full.status, 0, full.stderr);
  const squash = (s: string): string => s.replace(/\s+/g, ' ');
  const enable = commandScript(serviceBlock(read('docker-compose.yml'), 'audit-init')).find((l) => l.includes('audit-webhook enable'))!;
  assert.ok(squash(full.stdout).includes(squash(enable)), `compose resolves the same enable line:\n${enable}`);
});

test('every S3AP_* variable in docker-compose.yml and deploy/ is a real setting', () => {
  const known = new Set(SERVE_OPTIONS.map((o) => envName(o.name)));
  // Read by the audit-webhook CLI, not by serve (serve ignores them).
  const cliOnly = new Set(['S3AP_ADMIN', 'S3AP_ADMIN_TOKEN']);
  const files = ['docker-compose.yml', ...deployFiles()];
  const seen = new Map<string, string[]>();
  for (const f of files) {
    for (const m of read(f).matchAll(/\bS3AP_[A-Z0-9_]+\b/g)) {
      const list = seen.get(m[0]) ?? [];
      if (!list.includes(f)) list.push(f);
      seen.set(m[0], list);
    }
  }
  assert.ok(seen.size > 0, 'the deployment files set S3AP_* variables');
  const unknown = [...seen].filter(([name]) => !known.has(name) && !cliOnly.has(name));
  assert.deepEqual(unknown, [], `unknown S3AP_* names (not in SERVE_OPTIONS): ${unknown.map(([n, f]) => `${n} in ${f.join(', ')}`).join('; ')}`);
  for (const name of ['S3AP_LISTEN', 'S3AP_ADMIN_LISTEN', 'S3AP_DATA_DIR', 'S3AP_BACKEND', 'S3AP_ADMIN_TOKEN']) assert.ok(seen.has(name), `${name} is set somewhere`);
});

test('serve accepts the environment the image and docker-compose.yml give the proxy', () => {
  const imageEnv = dockerfileEnv(read('deploy/Dockerfile'));
  assert.deepEqual(
    { listen: imageEnv['S3AP_LISTEN'], admin: imageEnv['S3AP_ADMIN_LISTEN'], data: imageEnv['S3AP_DATA_DIR'] },
    { listen: '0.0.0.0:9080', admin: '0.0.0.0:9081', data: '/data' },
  );
  const composeEnv = serviceEnv(serviceBlock(read('docker-compose.yml'), 'proxy'));
  const env = { ...imageEnv, ...composeEnv };
  for (const k of Object.keys(env)) if (!k.startsWith('S3AP_')) delete env[k];
  const cfg = loadServeConfig([], withClusterFiles(env));
  assert.deepEqual(cfg.listen, { host: '0.0.0.0', port: 9080 });
  assert.deepEqual(cfg.adminListen, { host: '0.0.0.0', port: 9081 });
  assert.equal(cfg.backend, 'http://minio:9000');
  assert.equal(cfg.dataDir, '/data');
  assert.ok(cfg.pathStyleHosts.includes('proxy'), 'the compose proxy serves "proxy" (AWS_ENDPOINT_URL of the traffic service) as path style');
  assert.equal(new URL(serviceEnv(serviceBlock(read('docker-compose.yml'), 'traffic'))['AWS_ENDPOINT_URL']!).hostname, 'proxy');
  assert.ok(cfg.adminToken, 'the compose proxy has an admin token');
  assert.equal(cfg.adminToken, serviceEnv(serviceBlock(read('docker-compose.yml'), 'audit-init'))['S3AP_ADMIN_TOKEN'], 'audit-init uses the proxy\'s admin token');
});

test('serve accepts the environment the Kubernetes StatefulSet gives it', () => {
  const text = read('deploy/kubernetes/statefulset.yaml');
  const env: Record<string, string> = {};
  // `- name: X` followed by `value: v` (valueFrom entries get a stand-in value).
  const re = /- name: (S3AP_[A-Z0-9_]+)\n\s+(value: (.*)|valueFrom:)/g;
  for (const m of text.matchAll(re)) env[m[1]!] = m[3] !== undefined ? unquote(m[3].replace(/\s+#.*$/, '').trim()) : 'from-a-secret-or-field';
  assert.ok(Object.keys(env).length >= 5, `found the StatefulSet's S3AP_* variables: ${Object.keys(env).join(', ')}`);
  const cfg = loadServeConfig([], withClusterFiles(env));
  assert.deepEqual(cfg.clusterStore, { bucket: 's3-audit-proxy-cluster', prefix: 'fleet' }, 'the replicas share one cluster store');
  assert.equal(cfg.clusterStartWithoutStore, false, 'not ready until the store is read');
  // The key and credentials come from the s3-audit-proxy-cluster Secret, copied 0600 by an init container.
  assert.match(text, /initContainers:\n\s+- name: cluster-secrets/);
  assert.match(text, /chmod 600 \/cluster\/key \/cluster\/credentials\.json/);
  assert.match(text, /secretName: s3-audit-proxy-cluster/);
  assert.match(read('deploy/kubernetes/secret.yaml'), /name: s3-audit-proxy-cluster\n[\s\S]*key: [\s\S]*credentials\.json: /);
  assert.equal(cfg.dataDir, '/data');
  assert.deepEqual(cfg.adminListen, { host: '0.0.0.0', port: 9081 });
  // The Service names (services.yaml) are path-style names of the proxy.
  assert.ok(cfg.pathStyleHosts.includes('s3-audit-proxy'), 'the Service name is a path-style host');
  assert.ok(cfg.pathStyleHosts.includes('s3-audit-proxy.$(pod_namespace).svc.cluster.local'), 'and its cluster DNS name (namespace filled in by Kubernetes)');
  assert.match(text, /- name: POD_NAMESPACE\n\s+valueFrom:\n\s+fieldRef:\n\s+fieldPath: metadata\.namespace\n\s+- name: S3AP_PATH_STYLE_HOST/, 'POD_NAMESPACE is defined before it is used');
  assert.match(text, /path: \/healthz\n\s+port: admin/);
  assert.match(text, /path: \/readyz\n\s+port: admin/);
  assert.match(text, /readOnlyRootFilesystem: true/);
  assert.match(text, /runAsNonRoot: true/);
});

test('the Dockerfile: entry point exists in the build, ports and health check agree with the settings', () => {
  const df = read('deploy/Dockerfile');
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(df);
  assert.ok(entry, 'ENTRYPOINT in exec form');
  const argv = JSON.parse(entry[1]!) as string[];
  assert.equal(argv[0], 'node');
  assert.match(argv[1]!, /^\/app\//, 'the entry point lives under WORKDIR /app');
  const inBuild = join(ROOT, argv[1]!.slice('/app/'.length));
  assert.ok(existsSync(inBuild), `${relative(ROOT, inBuild)} exists after the build (npm run build)`);
  assert.equal(relative(ROOT, inBuild), join('dist', 'src', 'cli', 'main.js'), 'the same file as package.json "bin" and "start"');
  const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string>; scripts: Record<string, string> };
  assert.equal(pkg.bin['s3-audit-proxy'], 'dist/src/cli/main.js');
  const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(df);
  assert.deepEqual(JSON.parse(cmd![1]!), ['serve']);
  const help = spawnSync(process.execPath, [MAIN, 'serve', '--help'], { encoding: 'utf8', env: { PATH: process.env['PATH'] } });
  assert.equal(help.status, 0, 'the image\'s default command exists');
  assert.match(df, /^EXPOSE 9080 9081$/m);
  assert.match(df, /^USER node$/m);
  assert.match(df, /^VOLUME \["\/data"\]$/m);
  const hc = /^HEALTHCHECK[\s\S]*?fetch\('http:\/\/127\.0\.0\.1:(\d+)\/healthz'\)/m.exec(df);
  assert.equal(hc?.[1], '9081', 'the health check asks the admin listener');
  // Runtime stage: production dependencies only, without running "prepare" (tsc is a dev dependency).
  assert.match(df, /npm ci --omit=dev --ignore-scripts/);
  // Each `COPY --from=build /app/X` names something the build stage produces or the context has.
  for (const m of df.matchAll(/COPY --from=build \/app\/(\S+)/g)) {
    const what = m[1]!;
    if (what === 'openapi') continue; // created by the build stage when the repository has none
    assert.ok(existsSync(join(ROOT, what)), `${what} exists for COPY --from=build`);
  }
  const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  // The status page's files (served by the admin listener) ship in the image and the npm package.
  assert.match(df, /^COPY --from=build \/app\/web \.\/web$/m, 'the image has web/');
  assert.ok((JSON.parse(read('package.json')) as { files: string[] }).files.includes('web'), 'package.json "files" has web');
  for (const need of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/', 'schema/', 'web/']) assert.ok(ignore.includes(`!${need}`), `.dockerignore lets ${need} into the context`);
  for (const never of ['**/node_modules', '**/dist', '**/data']) assert.ok(ignore.includes(never), `.dockerignore keeps ${never} out`);
});

test('the demo\'s HEC token, index and endpoint agree across docker-compose.yml and deploy/splunk/default.yml', () => {
  const compose = read('docker-compose.yml');
  const splunkEnv = serviceEnv(serviceBlock(compose, 'splunk'));
  const token = splunkEnv['SPLUNK_HEC_TOKEN']!;
  assert.match(token, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a GUID, as HEC requires');
  assert.equal(splunkEnv['SPLUNK_START_ARGS'], '--accept-license');
  assert.equal(splunkEnv['SPLUNK_GENERAL_TERMS'], '--accept-sgt-current-at-splunk-com');
  assert.match(compose, /- \.\/deploy\/splunk\/default\.yml:\/tmp\/s3ap\/default\.yml:ro/);
  assert.equal(splunkEnv['SPLUNK_DEFAULTS_URL'], '/tmp/s3ap/default.yml');

  const defaults = read('deploy/splunk/default.yml');
  const tokens = [...defaults.matchAll(/^\s+token: (\S+)$/gm)].map((m) => m[1]);
  assert.deepEqual(tokens, [token, token], 'default.yml: hec.token and the token stanza');
  assert.match(defaults, /"http:\/\/splunk_hec_token":\n\s+disabled: 0\n\s+token: \S+\n\s+index: s3_audit\n\s+indexes: s3_audit\n\s+sourcetype: _json/);
  assert.match(defaults, /^\s+s3_audit:\n\s+homePath: /m, 'default.yml creates the s3_audit index');

  const enable = shellWords(commandScript(serviceBlock(compose, 'audit-init')).find((l) => l.includes('audit-webhook enable'))!);
  const flag = (name: string): string | undefined => { const i = enable.indexOf(name); return i === -1 ? undefined : enable[i + 1]; };
  assert.equal(DEMO_TOKEN_RE.exec(flag('--auth-token') ?? '')?.[1], token, 'audit-init sends the HEC token, with the "Splunk " scheme');
  assert.equal(flag('--index'), 's3_audit');
  assert.equal(flag('--endpoint'), 'https://splunk:8088/services/collector/event', 'the /event endpoint: one indexed event per audit event');
  assert.equal(flag('--admin'), 'http://proxy:9081');
  assert.ok(enable.includes('--insecure-skip-verify'), 'Splunk\'s HEC certificate is self-signed');
});

test('start-up order: health checks and depends_on conditions', () => {
  const compose = read('docker-compose.yml');
  const cond = (svc: string, on: string): string | undefined => {
    const b = serviceBlock(compose, svc).join('\n');
    return new RegExp(`\\n {6}${on}:\\n {8}condition: (\\S+)`).exec(b)?.[1];
  };
  assert.equal(cond('proxy', 'minio'), 'service_healthy');
  assert.equal(cond('audit-init', 'splunk'), 'service_healthy');
  assert.equal(cond('audit-init', 'proxy'), 'service_healthy');
  assert.equal(cond('traffic', 'audit-init'), 'service_completed_successfully');
  for (const svc of ['minio', 'splunk', 'proxy']) assert.match(serviceBlock(compose, svc).join('\n'), /\n {4}healthcheck:\n(?: {6}#.*\n)* {6}test: /, `${svc} has a health check`);
  assert.match(serviceBlock(compose, 'splunk').join('\n'), /services\/collector\/health/);
  assert.match(serviceBlock(compose, 'proxy').join('\n'), /127\.0\.0\.1:9081:9081/, 'the admin port is published on localhost only');
  for (const svc of ['audit-init', 'traffic']) assert.match(serviceBlock(compose, svc).join('\n'), /\n {4}restart: "no"/);
});

test('deploy/demo/traffic.sh: executable, valid bash, endpoint from AWS_ENDPOINT_URL with the compose default', (t) => {
  const p = join(ROOT, 'deploy', 'demo', 'traffic.sh');
  assert.ok((statSync(p).mode & 0o111) !== 0, 'executable');
  const r = spawnSync('bash', ['-n', p], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const text = readFileSync(p, 'utf8');
  assert.match(text, /endpoint="\$\{AWS_ENDPOINT_URL:-http:\/\/proxy:9080\}"/);
  assert.equal(serviceEnv(serviceBlock(read('docker-compose.yml'), 'traffic'))['AWS_ENDPOINT_URL'], 'http://proxy:9080');
  if (!has('shellcheck')) { t.diagnostic('shellcheck not installed: lint skipped'); return; }
  const sc = spawnSync('shellcheck', [p], { encoding: 'utf8' });
  assert.equal(sc.status, 0, sc.stdout);
});

test('the audit-webhook command lines use flags the real CLI lists in --help', (t) => {
  const help = (sub: string): string => {
    const r = spawnSync(process.execPath, [MAIN, 'audit-webhook', sub, '--help'], { encoding: 'utf8', env: { PATH: process.env['PATH'] } });
    return `${r.stdout}${r.stderr}`;
  };
  const enableHelp = help('enable');
  if (!/--endpoint\b/.test(enableHelp)) {
    t.skip(`\`audit-webhook enable --help\` does not list --endpoint yet (the CLI is not there yet): ${enableHelp.trim().slice(0, 120)}`);
    return;
  }
  const lines: Array<{ where: string; words: string[] }> = [];
  for (const l of commandScript(serviceBlock(read('docker-compose.yml'), 'audit-init'))) {
    if (l.includes('audit-webhook')) lines.push({ where: 'docker-compose.yml audit-init', words: shellWords(l) });
  }
  const job = read('deploy/kubernetes/audit-webhook-enable.yaml');
  for (const m of job.matchAll(/^\s+(s3-audit-proxy audit-webhook .*)$/gm)) lines.push({ where: 'deploy/kubernetes/audit-webhook-enable.yaml', words: shellWords(m[1]!) });
  assert.ok(lines.length >= 6, 'found the command lines');
  const helps = new Map<string, string>();
  for (const { where, words } of lines) {
    const i = words.indexOf('audit-webhook');
    assert.equal(words[0], 's3-audit-proxy', `${where}: runs the CLI by its bin name (linked in the image)`);
    const sub = words[i + 1]!;
    assert.ok(['enable', 'disable', 'batch-config', 'show', 'test'].includes(sub), `${where}: sub-command ${sub}`);
    if (!helps.has(sub)) helps.set(sub, help(sub));
    for (const w of words.slice(i + 2)) {
      if (!w.startsWith('--')) continue;
      const flagName = w.split('=', 1)[0]!;
      assert.match(helps.get(sub)!, new RegExp(`${flagName}\\b`), `${where}: \`audit-webhook ${sub} --help\` lists ${flagName}`);
    }
  }
});

test('cluster mode in the deployments: two compose replicas share the store; no per-replica enable on Kubernetes', () => {
  const compose = read('docker-compose.yml');
  const one = serviceEnv(serviceBlock(compose, 'proxy'));
  const two = serviceEnv(serviceBlock(compose, 'proxy-2'));
  for (const k of ['S3AP_BACKEND', 'S3AP_ADMIN_TOKEN', 'S3AP_CLUSTER_STORE', 'S3AP_CLUSTER_KEY_FILE', 'S3AP_CLUSTER_CREDENTIALS_FILE']) {
    assert.ok(one[k], `proxy sets ${k}`);
    assert.equal(two[k], one[k], `proxy-2 has the same ${k}`);
  }
  assert.ok(loadServeConfig([], withClusterFiles(two)).pathStyleHosts.includes('proxy-2'));
  const cond = (svc: string, on: string): string | undefined => new RegExp(`\\n {6}${on}:\\n {8}condition: (\\S+)`).exec(serviceBlock(compose, svc).join('\n'))?.[1];
  for (const svc of ['proxy', 'proxy-2']) {
    assert.equal(cond(svc, 'cluster-init'), 'service_completed_successfully', `${svc} waits for the key and credentials files`);
    assert.match(serviceBlock(compose, svc).join('\n'), /- cluster-secrets:\/cluster:ro/);
  }
  assert.equal(cond('audit-init', 'proxy-2'), 'service_healthy');
  const init = commandScript(serviceBlock(compose, 'cluster-init')).join('\n');
  assert.match(init, /umask 077/);
  assert.match(init, /chmod 600 \/cluster\/key \/cluster\/credentials\.json/);
  assert.match(serviceBlock(compose, 'proxy-2').join('\n'), /127\.0\.0\.1:9083:9081/, 'the second admin port is published on localhost only');
  // One enable for the fleet, through the admin Service: no loop over replicas any more.
  assert.ok(!existsSync(join(ROOT, 'deploy', 'kubernetes', 'audit-webhook-job.yaml')));
  const job = read('deploy/kubernetes/audit-webhook-enable.yaml');
  assert.doesNotMatch(job, /REPLICAS|while /);
  assert.match(job, /value: http:\/\/s3-audit-proxy-admin:9081/);
});

test('the Dockerfile passes a linter', (t) => {
  // dockerfile-utils is a dev dependency (hadolint is not packaged by Debian and its npm wrapper
  // downloads a binary, which cannot work here); hadolint also runs when it is on PATH.
  const file = join(ROOT, 'deploy', 'Dockerfile');
  const local = join(ROOT, 'node_modules', '.bin', 'dockerfile-utils');
  const linters: Array<[string, string[]]> = [['hadolint', [file]], [local, ['lint', file]]];
  const found = linters.filter(([bin]) => has(bin, bin === local ? ['--help'] : ['--version']));
  if (found.length === 0) { t.skip('no Dockerfile linter installed (hadolint, dockerfile-utils)'); return; }
  for (const [bin, args] of found) {
    const r = spawnSync(bin, args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `${bin}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout.trim(), '', `${bin} reports nothing`);
  }
});
