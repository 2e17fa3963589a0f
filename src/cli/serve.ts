// `s3-audit-proxy serve`: wire the parts together — S3 listener, audit builder, dispatcher, admin API.
import cluster from 'node:cluster';
import { hostname } from 'node:os';
import { loadServeConfig, SERVE_OPTIONS, type ServeConfig } from '../config/serve-config.js';
import { envName, formatHelp } from '../config/options.js';
import { createLogger, type Logger } from '../log.js';
import { announceEmbeddedStore, startEmbeddedStore, type EmbeddedStore } from '../proxy/embedded-store.js';
import { startProxy, type ProxyServer } from '../proxy/server.js';
import { AuditObserver, eventContextFromConfig, type RequestMetricsSink } from '../audit/observer.js';
import type { AuditSink } from '../audit/sink.js';
import type { AuditDispatcher } from '../dispatch/dispatcher.js';
import type { AuditEvent } from '../audit/event.js';
import { dispatcherFromConfig, sequencedSink, stamperFromConfig } from '../audit/dispatcher-from-config.js';
import { underDataDirLock } from '../dispatch/data-dir-lock.js';
import { signatureGate } from '../proxy/signature-gate.js';
import { startAdminServer, restorePersistedWebhook, isAuditControl, unavailableControl, type AdminServer } from '../admin/server.js';
import { RequestMetrics } from '../admin/metrics.js';
import { startPrimary } from '../workers/primary.js';
import { announceAuditLog } from '../config/audit-log-default.js';
import { startWorker, workerInitFromEnv } from '../workers/worker.js';
import { admissionOf } from '../audit/admission-of.js';

export const SERVE_USAGE = 'Usage: s3-audit-proxy serve [options]\n\nRun the S3 audit proxy.';

export interface RunningServer {
  config: ServeConfig;
  logger: Logger;
  proxy: ProxyServer;
  embedded: EmbeddedStore | null;
  /** The delivery pipeline (null when a caller supplied its own sink). */
  dispatcher: AuditDispatcher<AuditEvent> | null;
  /** The admin API (its own listener). */
  admin: AdminServer;
  stop(): Promise<void>;
}

/** Parts a caller (tests, embedding) may supply instead of the defaults. */
export interface ServerParts {
  sink?: AuditSink;
  metrics?: RequestMetricsSink | null;
}

const NO_SINK: AuditSink = { active: false, enqueue() {} };

/** Starts the proxy in this process, holding the --data-dir lock (DataDirLockedError when taken). */
export async function startServer(config: ServeConfig, logger: Logger, parts: ServerParts = {}): Promise<RunningServer> {
  return underDataDirLock(config.dataDir, logger, () => startLocked(config, logger, parts));
}

async function startLocked(config: ServeConfig, logger: Logger, parts: ServerParts): Promise<RunningServer> {
  const gate = signatureGate(config);
  const hostName = config.hostName ?? hostname();
  const stamper = stamperFromConfig(config, hostName);
  const dispatcher = parts.sink ? null : dispatcherFromConfig(config, logger, hostName, stamper);
  await dispatcher?.start();
  const sink: AuditSink = parts.sink ?? (dispatcher ? sequencedSink(stamper, dispatcher, config.auditRequired) : NO_SINK);
  const control = dispatcher ?? (isAuditControl(parts.sink) ? parts.sink : unavailableControl('audit delivery is provided by the embedding application'));
  const requestMetrics = parts.metrics instanceof RequestMetrics ? parts.metrics : new RequestMetrics();
  // The saved webhook is back before the S3 listener opens: the first requests are audited too.
  if (dispatcher || isAuditControl(parts.sink)) await restorePersistedWebhook(config.dataDir, control, logger);
  const observer = new AuditObserver(sink, eventContextFromConfig(config, hostName), logger,
    parts.metrics === undefined ? requestMetrics : parts.metrics);
  let embedded: EmbeddedStore | null = null;
  let proxy: ProxyServer;
  try {
    embedded = config.backend ? null : await startEmbeddedStore(config.dataDir, config.virtualHostDomains, config.hostBucketCname);
    proxy = await startProxy({ config, backend: config.backend ?? embedded!.origin, logger, observer, gate, admission: admissionOf(config, sink) });
  } catch (err) {
    // e.g. the port is taken: close what started, so the process ends with the error, not hangs.
    await dispatcher?.close(1000);
    if (embedded) await embedded.close();
    throw err;
  }
  const backend = config.backend ?? embedded!.origin;
  if (embedded) announceEmbeddedStore(logger, embedded, proxy.url);
  let admin: AdminServer;
  try {
    admin = await startAdminServer({ config, logger, control, sink, metrics: requestMetrics, s3Url: proxy.url, backend, hostName, tap: dispatcher?.tap ?? null });
  } catch (err) {
    await proxy.close(0);
    await dispatcher?.close(1000);
    if (embedded) await embedded.close();
    throw err;
  }
  logger.info({ admin: admin.url }, 'admin API listening');
  announceAuditLog(logger, config.auditLog, config.dataDir);
  logger.info({ listen: proxy.url, backend, host: hostName }, 's3-audit-proxy listening');
  let stopping: Promise<void> | null = null;
  return {
    config, logger, proxy, embedded, dispatcher, admin,
    stop() {
      stopping ??= (async () => {
        logger.info({ inFlight: proxy.inFlight(), deadlineMs: config.shutdownTimeoutMs }, 'shutting down');
        const started = Date.now();
        admin.beginShutdown();
        await proxy.close(config.shutdownTimeoutMs);
        // Events of the last requests are queued by now: deliver what can be, spool the rest.
        await dispatcher?.close(Math.max(1000, config.shutdownTimeoutMs - (Date.now() - started)));
        if (embedded) await embedded.close();
        await admin.close();
        logger.info('shutdown complete');
      })();
      return stopping;
    },
  };
}

export async function serveCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(formatHelp(SERVE_USAGE, SERVE_OPTIONS));
    return 0;
  }
  // A shared environment may also hold the audit-webhook CLI's S3AP_* settings: not errors for serve.
  const { COMMON_OPTIONS, ENABLE_OPTIONS } = await import('./audit-webhook.js');
  const config = loadServeConfig(argv, env, [...COMMON_OPTIONS, ...ENABLE_OPTIONS].map((d) => envName(d.name)));
  const logger = createLogger(config.logLevel as 'info');
  if (config.workers > 1 && cluster.isWorker) {
    // A worker of `serve --workers N`: the primary decides when it stops.
    const worker = await startWorker(config, logger.child({ worker: cluster.worker!.id }), workerInitFromEnv(env));
    await worker.done;
    return 0;
  }
  const running = config.workers > 1 ? await startPrimary(config, logger) : await startServer(config, logger);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'signal received');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      running.stop().then(resolve, (err: unknown) => { logger.error({ err }, 'shutdown failed'); resolve(); });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  return 0;
}
