// The dispatcher as `serve` configures it, with the audit event's own serializer (one place for
// the single-process and --workers modes). dispatch/ never imports audit/: this file joins them.
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import { serializeEvent } from './serialize.js';
import { AuditDispatcher } from '../dispatch/dispatcher.js';
import type { AuditEvent } from './event.js';

export function dispatcherFromConfig(config: ServeConfig, logger: Logger, hostName: string): AuditDispatcher<AuditEvent> {
  return new AuditDispatcher<AuditEvent>({
    dataDir: config.dataDir, logger, hostName,
    queueMaxEvents: config.queueMaxEvents, queueMaxBytes: config.queueMaxBytes,
    spoolMaxBytes: config.spoolMaxBytes, spoolFsyncIntervalMs: config.spoolFsyncIntervalMs,
    deadLetterMaxBytes: config.deadLetterMaxBytes,
    auditLogFile: config.auditLog, auditLogMaxBytes: config.auditLogMaxBytes, auditLogMaxFiles: config.auditLogMaxFiles,
    serialize: serializeEvent,
  });
}
