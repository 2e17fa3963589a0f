// The dispatcher as `serve` configures it (one place for the single-process and --workers modes).
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import { serializeEvent } from '../audit/serialize.js';
import { AuditDispatcher } from './dispatcher.js';

export function dispatcherFromConfig(config: ServeConfig, logger: Logger, hostName: string): AuditDispatcher {
  return new AuditDispatcher({
    dataDir: config.dataDir, logger, hostName,
    queueMaxEvents: config.queueMaxEvents, queueMaxBytes: config.queueMaxBytes,
    spoolMaxBytes: config.spoolMaxBytes, spoolFsyncIntervalMs: config.spoolFsyncIntervalMs,
    deadLetterMaxBytes: config.deadLetterMaxBytes,
    auditLogFile: config.auditLog, auditLogMaxBytes: config.auditLogMaxBytes, auditLogMaxFiles: config.auditLogMaxFiles,
    serialize: serializeEvent,
  });
}
