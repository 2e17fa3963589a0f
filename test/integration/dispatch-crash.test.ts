// kill -9: a child process spools events while the receiver is down and is SIGKILLed; a new
// dispatcher on the same dataDir delivers what was spooled (fsync interval 0: zero loss of spooled
// events), also after a torn tail was appended to the last segment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditDispatcher, type DispatcherCounters } from '../../src/dispatch/dispatcher.js';
import { startHecReceiver, type HecReceiver } from '../helpers/hec-receiver.js';
import { assertBalanced, assertExactlyOnceInOrder, captureLogger, defer, seqs, tempDir, TOKEN, waitSettled, waitUntil } from '../helpers/dispatch-fixtures.js';

const CHILD = fileURLToPath(new URL('../helpers/dispatcher-child.js', import.meta.url));

function spawnChild(t: Parameters<typeof defer>[0], args: Record<string, unknown>): { child: ChildProcess; lines: string[]; stderr: string[]; waitLine: (re: RegExp, ms: number) => Promise<string> } {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  defer(t, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (c: Buffer) => {
    partial += c.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const l of [...listeners]) l();
  });
  child.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
  const waitLine = (re: RegExp, ms: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find((l) => re.test(l));
        if (hit) {
          clearTimeout(timer);
          listeners.delete(check);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`child did not print ${re} within ${ms} ms; stderr: ${stderr.join('').slice(-2000)}`));
      }, ms);
      listeners.add(check);
      child.on('exit', (code, sig) => {
        if (listeners.has(check)) {
          clearTimeout(timer);
          listeners.delete(check);
          reject(new Error(`child exited (${code ?? sig}) before printing ${re}; stderr: ${stderr.join('').slice(-2000)}`));
        }
      });
      check();
    });
  return { child, lines, stderr, waitLine };
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function recover(t: Parameters<typeof defer>[0], dataDir: string, r: HecReceiver): Promise<{ d: AuditDispatcher; warnings: string[] }> {
  const { logger, logs } = captureLogger('warn');
  const d = new AuditDispatcher({ dataDir, logger, retryBaseMs: 20, retryMaxMs: 200 });
  defer(t, () => d.close(0));
  await d.start();
  await d.setWebhook({ endpoint: r.eventUrl, authToken: TOKEN, batchMaxWaitMs: 10, concurrency: 1 });
  return { d, warnings: logs.messages() };
}

test('SIGKILL after events were spooled (fsync 0): a new dispatcher on the same dataDir delivers every one, once, in order', async (t) => {
  const r = await startHecReceiver({ token: TOKEN });
  defer(t, () => r.close());
  await r.setMode('down');
  const dataDir = await tempDir(t);
  const N = 3000;
  const c = spawnChild(t, { dataDir, endpoint: r.eventUrl, token: TOKEN, count: N, fsyncMs: 0, mode: 'burst' });
  const ready = await c.waitLine(/^READY /, 8000);
  const childCounters = JSON.parse(ready.slice(6)) as DispatcherCounters;
  assert.equal(childCounters.generated, N);
  assert.equal(childCounters.spoolEvents, N);
  await killed(c.child);
  assert.equal(c.child.signalCode, 'SIGKILL');

  // the receiver is still down when the new dispatcher starts: it waits, then delivers
  const { d } = await recover(t, dataDir, r);
  assert.equal(d.counters().recovered, N);
  await waitUntil(() => d.status().state === 'down', 5000, () => `state down: ${JSON.stringify(d.status())}`);
  assert.equal(d.status().spooled, N);
  await r.setMode('up');
  await r.waitForEvents(N, 8000);
  await waitSettled(d);
  assertExactlyOnceInOrder(seqs(r.events), N);
  assertBalanced(d.counters());
  assert.equal(childCounters.generated, d.counters().delivered + childCounters.dropped, 'zero loss across the crash');
});

test('SIGKILL at an arbitrary moment of a stream, plus a torn tail: everything reported durable is delivered, nothing twice, in order', async (t) => {
  const r = await startHecReceiver({ token: TOKEN });
  defer(t, () => r.close());
  await r.setMode('down');
  const dataDir = await tempDir(t);
  const c = spawnChild(t, { dataDir, endpoint: r.eventUrl, token: TOKEN, count: 0, fsyncMs: 0, mode: 'stream' });
  await c.waitLine(/^DURABLE /, 8000);
  // let it run a little longer, then kill it wherever it is
  await new Promise((res) => setTimeout(res, 150 + Math.floor(Math.random() * 200)));
  await killed(c.child);
  const durable = Math.max(...c.lines.filter((l) => l.startsWith('DURABLE ')).map((l) => Number(l.slice(8))));
  assert.ok(durable > 0);
  // simulate a write cut short by the kill: garbage after the last record of the newest segment
  const segs = (await readdir(join(dataDir, 'spool'))).filter((n) => n.endsWith('.seg')).sort();
  await appendFile(join(dataDir, 'spool', segs[segs.length - 1]), Buffer.from([0x30, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));

  await r.setMode('up');
  const { d, warnings } = await recover(t, dataDir, r);
  assert.ok(warnings.some((w) => w.includes('torn')), `torn tail reported: ${JSON.stringify(warnings)}`);
  const recovered = d.counters().recovered;
  assert.ok(recovered >= durable + 1, `recovered ${recovered} >= durable ${durable + 1}`);
  await r.waitForEvents(recovered, 8000);
  await waitSettled(d);
  // the spool holds a prefix of the enqueued sequence: 0..k with k >= the last durable seq
  assertExactlyOnceInOrder(seqs(r.events), recovered);
  assertBalanced(d.counters());
  t.diagnostic(`durable ${durable + 1}, recovered ${recovered}`);
});
