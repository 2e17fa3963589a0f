// Hostile large-body burst through the real CLI (defaults, JSONL audit log): every request one event.
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
const SIZE = 64 * 1024 * 1024;
const chunk = Buffer.alloc(64 * 1024, 7);
const backend = http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' });
    let left = SIZE;
    const pump = () => { while (left > 0) { left -= chunk.length; if (!res.write(chunk)) { res.once('drain', pump); return; } } res.end(); };
    res.on('close', () => { left = 0; });
    pump();
  } else { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-length': '0', etag: '"x"' }); res.end(); }); }
});
await new Promise((r) => backend.listen(0, '127.0.0.1', r));
const bport = backend.address().port;
const dir = mkdtempSync('/tmp/hl/d-');
const node = process.argv[2] ?? process.execPath;
const p = spawn(node, ['/work/main/dist/src/cli/main.js', 'serve', '--backend', `http://127.0.0.1:${bport}`, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir, '--audit-log', join(dir, 'audit.jsonl')], { stdio: ['ignore', 'pipe', 'pipe'] });
let url; let auditLog; let buf = '';
await new Promise((resolve) => p.stdout.on('data', (d) => { buf += d; for (const l of buf.split('\n')) { try { const j = JSON.parse(l); if (j.auditLog) auditLog = j.auditLog; if (j.msg === 's3-audit-proxy listening' && !url) { url = j.listen; console.log('malloc:', j.malloc); resolve(); } } catch {} } }));
const U = new URL(url);
const req = (opts, body) => new Promise((resolve) => {
  const r = http.request({ host: U.hostname, port: U.port, path: opts.path, method: opts.method, headers: opts.headers ?? {} }, (res) => opts.onRes(res, r, resolve));
  r.on('error', () => resolve('error'));
  if (body) body(r); else r.end();
});
const jobs = [];
let full = 0;
for (let i = 0; i < 10; i++) jobs.push(req({ path: `/b/full-${i}`, method: 'GET', onRes: (res, r, done) => { let n = 0; res.on('data', (c) => { n += c.length; }); res.on('end', () => { if (n === SIZE) full++; done('ok'); }); res.on('error', () => done('err')); } }));
for (let i = 0; i < 10; i++) jobs.push(req({ path: `/b/stall-${i}`, method: 'GET', onRes: (res, r, done) => { let n = 0; res.on('data', (c) => { n += c.length; if (n > 4 * 1024 * 1024) { res.pause(); setTimeout(() => { r.destroy(); done('aborted'); }, 3000); } }); } }));
for (let i = 0; i < 10; i++) jobs.push(req({ path: `/b/put-${i}`, method: 'PUT', headers: { 'content-length': String(SIZE) }, onRes: (res, r, done) => { res.resume(); res.on('end', () => done('put-answered')); } }, (r) => { let sent = 0; const w = () => { while (sent < SIZE / 2) { sent += chunk.length; if (!r.write(chunk)) { r.once('drain', w); return; } } setTimeout(() => r.destroy(), 200); }; w(); r.on('close', () => {}); }));
for (let i = 0; i < 5; i++) jobs.push(req({ path: `/b/expect-${i}`, method: 'PUT', headers: { 'content-length': String(SIZE), expect: '100-continue' }, onRes: (res, r, done) => { res.resume(); res.on('end', () => done('expect-answered')); } }, (r) => { r.on('continue', () => { let sent = 0; const w = () => { while (sent < SIZE) { sent += chunk.length; if (!r.write(chunk)) { r.once('drain', w); return; } } r.end(); }; w(); }); }));
const results = await Promise.all(jobs.map((j) => Promise.race([j, new Promise((r) => setTimeout(() => r('timeout'), 60000))])));
await new Promise((r) => setTimeout(r, 2500));
const log = auditLog ?? join(dir, 'audit.jsonl'); console.log('audit log', log);
const events = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.kind === 's3') : [];
const byOutcome = {}; for (const e of events) byOutcome[`${e.request.method} ${e.outcome} ${e.response.statusCode}`] = (byOutcome[`${e.request.method} ${e.outcome} ${e.response.statusCode}`] ?? 0) + 1;
console.log('requests', jobs.length, 'events', events.length, 'full GETs', full, JSON.stringify(byOutcome), 'results', JSON.stringify(results.reduce((a, x) => { a[x] = (a[x] ?? 0) + 1; return a; }, {})));
const st = readFileSync(`/proc/${p.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)[1];
console.log('peak RSS MiB', (Number(st) / 1024).toFixed(1));
p.kill('SIGTERM'); backend.close(); backend.closeAllConnections?.();
await new Promise((r) => p.on('exit', r));
process.exit(0);
