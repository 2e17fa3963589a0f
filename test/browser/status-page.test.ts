// The status page in a real headless Chromium against a real proxy process, a real S3 backend and
// the real HEC receiver: token typed once, live events from S3 requests, the receiver going down
// (the page shows the target failing and spooling, with the error) and coming back (delivering
// again, the spool drained). The page may load nothing from another origin and break no CSP rule.
// Screenshots: test-results/status-page/NN-name.png.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { startHecReceiver, type HecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, tempDir, type ChildProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { adminCall } from '../helpers/admin.js';
import { openBrowser, type BrowserSession } from './browser.js';

const HEC_TOKEN = '11111111-2222-3333-4444-555555555555';
const LONG = 60_000;

let backend: TestBackend;
let hec: HecReceiver;
let dir: { path: string; remove(): void };
let proxy: ChildProxy;
let admin: string;
let token: string;
let s3: S3Client;
let b: BrowserSession;
let streamAvailable = false;
const shots: string[] = [];
const bucket = bucketName('page');
const other = bucketName('other');

const card = (target: string, attr: string): string => `document.querySelector('.target[data-target="${target}"]')?.dataset.${attr}`;
const text = (sel: string): Promise<string> => b.page.evaluate(`document.querySelector(${JSON.stringify(sel)})?.textContent ?? ''`) as Promise<string>;
const eventRows = (): Promise<string[]> => b.page.evaluate(`[...document.querySelectorAll('#events tbody tr:not(.notice)')].map((tr) => tr.textContent)`) as Promise<string[]>;
async function waitFor(expr: string, what: string, timeout = LONG): Promise<void> {
  try {
    await b.page.waitForFunction(expr, { timeout, polling: 100 });
  } catch (err) {
    const shot = await b.screenshot(`failed-${what.replace(/\W+/g, '-')}`).catch(() => '');
    throw new Error(`the page did not show ${what} within ${timeout} ms (${(err as Error).message}); screenshot ${shot}`);
  }
}
async function shot(name: string): Promise<void> {
  shots.push(await b.screenshot(name));
}
const put = (Bucket: string, Key: string): Promise<unknown> => s3.send(new PutObjectCommand({ Bucket, Key, Body: `body of ${Key}` }));

before(async () => {
  backend = await startBackend();
  hec = await startHecReceiver({ token: HEC_TOKEN });
  dir = tempDir('s3ap-status-page-');
  proxy = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', backend.url,
    '--audit-log', join(dir.path, 'audit.jsonl')]);
  admin = proxy.adminUrl!;
  token = readFileSync(join(dir.path, 'admin-token'), 'utf8').trim();
  const en = await adminCall(admin, 'POST', '/api/v1/audit-webhook/enable', {
    token, body: { endpoint: hec.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs: 100, healthCheckIntervalMs: 1000 },
  });
  assert.equal(en.status, 200, en.text);
  s3 = s3Client(proxy.url, backend);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new CreateBucketCommand({ Bucket: other }));
  // Is the live stream there (the `tail` work)? Without it the page must say so and work on.
  const ctl = new AbortController();
  const probe = await fetch(`${admin}/api/v1/events/stream`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
  streamAvailable = probe.status === 200;
  ctl.abort();
  b = await openBrowser('status-page');
});

after(async () => {
  await b?.close();
  s3?.destroy();
  await proxy?.stop('SIGTERM');
  await hec?.close();
  await backend?.close();
  dir?.remove();
  if (shots.length) console.log(`screenshots:\n${shots.join('\n')}`);
});

test('the page asks for the token once, then shows both targets healthy', async () => {
  const res = await b.page.goto(`${admin}/`, { waitUntil: 'load' });
  assert.equal(res?.status(), 200);
  const h = res!.headers();
  assert.match(h['content-security-policy'] ?? '', /default-src 'self'/);
  assert.equal(h['x-content-type-options'], 'nosniff');
  await waitFor(`!document.getElementById('login').hidden`, 'the token form');
  await shot('01-token');
  // A wrong token is refused and the form comes back with the reason.
  await b.page.type('#token', 'not-the-token');
  await b.page.click('#login-form button[type=submit]');
  await waitFor(`document.getElementById('login-error').textContent.includes('refused')`, 'the refusal of a wrong token');
  assert.equal(await b.page.evaluate(`sessionStorage.getItem('s3ap-admin-token')`), null, 'a refused token is forgotten');
  await b.page.type('#token', token);
  await b.page.click('#login-form button[type=submit]');
  await waitFor(`${card('webhook', 'state')} === 'healthy'`, 'the webhook healthy');
  await waitFor(`${card('audit-log', 'state')} === 'healthy'`, 'the audit log healthy');
  assert.equal(await text('#conn'), 'connected');
  assert.match(await text('.target[data-target="webhook"] .target-detail'), new RegExp(`${hec.eventUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  // Remembered for the tab: a reload goes straight to the status.
  await b.page.reload({ waitUntil: 'load' });
  await waitFor(`${card('webhook', 'state')} === 'healthy' && document.getElementById('login').hidden`, 'the status again without the token form');
});

test('events made by S3 requests appear live', async () => {
  if (!streamAvailable) {
    await waitFor(`document.getElementById('live-state').textContent === 'not available'`, 'live events marked not available');
    assert.match(await text('#live-error'), /no live event stream/);
    await shot('02-live-events-unavailable');
    return;
  }
  await waitFor(`document.getElementById('live-state').textContent.startsWith('live')`, 'the stream connected');
  for (let i = 0; i < 5; i++) await put(bucket, `live/object-${i}.txt`);
  await waitFor(`[...document.querySelectorAll('#events tbody tr')].filter((tr) => tr.textContent.includes('${bucket}/live/object-')).length >= 5`, 'five PutObject rows');
  const rows = await eventRows();
  assert.ok(rows.some((r) => r.includes('PutObject') && r.includes(`${bucket}/live/object-4.txt`) && r.includes('200')), rows.join('\n'));
  // A key that is HTML is shown as text (an inline handler would also be a CSP violation, checked below).
  const html = 'live/<img src=/x onerror=alert(1)><b>bold</b>.txt';
  await put(bucket, html);
  await waitFor(`document.querySelector('#events tbody').textContent.includes(${JSON.stringify(`${bucket}/${html}`)})`, 'the HTML-looking key as text');
  assert.equal(await b.page.evaluate(`document.querySelectorAll('#events img, #events b').length`), 0, 'no element made from event data');
  await waitFor(`Number(${card('webhook', 'delivered')}) >= 5`, 'deliveries counted');
  await shot('02-live-events');
});

test('the receiver goes down: the page shows the target failing and spooling, with the error', async () => {
  await hec.setMode('down');
  // Requests keep coming while the receiver is away: their events go to the spool.
  let n = 0;
  const deadline = Date.now() + LONG;
  while (Date.now() < deadline) {
    await put(bucket, `outage/object-${n++}.txt`);
    const st = await b.page.evaluate(`[${card('webhook', 'state')}, Number(${card('webhook', 'spooled')})]`) as [string, number];
    if (st[0] === 'down' && st[1] > 0 && n >= 10) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await waitFor(`${card('webhook', 'state')} === 'down'`, 'the webhook down');
  await waitFor(`Number(${card('webhook', 'spooled')}) > 0`, 'events in the spool');
  await waitFor(`document.querySelector('.target[data-target="webhook"] .recent-errors').textContent.includes('ECONNREFUSED')`, 'the connection error');
  const history = await text('.target[data-target="webhook"] .timeline');
  assert.match(history, /healthy.*(degraded|down)/s, history);
  assert.equal(await b.page.evaluate(card('audit-log', 'state')), 'healthy', 'the audit log is not affected');
  if (streamAvailable) await waitFor(`document.querySelector('#events tbody').textContent.includes('${bucket}/outage/object-${n - 1}.txt')`, 'events live during the outage');
  await shot('03-receiver-down');
  await hec.setMode('up');
  await waitFor(`${card('webhook', 'state')} === 'healthy'`, 'the webhook healthy again');
  await waitFor(`Number(${card('webhook', 'spooled')}) === 0`, 'the spool drained');
  const after = await text('.target[data-target="webhook"] .timeline');
  assert.match(after, /down.*healthy/s, after);
  await waitFor(`document.querySelector('.target[data-target="webhook"] .rate-out .stat-value').textContent !== '–'`, 'a delivery rate');
  // Everything made during the outage reached the receiver.
  const want = new Set(Array.from({ length: n }, (_, i) => `outage/object-${i}.txt`));
  const dl = Date.now() + LONG;
  const got = (): number => (hec.events as Array<Record<string, any>>).filter((e) => e['kind'] === 's3' && want.has(e['api']?.['object'])).length;
  while (got() < n && Date.now() < dl) await new Promise((r) => setTimeout(r, 100));
  assert.equal(got(), n, 'every event of the outage delivered after it');
  await shot('04-receiver-back');
});

test('the live filters are the tail filters: bucket and errors', { skip: false }, async (t) => {
  if (!streamAvailable) {
    t.diagnostic('no /api/v1/events/stream on this build: filters not exercised');
    return;
  }
  await b.page.type('#filters input[name=bucket]', other);
  await b.page.click('#filters input[name=errors]');
  await b.page.click('#filters button[type=submit]');
  await waitFor(`document.getElementById('live-state').textContent.includes('${other}')`, 'the filters applied');
  await put(bucket, 'filtered/not-shown.txt');
  await put(other, 'filtered/ok-not-shown.txt');
  await assert.rejects(s3.send(new GetObjectCommand({ Bucket: other, Key: 'filtered/missing.txt' })));
  await waitFor(`document.querySelector('#events tbody').textContent.includes('${other}/filtered/missing.txt')`, 'the failed GetObject in the other bucket');
  const rows = await eventRows();
  assert.ok(rows.every((r) => r.includes(other)), rows.join('\n'));
  assert.ok(!rows.some((r) => r.includes('not-shown')), rows.join('\n'));
  assert.ok(rows.some((r) => r.includes('GetObject') && r.includes('404')), rows.join('\n'));
  await shot('05-filtered');
});

test('with HEC indexer acknowledgement on, the webhook shows its ack state', async () => {
  hec.setAckMode('on');
  const en = await adminCall(admin, 'POST', '/api/v1/audit-webhook/enable', {
    token, body: { endpoint: hec.eventUrl, authToken: HEC_TOKEN, batchMaxWaitMs: 100, healthCheckIntervalMs: 1000, ack: true },
  });
  assert.equal(en.status, 200, en.text);
  await put(bucket, 'ack/object.txt');
  await waitFor(`/^(idle|waiting)$/.test(document.querySelector('.target[data-target="webhook"] .ack .stat-value')?.textContent ?? '')`, 'the ack state');
  assert.equal(await b.page.evaluate(`document.querySelector('.target[data-target="audit-log"] .ack')`), null, 'no ack on the audit log');
  await shot('06-ack');
});

test('the page loaded nothing from another origin, broke no CSP rule, and never put the token in a URL', async () => {
  const origin = new URL(admin).origin;
  assert.ok(b.requests.length >= 5, b.requests.join('\n'));
  for (const u of b.requests) {
    assert.equal(new URL(u).origin, origin, `same origin: ${u}`);
    assert.ok(!u.includes(token), 'no token in a URL');
  }
  assert.deepEqual(await b.cspViolations(), []);
  const cspConsole = b.console.filter((m) => /Content.Security.Policy|Refused to/i.test(m.text));
  assert.deepEqual(cspConsole, []);
  assert.deepEqual(b.pageErrors, []);
});
