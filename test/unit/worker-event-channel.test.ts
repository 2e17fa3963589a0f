// WorkerEventChannel, the audit sink of a `serve --workers N` worker, against a fake IPC port that
// records every message and calls the send callbacks only when the test says so: events batched for
// FLUSH_MS (or FLUSH_EVENTS) in one message, request metrics summed and sent without events when
// auditing is off, the backlog bound and its drop count, drain() waiting for every callback,
// close(), a port that throws, and events for the live stream only (unnumbered, seq 0). setTimeout is
// mocked (node:test MockTimers): no real waiting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { buildEvent, type EventContext } from '../../src/audit/build-event.js';
import { TrustedProxies } from '../../src/audit/client-address.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { serializeEvent } from '../../src/audit/serialize.js';
import { RequestObservation } from '../../src/proxy/observation.js';
import { RequestMetrics, type RequestMetricsDelta } from '../../src/admin/metrics.js';
import { FLUSH_EVENTS, FLUSH_MS, METRICS_MS, WorkerEventChannel, type IpcPort } from '../../src/workers/event-channel.js';
import type { EventsMessage, WorkerToPrimary } from '../../src/workers/messages.js';

const CTX: EventContext = {
  virtualHostDomains: [], trustedProxies: new TrustedProxies([]), requestHeaders: [], responseHeaders: [], hostName: 'proxy-1',
};

let reqNo = 0;
/** A real event, built as the proxy builds it: a SigV4-signed request through a finished observation. */
function s3Event(method: string, url: string, status = 200): AuditEvent {
  const socket = { remoteAddress: '127.0.0.1', remotePort: 40_000 + (reqNo % 1000) } as unknown as Socket;
  const headers = {
    host: '127.0.0.1:9080',
    'user-agent': 'aws-sdk-js/3.1175.0',
    'x-amz-date': '20261125T130000Z',
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/s3/aws4_request, '
      + 'SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=' + 'a'.repeat(64),
    ...(method === 'PUT' ? { 'content-length': '11' } : {}),
  };
  const req = { method, url, headers, rawHeaders: [], socket };
  const obs = new RequestObservation(`ABCDEF${String(++reqNo).padStart(10, '0')}`, req as never);
  obs.statusCode = status;
  obs.backend = 'http://127.0.0.1:9000';
  obs.responseHeaders = ['x-amz-request-id', `RID${String(reqNo).padStart(8, '0')}`, 'content-length', '11'];
  obs.bytesReceived = method === 'PUT' ? 11 : 0;
  obs.bytesSent = method === 'GET' ? 11 : 0;
  obs.firstByteMono = obs.startMono + 0.5;
  obs.endMono = obs.startMono + 1.25;
  return buildEvent(obs, CTX);
}

/** Records every message; holds each send callback until release()/releaseAll(). */
class FakePort implements IpcPort {
  readonly messages: WorkerToPrimary[] = [];
  readonly callbacks: Array<(err: Error | null) => void> = [];
  throwOnSend: Error | null = null;

  send(message: WorkerToPrimary, callback: (err: Error | null) => void): boolean {
    if (this.throwOnSend) throw this.throwOnSend;
    // What `advanced` serialisation does: the receiver gets a copy, not the channel's arrays.
    this.messages.push(structuredClone(message));
    this.callbacks.push(callback);
    return true;
  }

  /** Calls the oldest pending callback (as Node does once the message is written). */
  release(err: Error | null = null): void {
    const cb = this.callbacks.shift();
    assert.ok(cb, 'a send callback is pending');
    cb(err);
  }

  releaseAll(): void {
    while (this.callbacks.length) this.release();
  }

  get events(): EventsMessage[] {
    return this.messages.filter((m): m is EventsMessage => m.t === 'events');
  }
}

/** Lets pending promise callbacks and I/O run (setImmediate is not mocked). */
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

type Clock = { tick(ms: number): void };
function mockClock(t: { mock: { timers: { enable(o: { apis: Array<'setTimeout'> }): void; tick(ms: number): void } } }): Clock {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  return { tick: (ms) => t.mock.timers.tick(ms) };
}

type Obs = [api: string, status: number, outcome: string, ms: number];
/** The Prometheus text a delta adds, against the same observations counted directly. */
async function assertMetrics(delta: RequestMetricsDelta | null, observed: Obs[]): Promise<void> {
  assert.ok(delta, 'the message carries request metrics');
  const merged = new RequestMetrics();
  merged.merge(structuredClone(delta));
  const direct = new RequestMetrics();
  for (const o of observed) direct.observe(...o);
  assert.equal(await merged.render(), await direct.render());
}

function eventsOf(m: EventsMessage): unknown[] {
  return m.json === '' ? [] : m.json.split('\n').map((l) => JSON.parse(l) as unknown);
}

/** A message without the numbering fields (checked on their own). */
function core<T extends object>(m: T): Omit<T, 'instance' | 'seqs' | 'droppedRanges'> {
  const { instance: _i, seqs: _s, droppedRanges: _d, ...rest } = m as T & { instance?: unknown; seqs?: unknown; droppedRanges?: unknown };
  return rest as Omit<T, 'instance' | 'seqs' | 'droppedRanges'>;
}

test('inactive: enqueue builds and sends nothing, but request metrics still reach the primary (every METRICS_MS)', async (t) => {
  const clock = mockClock(t);
  const port = new FakePort();
  const ch = new WorkerEventChannel(port, false);
  ch.enqueue(s3Event('GET', '/b/k'));
  clock.tick(METRICS_MS * 3);
  assert.equal(port.messages.length, 0, 'an event while inactive sends nothing at all');

  const observed: Obs[] = [['GetObject', 200, 'completed', 1.25], ['PutObject', 503, 'backend-error', 30.5], ['GetObject', 404, 'completed', 2]];
  ch.enqueue(s3Event('GET', '/b/k2'));
  for (const o of observed) ch.observe(...o);
  clock.tick(METRICS_MS - 1);
  assert.equal(port.messages.length, 0, 'metrics alone wait for METRICS_MS');
  clock.tick(1);
  assert.equal(port.messages.length, 1);
  const m = port.events[0]!;
  assert.deepEqual(core({ ...m, metrics: null }), { t: 'events', json: '', times: [], dropped: 0, metrics: null });
  await assertMetrics(m.metrics, observed);
  const carried = new RequestMetrics();
  carried.merge(m.metrics!);
  assert.deepEqual([carried.count('GetObject', '2xx'), carried.count('GetObject', '4xx'), carried.count('PutObject', '5xx'), carried.count('PutObject', '2xx')], [1, 1, 1, 0]);
  assert.deepEqual(m.metrics!.apis.sort(), ['GetObject', 'PutObject'], 'one row per API counted');
  // Counted once: the next report holds only what came after.
  ch.observe('HeadObject', 200, 'completed', 0.5);
  clock.tick(METRICS_MS);
  assert.equal(port.messages.length, 2);
  await assertMetrics(port.events[1]!.metrics, [['HeadObject', 200, 'completed', 0.5]]);
  clock.tick(METRICS_MS * 3);
  assert.equal(port.messages.length, 2, 'nothing counted, nothing sent');

  // Switched on by the primary (ActiveMessage): the next request's event travels.
  ch.active = true;
  const ev = s3Event('GET', '/b/k3');
  ch.enqueue(ev);
  clock.tick(FLUSH_MS);
  assert.equal(port.messages.length, 3);
  assert.deepEqual(eventsOf(port.events[2]!), [JSON.parse(JSON.stringify(ev))]);
});

test('the events of FLUSH_MS arrive in one message: JSON texts joined by "\\n", their times in order, the metrics with them', async (t) => {
  const clock = mockClock(t);
  const port = new FakePort();
  const ch = new WorkerEventChannel(port, true);
  const evs = [
    s3Event('PUT', '/bucket/a.txt'),
    s3Event('GET', '/bucket/a.txt'),
    // A key holding a newline and non-ASCII: the JSON text escapes it, so the '\n' framing holds.
    s3Event('GET', '/bucket/line%0Abreak-%C3%BCn%C3%AF?versionId=v1', 404),
    s3Event('GET', '/bucket?list-type=2&prefix=a'),
  ];
  const times = [1_764_075_600_000, 1_764_075_600_001, 1_764_075_600_001];
  const observed: Obs[] = [];
  // The metrics of a request are observed before its event is enqueued (as AuditObserver does);
  // metrics alone wait up to METRICS_MS, and then ride with the events.
  const obs = (e: AuditEvent): void => {
    const o: Obs = [e.api.name, e.response.statusCode, e.outcome, e.timing.totalMs];
    observed.push(o);
    ch.observe(...o);
  };
  obs(evs[0]!);
  clock.tick(FLUSH_MS * 2);
  assert.equal(port.messages.length, 0, 'metrics alone do not start the short timer');
  ch.enqueue(evs[0]!, times[0]);
  for (let i = 1; i < 3; i++) {
    clock.tick(Math.max(0, Math.floor((FLUSH_MS - 1) / 2)));
    obs(evs[i]!);
    ch.enqueue(evs[i]!, times[i]);
  }
  ch.enqueue(evs[3]!); // no time given: taken from event.time
  assert.equal(port.messages.length, 0, 'nothing is sent before the batch is FLUSH_MS old');
  clock.tick(FLUSH_MS - 2 * Math.max(0, Math.floor((FLUSH_MS - 1) / 2)));
  assert.equal(port.messages.length, 1, 'one message for the whole batch');
  const m = port.events[0]!;
  assert.equal(m.json, evs.map((e) => serializeEvent(e)).join('\n'));
  assert.equal(m.json.split('\n').length, 4);
  assert.deepEqual(eventsOf(m), evs.map((e) => JSON.parse(JSON.stringify(e)) as unknown));
  assert.equal((eventsOf(m)[2] as AuditEvent).api.object, 'line\nbreak-ünï');
  assert.deepEqual(m.times, [...times, Date.parse(evs[3]!.time)]);
  await assertMetrics(m.metrics, observed);
  assert.equal(m.dropped, 0);
  clock.tick(METRICS_MS * 2);
  assert.equal(port.messages.length, 1, 'the metrics left with the events: no later metrics-only message');

  // The next batch is a new message with its own timer (the first one's buffers are not reused).
  const more = s3Event('DELETE', '/bucket/a.txt', 204);
  ch.enqueue(more, 42);
  clock.tick(FLUSH_MS - 1);
  assert.equal(port.messages.length, 1);
  clock.tick(1);
  assert.equal(port.messages.length, 2);
  assert.deepEqual(core(port.events[1]!), { t: 'events', json: serializeEvent(more), times: [42], metrics: null, dropped: 0 });
  assert.equal(port.events[0]!.times.length, 4, 'the message already sent is unchanged');
});

test('FLUSH_EVENTS events leave at once, without waiting for the timer', async (t) => {
  const clock = mockClock(t);
  const port = new FakePort();
  const ch = new WorkerEventChannel(port, true);
  const ev = s3Event('GET', '/b/k');
  for (let i = 0; i < FLUSH_EVENTS - 1; i++) ch.enqueue(ev, i);
  assert.equal(port.messages.length, 0);
  ch.enqueue(ev, FLUSH_EVENTS - 1);
  assert.equal(port.messages.length, 1, 'sent synchronously by the enqueue that filled the batch');
  assert.equal(port.events[0]!.times.length, FLUSH_EVENTS);
  assert.deepEqual(port.events[0]!.times, Array.from({ length: FLUSH_EVENTS }, (_, i) => i));
  assert.equal(port.events[0]!.json.split('\n').length, FLUSH_EVENTS);
  ch.enqueue(ev, 1000);
  clock.tick(FLUSH_MS - 1);
  assert.equal(port.messages.length, 1, 'the next batch waits its own FLUSH_MS');
  clock.tick(1);
  assert.equal(port.messages.length, 2);
  assert.deepEqual(port.events[1]!.times, [1000]);
});

test('beyond maxUnsentBytes events are dropped, and their count travels in the next message', async (t) => {
  const clock = mockClock(t);
  const port = new FakePort();
  const ev = (): AuditEvent => s3Event('PUT', '/bucket/same-length-key');
  const size = serializeEvent(ev()).length;
  // Room for one event, not two (whether in flight or waiting in the batch).
  const ch = new WorkerEventChannel(port, true, Math.floor(size * 1.5));

  ch.enqueue(ev(), 1);
  clock.tick(FLUSH_MS);
  assert.equal(port.events.length, 1);
  assert.equal(eventsOf(port.events[0]!).length, 1);
  assert.equal(port.events[0]!.dropped, 0);

  // The primary has not read the first message yet (no callback): the next events do not fit.
  ch.enqueue(ev(), 2);
  ch.enqueue(ev(), 3);
  clock.tick(FLUSH_MS);
  assert.equal(port.events.length, 2, 'a drop alone is reported within FLUSH_MS');
  assert.deepEqual(core(port.events[1]!), { t: 'events', json: '', times: [], metrics: null, dropped: 2 });
  // the dropped events' sequence numbers travel too, for the gap event
  assert.equal(port.events[1]!.droppedRanges.reduce((n, [a, b]) => n + b - a + 1, 0), 2);
  assert.equal(port.events[1]!.instance, port.events[0]!.instance);

  // Once the backlog is written, events fit again, and the count starts over.
  port.releaseAll();
  const kept = ev();
  ch.enqueue(kept, 4);
  clock.tick(FLUSH_MS);
  assert.equal(port.events.length, 3);
  assert.deepEqual(core(port.events[2]!), { t: 'events', json: serializeEvent(kept), times: [4], metrics: null, dropped: 0 });

  // Message 3 is unwritten still: an event now does not fit beside it.
  ch.enqueue(ev(), 5);
  clock.tick(FLUSH_MS);
  assert.deepEqual(core(port.events[3]!), { t: 'events', json: '', times: [], metrics: null, dropped: 1 });

  // Accepted and dropped events in one batch: the one that fits is sent, the other counted with it.
  port.releaseAll();
  const first = ev();
  ch.enqueue(first, 6);
  ch.enqueue(ev(), 7);
  clock.tick(FLUSH_MS);
  assert.deepEqual(core(port.events[4]!), { t: 'events', json: serializeEvent(first), times: [6], metrics: null, dropped: 1 });

  // An event that cannot be serialised is counted as dropped too.
  port.releaseAll();
  const broken = { ...ev(), api: undefined } as unknown as AuditEvent;
  ch.enqueue(broken, 8);
  ch.enqueue(ev(), 9);
  clock.tick(FLUSH_MS);
  const m6 = port.events[5]!;
  assert.equal(m6.dropped, 1);
  assert.deepEqual(m6.times, [9]);
  assert.equal(port.messages.length, 6);
});

test('drain() sends what is pending at once and resolves only after every send callback', async (t) => {
  const clock = mockClock(t);
  const port = new FakePort();
  const ch = new WorkerEventChannel(port, true);
  await ch.drain(); // nothing outstanding: resolves at once
  assert.equal(port.messages.length, 0);

  ch.enqueue(s3Event('PUT', '/b/1'), 1);
  clock.tick(FLUSH_MS); // message 1 sent, its callback held
  ch.observe('PutObject', 200, 'completed', 2);
  ch.enqueue(s3Event('PUT', '/b/2'), 2);
  let drained = false;
  const d = ch.drain().then(() => { drained = true; });
  assert.equal(port.messages.length, 2, 'drain sends the pending batch without waiting for its timer');
  assert.deepEqual(port.events[1]!.times, [2]);
  await assertMetrics(port.events[1]!.metrics, [['PutObject', 200, 'completed', 2]]);
  clock.tick(METRICS_MS * 2);
  assert.equal(port.messages.length, 2, 'no timer is left to send anything more');
  for (let i = 0; i < 5; i++) await nextTurn();
  assert.equal(drained, false, 'both messages are still unwritten');

  port.release();
  for (let i = 0; i < 5; i++) await nextTurn();
  assert.equal(drained, false, 'one message is still unwritten');

  // A callback with an error (the channel closed) still ends the wait: nothing more can be done.
  port.release(new Error('channel closed'));
  await d;
  assert.equal(drained, true);

  // Two drains at once both resolve, once the message is written.
  ch.enqueue(s3Event('PUT', '/b/3'), 3);
  let a = false;
  let b = false;
  const da = ch.drain().then(() => { a = true; });
  const db = ch.drain().then(() => { b = true; });
  for (let i = 0; i < 3; i++) await nextTurn();
  assert.equal(a || b, false);
  port.releaseAll();
  await Promise.all([da, db]);
});

test('after close() nothing more is sent', async (t) => {
  const clock = mockClock(t);
  const port = new FakePort();
  const ch = new WorkerEventChannel(port, true);
  ch.enqueue(s3Event('GET', '/b/k'), 1);
  const d = ch.drain();
  port.releaseAll();
  await d;
  assert.equal(port.messages.length, 1);
  ch.close();
  ch.enqueue(s3Event('GET', '/b/k'), 2);
  ch.observe('GetObject', 200, 'completed', 1);
  clock.tick(METRICS_MS * 2);
  await ch.drain();
  assert.equal(port.messages.length, 1, 'no message after close');
  assert.equal(port.callbacks.length, 0);

  // close() also cancels a batch's timer (the worker drains first; after close it is exiting).
  const port2 = new FakePort();
  const ch2 = new WorkerEventChannel(port2, true);
  ch2.enqueue(s3Event('GET', '/b/k'), 1);
  ch2.observe('GetObject', 200, 'completed', 1);
  ch2.close();
  clock.tick(METRICS_MS * 2);
  assert.equal(port2.messages.length, 0);
});

test('a port whose send throws (the primary is gone) makes neither enqueue nor drain throw, and leaks no backlog', async (t) => {
  const clock = mockClock(t);
  const port = new FakePort();
  const size = serializeEvent(s3Event('PUT', '/b/same-len')).length;
  const ch = new WorkerEventChannel(port, true, Math.floor(size * 1.5));
  port.throwOnSend = new Error('ERR_IPC_CHANNEL_CLOSED');
  for (let i = 0; i < 5; i++) {
    assert.doesNotThrow(() => {
      ch.observe('PutObject', 200, 'completed', 1);
      ch.enqueue(s3Event('PUT', '/b/same-len'), i);
    });
    assert.doesNotThrow(() => clock.tick(FLUSH_MS), 'the batch timer\'s flush does not throw either');
  }
  // The synchronous flush (a full batch) on a throwing port, with room for a full batch.
  const roomy = new WorkerEventChannel(port, true);
  assert.doesNotThrow(() => { for (let i = 0; i < FLUSH_EVENTS; i++) roomy.enqueue(s3Event('PUT', '/b/same-len'), i); });
  await roomy.drain();
  ch.enqueue(s3Event('PUT', '/b/same-len'), 5);
  await ch.drain(); // its own flush throws inside: still resolves
  assert.equal(port.messages.length, 0);

  // The failed sends did not stay counted as unsent: with a working port again, an event fits and
  // none is reported dropped (the bound is one event; many more were handed to the broken port).
  port.throwOnSend = null;
  ch.enqueue(s3Event('PUT', '/b/same-len'), 6);
  clock.tick(FLUSH_MS);
  assert.equal(port.events.length, 1);
  assert.deepEqual(port.events[0]!.times, [6]);
  assert.equal(port.events[0]!.dropped, 0);
});

test('for the live stream only (delivering false): events travel unnumbered with seq 0, take no number, and are never counted as drops', async (t) => {
  const clock = mockClock(t);
  const port = new FakePort();
  const ch = new WorkerEventChannel(port, true, undefined, undefined, null, false);
  ch.enqueue(s3Event('GET', '/b/live1'));
  ch.enqueue(s3Event('GET', '/b/live2'));
  clock.tick(FLUSH_MS);
  const live = port.events[0]!;
  assert.deepEqual(live.seqs, [0, 0]);
  for (const e of eventsOf(live) as Array<Record<string, any>>) {
    assert.equal(e['sequence'], undefined);
    assert.equal(e['integrity'], undefined);
    assert.equal(e['proxy']['instance'], ch.stamper.instance);
  }
  assert.equal(ch.stamper.lastSequence, 0, 'no number used up');
  // The primary enables a target: the next event is number 1.
  ch.delivering = true;
  ch.enqueue(s3Event('GET', '/b/delivered'));
  clock.tick(FLUSH_MS);
  assert.deepEqual(port.events[1]!.seqs, [1]);
  assert.equal((eventsOf(port.events[1]!)[0] as Record<string, unknown>)['sequence'], 1);

  // A full channel drops a stream-only event silently (not an audit loss: no number, no gap).
  const tight = new FakePort();
  const small = new WorkerEventChannel(tight, true, 10, undefined, null, false);
  small.enqueue(s3Event('GET', '/b/too-big'));
  clock.tick(FLUSH_MS);
  assert.equal(tight.messages.length, 0, 'nothing sent, no drop reported');
});
