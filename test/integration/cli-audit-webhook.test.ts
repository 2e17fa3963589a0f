// `s3-audit-proxy audit-webhook ...` as an operator runs it: real CLI child processes against a real
// proxy process, a real s3rver backend and the HEC receiver. The Weka walkthrough end to end, restart
// keeping the webhook, every failure message, --help, and a grep proving no token is ever printed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { startHecReceiver, type HecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, tempDir, type ChildProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { validateEvent } from '../helpers/collecting-sink.js';
import { logRecords, runCli, sleep, Transcript, waitUntil, type CliResult } from '../helpers/admin.js';

const HEC_TOKEN = randomUUID().toUpperCase();
const WEKA_TOKEN = `Splunk ${HEC_TOKEN}`;
const SHOWN = `Splunk ****${HEC_TOKEN.slice(-4)}`;

interface Env {
  backend: TestBackend;
  hec: HecReceiver;
  dir: { path: string; remove(): void };
  proxy: ChildProxy;
  /** Every proxy process's output (the first one and the restarted ones). */
  outputs: string[][];
  s3: S3Client;
  bucket: string;
  transcript: Transcript;
}

let env: Env;
const startProxy = async (): Promise<ChildProxy> => {
  const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', env.dir.path, '--backend', env.backend.url]);
  env.outputs.push(p.output);
  return p;
};
/** The CLI with --admin and --data-dir of the current proxy (the token is found in the data dir). */
const cli = (verb: string, args: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
  runCli(['audit-webhook', verb, '--admin', env.proxy.adminUrl!, '--data-dir', env.dir.path, ...args], extraEnv, env.transcript);
const s3Events = (): Array<Record<string, any>> => (env.hec.events as Array<Record<string, any>>).filter((e) => e['kind'] === 's3');
const put = (key: string): Promise<unknown> => env.s3.send(new PutObjectCommand({ Bucket: env.bucket, Key: key, Body: key }));
const eventFor = (key: string): boolean => s3Events().some((e) => e['api']['name'] === 'PutObject' && e['api']['object'] === key);

describe('audit-webhook CLI (real processes)', () => {
  before(async () => {
    const backend = await startBackend();
    const hec = await startHecReceiver({ token: HEC_TOKEN });
    const dir = tempDir('s3ap-cli-');
    env = { backend, hec, dir, proxy: undefined as unknown as ChildProxy, outputs: [], s3: undefined as unknown as S3Client, bucket: bucketName('cli'), transcript: new Transcript() };
    env.proxy = await startProxy();
    env.s3 = s3Client(env.proxy.url, backend);
    await env.s3.send(new CreateBucketCommand({ Bucket: env.bucket }));
  });

  after(async () => {
    env.s3.destroy();
    await env.proxy.stop('SIGTERM');
    await env.hec.close();
    await env.backend.close();
    env.dir.remove();
  });

  test('the Weka walkthrough through the CLI: enable with endpoint and token, send a test event, show, disable', async () => {
    // 1. enable, spelled as in Weka's Splunk guide
    const en = await cli('enable', ['--endpoint', `${env.hec.url}/services/collector/event`, '--auth_token', WEKA_TOKEN, '--batch-max-wait', '200ms']);
    assert.equal(en.code, 0, en.stderr);
    assert.match(en.stdout, /Audit webhook enabled: http:\/\/127\.0\.0\.1:\d+\/services\/collector\/event \(format hec-event, token Splunk \*\*\*\*[0-9A-F]{4}\)/);
    assert.ok(en.stdout.includes(SHOWN));

    // 2. the hand-made test event of the guide: the receiver's reply is printed
    const te = await cli('test');
    assert.equal(te.code, 0, te.stderr);
    assert.match(te.stdout, /accepted/);
    assert.match(te.stdout, /status\s+HTTP 200/);
    assert.match(te.stdout, /latency\s+[\d.]+ ms/);
    assert.match(te.stdout, /reply\s+\{"text":\s*"Success",\s*"code":\s*0\}/);

    // S3 traffic through the proxy arrives at HEC, with the configured Authorization
    for (let i = 0; i < 5; i++) await put(`weka/${i}`);
    await waitUntil(() => eventFor('weka/4'), 10_000, 'the S3 events at the receiver');
    for (const q of env.hec.requests.filter((x) => x.method === 'POST')) assert.equal(q.headers['authorization'], WEKA_TOKEN);
    for (const e of s3Events()) assert.ok(validateEvent(e), JSON.stringify(validateEvent.errors));
    const adminEv = (env.hec.events as Array<Record<string, any>>).find((e) => e['kind'] === 'admin' && e['api']['name'] === 's3ap:EnableAuditWebhook');
    assert.ok(adminEv, 'the enable itself was audited');
    assert.equal(adminEv!['request']['path'], '/api/v1/audit-webhook/enable');
    assert.equal(adminEv!['request']['userAgent'], 's3-audit-proxy-cli');

    // 3. show: readable, redacted
    const sh = await cli('show');
    assert.equal(sh.code, 0, sh.stderr);
    assert.match(sh.stdout, /^Audit webhook: enabled$/m);
    assert.match(sh.stdout, new RegExp(`endpoint\\s+${env.hec.url.replace(/\./g, '\\.')}/services/collector/event`));
    assert.match(sh.stdout, /auth token\s+Splunk \*\*\*\*[0-9A-F]{4}$/m);
    assert.match(sh.stdout, /format\s+hec-event/);
    assert.match(sh.stdout, /settings\s+batchMaxWaitMs=200/);
    assert.match(sh.stdout, /state\s+healthy/);
    for (const k of ['queued', 'delivered', 'dropped', 'spooled', 'last success', 'last error']) assert.match(sh.stdout, new RegExp(`^\\s+${k}\\s+\\S`, 'm'), k);
    const delivered = Number(/delivered\s+(\d+)/.exec(sh.stdout)![1]);
    assert.ok(delivered >= 5, sh.stdout);
    const js = await cli('show', ['--json']);
    assert.equal(js.code, 0);
    const doc = JSON.parse(js.stdout);
    assert.equal(doc.enabled, true);
    assert.equal(doc.authToken, SHOWN);
    assert.equal(doc.status.state, 'healthy');

    // 4. disable: delivery stops
    const di = await cli('disable');
    assert.equal(di.code, 0, di.stderr);
    assert.match(di.stdout, /Audit webhook disabled/);
    // The disable's admin event is recorded once it succeeded, with the webhook already off: it is
    // not sent to the receiver being disabled (it would reach a local --audit-log).
    assert.ok(!(env.hec.events as Array<Record<string, any>>).some((e) => e['kind'] === 'admin' && e['api']['name'] === 's3ap:DisableAuditWebhook'),
      'no disable event claiming success before the change was made');
    assert.equal(existsSync(join(env.dir.path, 'audit-webhook.json')), false, 'no saved webhook (nor its token) left on disk');
    const before = env.hec.events.length;
    for (let i = 0; i < 5; i++) await put(`after-disable/${i}`);
    await sleep(800);
    assert.equal(env.hec.events.length, before, 'nothing delivered after disable');
    const sh2 = await cli('show');
    assert.match(sh2.stdout, /^Audit webhook: disabled$/m);
    assert.match(sh2.stdout, /state\s+disabled/);
    const te2 = await cli('test');
    assert.equal(te2.code, 1);
    assert.match(te2.stderr, /no audit webhook is enabled: run `s3-audit-proxy audit-webhook enable/);
  });

  test('a restart keeps the webhook enabled, and events flow again', async () => {
    const en = await cli('enable', [`--endpoint=${env.hec.eventUrl}`, `--auth-token=${WEKA_TOKEN}`, '--batch-max-wait=100ms', '--gzip', '--batch-max-events', '20']);
    assert.equal(en.code, 0, en.stderr);
    await put('before-restart');
    try {
      await waitUntil(() => eventFor('before-restart'), 10_000, 'event before the restart');
    } catch (err) {
      // say why: the proxy's own view of the delivery, and what the receiver got
      const sh = await cli('show', ['--json']);
      throw new Error(`${(err as Error).message}; show: ${sh.stdout}; receiver: ${env.hec.requests.length} requests, last ${JSON.stringify(env.hec.requests.at(-1)?.status ?? null)}`);
    }

    assert.equal(await env.proxy.stop('SIGTERM'), 0);
    env.proxy = await startProxy();
    env.s3.destroy();
    env.s3 = s3Client(env.proxy.url, env.backend);
    const restored = logRecords(env.proxy.output).find((r) => r['msg'] === 'audit webhook restored from the data directory');
    assert.ok(restored, env.proxy.output.join('\n'));
    assert.equal(restored!['endpoint'], env.hec.eventUrl);

    const sh = await cli('show', ['--json']);
    assert.equal(sh.code, 0, sh.stderr);
    const doc = JSON.parse(sh.stdout);
    assert.equal(doc.enabled, true);
    assert.equal(doc.endpoint, env.hec.eventUrl);
    assert.equal(doc.gzip, true);
    assert.equal(doc.batchMaxEvents, 20);
    assert.equal(doc.authToken, SHOWN);

    const reqsBefore = env.hec.requests.length;
    for (let i = 0; i < 3; i++) await put(`after-restart/${i}`);
    await waitUntil(() => eventFor('after-restart/2'), 10_000, 'events after the restart');
    const newReqs = env.hec.requests.slice(reqsBefore).filter((q) => q.method === 'POST');
    assert.ok(newReqs.length > 0);
    for (const q of newReqs) {
      assert.equal(q.headers['authorization'], WEKA_TOKEN);
      assert.equal(q.gzip, true);
    }
  });

  test('failures are clear and exit non-zero: unreachable admin, refused token, server-side validation, usage errors, a refusing receiver', async () => {
    // unreachable: the message names the URL
    const un = await runCli(['audit-webhook', 'show', '--admin', 'http://127.0.0.1:9', '--admin-token', 'whatever'], {}, env.transcript);
    assert.equal(un.code, 1);
    assert.match(un.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:9: connection refused/);
    // S3AP_ADMIN names the admin API too; host:port without a scheme is accepted
    const viaEnv = await runCli(['audit-webhook', 'show', '--data-dir', env.dir.path], { S3AP_ADMIN: new URL(env.proxy.adminUrl!).host }, env.transcript);
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    // the S3 listener by mistake: not JSON, and the message says what is likely wrong
    const wrongPort = await runCli(['audit-webhook', 'show', '--admin', env.proxy.url, '--admin-token', 'whatever'], {}, env.transcript);
    assert.equal(wrongPort.code, 1);
    assert.match(wrongPort.stderr, /admin listener/);

    // a wrong token: refused, says where tokens come from; the token is never echoed
    for (const [args, extraEnv, from] of [
      [['--admin-token', 'wrong-admin-token-1234'], {}, '--admin-token'],
      [[], { S3AP_ADMIN_TOKEN: 'wrong-admin-token-5678' }, 'S3AP_ADMIN_TOKEN'],
    ] as Array<[string[], NodeJS.ProcessEnv, string]>) {
      const r = await cli('show', args, extraEnv);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`refused the admin token \\(taken from ${from}\\)`));
      assert.match(r.stderr, /--admin-token-file/);
      assert.match(r.stderr, /admin-token on first start/);
      assert.ok(!r.stderr.includes('wrong-admin-token'), 'the token is not printed');
    }
    const tokFile = join(env.dir.path, 'cli-token');
    writeFileSync(tokFile, 'wrong-token-in-a-file\n');
    const rf = await cli('show', ['--admin-token-file', tokFile]);
    assert.match(rf.stderr, /taken from --admin-token-file .*cli-token/);
    // no token at all (an empty data dir)
    const emptyDir = tempDir('s3ap-cli-empty-');
    try {
      const nt = await runCli(['audit-webhook', 'show', '--admin', env.proxy.adminUrl!, '--data-dir', emptyDir.path], {}, env.transcript);
      assert.equal(nt.code, 1);
      assert.match(nt.stderr, /no admin token: .*admin-token does not exist/);
    } finally {
      emptyDir.remove();
    }

    // the server's reason for a 400 is printed
    for (const [endpoint, reason] of [
      ['file:///etc/passwd', /HTTP 400, unsupported_scheme\): endpoint: scheme file: is not allowed/],
      ['gopher://127.0.0.1:70/', /endpoint: scheme gopher: is not allowed/],
      [`${env.proxy.adminUrl}/services/collector/event`, /endpoint_is_self\): endpoint: points at this proxy's own admin API listener/],
    ] as Array<[string, RegExp]>) {
      const r = await cli('enable', ['--endpoint', endpoint, '--auth_token', WEKA_TOKEN]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, reason);
    }
    const neg = await cli('enable', ['--endpoint', env.hec.eventUrl, '--auth-token', WEKA_TOKEN, '--concurrency', '0']);
    assert.equal(neg.code, 1);
    assert.match(neg.stderr, /concurrency: must be between 1 and 64, got 0/);
    const big = await cli('enable', ['--endpoint', env.hec.eventUrl, '--auth-token', WEKA_TOKEN, '--batch-max-wait', '2h']);
    assert.match(big.stderr, /batchMaxWaitMs: must be between 0 and 600000 ms/);

    // usage errors: exit 2, naming the flag
    const usage: Array<[string[], RegExp]> = [
      [['enable', '--auth-token', WEKA_TOKEN], /--endpoint <url> is required/],
      [['enable', '--endpoint', env.hec.eventUrl], /--auth-token <token> is required/],
      [['enable', '--endpoint', env.hec.eventUrl, '--auth-token', WEKA_TOKEN, '--format', 'xml'], /--format: expected one of hec-event, hec-raw, ndjson/],
      [['enable', '--endpoint', env.hec.eventUrl, '--auth-token', WEKA_TOKEN, '--concurrency', '-1'], /--concurrency: expected an integer >= 0/],
      [['enable', '--endpoint', env.hec.eventUrl, '--auth-token', WEKA_TOKEN, '--batch-max-wait', 'soon'], /--batch-max-wait: expected a duration/],
      [['show', '--bogus'], /--bogus: unknown flag/],
      [['show', 'extra'], /unexpected argument "extra"/],
      [['enable', '--endpoint'], /--endpoint: needs a value/],
    ];
    for (const [args, msg] of usage) {
      const r = await runCli(['audit-webhook', ...args, '--admin', env.proxy.adminUrl!, '--data-dir', env.dir.path], {}, env.transcript);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.ok(!r.stderr.includes(HEC_TOKEN));
    }
    const unknownVerb = await runCli(['audit-webhook', 'frobnicate'], {}, env.transcript);
    assert.equal(unknownVerb.code, 2);
    assert.match(unknownVerb.stderr, /unknown command "frobnicate"/);

    // a receiver that refuses the token: `test` prints its reply and exits non-zero
    const en = await cli('enable', ['--endpoint', env.hec.eventUrl, '--auth-token', 'Splunk NOT-THE-RIGHT-TOKEN-0000']);
    assert.equal(en.code, 0, en.stderr);
    const te = await cli('test');
    assert.equal(te.code, 1);
    assert.match(te.stdout, /NOT accepted/);
    assert.match(te.stdout, /status\s+HTTP 403/);
    assert.match(te.stdout, /Invalid token/);
    assert.match(te.stderr, /did not accept the test event/);
    // a receiver that is down
    const down = await cli('enable', ['--endpoint', 'http://127.0.0.1:9/services/collector/event', '--auth-token', WEKA_TOKEN, '--request-timeout', '2s']);
    assert.equal(down.code, 0, down.stderr);
    const td = await cli('test');
    assert.equal(td.code, 1);
    assert.match(td.stdout, /no HTTP reply/);
    assert.match(td.stdout, /ECONNREFUSED/);
    // put things back
    assert.equal((await cli('enable', ['--endpoint', env.hec.eventUrl, '--auth-token', WEKA_TOKEN, '--batch-max-wait', '100ms'])).code, 0);
  });

  test('--help on every sub-command is generated from the option table', async () => {
    const top = await runCli(['audit-webhook', '--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /enable\s+enable the audit webhook/);
    for (const verb of ['enable', 'disable', 'show', 'test']) {
      const r = await runCli(['audit-webhook', verb, '--help']);
      assert.equal(r.code, 0, verb);
      assert.match(r.stdout, new RegExp(`Usage: s3-audit-proxy audit-webhook ${verb}`));
      assert.match(r.stdout, /--admin <url>.*default http:\/\/127\.0\.0\.1:9081; env S3AP_ADMIN\)/);
      assert.match(r.stdout, /--admin-token <string>.*env S3AP_ADMIN_TOKEN\)/);
      assert.match(r.stdout, /--data-dir <dir>.*default data; env S3AP_DATA_DIR\)/);
      const h = await runCli(['audit-webhook', verb, '-h']);
      assert.equal(h.stdout, r.stdout);
    }
    const en = await runCli(['audit-webhook', 'enable', '--help']);
    for (const flag of ['--endpoint <url>', '--auth-token <token>', '--format <hec-event|hec-raw|ndjson>', '--index', '--source', '--sourcetype', '--gzip', '--batch-max-events <n>',
      '--batch-max-bytes <size>', '--batch-max-wait <duration>', '--concurrency <n>', '--request-timeout <duration>', '--ca-file <file>', '--client-cert-file <file>',
      '--client-key-file <file>', '--insecure-skip-verify', '--health-check-interval <duration>']) {
      assert.ok(en.stdout.includes(flag), flag);
    }
    assert.match(en.stdout, /--auth_token/, 'the Weka spelling is mentioned');
  });

  test('no token is ever printed: CLI output, proxy logs and received events hold neither the admin token nor the HEC token', async () => {
    await put('final');
    await waitUntil(() => eventFor('final'), 10_000, 'final event');
    const adminToken = (await import('node:fs')).readFileSync(join(env.dir.path, 'admin-token'), 'utf8').trim();
    assert.ok(env.transcript.entries.length >= 30, 'a real transcript');
    const haystacks: Array<[string, string]> = [
      ['CLI output', env.transcript.text()],
      ['proxy logs', env.outputs.map((o) => o.join('\n')).join('\n')],
      ['received events', JSON.stringify(env.hec.events)],
    ];
    for (const [what, text] of haystacks) {
      assert.ok(!text.includes(adminToken), `${what} contain the admin token`);
      assert.ok(!text.includes(HEC_TOKEN), `${what} contain the HEC token`);
      assert.ok(!text.includes('NOT-THE-RIGHT-TOKEN-0000'), `${what} contain the wrong HEC token`);
    }
  });
});
