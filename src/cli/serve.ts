// `s3-audit-proxy serve`: wire the parts together — S3 listener, audit builder, dispatcher, admin API.
import cluster from 'node:cluster';
import { loadServeConfig, SERVE_OPTIONS, type ServeConfig } from '../config/serve-config.js';
import { envName, formatHelp } from '../config/options.js';
import { createLogger, type Logger } from '../log.js';
import { startProxy, type ProxyServer } from '../proxy/server.js';
import { AuditObserver, eventContextFromConfig, type RequestMetricsSink } from '../audit/observer.js';
import type { AuditSink } from '../audit/sink.js';
import { signatureGate } from '../proxy/signature-gate.js';
import { RequestMetrics } from '../admin/metrics.js';
import { startPrimary } from '../workers/primary.js';
import { startWorker, workerInitFromEnv } from '../workers/worker.js';
import { startApp, type App, type Core, type Front } from './composition-root.js';
import { admissionOf } from '../audit/admission-of.js';
import { gcHeadroom } from '../proxy/gc-headroom.js';
import { disablePretenuring } from '../proxy/pretenuring.js';
import { reexecWithMallocEnv } from '../proxy/malloc-env.js';

export const SERVE_USAGE = 'Usage: s3-audit-proxy serve [options]\n\nRun the S3 audit proxy.';

export interface RunningServer extends App {
  proxy: ProxyServer;
}

/** Parts a caller (tests, embedding) may supply instead of the defaults. */
export interface ServerParts {
  sink?: AuditSink;
  metrics?: RequestMetricsSink | null;
}

/** The single process's front: the S3 listener in this process, its events straight into the dispatcher. */
function inProcessFront(core: Core, parts: ServerParts, onProxy: (p: ProxyServer) => void): Front {
  const { config, logger } = core;
  const gate = signatureGate(config);
  const requestMetrics = parts.metrics instanceof RequestMetrics ? parts.metrics : core.requestMetrics;
  core.requestMetrics = requestMetrics;
  const observer = new AuditObserver(core.sink, eventContextFromConfig(config, core.hostName), logger,
    parts.metrics === undefined ? requestMetrics : parts.metrics);
  let proxy: ProxyServer | null = null;
  return {
    control: core.control,
    async listen(backend) {
      proxy = await startProxy({ config, backend, logger, observer, gate, admission: admissionOf(config, core.sink) });
      onProxy(proxy);
      return proxy.url;
    },
    close: async (deadlineMs) => { await proxy?.close(deadlineMs); },
    abort: async () => { await proxy?.close(0); },
    describe: () => (proxy ? { inFlight: proxy.inFlight() } : {}),
  };
}

/** Starts the proxy in this process, holding the --data-dir lock (DataDirLockedError when taken). */
export async function startServer(config: ServeConfig, logger: Logger, parts: ServerParts = {}): Promise<RunningServer> {
  let proxy: ProxyServer | null = null;
  const app = await startApp(config, logger, parts.sink ? { sink: parts.sink } : {}, (core) => inProcessFront(core, parts, (p) => { proxy = p; }));
  return Object.assign(app, { proxy: proxy! });
}

export async function serveCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(formatHelp(SERVE_USAGE, SERVE_OPTIONS));
    return 0;
  }
  // A shared environment may also hold the audit-webhook CLI's S3AP_* settings: not errors for serve.
  const { COMMON_OPTIONS, ENABLE_OPTIONS, BATCH_OPTIONS } = await import('./audit-webhook-options.js');
  const config = loadServeConfig(argv, env, [...COMMON_OPTIONS, ...ENABLE_OPTIONS, ...BATCH_OPTIONS].map((d) => envName(d.name)));
  // glibc's malloc settings for streaming, read at process start (src/proxy/malloc-env.ts): before
  // anything is opened, this process may be replaced by itself with them (same id, argv, flags).
  if (config.mallocTuning && !cluster.isWorker && env === process.env) reexecWithMallocEnv(env);
  const logger = createLogger(config.logLevel as 'info');
  // Large transfers: no full mark-compact every ~32 MiB streamed (src/proxy/gc-headroom.ts).
  if (config.gcHeadroom) gcHeadroom.enable();
  // Request graphs promoted through tenured per-request literals (src/proxy/pretenuring.ts).
  if (!config.v8Pretenuring) disablePretenuring();
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
