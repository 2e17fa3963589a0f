// The driver and buffer of one target against a scripted in-process sink (the Sink interface is the
// seam; the real HEC receiver is used in test/integration/dispatch-*.test.ts). Counts requests and
// accounts for every event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Driver } from '../../src/dispatch/driver.js';
import { rejectAfter } from '../../src/dispatch/batch-delivery.js';
import { EventBuffer } from '../../src/dispatch/buffer.js';
import { Spool } from '../../src/dispatch/spool.js';
import { TargetMetrics } from '../../src/dispatch/target-metrics.js';
import { ThrottledLog } from '../../src/dispatch/throttled-log.js';
import { Counter, Registry } from '../../src/dispatch/metrics.js';
import type { Sink, SinkReply } from '../../src/dispatch/sink.js';
import type { QueueItems } from '../../src/dispatch/memory-queue.js';
import type { Decision } from '../../src/dispatch/retry-policy.js';
import { eventJsonText, type EventJson } from '../../src/dispatch/event-slab.js';
import { captureLogger, tempDir, waitUntil } from '../helpers/dispatch-fixtures.js';

type Verdict = (seqs: number[]) => { decision: Decision; statusCode?: number } | Promise<{ decision: Decision; statusCode?: number }>;

class ScriptedSink implements Sink {
  readonly kind = 'webhook' as const;
  readonly label = 'scripted://sink';
  requests = 0;
  readonly delivered: number[] = [];
  constructor(public verdict: Verdict) {}
  cost(jsonBytes: number): number {
    return jsonBytes + 1;
  }
  async send(items: QueueItems, from: number, to: number): Promise<SinkReply> {
    this.requests++;
    const seqs = items.json.slice(from, to).map((j) => (JSON.parse(eventJsonText(j)) as { seq: number }).seq);
    const v = await this.verdict(seqs);
    if (v.decision.action === 'success') this.delivered.push(...seqs);
    if (v.decision.action === 'partial') this.delivered.push(...seqs.slice(0, v.decision.accepted));
    return { decision: v.decision, latencyMs: 1, statusCode: v.statusCode ?? (v.decision.action === 'success' ? 200 : 400), reply: JSON.stringify(v.decision) };
  }
  async close(): Promise<void> {}
  async destroy(): Promise<void> {}
}

interface Rig {
  driver: Driver;
  buffer: EventBuffer;
  metrics: TargetMetrics;
  dead: number[];
  push(seq: number): void;
  spool: Spool;
}

async function rig(t: { after: (fn: () => Promise<void>) => void }, o: { maxEvents?: number; spoolMaxBytes?: number } = {}): Promise<Rig> {
  const dir = await tempDir(t as never);
  const { logger } = captureLogger('warn');
  const buffer = new EventBuffer(o.maxEvents ?? 100_000, 64 * 1024 * 1024);
  const r = new Registry();
  const metrics = new TargetMetrics(r, 'webhook', new Counter(null, 'd', 'd', 'target'), {
    queuedEvents: () => 0, queuedBytes: () => 0, inFlightRequests: () => 0, spoolBytes: () => 0, spoolEvents: () => 0, queueMaxEvents: () => 0, queueMaxBytes: () => 0, spoolMaxBytes: () => 0, state: () => 'healthy', consecutiveFailures: () => 0,
  });
  const dead: number[] = [];
  let driver: Driver | null = null;
  const spool = await Spool.open({
    dir: join(dir, 'spool'), maxBytes: o.spoolMaxBytes ?? 64 * 1024 * 1024, fsyncIntervalMs: 1000, logger,
    onLost: (n, reason) => driver?.drop(reason, n), onWritten: () => driver?.schedulePump(),
  });
  buffer.attachSpool(spool);
  driver = new Driver({
    name: 'test target', buffer, logger, backoff: { baseMs: 5, maxMs: 20 }, metrics,
    drops: new ThrottledLog(logger, 60_000, 'dropped'),
    deadLetter: {
      write(json: readonly EventJson[], from: number, to: number, reason): number {
        for (let i = from; i < to; i++) dead.push((JSON.parse(eventJsonText(json[i])) as { seq: number }).seq);
        driver!.deadLettered(to - from, reason);
        return to - from;
      },
    },
    deadLetters: null,
  });
  const d = driver;
  t.after(async () => {
    await d.close(performance.now());
    await spool.close();
  });
  d.start();
  return {
    driver: d, buffer, metrics, dead, spool,
    push(seq: number) {
      d.push(Buffer.from(JSON.stringify({ seq, pad: 'x'.repeat(100) })), Date.now());
    },
  };
}

const settings = { batchMaxEvents: 500, batchMaxBytes: 1 << 20, batchMaxWaitMs: 10, concurrency: 2, requestTimeoutMs: 15_000 };
const ok = (): { decision: Decision } => ({ decision: { action: 'success' } });
const refuse = (): { decision: Decision } => ({ decision: { action: 'split', reason: 'HTTP 400 code 6: Invalid data format' } });

function balanced(x: Rig, sink: ScriptedSink, generated: number): void {
  const m = x.metrics;
  assert.equal(m.enqueued.get(), generated);
  assert.equal(m.deliveredTotal() + m.dropped.total() + m.deadLettered.total(), generated, `delivered ${m.deliveredTotal()} + dropped ${m.dropped.total()} + dead ${m.deadLettered.total()} = generated ${generated}`);
  assert.equal(m.dropped.total(), 0, `no drops: ${JSON.stringify(m.dropped.entries())}`);
  assert.equal(sink.delivered.length, m.deliveredTotal());
}

test('bisect: one poison event among 500 costs at most 1 + 2*ceil(log2 500) requests; the other 499 delivered, it is dead-lettered', async (t) => {
  for (const poison of [0, 137, 499]) {
    const x = await rig(t);
    const sink = new ScriptedSink((s) => (s.includes(poison) ? refuse() : ok()));
    x.driver.setSink(sink, settings);
    for (let i = 0; i < 500; i++) x.push(i);
    await waitUntil(() => x.metrics.deliveredTotal() + x.dead.length === 500, 5000, 'settled');
    assert.deepEqual(x.dead, [poison]);
    assert.ok(sink.requests <= 1 + 2 * Math.ceil(Math.log2(500)), `poison at ${poison}: ${sink.requests} requests`);
    assert.deepEqual(sink.delivered, [...Array(500).keys()].filter((i) => i !== poison), 'the others in order');
    assert.equal(x.driver.health.state, 'healthy');
    balanced(x, sink, 500);
  }
});

test('a receiver that refuses every event is `rejecting`: events are kept (not dead-lettered one by one) and delivered once it accepts', async (t) => {
  const x = await rig(t);
  let accept = false;
  const sink = new ScriptedSink(() => (accept ? ok() : refuse()));
  x.driver.setSink(sink, settings);
  for (let i = 0; i < 1000; i++) x.push(i);
  await waitUntil(() => x.driver.health.state === 'rejecting', 5000, 'rejecting');
  const spent = sink.requests;
  // each batch in flight (concurrency 2) decides on its own, after rejectAfter(500) = 20 refusals
  assert.ok(spent <= settings.concurrency * (rejectAfter(500) + 1), `rejecting decided after ${spent} requests`);
  assert.deepEqual(x.dead, [], 'nothing dead-lettered');
  await waitUntil(() => x.buffer.mq.length === 0 && x.spool.events > 0, 5000, 'events moved to the spool');
  accept = true;
  await waitUntil(() => x.metrics.deliveredTotal() === 1000, 5000, () => `all delivered: ${x.metrics.deliveredTotal()}`);
  assert.deepEqual([...sink.delivered].sort((a, b) => a - b), [...Array(1000).keys()]);
  balanced(x, sink, 1000);
});

test('413: halves in order until they fit, nothing dead-lettered when every event fits alone', async (t) => {
  const x = await rig(t);
  const sink = new ScriptedSink((s) => (s.length > 60 ? { decision: { action: 'split', reason: 'HTTP 413' }, statusCode: 413 } : ok()));
  x.driver.setSink(sink, { ...settings, concurrency: 1 });
  for (let i = 0; i < 500; i++) x.push(i);
  await waitUntil(() => x.metrics.deliveredTotal() === 500, 5000, 'delivered');
  assert.deepEqual(sink.delivered, [...Array(500).keys()], 'in order');
  assert.deepEqual(x.dead, []);
  balanced(x, sink, 500);
});

test('a receiver that hangs: the target turns degraded, memory moves to the spool while the batches are still in flight, nothing is dropped, all delivered in order afterwards', async (t) => {
  // a small memory queue, so that without overflow-while-in-flight events would be dropped
  const x = await rig(t, { maxEvents: 2000 });
  let release: (() => void) | null = null;
  const hung = new Promise<void>((r) => { release = r; });
  let hanging = true;
  const sink = new ScriptedSink(async () => {
    if (hanging) await hung;
    return ok();
  });
  x.driver.setSink(sink, { ...settings, concurrency: 1, requestTimeoutMs: 4000 });
  for (let i = 0; i < 500; i++) x.push(i); // first batch: in flight, hangs
  await waitUntil(() => x.driver.requestsInFlight === 1, 2000, 'in flight');
  for (let i = 500; i < 20_000; i++) {
    x.push(i);
    if (i % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  await waitUntil(() => x.driver.health.state === 'degraded', 5000, 'stall noticed');
  await waitUntil(() => x.buffer.mq.length === 0, 5000, 'memory moved to the spool');
  assert.equal(x.metrics.dropped.total(), 0, `no drop while the spool has room: ${JSON.stringify(x.metrics.dropped.entries())}`);
  assert.ok(x.spool.events >= 19_000, `spooled ${x.spool.events}`);
  hanging = false;
  release!();
  await waitUntil(() => x.metrics.deliveredTotal() === 20_000, 10_000, () => `delivered ${x.metrics.deliveredTotal()}`);
  assert.deepEqual(sink.delivered, [...Array(20_000).keys()], 'in order');
  assert.equal(x.driver.health.state, 'healthy');
  balanced(x, sink, 20_000);
});

test('a failed memory batch is sent again before the events that overflowed into the spool after it was taken', async (t) => {
  const x = await rig(t, { maxEvents: 1000 });
  let fail = true;
  let gate: (() => void) | null = null;
  const first = new Promise<void>((r) => { gate = r; });
  const sink = new ScriptedSink(async (s) => {
    if (fail && s[0] === 0) {
      await first; // in flight while newer events overflow
      fail = false;
      return { decision: { action: 'retry', delayMs: 1, reason: 'HTTP 503', misconfigured: false }, statusCode: 503 };
    }
    return ok();
  });
  x.driver.setSink(sink, { ...settings, concurrency: 1 });
  for (let i = 0; i < 500; i++) x.push(i);
  await waitUntil(() => x.driver.requestsInFlight === 1, 2000, 'in flight');
  for (let i = 500; i < 3000; i++) x.push(i); // past the memory bound: overflows to the spool
  await waitUntil(() => x.spool.events > 0, 2000, 'overflow spooled');
  gate!();
  await waitUntil(() => x.metrics.deliveredTotal() === 3000, 10_000, () => `delivered ${x.metrics.deliveredTotal()}`);
  assert.deepEqual(sink.delivered, [...Array(3000).keys()], 'the failed batch first, then the spool, then memory');
  balanced(x, sink, 3000);
});

test('a spool whose books say unread events that a read cannot find does not hold memory back', async () => {
  // A stand-in for a spool whose counters drifted from its files: unread 5, every read finds nothing.
  const drifted = {
    unread: 5, events: 5, error: null, full: false, bytes: 0, pendingWriteBytes: 0,
    append: () => 0, ack: () => {}, read: async () => null,
  };
  const buffer = new EventBuffer(1000, 1 << 20);
  buffer.attachSpool(drifted as unknown as Spool);
  let warned = 0;
  buffer.onDrySpool = () => { warned++; };
  let ready = 0;
  buffer.onReady = () => { ready++; };
  const limits = { maxEvents: 10, maxBytes: 1 << 20, maxWaitMs: 0, cost: (b: number) => b };
  buffer.push(Buffer.from('{"seq":1}'), Date.now(), 9);
  assert.equal(buffer.next(limits, 0, true), null, 'first it tries the spool');
  await waitUntil(() => ready === 1, 1000, 'the read came back');
  const b = buffer.next(limits, 0, true);
  assert.ok(b !== null && b.source === 'memory' && b.n === 1, 'then memory goes out');
  assert.equal(warned, 1, 'said once');
});
