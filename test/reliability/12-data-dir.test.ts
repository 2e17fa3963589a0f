// Scenario 12: the data dir (spool, cursor, saved webhook) across processes, with the real CLI.
//   12a. two `serve` processes on the same --data-dir: the second must not start; it exits with
//        code 2 and a message naming --data-dir and the pid of the first, which keeps serving.
//   12b. kill -9 of the proxy in the middle of a spool drain, restart on the same data dir: no event
//        lost (the spool promises none), duplicates counted and bounded by the documented window
//        (records acknowledged after the last cursor write + requests in flight).
//   12c. one byte of one spool record corrupted (CRC mismatch) while the proxy is down, restart: it
//        starts, logs a warning, loses at most the corrupted record.
//   12d. cursor.json corrupted while the proxy is down, restart: it starts, logs a warning, loses
//        nothing (re-reads from the start of the spool: duplicates counted).
// The webhook settings are the defaults (enabled through the admin API with endpoint + token; plus a
// 1 s HEC health check so the return of the receiver is noticed at once instead of at the next
// backoff probe, up to 30 s later).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { adminCall, runCli } from '../helpers/admin.js';
import { startHecReceiver, type HecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, type ChildProxy } from '../helpers/proxy.js';
import { childCounters, childLogs, cleanupStack, HEC_TOKEN, r1, sleep, summary, waitFor, type Ctx } from './helpers/harness.js';
import { spawnDefaultProxy, startFastBackend, type FastBackend } from './helpers/load.js';

const ADMIN_TOKEN = 'reliability-admin-token-12-0123456789a';
const BATCH = 500;
const CONCURRENCY = 2;

/** N unsigned GETs of distinct paths (/audit-dd/<tag>/<i>), 16 at a time: one event each, identified by its path. */
async function distinctRequests(url: string, tag: string, n: number): Promise<{ ok: number; byStatus: Record<string, number> }> {
  const pool = new Pool(url, { connections: 16 });
  const byStatus: Record<string, number> = {};
  let next = 0;
  const end = performance.now() + 60_000;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (performance.now() < end) {
      const i = next++;
      if (i >= n) return;
      let k: string;
      try {
        const res = await pool.request({ method: 'GET', path: `/audit-dd/${tag}/${i}`, headersTimeout: 10_000, bodyTimeout: 10_000 });
        await res.body.dump();
        k = String(res.statusCode);
      } catch (err) {
        k = (err as { code?: string }).code ?? 'error';
      }
      byStatus[k] = (byStatus[k] ?? 0) + 1;
    }
  }));
  await pool.close();
  return { ok: byStatus['200'] ?? 0, byStatus };
}

/** Paths of the S3 events at the receiver: distinct, duplicates, admin events. */
function byPath(r: HecReceiver, tag: string): { paths: Set<string>; duplicates: number; admin: number; ids: Set<string> } {
  const ids = new Set<string>();
  const paths = new Set<string>();
  let duplicates = 0;
  let admin = 0;
  for (const raw of r.events) {
    const e = raw as { id: string; kind: string; request?: { path?: string } };
    if (ids.has(e.id)) {
      duplicates++;
      continue;
    }
    ids.add(e.id);
    if (e.kind === 'admin') admin++;
    else if (e.request?.path?.startsWith(`/audit-dd/${tag}/`)) paths.add(e.request.path);
  }
  return { paths, duplicates, admin, ids };
}

/** pino level at warn or above (numeric, or the label this CLI writes). */
function atLeastWarn(l: Record<string, unknown>): boolean {
  const v = l['level'];
  return typeof v === 'number' ? v >= 40 : ['warn', 'error', 'fatal'].includes(String(v));
}

/** True once the child's dispatcher holds nothing (queue, spool, in flight) after delivering something. */
async function childIdle(adminUrl: string): Promise<boolean> {
  try {
    const c = await childCounters(adminUrl);
    return c.queued === 0 && c.spool === 0 && c.inFlight === 0 && c.delivered > 0;
  } catch {
    return false;
  }
}

function missing(paths: Set<string>, tag: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) if (!paths.has(`/audit-dd/${tag}/${i}`)) out.push(`/audit-dd/${tag}/${i}`);
  return out;
}

interface Spooled {
  defer: (fn: () => unknown) => void;
  backend: FastBackend;
  r: HecReceiver;
  p1: ChildProxy;
  dataDir: string;
  args: string[];
  s3ok: number;
  spooled: number;
}

/** Receiver down; N distinct requests through a child proxy; waits until every event is in the spool. */
async function spoolEvents(t: Ctx, tag: string, n: number): Promise<Spooled> {
  const defer = cleanupStack(t);
  const backend = await startFastBackend(defer);
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  await r.setMode('down');
  const { p: p1, dataDir, args } = await spawnDefaultProxy(defer, { backendUrl: backend.url, receiver: r, adminToken: ADMIN_TOKEN, enable: false });
  const en = await adminCall(p1.adminUrl!, 'POST', '/api/v1/audit-webhook/enable', { token: ADMIN_TOKEN, body: { endpoint: r.eventUrl, authToken: HEC_TOKEN, healthCheckIntervalMs: 1000 } });
  assert.equal(en.status, 200, en.text);
  const s3 = await distinctRequests(p1.url, tag, n);
  assert.equal(s3.ok, n, `every S3 request answered 200: ${JSON.stringify(s3.byStatus)}`);
  let c: Awaited<ReturnType<typeof childCounters>> | null = null;
  await waitFor(async () => {
    c = await childCounters(p1.adminUrl!);
    return c.queued === 0 && c.inFlight === 0 && c.spool === n + 1;
  }, 60_000, () => `all ${n + 1} events in the spool: ${JSON.stringify(c)}`);
  await sleep(1500); // past the spool's 1 s fdatasync interval (kill -9 keeps the page cache anyway)
  return { defer, backend, r, p1, dataDir, args, s3ok: s3.ok, spooled: n + 1 };
}

/** Receiver answers slowly (delayMs per reply); kill -9 once `atLeast` events reached it. */
async function killDuringDrain(s: Spooled, atLeast: number, delayMs: number): Promise<{ receivedAtKill: number; spoolAtKill: number }> {
  await s.r.setMode('slow', { delayMs });
  const box: { last: Awaited<ReturnType<typeof childCounters>> | null } = { last: null };
  await waitFor(async () => {
    box.last = await childCounters(s.p1.adminUrl!).catch(() => box.last);
    return s.r.events.length >= atLeast;
  }, 60_000, () => `${atLeast} events delivered from the spool (have ${s.r.events.length})`);
  s.p1.child.kill('SIGKILL');
  await s.p1.exited;
  assert.equal(s.p1.child.signalCode, 'SIGKILL');
  return { receivedAtKill: s.r.events.length, spoolAtKill: box.last?.spool ?? -1 };
}

test('12a. a second serve on the same --data-dir exits with code 2 naming --data-dir and the pid of the first; the first keeps serving', { timeout: 60_000 }, async (t) => {
  const started = Date.now();
  const defer = cleanupStack(t);
  const backend = await startFastBackend(defer);
  const r = await startHecReceiver({ token: HEC_TOKEN });
  defer(() => r.close());
  const { p: p1, dataDir } = await spawnDefaultProxy(defer, { backendUrl: backend.url, receiver: r, adminToken: ADMIN_TOKEN });
  const pid1 = p1.child.pid!;
  let res: { code: number | null; stdout: string; stderr: string };
  let startedSecond = false;
  try {
    // bounded: a second process that does start (no lock) is killed after 10 s
    res = await runCli(['serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dataDir, '--backend', backend.url], { S3AP_ADMIN_TOKEN: ADMIN_TOKEN }, undefined, 10_000);
  } catch (err) {
    startedSecond = true;
    res = { code: null, stdout: '', stderr: (err as Error).message };
  }
  const out = `${res.stdout}\n${res.stderr}`;
  const firstAlive = p1.child.exitCode === null && (await fetch(`${p1.adminUrl}/healthz`).then((x) => x.status, () => 0)) === 200;
  const s3 = await distinctRequests(p1.url, 'a', 10);
  t.diagnostic(summary({
    scenario: '12a-two-on-one-data-dir', second_exit_code: res.code, second_kept_running: startedSecond, names_data_dir: out.includes('--data-dir'),
    names_first_pid: out.includes(String(pid1)), first_pid: pid1, first_alive: firstAlive, first_s3_ok: s3.ok,
    second_output: out.replace(/\s+/g, ' ').slice(0, 300), duration_s: r1((Date.now() - started) / 1000),
  }));
  assert.equal(startedSecond, false, 'the second process did not keep running');
  assert.equal(res.code, 2, `exit code 2: ${out}`);
  assert.match(out, /--data-dir/, 'the message names --data-dir');
  assert.ok(out.includes(String(pid1)), `the message names the pid of the first (${pid1}): ${out}`);
  assert.ok(firstAlive, 'the first proxy is still alive');
  assert.equal(s3.ok, 10, 'and still serving S3');
});

test('12b. kill -9 during a spool drain, restart on the same data dir: no event lost, duplicates counted (<= the documented window)', { timeout: 180_000 }, async (t) => {
  const started = Date.now();
  const N = 12_000;
  const s = await spoolEvents(t, 'b', N);
  const { receivedAtKill, spoolAtKill } = await killDuringDrain(s, 3000, 300);
  await s.r.setMode('ok');
  const p2 = await spawnProxy(s.args, { S3AP_ADMIN_TOKEN: ADMIN_TOKEN });
  s.defer(() => p2.stop('SIGKILL'));
  const recRec = childLogs(p2.output).find((l) => l['msg'] === 'spool: events waiting from an earlier run');
  let done = true;
  try {
    await waitFor(() => byPath(s.r, 'b').paths.size >= N && byPath(s.r, 'b').admin >= 1, 90_000, () => `all ${N} events delivered (have ${byPath(s.r, 'b').paths.size})`);
  } catch {
    done = false;
  }
  await sleep(1000);
  const got = byPath(s.r, 'b');
  const lost = missing(got.paths, 'b', N);
  const c2 = await childCounters(p2.adminUrl!);
  const window = (CONCURRENCY + 1) * BATCH;
  t.diagnostic(summary({
    scenario: '12b-kill9-during-drain', s3_ok: s.s3ok, spooled: s.spooled, received_at_kill: receivedAtKill, spool_at_kill: spoolAtKill,
    recovered_by_restart: recRec?.['events'] ?? null, delivered_distinct_s3: got.paths.size, delivered_admin: got.admin, lost: lost.length, lost_sample: lost.slice(0, 3),
    duplicates: got.duplicates, duplicate_window: window, restart_counters: { delivered: c2.delivered, dropped: c2.dropped, deadLettered: c2.deadLettered, spool: c2.spool },
    all_delivered: done, duration_s: r1((Date.now() - started) / 1000),
  }));
  assert.equal(lost.length, 0, `no S3 event lost: ${lost.length} missing, e.g. ${lost.slice(0, 3).join(' ')}`);
  assert.equal(got.admin, 1, 'the admin enable event delivered');
  assert.equal(c2.dropped, 0);
  assert.equal(c2.deadLettered, 0);
  assert.ok(got.duplicates <= window, `duplicates ${got.duplicates} <= (concurrency + 1) x batch = ${window}`);
});

/** Segment files of the spool, and the cursor. */
function spoolFiles(dataDir: string): { dir: string; segments: string[]; cursor: { segment: number; offset: number } | null } {
  const dir = join(dataDir, 'spool');
  const segments = readdirSync(dir).filter((n) => n.endsWith('.seg')).sort();
  let cursor: { segment: number; offset: number } | null = null;
  try {
    cursor = JSON.parse(readFileSync(join(dir, 'cursor.json'), 'utf8')) as { segment: number; offset: number };
  } catch {
    cursor = null;
  }
  return { dir, segments, cursor };
}

/** Record boundaries of a segment ([u32 len][u32 crc][f64 time][json]). */
function records(buf: Buffer): Array<{ off: number; len: number; json: string }> {
  const out: Array<{ off: number; len: number; json: string }> = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < 9 || off + 8 + len > buf.length) break;
    out.push({ off, len, json: buf.toString('utf8', off + 16, off + 8 + len) });
    off += 8 + len;
  }
  return out;
}

test('12c. one corrupted byte in a spool record, restart: the proxy starts, warns, loses at most that record', { timeout: 180_000 }, async (t) => {
  const started = Date.now();
  const N = 6000;
  const s = await spoolEvents(t, 'c', N);
  s.p1.child.kill('SIGKILL');
  await s.p1.exited;
  const f = spoolFiles(s.dataDir);
  assert.ok(f.segments.length > 0, 'segments on disk');
  // a record in the middle of the undelivered part of the first segment
  const segPath = join(f.dir, f.segments[0]);
  const buf = readFileSync(segPath);
  const recs = records(buf).filter((x) => !f.cursor || x.off >= f.cursor.offset);
  assert.ok(recs.length > 100, `records in the first segment: ${recs.length}`);
  const victim = recs[Math.floor(recs.length / 2)];
  const victimPath = (JSON.parse(victim.json) as { request: { path: string } }).request.path;
  const at = victim.off + 16 + Math.floor((victim.len - 8) / 2);
  buf[at] = buf[at] === 0x41 ? 0x42 : 0x41;
  writeFileSync(segPath, buf);
  await s.r.setMode('ok');
  let p2: ChildProxy | null = null;
  let startError = '';
  try {
    p2 = await spawnProxy(s.args, { S3AP_ADMIN_TOKEN: ADMIN_TOKEN });
    const pp = p2;
    s.defer(() => pp.stop('SIGKILL'));
  } catch (err) {
    startError = (err as Error).message.slice(0, 300);
  }
  let done = true;
  try {
    // all but the corrupted record at the receiver, or (what a lossy restart looks like) nothing left to send
    await waitFor(async () => (byPath(s.r, 'c').paths.size >= N - 1 && byPath(s.r, 'c').admin >= 1) || (p2 !== null && (await childIdle(p2.adminUrl!))), 60_000, () => `N-1 events delivered (have ${byPath(s.r, 'c').paths.size})`);
  } catch {
    done = false;
  }
  await sleep(1500);
  const got = byPath(s.r, 'c');
  const lost = missing(got.paths, 'c', N);
  const warns = p2 ? childLogs(p2.output).filter((l) => atLeastWarn(l) && /spool/i.test(String(l['msg']))) : [];
  t.diagnostic(summary({
    scenario: '12c-corrupt-record', segments: f.segments.length, cursor: f.cursor, corrupted_record_offset: victim.off, corrupted_event: victimPath,
    started: p2 !== null, start_error: startError, delivered_distinct_s3: got.paths.size, delivered_admin: got.admin, lost: lost.length,
    lost_is_the_corrupted_one: lost.length === 1 && lost[0] === victimPath, duplicates: got.duplicates, warnings: warns.map((w) => `${String(w['msg'])} ${JSON.stringify(w['lostEvents'] ?? '')}`),
    wait_met: done, duration_s: r1((Date.now() - started) / 1000),
  }));
  assert.ok(p2, `the proxy starts with a corrupted spool record: ${startError}`);
  assert.ok(warns.length > 0, 'a warning about the spool is logged');
  assert.ok(lost.length <= 1, `at most the corrupted record lost; lost ${lost.length} (e.g. ${lost.slice(0, 3).join(' ')})`);
  if (lost.length === 1) assert.equal(lost[0], victimPath, 'the lost event is the corrupted record');
  assert.equal(got.admin, 1, 'the admin enable event delivered');
});

test('12d. corrupted cursor.json, restart: the proxy starts, warns, loses nothing (duplicates counted)', { timeout: 180_000 }, async (t) => {
  const started = Date.now();
  const N = 6000;
  const s = await spoolEvents(t, 'd', N);
  // deliver part of the spool so the cursor points into it, then kill -9
  const { receivedAtKill } = await killDuringDrain(s, 1500, 300);
  const f = spoolFiles(s.dataDir);
  const cursorPath = join(f.dir, 'cursor.json');
  const hadCursor = existsSync(cursorPath);
  const before = hadCursor ? readFileSync(cursorPath) : Buffer.from('{"segment":1,"offset":0}');
  const bad = Buffer.from(before);
  bad[0] = 0x7e; // '{' -> '~'
  writeFileSync(cursorPath, bad);
  await s.r.setMode('ok');
  let p2: ChildProxy | null = null;
  let startError = '';
  try {
    p2 = await spawnProxy(s.args, { S3AP_ADMIN_TOKEN: ADMIN_TOKEN });
    const pp = p2;
    s.defer(() => pp.stop('SIGKILL'));
  } catch (err) {
    startError = (err as Error).message.slice(0, 300);
  }
  let done = true;
  try {
    await waitFor(() => byPath(s.r, 'd').paths.size >= N && byPath(s.r, 'd').admin >= 1, 60_000, () => `all ${N} events delivered (have ${byPath(s.r, 'd').paths.size})`);
  } catch {
    done = false;
  }
  await sleep(1500);
  const got = byPath(s.r, 'd');
  const lost = missing(got.paths, 'd', N);
  const warns = p2 ? childLogs(p2.output).filter((l) => atLeastWarn(l) && /cursor/i.test(String(l['msg']))) : [];
  t.diagnostic(summary({
    scenario: '12d-corrupt-cursor', had_cursor: hadCursor, cursor_before: before.toString('utf8'), received_at_kill: receivedAtKill, started: p2 !== null, start_error: startError,
    delivered_distinct_s3: got.paths.size, delivered_admin: got.admin, lost: lost.length, duplicates: got.duplicates, warnings: warns.map((w) => String(w['msg'])),
    all_delivered: done, duration_s: r1((Date.now() - started) / 1000),
  }));
  assert.ok(p2, `the proxy starts with a corrupted cursor.json: ${startError}`);
  assert.ok(warns.length > 0, 'a warning about the cursor is logged');
  assert.equal(lost.length, 0, `nothing lost: ${lost.slice(0, 3).join(' ')}`);
  assert.equal(got.admin, 1);
});
