// Conformance, Expect and early answers: each case is sent to the backend directly and through the
// proxy, and must get the same answer (status, S3 error code, headers bar hop-by-hop, Date and
// request ids) and, for Expect: 100-continue, the same 100 (or none) before the body. Runs against
// s3rver in `npm test` and against Ceph RGW in `npm run test:ceph`: nothing here hard-codes what the
// backend answers, only that the proxy answers the same.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { bucketName, startBackend, type TestBackend } from '../helpers/backend.js';
import { startInProcessProxy, type InProcessProxy } from '../helpers/proxy.js';

const MiB = 1024 * 1024;
const IGNORED = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'x-amz-request-id', 'x-amz-id-2', 'last-modified', 'etag', 'server']);

interface Answer {
  status: number;
  code: string | null;
  headers: Record<string, string>;
  continued: boolean;
  bodySent: boolean;
}

const codeOf = (body: string): string | null => /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? null;

function comparable(raw: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (!IGNORED.has(k)) out[k] = out[k] === undefined ? raw[i + 1]! : `${out[k]}, ${raw[i + 1]!}`;
  }
  // Content-Length of error bodies carries request ids and resources of varying length.
  delete out['content-length'];
  return out;
}

async function sign(url: string, method: string, creds: { accessKeyId: string; secretAccessKey: string }, headers: Record<string, string>, payloadHash: string, signExpect = false): Promise<Record<string, string>> {
  const u = new URL(url);
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: creds, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false });
  const signed = await signer.sign(
    { method, protocol: u.protocol, hostname: u.hostname, port: Number(u.port), path: u.pathname, query: {}, headers: { host: u.host, 'x-amz-content-sha256': payloadHash, ...headers } },
    signExpect ? { signableHeaders: new Set(['expect']) } : {},
  );
  return signed.headers as Record<string, string>;
}

/** A PUT that waits for 100 or a final answer before sending its body (what S3 SDKs do). */
function expectPut(url: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let continued = false;
    let bodySent = false;
    const req = http.request(url, { method: 'PUT', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, code: codeOf(Buffer.concat(chunks).toString('utf8')), headers: comparable(res.rawHeaders), continued, bodySent });
        req.destroy();
      });
    });
    req.on('continue', () => { continued = true; bodySent = true; req.end(body); });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error('no answer within 15 s')));
    req.flushHeaders();
  });
}

/** A PUT whose body is sent with the head, whatever Expect says. */
function plainPut(url: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = http.request(url, { method: 'PUT', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: codeOf(Buffer.concat(chunks).toString('utf8')), headers: comparable(res.rawHeaders), continued, bodySent: true }));
    });
    req.on('continue', () => { continued = true; });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error('no answer within 15 s')));
    req.end(body);
  });
}

/** Raw socket: head + body written at once (reading only after the whole body was written, like most
 * Python clients), or a body cut short and a half-close. Returns the first response on the wire. */
function rawExchange(base: string, head: string, body: Buffer, opts: { halfClose?: boolean; readAfterWrite?: boolean; trailing?: { bytes: string; afterMs: number } } = {}): Promise<{ status: number; code: string | null; headers: Record<string, string> } | null> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname);
    let out = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); finish(); }, 20_000);
    const finish = (): void => {
      clearTimeout(timer);
      const text = out.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(text);
      if (!m) { resolve(null); return; }
      const raw: string[] = [];
      for (const line of m[2]!.split('\r\n')) { const i = line.indexOf(':'); raw.push(line.slice(0, i), line.slice(i + 1).trim()); }
      const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(`\r\n${m[2]!}`)?.[1] ?? '0');
      const bodyText = text.slice(m[0].length, m[0].length + len);
      resolve({ status: Number(m[1]), code: codeOf(bodyText), headers: comparable(raw) });
    };
    s.on('data', (d: Buffer) => { out = Buffer.concat([out, d]); });
    s.on('close', finish);
    s.on('error', () => {});
    if (opts.readAfterWrite) s.pause();
    s.write(head);
    s.write(body, () => { if (opts.readAfterWrite) s.resume(); });
    if (opts.trailing) setTimeout(() => { s.write(opts.trailing!.bytes); s.end(); }, opts.trailing.afterMs);
    if (opts.halfClose) setTimeout(() => s.end(), 100);
  });
}

describe('conformance: Expect and early answers, direct vs through the proxy', () => {
  let backend: TestBackend;
  let proxy: InProcessProxy;
  const bucket = bucketName('cexp');
  before(async () => {
    backend = await startBackend();
    proxy = await startInProcessProxy(['--backend', backend.url], { logLevel: 'info' });
    const url = `${backend.url}/${bucket}`;
    const h = await sign(url, 'PUT', backend, {}, createHash('sha256').update('').digest('hex'));
    const r = await plainPut(url, h, Buffer.alloc(0));
    assert.ok(r.status === 200, `create bucket: ${r.status} ${r.code}`);
  });
  after(async () => { await proxy?.close(); await backend?.close(); });

  const both = async (run: (base: string) => Promise<Answer>): Promise<[Answer, Answer]> => [await run(backend.url), await run(proxy.url)];
  const same = (direct: Answer, via: Answer, what: string): void => {
    assert.deepEqual(
      { status: via.status, code: via.code, continued: via.continued, bodySent: via.bodySent, headers: via.headers },
      { status: direct.status, code: direct.code, continued: direct.continued, bodySent: direct.bodySent, headers: direct.headers }, what);
  };

  test('Expect: 100-continue with good credentials: the backend\'s 100, then the body, then its answer', async () => {
    const body = randomBytes(64 * 1024);
    const [d, p] = await both(async (base) => {
      const url = `${base}/${bucket}/expect-ok`;
      return expectPut(url, { ...(await sign(url, 'PUT', backend, { 'content-length': String(body.length) }, 'UNSIGNED-PAYLOAD')), expect: '100-continue' }, body);
    });
    same(d, p, 'good credentials');
    assert.equal(p.status, 200);
  });

  test('Expect: 100-continue with a refused signature: the same final answer, the same 100 or none', async () => {
    const body = randomBytes(64 * 1024);
    const [d, p] = await both(async (base) => {
      const url = `${base}/${bucket}/expect-badsig`;
      return expectPut(url, { ...(await sign(url, 'PUT', { ...backend, secretAccessKey: 'wrong-secret-wrong-secret' }, { 'content-length': String(body.length) }, 'UNSIGNED-PAYLOAD')), expect: '100-continue' }, body);
    });
    same(d, p, 'refused signature');
    assert.equal(p.status, 403);
  });

  test('Expect: 100-continue into a missing bucket: the same final answer, the same 100 or none', async () => {
    const body = randomBytes(64 * 1024);
    const missing = bucketName('missing');
    const [d, p] = await both(async (base) => {
      const url = `${base}/${missing}/k`;
      return expectPut(url, { ...(await sign(url, 'PUT', backend, { 'content-length': String(body.length) }, 'UNSIGNED-PAYLOAD')), expect: '100-continue' }, body);
    });
    same(d, p, 'missing bucket');
    assert.equal(p.status, 404);
  });

  for (const value of ['', 'custom-value']) {
    test(`Expect: "${value}" signed in SignedHeaders: forwarded unchanged, the backend decides`, async () => {
      const body = Buffer.from('signed-expect');
      const hash = createHash('sha256').update(body).digest('hex');
      const [d, p] = await both(async (base) => {
        const url = `${base}/${bucket}/expect-signed-${value.length}`;
        return plainPut(url, await sign(url, 'PUT', backend, { 'content-length': String(body.length), expect: value }, hash, true), body);
      });
      same(d, p, `Expect: "${value}"`);
    });
  }

  test('a body shorter than its Content-Length, then a half-close: the same status', async (t) => {
    const run = async (base: string): Promise<{ status: number; code: string | null } | null> => {
      const url = `${base}/${bucket}/short`;
      const u = new URL(url);
      const h = await sign(url, 'PUT', backend, { 'content-length': '100' }, 'UNSIGNED-PAYLOAD');
      const head = `PUT ${u.pathname} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
      return rawExchange(base, head, Buffer.from('only-twenty-bytes...'), { halfClose: true });
    };
    const d = await run(backend.url);
    const p = await run(proxy.url);
    if (backend.kind === 'ceph' && d !== null && p !== null && p.status !== d.status) {
      // A known difference, stated in README "Forwarding": RGW sees the client's half-close (EOF)
      // itself and answers (404 in the Ceph tier); a half-close cannot be passed on through the
      // proxy's connection to the backend, so the client gets the proxy's 400 IncompleteBody.
      t.diagnostic(`known difference on Ceph RGW: direct ${JSON.stringify(d)}, proxy ${JSON.stringify(p)}`);
      assert.deepEqual({ status: p.status, code: p.code }, { status: 400, code: 'IncompleteBody' });
      return;
    }
    assert.equal(p?.status ?? null, d?.status ?? null, `direct ${JSON.stringify(d)}, proxy ${JSON.stringify(p)}`);
    if (d?.code) assert.equal(p?.code, d.code);
  });

  test('a body longer than its Content-Length: the first answer is the backend\'s to that request', async () => {
    const run = async (base: string): Promise<{ status: number; code: string | null } | null> => {
      const url = `${base}/${bucket}/long`;
      const u = new URL(url);
      const body = Buffer.from('abc');
      const h = await sign(url, 'PUT', backend, { 'content-length': '2' }, createHash('sha256').update(body).digest('hex'));
      const head = `PUT ${u.pathname} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
      // The stray byte follows once the backend had time to answer: the same on every backend.
      return rawExchange(base, head, body.subarray(0, 2), { trailing: { bytes: 'c', afterMs: 300 } });
    };
    const d = await run(backend.url);
    const p = await run(proxy.url);
    assert.ok(d !== null && p !== null);
    assert.deepEqual({ status: p.status, code: p.code }, { status: d.status, code: d.code });
  });

  test('a 16 MiB PUT into a missing bucket by a client that reads only after writing its whole body: it gets the error', { timeout: 60_000 }, async () => {
    const size = 16 * MiB;
    const missing = bucketName('missing');
    const run = async (base: string): Promise<{ status: number; code: string | null } | null> => {
      const url = `${base}/${missing}/big`;
      const u = new URL(url);
      const h = await sign(url, 'PUT', backend, { 'content-length': String(size) }, 'UNSIGNED-PAYLOAD');
      const head = `PUT ${u.pathname} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
      return rawExchange(base, head, Buffer.alloc(size, 7), { readAfterWrite: true });
    };
    const d = await run(backend.url);
    const t0 = performance.now();
    const p = await run(proxy.url);
    assert.ok(p !== null, 'the client got an answer through the proxy');
    assert.ok(performance.now() - t0 < 15_000);
    assert.deepEqual({ status: p.status, code: p.code }, { status: d?.status, code: d?.code });
  });
});
