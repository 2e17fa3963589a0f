// The docker-compose demo, reproduced with local processes instead of containers:
//
//   compose service   here
//   minio             @20minutes/s3rver (test/helpers/backend.ts), a real S3 server checking SigV4
//   splunk            the HEC test receiver (test/helpers/hec-receiver.ts), same demo token; it
//                     speaks HTTP, so the endpoint differs only in scheme, host and port
//   proxy             `node dist/src/cli/main.js serve`, a real child process, configured through
//                     the same S3AP_* environment the image and docker-compose.yml give it
//   audit-init        the EXACT `audit-webhook` command lines of docker-compose.yml, host names
//                     and ports substituted, run with the container's environment
//   traffic           deploy/demo/traffic.sh itself, pointed at the proxy (needs the aws CLI)
//
// Then: one event per S3 request reached the receiver, with the demo token and index, and the
// API names are those of the script's operations.
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../src/paths.js';
import { startBackend } from '../helpers/backend.js';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, tempDir } from '../helpers/proxy.js';

import { serviceBlock, serviceEnv, commandScript, shellWords, dockerfileEnv } from '../helpers/compose-file.js';

const ROOT = projectRoot();
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const run = promisify(execFile);

// ---- the parts of docker-compose.yml and deploy/Dockerfile this test replays ----






/** Operations of deploy/demo/traffic.sh, in order, as S3 API names (the download is HEAD + GET). */
const TRAFFIC_APIS = ['CreateBucket', 'PutObject', 'ListObjectsV2', 'HeadObject', 'GetObject', 'GetObject', 'DeleteObject', 'DeleteBucket'];

interface Ev {
  kind: string;
  time: string;
  api: { name: string; bucket: string | null; object: string | null };
  request: { id: string };
  response: { statusCode: number; errorCode: string | null };
  auth: { accessKey: string | null };
  proxy: { host: string };
}

test('the compose demo, with local processes: enable through the CLI, traffic.sh, one event per request at HEC', async (t) => {
  const t0 = Date.now();
  const phase = (what: string): void => t.diagnostic(`${what}: ${Date.now() - t0} ms`);
  const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');

  // The CLI the audit-init step runs must exist (another part of the project provides it).
  const enableHelp = spawnSync(process.execPath, [MAIN, 'audit-webhook', 'enable', '--help'], { encoding: 'utf8', env: { PATH: process.env['PATH'] } });
  if (!/--endpoint\b/.test(`${enableHelp.stdout}${enableHelp.stderr}`)) {
    t.skip('`audit-webhook enable --help` does not list --endpoint: the audit-webhook CLI is not there yet');
    return;
  }

  // audit-init, as docker-compose.yml has it.
  const initBlock = serviceBlock(compose, 'audit-init');
  const initEnv = serviceEnv(initBlock);
  // `sleep N` lines (giving proxy-2 time to apply the change) are honoured, not run.
  const script = commandScript(initBlock).filter((l) => l.trim() !== '');
  const sleepSeconds = (l: string): number | null => { const m = /^sleep (\d+)$/.exec(l.trim()); return m ? Number(m[1]) : null; };
  const commandLines = script.filter((l) => sleepSeconds(l) === null);
  const commands = commandLines.map(shellWords);
  assert.ok(commands.length >= 3 && commands.every((w) => w[0] === 's3-audit-proxy' && w[1] === 'audit-webhook'), `audit-init runs audit-webhook commands: ${commandLines.join(' | ')}`);
  const enable = commands.find((w) => w[2] === 'enable')!;
  const flag = (name: string): string => {
    const i = enable.indexOf(name);
    assert.ok(i !== -1 && enable[i + 1] !== undefined, `the enable line has ${name} <value>`);
    return enable[i + 1]!;
  };
  const demoToken = /^Splunk (\S+)$/.exec(flag('--auth-token'))?.[1];
  assert.ok(demoToken, 'the enable line passes the whole header value, "Splunk <token>"');
  const composeEndpoint = new URL(flag('--endpoint'));
  const index = flag('--index');
  const splunkEnv = serviceEnv(serviceBlock(compose, 'splunk'));
  assert.equal(splunkEnv['SPLUNK_HEC_TOKEN'], demoToken, 'Splunk gets the token audit-init sends');

  // minio -> s3rver; splunk -> HEC receiver with the same token.
  const backend = await startBackend();
  t.after(() => backend.close());
  const hec = await startHecReceiver({ token: demoToken });
  t.after(() => hec.close());

  // proxy: the image's environment, the compose service's, with local addresses.
  const imageEnv = dockerfileEnv(dockerfile);
  const proxyEnv = serviceEnv(serviceBlock(compose, 'proxy'));
  assert.equal(proxyEnv['S3AP_BACKEND'], 'http://minio:9000');
  const dir = tempDir('s3ap-demo-');
  t.after(() => dir.remove());
  // cluster-init: the key and the store credentials (MinIO's root user there; s3rver's here), mode 0600.
  const clusterInit = commandScript(serviceBlock(compose, 'cluster-init')).join('\n');
  assert.match(clusterInit, /> \/cluster\/key\n/);
  assert.match(clusterInit, /> \/cluster\/credentials\.json\n/);
  const secrets = tempDir('s3ap-demo-cluster-');
  t.after(() => secrets.remove());
  writeFileSync(join(secrets.path, 'key'), randomBytes(32).toString('hex'), { mode: 0o600 });
  writeFileSync(join(secrets.path, 'credentials.json'), JSON.stringify({ accessKeyId: backend.accessKeyId, secretAccessKey: backend.secretAccessKey }), { mode: 0o600 });
  const startReplica = async (service: string, dataDir: string, logLevel: string) => {
    const env = serviceEnv(serviceBlock(compose, service));
    assert.equal(env['S3AP_CLUSTER_KEY_FILE'], '/cluster/key');
    assert.equal(env['S3AP_CLUSTER_CREDENTIALS_FILE'], '/cluster/credentials.json');
    const p = await spawnProxy([], {
      ...imageEnv,
      ...env,
      S3AP_BACKEND: backend.url,
      S3AP_LISTEN: '127.0.0.1:0',
      S3AP_ADMIN_LISTEN: '127.0.0.1:0',
      S3AP_DATA_DIR: dataDir,
      S3AP_HOST_NAME: service, // compose: `hostname: <service>`
      S3AP_LOG_LEVEL: logLevel,
      S3AP_CLUSTER_KEY_FILE: join(secrets.path, 'key'),
      S3AP_CLUSTER_CREDENTIALS_FILE: join(secrets.path, 'credentials.json'),
    }, 30_000);
    t.after(() => p.stop('SIGKILL'));
    return p;
  };
  // debug: one log line per request, the count the events are checked against
  const proxy = await startReplica('proxy', dir.path, 'debug');
  const dir2 = tempDir('s3ap-demo-2-');
  t.after(() => dir2.remove());
  const proxy2 = await startReplica('proxy-2', dir2.path, 'info');
  phase('proxy up');
  assert.ok(proxy.adminUrl, `the proxy logs its admin API address:\n${proxy.output.join('\n')}`);
  assert.match(compose, /\n {4}hostname: proxy\b/);

  // audit-init: the exact lines, only host names and ports substituted, with the container's env.
  const substitute = (w: string): string => {
    if (w === 'http://proxy:9081') return proxy.adminUrl!;
    if (w === 'http://proxy-2:9081') return proxy2.adminUrl!;
    if (w === composeEndpoint.href) return `${hec.url}${composeEndpoint.pathname}`;
    return w;
  };
  const cliEnv: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'], HOME: process.env['HOME'],
    ...imageEnv, // S3AP_LISTEN, S3AP_ADMIN_LISTEN, S3AP_DATA_DIR: the CLI runs in the same image
    ...initEnv,
    S3AP_ADMIN: proxy.adminUrl!,
  };
  const outputs: string[] = [];
  for (const line of script) {
    const pause = sleepSeconds(line);
    if (pause !== null) { await new Promise((r) => setTimeout(r, pause * 1000)); continue; }
    const args = shellWords(line).slice(1).map(substitute);
    const r = await run(process.execPath, [MAIN, ...args], { env: cliEnv, encoding: 'utf8', timeout: 30_000 }).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
      assert.fail(`\`s3-audit-proxy ${args.join(' ')}\` failed (exit ${err.code}):\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    });
    outputs.push(`${r.stdout}${r.stderr}`);
  }
  phase('audit-init commands done');
  // `audit-webhook test` reached the receiver with the demo's token, at the /event endpoint.
  await hec.waitForEvents(1, 10_000);
  const testEvents = hec.events.filter((e) => (e as { kind?: string }).kind === 'test');
  assert.equal(testEvents.length, 1, 'one test event');
  assert.match(outputs.join('\n'), /collector\/event/, '`audit-webhook show` names the endpoint');
  assert.doesNotMatch(outputs.join('\n'), new RegExp(demoToken!), 'the CLI never prints the HEC token');
  // The last show went to proxy-2: the enable made through proxy reached it through the cluster store.
  assert.match(outputs[outputs.length - 1]!, /^ENABLED\s+ENDPOINT\s+AUTH TOKEN\nTrue\s+/, 'proxy-2 shows the webhook enabled');
  assert.match(outputs[outputs.length - 1]!, /Members \(2\):[\s\S]*\bproxy\b[\s\S]*\bproxy-2\b/, 'and both members');

  // traffic: deploy/demo/traffic.sh itself.
  if (spawnSync('aws', ['--version'], { stdio: 'ignore' }).status !== 0) {
    t.skip('aws CLI not installed: deploy/demo/traffic.sh not run (the enable/test/show part passed)');
    return;
  }
  const bucket = 'audit-demo-flow';
  const traffic = await run('bash', [join(ROOT, 'deploy', 'demo', 'traffic.sh')], {
    env: {
      PATH: process.env['PATH'], HOME: process.env['HOME'],
      AWS_ENDPOINT_URL: proxy.url,
      AWS_ACCESS_KEY_ID: backend.accessKeyId, AWS_SECRET_ACCESS_KEY: backend.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '',
      AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      DEMO_BUCKET: bucket,
    },
    encoding: 'utf8', timeout: 180_000,
  }).catch((err: { code?: number; stdout?: string; stderr?: string }) => assert.fail(`traffic.sh failed (exit ${err.code}):\n${err.stdout ?? ''}${err.stderr ?? ''}`));
  phase('traffic.sh done');
  assert.match(traffic.stdout, /failed as expected: NoSuchKey/);
  assert.match(traffic.stdout, /== done/);

  // One event per S3 request the proxy served (its debug log has one line per request).
  const requestIds = (): string[] => proxy.output
    .map((l) => { try { return JSON.parse(l) as { msg?: string; reqId?: string }; } catch { return {}; } })
    .filter((r) => r.msg === 'request' && typeof r.reqId === 'string')
    .map((r) => r.reqId!);
  const s3Events = (): Ev[] => (hec.events as Ev[]).filter((e) => e.kind === 's3');
  const forBucket = (): number => s3Events().filter((e) => e.api.bucket === bucket).length;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && (forBucket() < TRAFFIC_APIS.length || s3Events().length !== requestIds().length)) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500)); // nothing more should arrive
  phase('events counted');
  const ids = requestIds();
  // In the order the proxy finished the requests (its log order): the script's calls are sequential.
  const order = new Map(ids.map((id, i) => [id, i]));
  const events = s3Events().sort((a, b) => (order.get(a.request.id) ?? -1) - (order.get(b.request.id) ?? -1));
  assert.ok(ids.length >= TRAFFIC_APIS.length, `the proxy served the script's requests (${ids.length})`);
  assert.equal(events.length, ids.length, 'as many S3 events as requests');
  assert.deepEqual(new Set(events.map((e) => e.request.id)), new Set(ids), 'each request has its event');
  assert.equal(new Set(events.map((e) => e.request.id)).size, events.length, 'and only one');

  // The API names are the script's operations, in order.
  const names = events.filter((e) => e.api.bucket === bucket).map((e) => e.api.name);
  assert.deepEqual(names, TRAFFIC_APIS, `API names of the bucket's requests: ${names.join(', ')}`);
  const missing = events.find((e) => e.api.object === 'missing-key.txt');
  assert.equal(missing?.api.name, 'GetObject');
  assert.equal(missing?.response.statusCode, 404);
  assert.equal(missing?.response.errorCode, 'NoSuchKey');
  for (const e of events) {
    assert.equal(e.auth.accessKey, backend.accessKeyId, `${e.api.name}: auth.accessKey`);
    assert.equal(e.proxy.host, 'proxy', `${e.api.name}: proxy.host`);
  }

  // Every delivery: the /event endpoint, `Authorization: Splunk <demo token>`, the demo index.
  const posts = hec.requests.filter((r) => r.method === 'POST');
  assert.ok(posts.length >= 2, 'the test event and at least one batch');
  for (const r of posts) {
    assert.equal(r.path, composeEndpoint.pathname);
    assert.equal(r.headers['authorization'], `Splunk ${demoToken}`);
    assert.equal(r.status, 200, r.reply);
  }
  assert.equal(hec.envelopes.length, hec.events.length, 'every event came in a HEC envelope');
  assert.ok(hec.envelopes.length >= events.length + 1, 'the S3 events and the test event');
  for (const env of hec.envelopes) {
    assert.equal(env['index'], index, 'HEC envelope index');
    assert.equal(env['sourcetype'], '_json');
    assert.equal(env['host'], 'proxy');
  }

  assert.equal(await proxy.stop('SIGTERM'), 0, 'clean shutdown');
  phase('proxy stopped');
});
