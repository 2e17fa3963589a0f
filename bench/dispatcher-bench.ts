// Scenario 4, run in its own process: the AuditDispatcher alone against a local HEC receiver
// (bench/hec-sink.ts, another process).
//   1. delivered events/s, enqueue to acknowledged delivery, plain and gzip, with body bytes per event
//   2. spool write rate: receiver down while enqueuing, until every event is on disk
//   3. spool drain rate: receiver back up, until every spooled event is delivered
// Events come from a pool built before the clock starts (bench/sample-event.ts), each enqueued with a
// new id and time. Usage: node dist/bench/dispatcher-bench.js '<json args>'; prints "RESULT <json>".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditDispatcher } from '../src/dispatch/dispatcher.js';
import type { WebhookTargetConfig } from '../src/dispatch/types.js';
import { serializeEvent } from '../src/audit/serialize.js';
import type { AuditEvent } from '../src/audit/event.js';
import { createLogger } from '../src/log.js';
import { sampleEvent } from './sample-event.js';
import { disablePretenuring } from '../src/proxy/pretenuring.js';

interface Args {
  endpoint: string;
  token: string;
  control: string;
  /** Events per delivery phase, and for the spool phases. */
  events: number;
  spoolEvents: number;
  /** Phases to run (default all): plain, plainSerialised, gzip, spool (write then drain). */
  phases?: string[];
}

interface SinkStats { events: number; requests: number; bodyWireBytes: number; bodyBytes: number; socketBytesRead: number; invalid: number; rejected: number }

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
// The V8 setting `serve` runs the dispatcher with (src/proxy/pretenuring.ts); V8_PRETENURING=1 keeps V8's default.
if (process.env['V8_PRETENURING'] !== '1') disablePretenuring();
const runs = (phase: string): boolean => args.phases === undefined || args.phases.includes(phase);
const MAX_QUEUED = 20_000;
const WAIT_MS = 90_000;

async function sink(): Promise<SinkStats> {
  const r = await fetch(`${args.control}/stats`);
  return (await r.json()) as SinkStats;
}
async function sinkMode(m: 'ok' | 'down' | 'hang'): Promise<void> {
  const r = await fetch(`${args.control}/mode?m=${m}`, { method: 'POST' });
  if (!r.ok) throw new Error(`receiver mode ${m}: ${r.status}`);
}

/** This process's CPU (user+system) in µs: the phases report CPU per event beside events/s. */
const cpuUs = (): number => { const u = process.cpuUsage(); return u.user + u.system; };
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const dataDir = mkdtempSync(join(tmpdir(), 's3ap-bench-dispatch-'));
const d = new AuditDispatcher({
  dataDir,
  logger: createLogger('warn', process.stderr),
  // Product defaults for the queue and spool; short retry backoff so the drain starts promptly
  // once the receiver is back (the product default starts at 1 s and caps at 30 s).
  retryBaseMs: 50,
  retryMaxMs: 250,
  serialize: serializeEvent, // what the proxy uses
});
await d.start();
const webhook: WebhookTargetConfig = { endpoint: args.endpoint, authToken: args.token };

// The events are built before the clock starts (building is the proxy's cost, measured in scenario 1):
// a pool of distinct events, each enqueued with a fresh id and time, so every JSON is different.
const POOL = Array.from({ length: 4096 }, (_, i) => sampleEvent(i) as unknown as { id: string; time: string });
const BASE_MS = Date.UTC(2025, 0, 2);
const ids = (seq: number): string => `0194a1b2-c3d4-7e5f-8a6b-${seq.toString(16).padStart(12, '0')}`;

// The same pool as JSON text split around the id, for the phase that leaves serialisation out
// (on the proxy it runs on the request path: scenario 1 pays for it).
const SPLIT = POOL.map((ev) => {
  const json = serializeEvent(ev as unknown as AuditEvent);
  const at = json.indexOf(ev.id);
  return { head: json.slice(0, at), tail: json.slice(at + ev.id.length) };
});

let seq = 0;
/** Enqueues n events, keeping at most MAX_QUEUED in memory (the request path never waits; a bench loop may).
 * `serialised`: hand the dispatcher JSON text (enqueueSerialized) instead of event objects. */
async function enqueuePaced(n: number, serialised = false): Promise<void> {
  const end = seq + n;
  while (seq < end) {
    if (d.counters().queued < MAX_QUEUED) {
      const stop = Math.min(end, seq + 1000);
      for (; seq < stop; seq++) {
        if (serialised) {
          const p = SPLIT[seq & 4095]!;
          d.enqueueSerialized(p.head + ids(seq) + p.tail, BASE_MS + seq);
          continue;
        }
        const ev = POOL[seq & 4095]!;
        ev.id = ids(seq);
        ev.time = new Date(BASE_MS + seq).toISOString();
        d.enqueue(ev as unknown as AuditEvent, BASE_MS + seq);
      }
    } else await tick();
  }
}

async function until(cond: () => boolean, what: string): Promise<number> {
  const end = performance.now() + WAIT_MS;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(d.counters())}`);
    await sleep(2);
  }
  return performance.now();
}

async function deliveryPhase(gzip: boolean, serialised = false): Promise<Record<string, number>> {
  await d.setWebhook({ ...webhook, gzip });
  const before = await sink();
  const base = d.counters().delivered;
  const dropped0 = d.counters().dropped;
  const n = args.events;
  const c0 = cpuUs();
  const t0 = performance.now();
  const finished = until(() => d.counters().delivered >= base + n, `${n} delivered`);
  await enqueuePaced(n, serialised);
  const tEnq = performance.now();
  const t1 = await finished;
  await sleep(50);
  const after = await sink();
  const ev = after.events - before.events;
  return {
    events: n,
    seconds: (t1 - t0) / 1000,
    eventsPerSec: n / ((t1 - t0) / 1000),
    cpuUsPerEvent: (cpuUs() - c0) / n,
    enqueueSeconds: (tEnq - t0) / 1000,
    receivedEvents: ev,
    requests: after.requests - before.requests,
    bodyBytesPerEvent: (after.bodyBytes - before.bodyBytes) / ev,
    wireBodyBytesPerEvent: (after.bodyWireBytes - before.bodyWireBytes) / ev,
    wireTotalBytesPerEvent: (after.socketBytesRead - before.socketBytesRead) / ev,
    dropped: d.counters().dropped - dropped0,
    invalid: after.invalid - before.invalid,
  };
}

const result: Record<string, unknown> = { eventJsonBytes: Buffer.byteLength(JSON.stringify(sampleEvent(123456))) };
try {
  // warm-up (JIT, connections)
  await d.setWebhook(webhook);
  await enqueuePaced(20_000);
  await until(() => d.counters().delivered >= 20_000, 'warm-up delivered');

  if (runs('plain')) result['plain'] = await deliveryPhase(false);
  if (runs('plainSerialised')) result['plainSerialised'] = await deliveryPhase(false, true);
  if (runs('gzip')) result['gzip'] = await deliveryPhase(true);
  if (runs('spool')) await spoolPhases();
  result['counters'] = d.counters();
} catch (err) {
  result['error'] = (err as Error).message;
}
await d.close(2000).catch(() => {});
rmSync(dataDir, { recursive: true, force: true });
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);

async function spoolPhases(): Promise<void> {

  // Spool: receiver down while enqueuing.
  await d.setWebhook(webhook);
  await sinkMode('down');
  const m = args.spoolEvents;
  const c0 = d.counters();
  const spooled0 = c0.spooled;
  const cpuS0 = cpuUs();
  const tS0 = performance.now();
  await enqueuePaced(m);
  const tS1 = await until(() => {
    const c = d.counters();
    // Every event held: in the spool, or (at most `concurrency` batches that failed while newer events
    // were already spooled) given back in memory, first in line.
    return c.inFlight === 0 && c.spoolPendingBytes === 0 && c.spoolEvents + c.queued >= m && c.spooled - spooled0 + c.queued >= m;
  }, `${m} events held (spool + batches given back)`);
  const c1 = d.counters();
  result['spoolWrite'] = {
    events: m,
    seconds: (tS1 - tS0) / 1000,
    eventsPerSec: m / ((tS1 - tS0) / 1000),
    cpuUsPerEvent: (cpuUs() - cpuS0) / m,
    spoolEventsHeld: c1.spoolEvents,
    dropped: c1.dropped - c0.dropped,
    deliveredWhileDown: c1.delivered - c0.delivered,
  };

  // Drain: receiver back.
  const base = d.counters().delivered;
  const held = d.counters().spoolEvents + d.counters().queued;
  const before = await sink();
  const cpuD0 = cpuUs();
  const tUp = performance.now();
  await sinkMode('ok');
  let tFirst = 0;
  const tEnd = await until(() => {
    const c = d.counters();
    if (tFirst === 0 && c.delivered > base) tFirst = performance.now();
    return c.spoolEvents === 0 && c.queued === 0 && c.delivered >= base + held;
  }, 'spool drained');
  const after = await sink();
  result['spoolDrain'] = {
    events: held,
    secondsFromUp: (tEnd - tUp) / 1000,
    secondsFromFirstDelivery: (tEnd - tFirst) / 1000,
    eventsPerSec: held / ((tEnd - tFirst) / 1000),
    eventsPerSecFromUp: held / ((tEnd - tUp) / 1000),
    cpuUsPerEvent: (cpuUs() - cpuD0) / held,
    receivedEvents: after.events - before.events,
  };
}
