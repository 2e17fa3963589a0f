// The admin API against a REAL proxy process (`node dist/src/cli/main.js serve`), a real s3rver
// backend and the HEC receiver: auth on every protected route, live enable with S3 traffic flowing,
// the redacted view, the test event, every kind of bad input, metrics, readiness, the OpenAPI
// document checked against the running server, and a grep proving no token ever leaks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { startHecReceiver, type HecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, tempDir, type ChildProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { validateEvent } from '../helpers/collecting-sink.js';
import { adminCall, loadOpenApi, logRecords, Transcript, waitUntil, sleep, type AdminReply } from '../helpers/admin.js';
import { ROUTES } from '../../src/admin/routes.js';
import { API_LEVEL } from '../../src/s3/index.js';

const HEC_TOKEN = randomUUID().toUpperCase();
const HEC_AUTH = `Splunk ${HEC_TOKEN}`;
const PROTECTED = ROUTES.filter((r) => r.auth);

interface Env {
  backend: TestBackend;
  hec: HecReceiver;
  dir: { path: string; remove(): void };
  proxy: ChildProxy;
  admin: string;
  token: string;
  s3: S3Client;
  bucket: string;
  transcript: Transcript;
}

let env: Env;
const call = (method: string, path: string, opts: Parameters<typeof adminCall>[3] = {}): Promise<AdminReply> =>
  adminCall(env.admin, method, path, { token: env.token, ...opts }, env.transcript);
const enableBody = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ endpoint: env.hec.eventUrl, authToken: HEC_AUTH, batchMaxWaitMs: 100, ...extra });
const s3Events = (): Array<Record<string, any>> => (env.hec.events as Array<Record<string, any>>).filter((e) => e['kind'] === 's3');
const adminEvents = (name?: string): Array<Record<string, any>> =>
  (env.hec.events as Array<Record<string, any>>).filter((e) => e['kind'] === 'admin' && (!name || e['api']?.['name'] === name));

function assertJsonError(r: AdminReply, status: number, code: string, field?: string): void {
  assert.equal(r.status, status, `${code}: ${r.text}`);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  assert.equal(r.json?.error?.code, code, r.text);
  assert.equal(typeof r.json?.error?.message, 'string');
  if (field) assert.match(r.json.error.message, new RegExp(`\\b${field}\\b`), `message names ${field}: ${r.text}`);
}

describe('admin API (real proxy process)', () => {
  before(async () => {
    const backend = await startBackend();
    const hec = await startHecReceiver({ token: HEC_TOKEN });
    const dir = tempDir('s3ap-admin-api-');
    const proxy = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', backend.url]);
    assert.ok(proxy.adminUrl, 'the proxy logs "admin API listening" with its URL');
    const token = readFileSync(join(dir.path, 'admin-token'), 'utf8').trim();
    const s3 = s3Client(proxy.url, backend);
    const bucket = bucketName('admin');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    env = { backend, hec, dir, proxy, admin: proxy.adminUrl!, token, s3, bucket, transcript: new Transcript() };
  });

  after(async () => {
    env.s3.destroy();
    await env.proxy.stop('SIGTERM');
    await env.hec.close();
    await env.backend.close();
    env.dir.remove();
  });

  test('start-up: the token is generated into the data dir (0600), its path logged, "admin API listening" logged before "listening"', () => {
    const file = join(env.dir.path, 'admin-token');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(env.token, /^[A-Za-z0-9_-]{43}$/);
    const msgs = logRecords(env.proxy.output).map((r) => String(r['msg']));
    const iAdmin = msgs.indexOf('admin API listening');
    const iListen = msgs.indexOf('s3-audit-proxy listening');
    assert.ok(iAdmin !== -1 && iAdmin < iListen, msgs.join(' | '));
    assert.ok(logRecords(env.proxy.output).some((r) => r['tokenFile'] === file), 'logs where the token is');
  });

  test('/healthz, /readyz and /metrics need no token', async () => {
    const h = await call('GET', '/healthz', { token: null });
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { status: 'ok' });
    const r = await call('GET', '/readyz', { token: null });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ready, true);
    assert.deepEqual(r.json.checks, { s3Listener: 'ok', backend: 'ok' });
    const m = await call('GET', '/metrics', { token: null });
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    for (const name of ['s3ap_audit_events_enqueued_total', 's3ap_audit_queue_events', 's3ap_requests_total', 'process_resident_memory_bytes', 's3ap_admin_requests_total']) {
      assert.match(m.text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
  });

  test('every protected route answers 401 JSON to a missing or wrong token, logs the peer, and the process keeps serving', async () => {
    const before = env.proxy.output.length;
    const wrongs: Array<Parameters<typeof adminCall>[3]> = [
      { token: null },
      { token: 'wrong-token' },
      { token: `${env.token}x` },
      { authorization: `Basic ${env.token}` },
      { authorization: env.token },
      { authorization: 'Bearer' },
    ];
    for (const r of PROTECTED) {
      for (const w of wrongs) {
        const res = await call(r.method, r.path, { ...w, ...(r.method === 'POST' ? { body: r.path.endsWith('/enable') ? enableBody() : {} } : {}) });
        assertJsonError(res, 401, 'unauthorized');
        assert.match(res.headers['www-authenticate'] ?? '', /^Bearer /);
      }
    }
    // Unauthenticated callers learn nothing about the config, and change nothing.
    assert.equal((await call('GET', '/api/v1/audit-webhook')).json.enabled, false);
    assert.equal(existsSync(join(env.dir.path, 'audit-webhook.json')), false);
    await waitUntil(() => env.proxy.output.slice(before).some((l) => l.includes('request refused (401)')), 3000, 'refusal log lines');
    const refusals = logRecords(env.proxy.output.slice(before)).filter((x) => x['msg'] === 'admin API: request refused (401)');
    assert.ok(refusals.length >= 1);
    for (const x of refusals) {
      assert.equal(x['level'], 'warn');
      assert.equal(x['peer'], '127.0.0.1');
    }
    assert.equal((await call('GET', '/healthz')).status, 200);
  });

  test('enable applies live (no restart, S3 traffic undisturbed): events reach HEC with the configured Authorization and validate against the schema', async () => {
    // S3 traffic runs all along; the webhook is enabled (and replaced twice) in the middle of it.
    let stop = false;
    let puts = 0;
    const failures: unknown[] = [];
    const traffic = (async () => {
      while (!stop) {
        try {
          await env.s3.send(new PutObjectCommand({ Bucket: env.bucket, Key: `live/${puts}`, Body: `body ${puts}` }));
          puts++;
        } catch (err) {
          failures.push(err);
          if (failures.length > 50) break;
        }
      }
    })();
    let r: AdminReply;
    let enabledAt: number;
    try {
      await waitUntil(() => puts >= 5, 5000, 'traffic before enable');
      r = await call('POST', '/api/v1/audit-webhook/enable', { body: enableBody() });
      enabledAt = puts;
      for (const extra of [{ concurrency: 3 }, { gzip: true, batchMaxEvents: 50 }]) {
        await sleep(100);
        assert.equal((await call('POST', '/api/v1/audit-webhook/enable', { body: enableBody(extra) })).status, 200);
      }
      await waitUntil(() => puts >= enabledAt + 20, 10_000, 'traffic after enable');
    } finally {
      stop = true; // the traffic loop ends whatever happened above
      await traffic;
    }
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.enabled, true);
    assert.equal(r.json.endpoint, env.hec.eventUrl);
    assert.equal(r.json.authToken, `Splunk ****${HEC_TOKEN.slice(-4)}`);
    assert.equal(r.json.format, 'hec-event');
    assert.equal(r.json.batchMaxWaitMs, 100);
    assert.equal(r.json.status.state, 'healthy');
    assert.deepEqual(failures, [], 'no S3 request failed while the webhook was enabled and replaced');
    const pid = env.proxy.child.pid;
    assert.equal(env.proxy.child.exitCode, null, 'same process: no restart');
    assert.ok(pid);

    const lastKey = `live/${puts - 1}`;
    await waitUntil(() => s3Events().some((e) => e['api']['object'] === lastKey), 10_000, 'the last PutObject event at the receiver');
    for (const q of env.hec.requests.filter((x) => x.path === '/services/collector/event')) {
      assert.equal(q.headers['authorization'], HEC_AUTH, 'the configured Authorization, verbatim');
    }
    assert.ok(env.hec.requests.some((q) => q.gzip), 'the replaced config (gzip) is in force');
    for (const e of [...s3Events(), ...adminEvents()]) assert.ok(validateEvent(e), JSON.stringify(validateEvent.errors));
    const puts2 = s3Events().filter((e) => e['api']['name'] === 'PutObject');
    assert.ok(puts2.length >= puts - enabledAt, `events of the puts after enable (${puts2.length} of ${puts - enabledAt})`);

    // The file survives restarts: private, complete, with the token (the only place it is kept).
    const file = join(env.dir.path, 'audit-webhook.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.config.endpoint, env.hec.eventUrl);
    assert.equal(saved.config.gzip, true);

    // Each enable is an admin audit event, valid, with who and what, and no token.
    await waitUntil(() => adminEvents('s3ap:EnableAuditWebhook').length >= 3, 5000, 'enable admin events');
    const ev = adminEvents('s3ap:EnableAuditWebhook')[0]!;
    assert.equal(ev['request']['method'], 'POST');
    assert.equal(ev['request']['path'], '/api/v1/audit-webhook/enable');
    assert.equal(ev['client']['ip'], '127.0.0.1');
    assert.equal(ev['auth']['type'], 'anonymous');
    assert.equal(ev['auth']['accessKey'], null);
    assert.equal(ev['auth']['verified'], true);
    assert.equal(ev['response']['statusCode'], 200);
    assert.equal(ev['outcome'], 'completed');
    // And a log line (who, what), without the token.
    const logs = logRecords(env.proxy.output).filter((x) => x['msg'] === 'admin: audit webhook enabled');
    assert.equal(logs.length, 3);
    assert.equal(logs[0]!['peer'], '127.0.0.1');
    assert.equal(logs[0]!['endpoint'], env.hec.eventUrl);
  });

  test('GET shows the settings with the token redacted and live delivery status', async () => {
    const r = await call('GET', '/api/v1/audit-webhook');
    assert.equal(r.status, 200);
    assert.equal(r.json.enabled, true);
    assert.equal(r.json.authToken, `Splunk ****${HEC_TOKEN.slice(-4)}`);
    assert.equal(r.json.gzip, true);
    assert.equal(r.json.batchMaxEvents, 50);
    assert.equal(r.json.concurrency, null, 'not set in the current config: the default applies');
    const st = r.json.status;
    for (const k of ['state', 'queued', 'delivered', 'dropped', 'spooled', 'spoolBytes', 'lastSuccess', 'lastError']) assert.ok(k in st, k);
    assert.equal(st.state, 'healthy');
    assert.ok(st.delivered > 0);
    assert.ok(st.lastSuccess);
    assert.ok(!r.text.includes(HEC_TOKEN));
    // What the status page shows: counters for rates, bounds for fill, history, no audit-log target here.
    assert.ok(st.enqueued >= st.delivered, `enqueued ${st.enqueued} >= delivered ${st.delivered}`);
    assert.equal(st.queueMaxEvents, 100_000);
    assert.equal(st.queueMaxBytes, 64 * 1024 * 1024);
    assert.equal(st.spoolMaxBytes, 1024 * 1024 * 1024);
    assert.deepEqual(st.deadLetteredByReason, {});
    assert.equal(st.stateHistory.at(-1).state, 'healthy');
    assert.ok(Array.isArray(st.recentErrors));
    assert.equal(r.json.auditLog, null);
  });

  test('the status page: its four files need no token and carry a strict CSP and nosniff; nothing else is served', async () => {
    const want: Record<string, RegExp> = {
      '/': /^text\/html; charset=utf-8$/, '/status.js': /^text\/javascript; charset=utf-8$/,
      '/status.css': /^text\/css; charset=utf-8$/, '/favicon.svg': /^image\/svg\+xml$/,
    };
    for (const [path, type] of Object.entries(want)) {
      const r = await call('GET', path, { token: null });
      assert.equal(r.status, 200, path);
      assert.match(r.headers['content-type'] ?? '', type, path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
      assert.equal(r.headers['x-frame-options'], 'DENY', path);
      const csp = r.headers['content-security-policy'] ?? '';
      for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"]) assert.ok(csp.includes(d), `${path}: CSP has ${d}: ${csp}`);
      assert.ok(!/unsafe-inline|unsafe-eval|\*|https?:/.test(csp), `${path}: no inline, eval, wildcard or other origin in the CSP: ${csp}`);
    }
    const html = (await call('GET', '/', { token: null })).text;
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'no inline script');
    assert.ok(!/<style\b|\sstyle=|\son[a-z]+=/i.test(html), 'no inline style or event handler attribute');
    assert.ok(!/(src|href)="(https?:)?\/\//i.test(html), 'nothing from another origin');
    const unknown = await call('GET', '/status.json', { token: null });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json?.error?.code, 'not_found');
  });

  test('test sends one event now and reports the receiver\'s reply; a refusing receiver gives ok:false', async () => {
    const before = env.hec.requests.length;
    const r = await call('POST', '/api/v1/audit-webhook/test');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ok, true);
    assert.equal(r.json.statusCode, 200);
    assert.match(r.json.body, /"text":\s*"Success"/);
    assert.equal(typeof r.json.latencyMs, 'number');
    assert.ok(env.hec.requests.length > before);
    assert.ok((env.hec.events as Array<Record<string, unknown>>).some((e) => e['kind'] === 'test'), 'the test event reached the receiver');

    env.hec.setToken('SOMETHING-ELSE');
    try {
      const bad = await call('POST', '/api/v1/audit-webhook/test', { body: {} });
      assert.equal(bad.status, 200);
      assert.equal(bad.json.ok, false);
      assert.equal(bad.json.statusCode, 403);
      assert.match(bad.json.body, /Invalid token/);
    } finally {
      env.hec.setToken(HEC_TOKEN);
    }
    await waitUntil(() => adminEvents('s3ap:TestAuditWebhook').length >= 1, 10_000, 'test admin event');
  });

  test('bad input: every case answers 4xx JSON naming the problem, nothing changes, and the process keeps serving', async () => {
    const adminPort = new URL(env.admin).port;
    const s3Port = new URL(env.proxy.url).port;
    const enable = '/api/v1/audit-webhook/enable';
    const cases: Array<{ name: string; method?: string; path?: string; raw?: string; body?: unknown; status: number; code: string; field?: string }> = [
      { name: 'malformed JSON', raw: '{"endpoint": "http://x/", "authToken": ', status: 400, code: 'malformed_json' },
      { name: 'JSON with a trailing comma', raw: '{"endpoint": "http://x/",}', status: 400, code: 'malformed_json' },
      { name: 'empty body', raw: '', status: 400, code: 'invalid_body' },
      { name: 'array body', body: [], status: 400, code: 'invalid_body' },
      { name: 'string body', body: 'http://x/', status: 400, code: 'invalid_body' },
      { name: 'unknown field', body: enableBody({ bogus: 1 }), status: 400, code: 'unknown_field', field: 'bogus' },
      { name: 'Weka spelling as a JSON field', body: { endpoint: env.hec.eventUrl, auth_token: HEC_AUTH }, status: 400, code: 'unknown_field', field: 'auth_token' },
      { name: 'missing endpoint', body: { authToken: HEC_AUTH }, status: 400, code: 'missing_field', field: 'endpoint' },
      { name: 'missing token', body: { endpoint: env.hec.eventUrl }, status: 400, code: 'missing_field', field: 'authToken' },
      { name: 'endpoint of the wrong type', body: enableBody({ endpoint: 42 }), status: 400, code: 'invalid_type', field: 'endpoint' },
      { name: 'token of the wrong type', body: enableBody({ authToken: { v: 1 } }), status: 400, code: 'invalid_type', field: 'authToken' },
      { name: 'empty token', body: enableBody({ authToken: '' }), status: 400, code: 'invalid_value', field: 'authToken' },
      { name: 'token with a line break', body: enableBody({ authToken: `${HEC_AUTH}\r\nX-Injected: 1` }), status: 400, code: 'invalid_value', field: 'authToken' },
      { name: 'gzip as a string', body: enableBody({ gzip: 'true' }), status: 400, code: 'invalid_type', field: 'gzip' },
      { name: 'batchMaxEvents as a string', body: enableBody({ batchMaxEvents: '100' }), status: 400, code: 'invalid_type', field: 'batchMaxEvents' },
      { name: 'fractional concurrency', body: enableBody({ concurrency: 2.5 }), status: 400, code: 'invalid_type', field: 'concurrency' },
      { name: 'negative batchMaxEvents', body: enableBody({ batchMaxEvents: -1 }), status: 400, code: 'out_of_range', field: 'batchMaxEvents' },
      { name: 'negative batchMaxWaitMs', body: enableBody({ batchMaxWaitMs: -100 }), status: 400, code: 'out_of_range', field: 'batchMaxWaitMs' },
      { name: 'negative concurrency', body: enableBody({ concurrency: -3 }), status: 400, code: 'out_of_range', field: 'concurrency' },
      { name: 'negative requestTimeoutMs', body: enableBody({ requestTimeoutMs: -1 }), status: 400, code: 'out_of_range', field: 'requestTimeoutMs' },
      { name: 'negative healthCheckIntervalMs', body: enableBody({ healthCheckIntervalMs: -1000 }), status: 400, code: 'out_of_range', field: 'healthCheckIntervalMs' },
      { name: 'huge concurrency', body: enableBody({ concurrency: 100000 }), status: 400, code: 'out_of_range', field: 'concurrency' },
      { name: 'unknown format', body: enableBody({ format: 'syslog' }), status: 400, code: 'invalid_value', field: 'format' },
      { name: 'file: endpoint', body: enableBody({ endpoint: 'file:///etc/passwd' }), status: 400, code: 'unsupported_scheme', field: 'endpoint' },
      { name: 'gopher: endpoint', body: enableBody({ endpoint: 'gopher://127.0.0.1:70/_POST' }), status: 400, code: 'unsupported_scheme', field: 'endpoint' },
      { name: 'ftp: endpoint', body: enableBody({ endpoint: 'ftp://127.0.0.1/x' }), status: 400, code: 'unsupported_scheme', field: 'endpoint' },
      { name: 'data: endpoint', body: enableBody({ endpoint: 'data:text/plain,hello' }), status: 400, code: 'unsupported_scheme', field: 'endpoint' },
      { name: 'relative endpoint', body: enableBody({ endpoint: '/services/collector/event' }), status: 400, code: 'invalid_endpoint', field: 'endpoint' },
      { name: 'credentials in the endpoint', body: enableBody({ endpoint: `http://admin:pw@127.0.0.1:${env.hec.port}/services/collector/event` }), status: 400, code: 'invalid_endpoint', field: 'endpoint' },
      { name: 'endpoint = the admin listener', body: enableBody({ endpoint: `${env.admin}/services/collector/event` }), status: 400, code: 'endpoint_is_self', field: 'endpoint' },
      { name: 'endpoint = the admin listener via localhost', body: enableBody({ endpoint: `http://localhost:${adminPort}/api/v1/audit-webhook/enable` }), status: 400, code: 'endpoint_is_self', field: 'endpoint' },
      { name: 'endpoint = the S3 listener', body: enableBody({ endpoint: `http://127.0.0.1:${s3Port}/bucket` }), status: 400, code: 'endpoint_is_self', field: 'endpoint' },
      // however it is spelled: IPv4-mapped IPv6 (URL writes it ::ffff:7f00:1), the machine's name, another loopback
      { name: 'endpoint = the S3 listener as [::ffff:7f00:1]', body: enableBody({ endpoint: `http://[::ffff:7f00:1]:${s3Port}/bucket` }), status: 400, code: 'endpoint_is_self', field: 'endpoint' },
      { name: 'endpoint = the S3 listener as [::ffff:127.0.0.1]', body: enableBody({ endpoint: `http://[::ffff:127.0.0.1]:${s3Port}/bucket` }), status: 400, code: 'endpoint_is_self', field: 'endpoint' },
      { name: 'endpoint = the S3 listener by host name', body: enableBody({ endpoint: `http://${hostname()}:${s3Port}/bucket` }), status: 400, code: 'endpoint_is_self', field: 'endpoint' },
      { name: 'endpoint = the S3 listener as 127.1.2.3', body: enableBody({ endpoint: `http://127.1.2.3:${s3Port}/bucket` }), status: 400, code: 'endpoint_is_self', field: 'endpoint' },
      { name: 'endpoint = the admin listener as [0:0:0:0:0:ffff:7f00:1]', body: enableBody({ endpoint: `http://[0:0:0:0:0:ffff:7f00:1]:${adminPort}/` }), status: 400, code: 'endpoint_is_self', field: 'endpoint' },
      { name: 'client cert without key', body: enableBody({ clientCertFile: '/tmp/c.pem' }), status: 400, code: 'missing_field', field: 'clientKeyFile' },
      { name: 'unreadable CA file', body: enableBody({ endpoint: `https://127.0.0.1:${env.hec.port}/services/collector/event`, caFile: '/nonexistent/ca.pem' }), status: 400, code: 'webhook_rejected' },
      { name: 'disable with a setting', path: '/api/v1/audit-webhook/disable', body: { force: true }, status: 400, code: 'unknown_field', field: 'force' },
      { name: 'test with an array', path: '/api/v1/audit-webhook/test', body: [1], status: 400, code: 'invalid_body' },
      { name: 'body over 64 KiB', body: enableBody({ index: 'x'.repeat(70 * 1024) }), status: 413, code: 'body_too_large' },
      { name: 'GET on enable', method: 'GET', status: 405, code: 'method_not_allowed' },
      { name: 'DELETE on the config', method: 'DELETE', path: '/api/v1/audit-webhook', status: 405, code: 'method_not_allowed' },
      { name: 'PUT on the config', method: 'PUT', path: '/api/v1/audit-webhook', body: enableBody(), status: 405, code: 'method_not_allowed' },
      { name: 'POST on /healthz', method: 'POST', path: '/healthz', status: 405, code: 'method_not_allowed' },
      { name: 'unknown route', method: 'GET', path: '/api/v1/nope', status: 404, code: 'not_found' },
      { name: 'trailing slash', method: 'GET', path: '/api/v1/audit-webhook/', status: 404, code: 'not_found' },
      { name: 'a file the status page does not have', method: 'GET', path: '/index.html', status: 404, code: 'not_found' },
      { name: 'a path outside web/', method: 'GET', path: '/../package.json', status: 404, code: 'not_found' },
      { name: 'the status page with a trailing path', method: 'GET', path: '/status.js/x', status: 404, code: 'not_found' },
    ];
    const before = (await call('GET', '/api/v1/audit-webhook')).json;
    for (const c of cases) {
      const r = await call(c.method ?? 'POST', c.path ?? enable, c.raw !== undefined ? { raw: c.raw } : c.body !== undefined ? { body: c.body } : {});
      assertJsonError(r, c.status, c.code, c.field);
      if (c.status === 405) {
        const allowed = ROUTES.filter((x) => x.path === (c.path ?? enable)).map((x) => x.method).join(', ');
        assert.equal(r.headers['allow'], allowed, c.name);
      }
      assert.ok(!r.text.includes(HEC_TOKEN), `${c.name}: no token echoed`);
    }
    // A body far over the limit is refused without being read whole (the connection may be closed).
    try {
      const r = await call('POST', enable, { raw: Buffer.alloc(8 * 1024 * 1024, 0x61) });
      assertJsonError(r, 413, 'body_too_large');
    } catch (err) {
      assert.match(String((err as Error & { cause?: Error }).cause ?? err), /other side closed|socket|ECONNRESET|EPIPE|terminated/i);
    }
    const afterDoc = (await call('GET', '/api/v1/audit-webhook')).json;
    assert.equal(afterDoc.endpoint, before.endpoint, 'the webhook was not changed by any refused request');
    assert.equal(afterDoc.gzip, before.gzip);
    assert.equal((await call('GET', '/healthz')).status, 200);
    await env.s3.send(new PutObjectCommand({ Bucket: env.bucket, Key: 'after-bad-input', Body: 'x' }));
    // Refused changes are audited as well.
    await waitUntil(() => adminEvents('s3ap:EnableAuditWebhook').some((e) => e['response']['statusCode'] === 400 && e['response']['errorCode'] === 'unknown_field'), 5000, 'a refused enable event');
  });

  test('metrics count S3 requests by API name and status class with bounded labels', async () => {
    await assert.rejects(env.s3.send(new GetObjectCommand({ Bucket: env.bucket, Key: 'no-such-key' })));
    await fetch(`${env.proxy.url}/${env.bucket}/k?nonsense-subresource=1`, { method: 'PATCH' }).then((r) => r.arrayBuffer());
    const m = await call('GET', '/metrics', { token: null });
    const count = (api: string, cls: string): number => Number(new RegExp(`^s3ap_requests_total\\{api="${api}",status_class="${cls}"\\} (\\d+)$`, 'm').exec(m.text)?.[1] ?? 0);
    assert.ok(count('PutObject', '2xx') >= 20, m.text.split('\n').filter((l) => l.startsWith('s3ap_requests_total')).join('\n'));
    assert.ok(count('GetObject', '4xx') >= 1);
    assert.ok(count('Unknown', '4xx') + count('Unknown', '5xx') + count('Unknown', '2xx') >= 1, 'an unclassifiable request counts as Unknown');
    for (const line of m.text.split('\n')) {
      const api = /\bapi="([^"]*)"/.exec(line)?.[1];
      if (api !== undefined) assert.ok(API_LEVEL.has(api) || api === 'Unknown', line);
    }
    assert.match(m.text, /^s3ap_request_duration_seconds_count\{api="PutObject"\} \d+$/m);
    assert.match(m.text, /^s3ap_audit_events_delivered_total\{target="webhook"\} [1-9]\d*$/m);
    assert.match(m.text, /^s3ap_admin_auth_failures_total [1-9]\d*$/m);
  });

  test('the OpenAPI document matches the running server: every documented route answers as documented, every real route is documented', async () => {
    const { doc, validate, validateSchema } = loadOpenApi();
    const documented = new Set<string>();
    for (const [p, item] of Object.entries<Record<string, unknown>>(doc.paths)) for (const m of Object.keys(item)) documented.add(`${m.toUpperCase()} ${p}`);
    const real = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    assert.deepEqual([...real].sort(), [...documented].sort(), 'documented routes = real routes');
    assert.deepEqual(Object.keys(doc.components.securitySchemes), ['adminToken']);
    assert.equal(doc.components.securitySchemes.adminToken.scheme, 'bearer');

    const check = (method: string, path: string, r: AdminReply): void => {
      const op = doc.paths[path][method.toLowerCase()];
      const resp = op.responses[String(r.status)];
      assert.ok(resp, `${method} ${path} answered ${r.status}, which is not documented: ${r.text.slice(0, 300)}`);
      const [type, media] = Object.entries<any>(resp.content)[0]!;
      assert.ok((r.headers['content-type'] ?? '').startsWith(type), `${method} ${path} ${r.status}: content type ${r.headers['content-type']} vs ${type}`);
      const err = validateSchema(media.schema, type === 'application/json' ? r.json : r.text);
      assert.equal(err, null, `${method} ${path} ${r.status}: ${err}\n${r.text.slice(0, 500)}`);
      const security = op.security ?? doc.security;
      assert.equal(security.length > 0, ROUTES.find((x) => x.method === method && x.path === path)!.auth, `${method} ${path}: documented security = real auth`);
    };

    // Request bodies of the examples validate against the documented request schemas.
    const enableOp = doc.paths['/api/v1/audit-webhook/enable'].post;
    for (const ex of Object.values<any>(enableOp.requestBody.content['application/json'].examples)) assert.equal(validate('EnableRequest', ex.value), null);
    assert.equal(validate('EnableRequest', enableBody({ gzip: true, concurrency: 2, healthCheckIntervalMs: 0 })), null);

    const A = '/api/v1/audit-webhook';
    const seq: Array<[string, string, Parameters<typeof adminCall>[3]]> = [
      ['POST', `${A}/enable`, { body: enableBody() }],
      ['GET', A, {}],
      ['POST', `${A}/test`, {}],
      ['POST', `${A}/enable`, { body: enableBody({ concurrency: 0 }) }],
      ['POST', `${A}/enable`, { raw: 'x'.repeat(100 * 1024) }],
      ['POST', `${A}/disable`, { body: { x: 1 } }],
      ['POST', `${A}/test`, { body: 'x' }],
      ['GET', '/healthz', { token: null }],
      ['GET', '/readyz', { token: null }],
      ['GET', '/metrics', { token: null }],
      ['GET', '/', { token: null }],
      ['GET', '/status.js', { token: null }],
      ['GET', '/status.css', { token: null }],
      ['GET', '/favicon.svg', { token: null }],
      ['POST', `${A}/disable`, {}],
      ['GET', A, {}],
      ['POST', `${A}/test`, {}],
      ['POST', `${A}/disable`, {}],
    ];
    for (const r of PROTECTED) seq.push([r.method, r.path, { token: 'nope' }]);
    const seen = new Map<string, Set<number>>();
    for (const [method, path, opts] of seq) {
      const r = await call(method, path, opts);
      check(method, path, r);
      const k = `${method} ${path}`;
      if (!seen.has(k)) seen.set(k, new Set());
      seen.get(k)!.add(r.status);
    }
    // The live stream: a bad query value is a documented 400 naming the parameter (its 200 is read in tail.test.ts).
    const badQuery = await call('GET', '/api/v1/events/stream?status=99x');
    check('GET', '/api/v1/events/stream', badQuery);
    assert.equal(badQuery.status, 400);
    assert.equal(badQuery.json.error.field, 'status');
    assert.deepEqual([...seen.get(`POST ${A}/test`)!].sort(), [200, 400, 401, 409]);
    assert.deepEqual([...seen.get(`POST ${A}/enable`)!].sort(), [200, 400, 401, 413]);
    assert.ok(seen.get(`POST ${A}/disable`)!.has(200));
    // Every route is covered; methods not documented on a path answer 405.
    for (const k of documented) assert.ok(seen.has(k), `exercised ${k}`);
    for (const p of Object.keys(doc.paths)) {
      for (const m of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
        if (documented.has(`${m} ${p}`)) continue;
        const r = await call(m, p);
        assert.equal(r.status, 405, `${m} ${p}`);
        assert.equal(validate('Error', r.json), null);
      }
    }
    // Error bodies seen anywhere in this file follow the documented Error schema.
    for (const e of env.transcript.entries) {
      const m = /^\S+ \S+ -> (\d+) \{.*?\} (.*)$/s.exec(e);
      if (m && Number(m[1]) >= 400 && m[2]!.startsWith('{"error"')) assert.equal(validate('Error', JSON.parse(m[2]!)), null, e.slice(0, 300));
    }
    // Re-enable for the tests that follow.
    assert.equal((await call('POST', `${A}/enable`, { body: enableBody() })).status, 200);
  });

  test('/readyz answers 503 with the reason when the backend is down (and /healthz stays 200)', async (t) => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const dir = tempDir('s3ap-admin-ready-');
    t.after(() => dir.remove());
    const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', `http://127.0.0.1:${closedPort}`],
      { S3AP_ADMIN_TOKEN: 'token-from-the-environment-123' });
    t.after(() => p.stop('SIGKILL'));
    const r = await adminCall(p.adminUrl!, 'GET', '/readyz', {}, env.transcript);
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.ready, false);
    assert.equal(r.json.checks.s3Listener, 'ok');
    assert.equal(r.json.checks.backend, 'ECONNREFUSED');
    assert.match(r.json.reason, new RegExp(`backend http://127\\.0\\.0\\.1:${closedPort} did not answer: ECONNREFUSED`));
    assert.equal(loadOpenApi().validate('Ready', r.json), null, 'the 503 body is the documented Ready document');
    assert.equal((await adminCall(p.adminUrl!, 'GET', '/healthz')).status, 200);
    // The token came from S3AP_ADMIN_TOKEN: no file is generated, and it works.
    assert.equal(existsSync(join(dir.path, 'admin-token')), false);
    assert.equal((await adminCall(p.adminUrl!, 'GET', '/api/v1/audit-webhook', { token: 'token-from-the-environment-123' })).status, 200);
    assert.equal((await adminCall(p.adminUrl!, 'GET', '/api/v1/audit-webhook', { token: env.token })).status, 401);
    assert.ok(!p.output.join('\n').includes('token-from-the-environment-123'), 'the environment token is not logged');
  });

  test('no secret anywhere: responses, proxy logs and received events never contain the admin token or the HEC token', async () => {
    await env.s3.send(new PutObjectCommand({ Bucket: env.bucket, Key: 'final', Body: 'x' }));
    await waitUntil(() => s3Events().some((e) => e['api']['object'] === 'final'), 10_000, 'final event');
    const haystacks: Array<[string, string]> = [
      ['admin API responses', env.transcript.text()],
      ['proxy output', env.proxy.output.join('\n')],
      ['received events', JSON.stringify(env.hec.events)],
      ['receiver replies', env.hec.requests.map((q) => q.reply).join('\n')],
    ];
    assert.ok(env.transcript.entries.length > 100, 'a real transcript');
    for (const [what, text] of haystacks) {
      assert.ok(!text.includes(env.token), `${what} contain the admin token`);
      assert.ok(!text.includes(HEC_TOKEN), `${what} contain the HEC token`);
    }
  });
});
