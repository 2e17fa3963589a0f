// TLS to the receiver (CA file, client certificate, insecure-skip-verify) and the HEC health probe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHecReceiver } from '../helpers/hec-receiver.js';
import { assertBalanced, assertExactlyOnceInOrder, defer, seqs, setupDispatch, tempDir, testEvent, TOKEN, waitSettled, waitUntil } from '../helpers/dispatch-fixtures.js';

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A throw-away CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
async function makePki(dir: string): Promise<Record<'ca' | 'serverKey' | 'serverCert' | 'clientKey' | 'clientCert', string>> {
  const run = (...a: string[]): void => {
    execFileSync('openssl', a, { cwd: dir, stdio: 'ignore' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=s3ap-test-ca');
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  run('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=s3ap-client');
  run('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2', '-extfile', 'client.ext');
  const p = (n: string): string => join(dir, n);
  return { ca: p('ca.pem'), serverKey: p('server.key'), serverCert: p('server.pem'), clientKey: p('client.key'), clientCert: p('client.pem') };
}

test('HTTPS receiver: an untrusted certificate fails (events kept), a CA file or insecure-skip-verify delivers; client certificates are sent', { skip: haveOpenssl() ? false : 'openssl not installed' }, async (t) => {
  const dir = await tempDir(t);
  const pki = await makePki(dir);
  const tls = { key: await readFile(pki.serverKey), cert: await readFile(pki.serverCert) };

  // server certificate not trusted: failure, events kept
  const { r, d, webhook } = await setupDispatch(t, { receiver: { tls } });
  assert.ok(r.url.startsWith('https://'));
  for (let i = 0; i < 50; i++) d.enqueue(testEvent(i));
  await waitUntil(() => d.status().state !== 'healthy', 5000, 'TLS failure noticed');
  assert.match(d.status().lastError ?? '', /certificate/i);
  await waitUntil(() => d.status().spooled === 50, 5000, 'kept');
  // trusted through the CA file
  await d.setWebhook({ ...webhook, caFile: pki.ca });
  await r.waitForEvents(50);
  // insecure-skip-verify
  await d.setWebhook({ ...webhook, insecureSkipVerify: true });
  for (let i = 50; i < 100; i++) d.enqueue(testEvent(i));
  await r.waitForEvents(100);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), 100);
  assertBalanced(d.counters());

  // mutual TLS: the receiver requires a client certificate signed by the CA
  const m = await startHecReceiver({ token: TOKEN, tls: { ...tls, ca: await readFile(pki.ca), requestCert: true } });
  defer(t, () => m.close());
  await d.setWebhook({ ...webhook, endpoint: m.eventUrl, caFile: pki.ca });
  d.enqueue(testEvent(100));
  await waitUntil(() => d.status().state !== 'healthy', 5000, 'handshake refused without a client certificate');
  await d.setWebhook({ ...webhook, endpoint: m.eventUrl, caFile: pki.ca, clientCertFile: pki.clientCert, clientKeyFile: pki.clientKey });
  await m.waitForEvents(1);
  await waitSettled(d);
  assert.equal(m.requests.at(-1)?.clientCertCN, 's3ap-client');
  assert.deepEqual(seqs(m.events), [100]);
  assertBalanced(d.counters());
  await assert.rejects(() => d.setWebhook({ ...webhook, clientCertFile: pki.clientCert }), /client certificate and client key must be given together/);
});

test('HEC health probe: polled every healthCheckIntervalMs; when it answers again a waiting retry is started at once', async (t) => {
  // a long backoff: without the health probe the next retry could be up to a minute away
  const { r, d } = await setupDispatch(t, { dispatcher: { retryBaseMs: 60_000, retryMaxMs: 60_000 }, webhook: { healthCheckIntervalMs: 25 } });
  await waitUntil(() => r.requests.some((q) => q.path === '/services/collector/health'), 5000, 'health probes');
  assert.equal(d.status().state, 'healthy');
  await r.setMode('503');
  d.enqueue(testEvent(0));
  await waitUntil(() => d.status().state === 'degraded', 5000, 'degraded');
  await r.setMode('ok');
  await r.waitForEvents(1, 8000);
  await waitSettled(d);
  assert.equal(d.status().state, 'healthy');
  assertBalanced(d.counters());
  // an idle target whose health check fails is reported, then recovers
  await r.setMode('503');
  await waitUntil(() => d.status().state !== 'healthy', 5000, 'health failure reported while idle');
  assert.match(d.status().lastError ?? '', /health check/);
  await r.setMode('ok');
  await waitUntil(() => d.status().state === 'healthy', 5000, 'healthy again');
});
