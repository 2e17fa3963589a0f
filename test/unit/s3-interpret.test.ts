// The proxy's reading of Host and request target (src/s3/host-rules.ts, src/s3/interpret.ts): the
// rules by example, and a property over random Host/target/path combinations: a request the proxy
// forwards is never one whose event names another bucket or key than the backend would use. The
// backend is modelled on @20minutes/s3rver 4 (measured: test/integration/evasion.test.ts): an
// unknown Host (not an IP, not localhost or its host name) is a bucket, <bucket>.s3[-.]*.amazonaws.com
// is virtual-hosted, the path ends at '?' or '#', and its file store resolves "." / ".." / "//".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { posix } from 'node:path';
import fc from 'fast-check';
import { HostRules, interpretRequest, parseTarget, type InterpretPolicy } from '../../src/s3/index.js';
import { pathStyleHosts } from '../../src/proxy/interpret-policy.js';

const MACHINE = 'build-host';
const rules = (over: Partial<ConstructorParameters<typeof HostRules>[0]> = {}): HostRules =>
  new HostRules({ pathStyleHosts: ['localhost', '127.0.0.1', '[::1]', MACHINE], virtualHostDomains: [], cnameBuckets: false, ...over });

test('host rules: path-style names (ports ignored), IP literals, loopback, suffixes', () => {
  const r = rules({ pathStyleHosts: ['localhost', '127.0.0.1', '[::1]', 's3.internal', '*.proxy.svc'] });
  for (const h of ['localhost', '127.0.0.1', '[::1]', 's3.internal', 'a.proxy.svc', '10.0.0.7', '[fe80::1]']) assert.deepEqual(r.read(h), { kind: 'path' }, h);
  assert.equal(r.read('proxy.svc').kind, 'unknown');
  assert.equal(r.read('bkt').kind, 'unknown');
  assert.match((r.read('bkt') as { reason: string }).reason, /bkt/);
});

test('host rules: AWS regional, dual-stack and dash forms under s3.amazonaws.com; wildcard labels', () => {
  const r = rules({ virtualHostDomains: ['s3.amazonaws.com', 's3.*.example.com'] });
  const v = (h: string): string | null => { const x = r.read(h); return x.kind === 'virtual' ? x.bucket : x.kind; };
  assert.equal(v('bkt.s3.amazonaws.com'), 'bkt');
  assert.equal(v('bkt.s3.us-east-1.amazonaws.com'), 'bkt');
  assert.equal(v('bkt.s3.dualstack.us-east-1.amazonaws.com'), 'bkt');
  assert.equal(v('bkt.s3-us-west-2.amazonaws.com'), 'bkt');
  assert.equal(v('my.dotted.bkt.s3.eu-west-1.amazonaws.com'), 'my.dotted.bkt');
  for (const bare of ['s3.amazonaws.com', 's3.us-east-1.amazonaws.com', 's3.dualstack.us-east-1.amazonaws.com', 's3-us-west-2.amazonaws.com']) assert.equal(v(bare), 'path', bare);
  assert.equal(v('bkt.s3.a.b.amazonaws.com'), 'unknown');
  assert.equal(v('bkt.s3.eu1.example.com'), 'bkt');
  assert.equal(v('s3.eu1.example.com'), 'path');
  // The AWS forms are AWS's: another s3.* base gets no regional forms.
  assert.equal(rules({ virtualHostDomains: ['s3.example.com'] }).read('bkt.s3.r1.example.com').kind, 'unknown');
});

test('host rules: CNAME buckets, but not names under a virtual-host parent nor non-bucket names', () => {
  const r = rules({ virtualHostDomains: ['s3.amazonaws.com'], cnameBuckets: true });
  assert.deepEqual(r.read('files.example.com'), { kind: 'cname', bucket: 'files.example.com' });
  assert.equal(r.read('bkt.s3.a.b.amazonaws.com').kind, 'unknown');
  assert.equal(r.read('under_score').kind, 'unknown');
  assert.deepEqual(r.read('localhost'), { kind: 'path' });
});

test('default path-style names: loopback, the machine, the listener; --path-style-host adds', () => {
  const names = pathStyleHosts({ listen: { host: '0.0.0.0', port: 9080 }, pathStyleHosts: ['proxy'], virtualHostDomains: [], hostBucketCname: false }, 'Box1');
  assert.deepEqual(names, ['localhost', '127.0.0.1', '[::1]', 'box1', 'proxy']);
  assert.ok(pathStyleHosts({ listen: { host: 's3.lan', port: 1 }, pathStyleHosts: [], virtualHostDomains: [], hostBucketCname: false }, 'b').includes('s3.lan'));
  assert.ok(pathStyleHosts({ listen: { host: '::1', port: 1 }, pathStyleHosts: [], virtualHostDomains: [], hostBucketCname: false }, 'b').includes('[::1]'));
});

const policy = (r: HostRules = rules(), literalPaths = false): InterpretPolicy => ({ hostRules: r, literalPaths });
const interp = (url: string, host: string | string[] | null, p = policy()) =>
  interpretRequest(url, host === null ? [] : (Array.isArray(host) ? host : [host]).flatMap((h) => ['Host', h]), p);

test('interpretation by example: what is refused, with which S3 error', () => {
  const cases: Array<[string, string | string[] | null, string | null]> = [
    ['/bkt/k', '127.0.0.1:9080', null],
    ['/bkt/k', null, null],
    ['/bkt/dir/', 'localhost', null],
    ['/bkt/k%23x', 'localhost', null],
    ['/k1', 'bkt', 'InvalidRequest'],
    ['/bkt/k', ['localhost', 'localhost'], 'InvalidRequest'],
    ['/bkt/k', '', 'InvalidRequest'],
    ['/bkt/k', 'user@localhost', 'InvalidRequest'],
    ['/bkt/./k', 'localhost', 'InvalidURI'],
    ['/bkt/k/.', 'localhost', 'InvalidURI'],
    ['/bkt/%2E%2e/k', 'localhost', 'InvalidURI'],
    ['/bkt/a%2F..%2Fb', 'localhost', 'InvalidURI'],
    ['/bkt/k#f', 'localhost', 'InvalidURI'],
    ['/bkt/k?uploads#f', 'localhost', 'InvalidURI'],
    ['/bkt/a\\b', 'localhost', 'InvalidURI'],
    ['/bkt/a%5cb', 'localhost', 'InvalidURI'],
    ['/bkt/a//b', 'localhost', 'InvalidURI'],
    ['/bkt//k', 'localhost', 'InvalidURI'],
    ['//k', 'localhost', 'InvalidURI'],
    ['/bkt/%zz', 'localhost', 'InvalidURI'],
    ['/bkt/%C0%AE', 'localhost', 'InvalidURI'],
    ['*', 'localhost', 'InvalidURI'],
    ['/../k', 'localhost', 'InvalidBucketName'],
    ['/b%2Fo/k', 'localhost', 'InvalidBucketName'],
    ['http://localhost:9080/bkt/k', 'localhost:9080', null],
    ['http://localhost/bkt/k', 'localhost:80', null],
    ['http://localhost/bkt/k', 'bkt', 'InvalidRequest'],
    ['http://localhost/bkt/k', null, 'InvalidRequest'],
    ['http://u:p@localhost/bkt/k', 'localhost', 'InvalidURI'],
    ['ftp://localhost/bkt/k', 'localhost', 'InvalidURI'],
  ];
  for (const [url, host, code] of cases) {
    const r = interp(url, host);
    assert.equal(r.refusal?.code ?? null, code, `${url} Host ${JSON.stringify(host)}: ${r.refusal?.reason}`);
    if (r.refusal !== null) {
      assert.equal(r.refusal.status, 400);
      assert.ok(r.refusal.reason.length > 0);
      assert.ok(!r.url.includes('u:p@') && !r.refusal.message.includes('u:p@') && !r.refusal.reason.includes('u:p@'), 'userinfo never repeated');
    }
  }
  assert.equal(interp('http://localhost:9080/bkt/k?uploads', 'localhost:9080').url, '/bkt/k?uploads', 'absolute-form becomes origin-form');
  assert.equal(interp('http://u:p@localhost/bkt/k', 'localhost').url, '/bkt/k');
  assert.match(interp('/k', 'bkt').refusal!.message, /--path-style-host/);
  // --literal-paths: forwarded as literal key characters
  for (const url of ['/bkt/./k', '/bkt/k#f', '/bkt/a\\b', '/bkt/a//b']) assert.equal(interp(url, 'localhost', policy(rules(), true)).refusal, null, url);
  assert.equal(interp('/../k', 'localhost', policy(rules(), true)).refusal?.code, 'InvalidBucketName');
  assert.equal(parseTarget({ method: 'GET', url: '/bkt/k#f', headers: { host: 'localhost' }, virtualHostDomains: [], hostRules: rules() }).key, 'k#f');
});

// ---- the property: forwarded => the event's bucket/key are the backend's ----

const S3RVER_ENDPOINT = /^(?:(.+)\.)?s3(-website)?([-.].+)?\.amazonaws\.com$/;
const S3RVER_BUCKET = /^[a-z0-9]+(.?[-a-z0-9]+)*$/;
const BACKEND_HOST = '127.0.0.1:4568';

const decode = (s: string): string => { try { return decodeURIComponent(s); } catch { return s; } };

/** Where @20minutes/s3rver 4 acts for this (forwarded) target and Host; null = on nothing (invalid bucket). */
function s3rverTarget(url: string, host: string | undefined): { bucket: string | null; key: string | null } | null {
  const h = host ?? BACKEND_HOST; // undici sends the origin's host when the client sent none
  const hostname = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.split(':')[0]!;
  let path = url.split(/[?#]/, 1)[0]!;
  const m = S3RVER_ENDPOINT.exec(hostname);
  if (m) {
    if (m[1]) path = `/${m[1]}${path}`;
  } else if (!isIP(hostname) && !['localhost', MACHINE].includes(hostname)) {
    path = `/${hostname}${path}`;
  }
  const slash = path.indexOf('/', 1);
  const rawBucket = slash === -1 ? path.slice(1) : path.slice(1, slash);
  const rawKey = slash === -1 ? '' : path.slice(slash + 1);
  if (rawBucket === '') return { bucket: null, key: null };
  // The file store joins bucket and key: ".", ".." and "//" resolve.
  const joined = posix.normalize(`${decode(rawBucket)}/${decode(rawKey)}`);
  const at = joined.indexOf('/');
  const bucket = at === -1 ? joined : joined.slice(0, at);
  const key = at === -1 ? '' : joined.slice(at + 1);
  if (!S3RVER_BUCKET.test(bucket) || bucket.length < 3 || bucket.length > 63) return null;
  return { bucket, key: key === '' ? null : key };
}

const hostArb = fc.oneof(
  fc.constantFrom(
    '127.0.0.1:9080', '127.0.0.1', 'localhost', 'localhost:1', MACHINE, '[::1]:9080', '10.1.2.3:80', 'bkt', 'bkt:80', 'other-b',
    'bkt.s3.amazonaws.com', 'bkt.s3.us-east-1.amazonaws.com', 'bkt.s3.dualstack.eu-west-1.amazonaws.com', 'bkt.s3-us-west-2.amazonaws.com',
    's3.amazonaws.com', 's3.us-east-1.amazonaws.com', 's3-us-west-2.amazonaws.com', 'a.b.s3.amazonaws.com', 'bkt.s3.a.b.amazonaws.com',
    'bkt.s3-website-us-east-1.amazonaws.com', 'xs3.amazonaws.com', 'BKT', 'Bkt.s3.amazonaws.com', 'bkt.S3.AMAZONAWS.COM', 'LOCALHOST',
    'user@bkt', 'bkt.', '', 'my_host', 'files.example.com', 'a..b',
  ),
  fc.array(fc.constantFrom('bkt', 's3', 'x', 'us-east-1', 'dualstack', 's3-eu', 'amazonaws', 'com', 'localhost'), { minLength: 1, maxLength: 5 }).map((l) => l.join('.')),
);
const segArb = fc.constantFrom(
  'bkt', 'other-b', 'k', 'a.b', '.', '..', '%2e', '%2E%2e', '%2e.', '.%2E', '%2F', 'a%2Fb', '..%2F', '%2F..', '\\', '%5c', '%5C',
  '#', '#x', 'k#', '%23', '', '%20', '~', '%41', 'x%2Fy', '...', '.k', 'k.', 'UP', 's3', '%2e%2e%2fbkt',
);
const targetArb = fc.record({
  abs: fc.constantFrom('', '', '', 'http://127.0.0.1:9080', 'http://bkt', 'http://localhost', 'http://u:pw@127.0.0.1:9080', 'https://bkt.s3.amazonaws.com', 'ftp://x'),
  segs: fc.array(segArb, { maxLength: 5 }),
  query: fc.constantFrom('', '?uploads', '?delete', '?x=a#b', '?versionId=1'),
  hosts: fc.array(hostArb, { maxLength: 2 }),
});

test('property: a forwarded request names the bucket and key s3rver acts on', () => {
  const r = new HostRules({ pathStyleHosts: ['localhost', '127.0.0.1', '[::1]', MACHINE], virtualHostDomains: ['s3.amazonaws.com'], cnameBuckets: true });
  let compared = 0;
  fc.assert(fc.property(targetArb, ({ abs, segs, query, hosts }) => {
    const url = `${abs}/${segs.join('/')}${query}`;
    const raw = hosts.flatMap((h) => ['Host', h]);
    const reading = interpretRequest(url, raw, { hostRules: r, literalPaths: false });
    if (reading.refusal !== null) {
      assert.ok(reading.refusal.status === 400 && reading.refusal.reason.length > 0);
      assert.ok(!reading.url.includes('u:pw'), 'userinfo never survives');
      return;
    }
    assert.ok(reading.url.startsWith('/'), 'origin-form is forwarded');
    const backend = s3rverTarget(reading.url, hosts[0]);
    if (backend === null) return; // s3rver acts on nothing: no bucket of that name can exist
    compared++;
    const host = hosts[0];
    const t = parseTarget({ method: 'PUT', url: reading.url, headers: host === undefined ? {} : { host }, virtualHostDomains: [], hostRules: r });
    assert.deepEqual({ bucket: t.bucket, key: t.key }, backend, `${url} Host ${JSON.stringify(hosts)} -> ${reading.url}`);
  }), { numRuns: 10_000 });
  assert.ok(compared > 300, `enough forwarded samples compared (${compared})`);
});

test('the s3rver model sees the evasions the issue measured (so the property is not vacuous)', () => {
  const old = (url: string, host: string) => parseTarget({ method: 'PUT', url, headers: { host }, virtualHostDomains: [] });
  const cases: Array<[string, string]> = [['/k1', 'bkt'], ['/bkt/./k', 'localhost'], ['/other/../bkt/k', 'localhost'], ['/bkt/k0#/../../other/x', 'localhost'], ['/bkt/a//b', 'localhost']];
  for (const [url, host] of cases) {
    const t = old(url, host);
    assert.notDeepEqual({ bucket: t.bucket, key: t.key }, s3rverTarget(url, host), `${url} Host ${host}: the unguarded reading differs`);
  }
});

test('property: without --host-bucket-cname, a forwarded request is never read as CNAME-style by the proxy', () => {
  const r = new HostRules({ pathStyleHosts: ['localhost', '127.0.0.1', '[::1]', MACHINE], virtualHostDomains: [], cnameBuckets: false });
  fc.assert(fc.property(targetArb, ({ abs, segs, query, hosts }) => {
    const url = `${abs}/${segs.join('/')}${query}`;
    const reading = interpretRequest(url, hosts.flatMap((h) => ['Host', h]), { hostRules: r, literalPaths: false });
    if (reading.refusal !== null) return;
    const host = hosts[0];
    const t = parseTarget({ method: 'GET', url: reading.url, headers: host === undefined ? {} : { host }, virtualHostDomains: [], hostRules: r });
    assert.equal(t.addressing, 'path');
    assert.equal(t.problem, null);
    // Every backend reads these names (IPs, loopback, the machine, listed names) as path style.
    const name = host === undefined ? '' : host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!.toLowerCase();
    assert.ok(name === '' || r.isPathStyleName(name.replace(/\.$/, '')), name);
  }), { numRuns: 5_000 });
});
