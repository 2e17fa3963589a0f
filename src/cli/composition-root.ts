// The one composition root of `serve`: the start, rollback and stop sequence that the single
// process, `--workers N` (src/workers/primary.ts) and cluster mode (--cluster-store) all run.
//
//   start:    data-dir lock -> dispatcher -> embedded store -> audit settings (cluster store, else
//             the data directory) -> S3 listener(s) (the "front") -> admin API -> cluster loops
//   rollback: whatever started is closed again, last first, and the error is thrown on
//   stop:     /readyz 503 -> cluster loops (last heartbeat) -> S3 listener(s) drain -> dispatcher
//             delivers or spools -> embedded store -> admin API
//
// What differs between the modes is only the front: one in-process listener (serve.ts) or N
// node:cluster workers (workers/primary.ts). Everything there must be one of lives here.
import { hostname } from 'node:os';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import { announceEmbeddedStore, startEmbeddedStore, type EmbeddedStore } from '../proxy/embedded-store.js';
import type { AuditSink } from '../audit/sink.js';
import type { AuditDispatcher } from '../dispatch/dispatcher.js';
import type { AuditEvent } from '../audit/event.js';
import type { AuditControl } from '../dispatch/types.js';
import { dispatcherFromConfig, sequencedSink, stamperFromConfig } from '../audit/dispatcher-from-config.js';
import type { EventStamper } from '../audit/sequence.js';
import { underDataDirLock } from '../dispatch/data-dir-lock.js';
import { startAdminServer, restorePersistedWebhook, isAuditControl, unavailableControl, type AdminServer } from '../admin/server.js';
import { RequestMetrics } from '../admin/metrics.js';
import type { ClusterSync } from '../cluster/sync.js';
import { openCluster } from '../cluster/open-cluster.js';
import { announceAuditLog } from '../config/audit-log-default.js';
import { describeMallocEnv } from '../proxy/malloc-env.js';

/** What every mode shares, handed to the front before it is started. */
export interface Core {
  config: ServeConfig;
  logger: Logger;
  hostName: string;
  stamper: EventStamper;
  /** The delivery pipeline (null when the embedding application supplied its own sink). */
  dispatcher: AuditDispatcher<AuditEvent> | null;
  /** Numbered events into the dispatcher (admin events; in one process, S3 events too). */
  sink: AuditSink;
  /** The dispatcher's (or the embedder's) control. */
  control: AuditControl;
  requestMetrics: RequestMetrics;
}

/** The S3 side of a mode: one in-process listener, or node:cluster workers. */
export interface Front {
  /** The control the admin API and the cluster store change (a front may wrap core.control). */
  control: AuditControl;
  /** Opens the S3 listener(s) forwarding to `backend`; resolves the listener's URL. */
  listen(backend: string): Promise<string>;
  /** Stops accepting and lets requests in flight finish within the deadline (their events are queued after). */
  close(deadlineMs: number): Promise<void>;
  /** Undoes a start that failed later on: closes at once. */
  abort(): Promise<void>;
  /** Extra fields of the "listening" log line. */
  describe(): Record<string, unknown>;
}

export interface App {
  config: ServeConfig;
  logger: Logger;
  hostName: string;
  url: string;
  backend: string;
  dispatcher: AuditDispatcher<AuditEvent> | null;
  admin: AdminServer;
  embedded: EmbeddedStore | null;
  /** The cluster store's sync (null without --cluster-store). */
  cluster: ClusterSync | null;
  stop(): Promise<void>;
}

/** Parts a caller (tests, embedding) may supply instead of the defaults. */
export interface AppParts {
  sink?: AuditSink;
}

const NO_SINK: AuditSink = { active: false, enqueue() {} };

/** Starts `serve` in the mode `makeFront` builds, holding the --data-dir lock (DataDirLockedError when taken). */
export async function startApp(config: ServeConfig, logger: Logger, parts: AppParts, makeFront: (core: Core) => Front): Promise<App> {
  return underDataDirLock(config.dataDir, logger, () => startLocked(config, logger, parts, makeFront));
}

async function startLocked(config: ServeConfig, logger: Logger, parts: AppParts, makeFront: (core: Core) => Front): Promise<App> {
  const hostName = config.hostName ?? hostname();
  const stamper = stamperFromConfig(config, hostName);
  const dispatcher = parts.sink ? null : dispatcherFromConfig(config, logger, hostName, stamper);
  await dispatcher?.start();
  const sink: AuditSink = parts.sink ?? (dispatcher ? sequencedSink(stamper, dispatcher, config.auditRequired) : NO_SINK);
  const ownControl = dispatcher ?? (isAuditControl(parts.sink) ? parts.sink : null);
  const core: Core = {
    config, logger, hostName, stamper, dispatcher, sink,
    control: ownControl ?? unavailableControl('audit delivery is provided by the embedding application'),
    requestMetrics: new RequestMetrics(),
  };
  // Rollback: what started is closed again, last first.
  const undo: Array<() => Promise<unknown>> = [];
  if (dispatcher) undo.push(() => dispatcher.close(1000));
  const rollback = async (err: unknown): Promise<never> => {
    for (const u of undo.reverse()) await u().catch((e: unknown) => logger.error({ err: (e as Error).message }, 'start-up rollback step failed'));
    throw err;
  };
  try {
    const front = makeFront(core);
    const embedded = config.backend ? null : await startEmbeddedStore(config.dataDir, config.virtualHostDomains, config.hostBucketCname);
    if (embedded) undo.push(() => embedded.close());
    const backend = config.backend ?? embedded!.origin;
    // The audit settings are in force before the S3 listener opens: the first requests are audited.
    let cluster: ClusterSync | null = null;
    if (config.clusterStore) {
      cluster = await openCluster({ config, logger, control: front.control, hostName, backend, status: () => front.control.status() });
      undo.push(() => cluster!.stop());
    } else if (ownControl) {
      await restorePersistedWebhook(config.dataDir, front.control, logger);
    }
    const url = await front.listen(backend);
    undo.push(() => front.abort());
    if (embedded) announceEmbeddedStore(logger, embedded, url);
    const admin = await startAdminServer({
      config, logger, control: front.control, sink, metrics: core.requestMetrics, s3Url: url, backend, hostName, cluster,
      tap: dispatcher?.tap ?? null,
    });
    undo.push(() => admin.close());
    cluster?.startLoops();
    logger.info({ admin: admin.url }, 'admin API listening');
    announceAuditLog(logger, config.auditLog, config.dataDir);
    logger.info({ listen: url, backend, host: hostName, malloc: describeMallocEnv(process.env), ...front.describe() }, 's3-audit-proxy listening');
    let stopping: Promise<void> | null = null;
    return {
      config, logger, hostName, url, backend, dispatcher, admin, embedded, cluster,
      stop() {
        stopping ??= (async () => {
          const started = Date.now();
          logger.info({ ...front.describe(), deadlineMs: config.shutdownTimeoutMs }, 'shutting down');
          admin.beginShutdown();
          await cluster?.stop();
          await front.close(config.shutdownTimeoutMs);
          // Events of the last requests are queued by now: deliver what can be, spool the rest.
          await dispatcher?.close(Math.max(1000, config.shutdownTimeoutMs - (Date.now() - started)));
          if (embedded) await embedded.close();
          await admin.close();
          logger.info('shutdown complete');
        })();
        return stopping;
      },
    };
  } catch (err) {
    return rollback(err);
  }
}
