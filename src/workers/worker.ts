// One S3 listener worker of `serve --workers N`: the same listener and audit observer as the
// single-process proxy, with a WorkerEventChannel to the primary in place of the dispatcher. The
// workers share the listening port (node:cluster hands connections out round-robin).
import cluster from 'node:cluster';
import { hostname } from 'node:os';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import { AuditObserver, eventContextFromConfig } from '../audit/observer.js';
import { startProxy, type ProxyServer } from '../proxy/server.js';
import { signatureGate } from '../proxy/signature-gate.js';
import { WorkerEventChannel } from './event-channel.js';
import { stamperFromConfig } from '../audit/dispatcher-from-config.js';
import { WorkerCredits } from './credits.js';
import { admissionOf } from '../audit/admission-of.js';
import { isOurMessage, WORKER_INIT_ENV, type WorkerInit, type WorkerToPrimary } from './messages.js';

export interface RunningWorker {
  proxy: ProxyServer;
  channel: WorkerEventChannel;
  /** Resolves when the worker has stopped (primary's stop, a signal, or the primary gone). */
  done: Promise<void>;
}

export function workerInitFromEnv(env: NodeJS.ProcessEnv): WorkerInit {
  const raw = env[WORKER_INIT_ENV];
  if (!raw) throw new Error(`${WORKER_INIT_ENV} is not set: workers are started by serve --workers`);
  return JSON.parse(raw) as WorkerInit;
}

export async function startWorker(config: ServeConfig, logger: Logger, init: WorkerInit): Promise<RunningWorker> {
  if (!process.send) throw new Error('a worker needs the IPC channel of its primary');
  const send = (m: WorkerToPrimary, cb?: () => void): void => {
    if (process.connected) process.send!(m, undefined, undefined, cb);
    else cb?.();
  };
  const channel = new WorkerEventChannel({ send: (m, cb) => process.send!(m, undefined, undefined, cb) }, init.active, undefined,
    stamperFromConfig(config, config.hostName ?? hostname()), config.auditRequired ? new WorkerCredits() : null, init.deliver ?? init.active);
  let proxy: ProxyServer | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  let stopped: Promise<void> | null = null;
  let failedToStart = false;
  const stop = (deadlineMs: number, why: string): Promise<void> => stopped ??= (async () => {
    logger.debug({ why, inFlight: proxy?.inFlight() ?? 0 }, 'worker stopping');
    await proxy?.close(deadlineMs);
    // Every request has ended, so every event is in the channel: send them, then say goodbye.
    if (process.connected) {
      await channel.drain();
      channel.close();
      await new Promise<void>((r) => send({ t: 'bye' }, r));
      process.disconnect();
    }
    resolveDone();
  })();

  // Listen to the primary before anything else: a change of the audit state sent while this
  // worker starts must not be missed.
  process.on('message', (m: unknown) => {
    if (!isOurMessage(m)) return;
    if (m.t === 'active') {
      channel.active = m.active;
      channel.delivering = m.deliver;
      send({ t: 'ack', seq: m.seq });
    } else if (m.t === 'credits') {
      channel.credits?.grant(m.n);
    } else if (m.t === 'stop') {
      void stop(m.deadlineMs, 'primary');
    }
  });
  // The primary is gone (crashed or killed): nothing can be audited any more, so stop serving, but
  // let in-flight requests finish. node:cluster's own handler would exit at once unless told that
  // the disconnect is expected.
  cluster.worker!.exitedAfterDisconnect = true;
  process.on('disconnect', () => {
    if (failedToStart) return;
    if (stopped === null) logger.error('the primary process is gone: this worker stops');
    void stop(Math.min(config.shutdownTimeoutMs, 5000), 'primary gone').then(() => process.exit());
  });
  // A signal to the whole process group (Ctrl-C) reaches the workers too: the primary drives the
  // shutdown, so a worker waits for its stop message (or the channel closing).
  const ignore = (): void => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);

  const observer = new AuditObserver(channel, eventContextFromConfig(config, config.hostName ?? hostname()), logger, channel);
  // A worker started after all its siblings died asks for the port they had (for --listen host:0).
  const listen = init.listenPort !== undefined ? { ...config.listen, port: init.listenPort } : config.listen;
  try {
    proxy = await startProxy({ config: { ...config, listen }, backend: init.backend, logger, observer, gate: signatureGate(config), admission: admissionOf(config, channel) });
  } catch (err) {
    process.exitCode = 1;
    failedToStart = true;
    process.disconnect(); // else the IPC channel keeps this failed worker alive
    throw err;
  }
  logger.debug({ port: proxy.port }, 'worker listening');
  return { proxy, channel, done };
}
