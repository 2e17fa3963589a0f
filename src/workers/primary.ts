// The primary of `serve --workers N`: owns everything there must be one of (the dispatcher with its
// spool and webhook, the admin API, the embedded store) and N node:cluster workers that share the
// S3 port. Workers send the events they build; the primary feeds them to the dispatcher with
// enqueueSerialized, so delivery, ordering per worker, the spool and the status work as with one
// process. It restarts a worker that dies, and on stop lets every worker finish and send its last
// events before the dispatcher flushes.
import cluster, { type Worker } from 'node:cluster';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import type { AuditDispatcher } from '../dispatch/dispatcher.js';
import type { AuditEvent } from '../audit/event.js';
import { listenerUrl } from '../proxy/listener.js';
import type { AuditControl } from '../dispatch/types.js';
import { workerPoolMetrics } from './pool-metrics.js';
import { S3apError } from '../errors.js';
import { startApp, type App, type Core, type Front } from '../cli/composition-root.js';
import { creditAllowance, PrimaryCredits } from './credits.js';
import { describeMallocEnv, mallocEnvFor } from '../proxy/malloc-env.js';
import { isOurMessage, WORKER_INIT_ENV, type EventsMessage, type PrimaryToWorker, type WorkerInit } from './messages.js';

export interface RunningPrimary extends App {
  dispatcher: AuditDispatcher<AuditEvent>;
  /** Process ids of the live workers. */
  workerPids(): number[];
  /** Workers started again after dying. */
  restarts(): number;
  stop(): Promise<void>;
}

/** How long the admin API waits for every worker to acknowledge an audit on/off change. */
const ACK_TIMEOUT_MS = 2000;
/** A worker that dies within this time of its start counts towards the restart back-off. */
const RESTART_WINDOW_MS = 10_000;

interface Slot {
  worker: Worker;
  startedAt: number;
  ackedSeq: number;
  ackWaiters: Array<{ seq: number; resolve: () => void }>;
  said: 'nothing' | 'bye';
  exited: Promise<void>;
  /** The worker's event numbering, as last seen in its messages. */
  instance: string | null;
  lastSequence: number;
}

/** Starts the primary holding the --data-dir lock (its workers do not take it). */
export async function startPrimary(config: ServeConfig, logger: Logger): Promise<RunningPrimary> {
  let front: WorkersFront | null = null;
  const app = await startApp(config, logger, {}, (core) => (front = workersFront(core)));
  const f = front as WorkersFront | null;
  return Object.assign(app, { dispatcher: app.dispatcher!, workerPids: () => f!.workerPids(), restarts: () => f!.restarts() });
}

interface WorkersFront extends Front {
  workerPids(): number[];
  restarts(): number;
}

/** The front of `--workers N`: node:cluster workers share the S3 port and send their events here. */
function workersFront(core: Core): WorkersFront {
  const { config, logger } = core;
  const dispatcher = core.dispatcher!;
  const requestMetrics = core.requestMetrics;
  // --audit-required: workers admit requests on credits granted here (credits.ts)
  const credits = config.auditRequired ? new PrimaryCredits(dispatcher, creditAllowance(config.queueMaxEvents, config.workers)) : null;
  const slots = new Map<number, Slot>(); // by cluster worker id
  const poolMetrics = workerPoolMetrics(() => slots.size, () => restarts);
  let stopping = false;
  /** Set once every first worker listens; before that a death fails the start. */
  let running = false;
  let restarts = 0;
  let recentDeaths = 0;
  let activeSeq = 0;
  let listenPort: number | undefined;
  let backend = config.backend ?? '';

  const broadcast = (m: PrimaryToWorker): void => {
    for (const s of slots.values()) if (s.worker.isConnected()) s.worker.send(m);
  };
  /** Tells every worker whether to build events, and waits (bounded) until each has it. */
  const syncActive = async (): Promise<void> => {
    const seq = ++activeSeq;
    broadcast({ t: 'active', active: dispatcher.active, deliver: dispatcher.delivering, seq });
    const waits = [...slots.values()].filter((s) => s.worker.isConnected() && s.ackedSeq < seq)
      .map((s) => new Promise<void>((resolve) => s.ackWaiters.push({ seq, resolve })));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((r) => { timer = setTimeout(r, ACK_TIMEOUT_MS); })]);
    clearTimeout(timer);
    const late = [...slots.values()].filter((s) => s.worker.isConnected() && s.ackedSeq < seq).map((s) => s.worker.process.pid);
    if (late.length > 0) logger.warn({ workers: late, waitedMs: ACK_TIMEOUT_MS, active: dispatcher.active }, 'workers: not every worker acknowledged the audit change in time; the reply goes out, they apply it when they answer');
  };
  // The admin API changes the webhook through this: the reply waits until the workers know.
  const control: AuditControl = {
    webhookConfig: () => dispatcher.webhookConfig(),
    setWebhook: async (c) => { await dispatcher.setWebhook(c); credits?.rebase(); await syncActive(); },
    status: () => dispatcher.status(),
    auditLogStatus: () => dispatcher.auditLogStatus(),
    sendTestEvent: () => dispatcher.sendTestEvent(),
    metricsRegistry: () => poolMetrics.with(dispatcher.metricsRegistry()),
  };
  // A live stream (tail) makes the workers send events too: attaching waits until they know.
  dispatcher.tap.onAttachedChange = () => syncActive();

  const ingest = (m: EventsMessage, slot: Slot): void => {
    const { json, times, metrics, seqs, instance } = m;
    let start = 0;
    for (let i = 0; i < times.length; i++) {
      const end = i === times.length - 1 ? json.length : json.indexOf('\n', start);
      const seq = seqs[i] ?? -1;
      const reservation = credits !== null && m.reserved?.[i] === 1 ? credits.spend(slot.worker) : -1;
      if (seq === 0) dispatcher.publishLive(json.slice(start, end)); // built for the live stream only (never reserved)
      else dispatcher.enqueueSerialized(json.slice(start, end), times[i]!, seq, instance, reservation);
      start = end + 1;
    }
    if (seqs.length > 0) slot.lastSequence = Math.max(slot.lastSequence, seqs[seqs.length - 1]!);
    slot.instance = instance;
    if (metrics !== null) requestMetrics.merge(metrics);
    if (m.dropped > 0) dispatcher.recordUpstreamDrops('worker_channel_full', m.dropped, instance, m.droppedRanges);
    credits?.afterMessage(slot.worker, m.refused);
  };

  const fork = (): Slot => {
    // node:cluster shares a listening socket between workers that asked for the same address and
    // port: a new worker asks what its siblings asked (port 0 included); only when none is left
    // does it ask for the port they had, so that the proxy's address does not change.
    const alone = slots.size === 0 && listenPort !== undefined;
    const init: WorkerInit = { backend, active: dispatcher.active, deliver: dispatcher.delivering, ...(alone ? { listenPort } : {}) };
    // The workers stream the bodies: they get the malloc settings the image sets (src/proxy/malloc-env.ts).
    const worker = cluster.fork({ ...(config.mallocTuning ? mallocEnvFor(process.env) : {}), [WORKER_INIT_ENV]: JSON.stringify(init) });
    const slot: Slot = {
      worker, startedAt: Date.now(), ackedSeq: 0, ackWaiters: [], said: 'nothing', instance: null, lastSequence: 0,
      // Both: 'exit' can come before the channel's last messages are read; 'disconnect' comes after.
      exited: Promise.all([
        new Promise<void>((resolve) => worker.once('exit', () => resolve())),
        new Promise<void>((resolve) => worker.once('disconnect', () => resolve())),
      ]).then(() => undefined),
    };
    slots.set(worker.id, slot);
    // credits once it listens: its message handler is in place by then
    if (credits) worker.once('listening', () => credits.attach(worker));
    // after its last message is read: its unspent credits go back
    void slot.exited.then(() => credits?.detach(worker));
    worker.on('message', (m: unknown) => {
      if (!isOurMessage(m)) return;
      try {
        if (m.t === 'events') ingest(m, slot);
        else if (m.t === 'ack') {
          slot.ackedSeq = Math.max(slot.ackedSeq, m.seq);
          slot.ackWaiters = slot.ackWaiters.filter((w) => (w.seq <= slot.ackedSeq ? (w.resolve(), false) : true));
        } else if (m.t === 'bye') slot.said = 'bye';
      } catch (err) {
        logger.error({ err, worker: worker.id }, 'could not take a message from a worker');
      }
    });
    worker.once('exit', (code, signal) => {
      slots.delete(worker.id);
      // A worker that died without its goodbye lost what it had not sent: how many is not known.
      if (slot.said !== 'bye' && slot.instance !== null) {
        const now = Date.now();
        dispatcher.declareLost({ reason: 'worker_exit', instance: slot.instance, ranges: [], count: null, unlocated: 0, exact: false, firstTime: now, lastTime: now, lastSequence: slot.lastSequence });
      }
      for (const w of slot.ackWaiters) w.resolve();
      // During start-up a death fails the start (below) instead of a restart loop.
      if (stopping || !running) return;
      // Its memory-queued events are lost, as with a kill -9 of a single process (docs/dispatcher.md).
      const quick = Date.now() - slot.startedAt < RESTART_WINDOW_MS;
      recentDeaths = quick ? recentDeaths + 1 : 0;
      const delayMs = Math.min(10_000, recentDeaths <= 1 ? 0 : 500 * 2 ** (recentDeaths - 2));
      logger.error({ worker: worker.id, workerPid: worker.process.pid, code, signal, restartInMs: delayMs }, 'S3 listener worker died; starting another');
      setTimeout(() => {
        if (stopping) return;
        restarts++;
        fork();
      }, delayMs).unref();
    });
    return slot;
  };

  const killAll = async (): Promise<void> => {
    stopping = true;
    const all = [...slots.values()];
    for (const s of all) s.worker.process.kill('SIGKILL');
    await Promise.all(all.map((s) => s.exited));
  };

  return {
    control,
    async listen(origin) {
      backend = origin;
      // node:cluster re-runs this command in each worker: same argv and environment, plus WorkerInit.
      cluster.setupPrimary({ serialization: 'advanced' });
      try {
        const started = Array.from({ length: config.workers }, () => fork());
        listenPort = await new Promise<number>((resolve, reject) => {
          let listening = 0;
          for (const s of started) {
            s.worker.once('listening', (address: { port: number }) => {
              listenPort ??= address.port;
              if (++listening === started.length) resolve(address.port);
            });
            s.worker.once('exit', (code) => reject(new S3apError('S3AP_ERR_WORKER_START', `S3 listener worker ${s.worker.id} exited (code ${code}) before listening; its error is printed above`)));
          }
        });
      } catch (err) {
        await killAll();
        throw err;
      }
      running = true;
      return listenerUrl(config, listenPort);
    },
    abort: async () => { await killAll(); credits?.stop(); },
    async close(deadlineMs) {
      stopping = true;
      const all = [...slots.values()];
      broadcast({ t: 'stop', deadlineMs });
      // A worker exits after its goodbye; one that does not within the deadline (plus time to
      // send its events) is killed, and what it still held is lost.
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        Promise.all(all.map((s) => s.exited)).then(() => false),
        new Promise<boolean>((r) => { timer = setTimeout(() => r(true), deadlineMs + 5000); }),
      ]);
      clearTimeout(timer);
      if (late) {
        logger.error({ workers: slots.size }, 'workers did not stop in time: killing them');
        await killAll();
      }
      const unsaid = all.filter((s) => s.said !== 'bye').length;
      if (unsaid > 0) logger.warn({ workers: unsaid }, 'workers ended without sending their last events');
      credits?.stop();
    },
    // The workers' malloc settings (the primary streams no bodies).
    describe: () => ({ workers: slots.size, malloc: describeMallocEnv({ ...process.env, ...(config.mallocTuning ? mallocEnvFor(process.env) : {}) }) }),
    workerPids: () => [...slots.values()].map((s) => s.worker.process.pid!).filter((p) => p !== undefined),
    restarts: () => restarts,
  };
}
