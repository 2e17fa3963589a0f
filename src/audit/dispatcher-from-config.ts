// The dispatcher as `serve` configures it, with the audit event's own serializer (one place for
// the single-process and --workers modes). dispatch/ never imports audit/: this file joins them.
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import { serializeEvent } from './serialize.js';
import { AuditDispatcher } from '../dispatch/dispatcher.js';
import type { AuditEvent } from './event.js';
import { EventStamper, gapEventBuilder, readIntegrityKey, refusedEventBuilder, SequencedSink, testEventBuilder } from './sequence.js';
import type { AuditSink } from './sink.js';

/** This process's numbering (and, with --integrity-key-file, sealing) of events. */
export function stamperFromConfig(config: ServeConfig, hostName: string): EventStamper {
  return new EventStamper(config.integrityKeyFile ? readIntegrityKey(config.integrityKeyFile) : null, { hostName });
}

/**
 * The request path's sink: events numbered and sealed by `stamper`, handed to `dispatcher`; while only
 * a live stream wants events, unnumbered and for the stream only.
 */
export function sequencedSink(stamper: EventStamper, dispatcher: AuditDispatcher<AuditEvent>, auditRequired = false): AuditSink {
  const admission = auditRequired ? { admit: () => dispatcher.admit(), release: (r: number) => dispatcher.release(r) } : null;
  return new SequencedSink(stamper, (json, timeMs, seq, inst, r) => dispatcher.enqueueSerialized(json, timeMs, seq, inst, r), () => dispatcher.active, admission,
    () => dispatcher.delivering, (json) => dispatcher.publishLive(json));
}

export function dispatcherFromConfig(config: ServeConfig, logger: Logger, hostName: string, stamper: EventStamper | null = null): AuditDispatcher<AuditEvent> {
  return new AuditDispatcher<AuditEvent>({
    ...(stamper ? { gapEvent: gapEventBuilder(stamper), testEvent: testEventBuilder(stamper), refusedEvent: refusedEventBuilder(stamper) } : {}),
    dataDir: config.dataDir, logger, hostName,
    queueMaxEvents: config.queueMaxEvents, queueMaxBytes: config.queueMaxBytes,
    spoolMaxBytes: config.spoolMaxBytes, spoolFsyncIntervalMs: config.spoolFsyncIntervalMs,
    deadLetterMaxBytes: config.deadLetterMaxBytes,
    auditLogFile: config.auditLog, auditLogMaxBytes: config.auditLogMaxBytes, auditLogMaxFiles: config.auditLogMaxFiles,
    serialize: serializeEvent,
  });
}
