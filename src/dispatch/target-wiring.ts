// One target put together (buffer, driver, metrics, spool), the audit-log file target, and what the
// targets share; apart from the dispatcher, which only routes events to what is built here.
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { Spool } from './spool.js';
import { DeadLetter } from './dead-letter.js';
import type { EventSlab } from './event-slab.js';
import type { BackoffOptions } from './retry-policy.js';
import { EventBuffer } from './buffer.js';
import { Driver } from './driver.js';
import { AckMetrics } from './ack-metrics.js';
import { FileSink } from './file-sink.js';
import { ThrottledLog } from './throttled-log.js';
import { TargetMetrics, type TargetKind } from './target-metrics.js';
import { Counter, METRIC_PREFIX, type Registry } from './metrics.js';
import { DEFAULTS, FILE_SETTINGS, type AuditDispatcherOptions } from './dispatcher-options.js';
import { GapTracker } from './gaps.js';

export interface Target {
  kind: TargetKind;
  driver: Driver;
  buffer: EventBuffer;
  metrics: TargetMetrics;
  spool: Spool | null;
}

/** What every target of one dispatcher shares. */
export interface TargetWiring {
  opts: AuditDispatcherOptions;
  log: Logger;
  registry: Registry;
  /** Events accepted, one counter labelled by target. */
  delivered: Counter;
  backoff: BackoffOptions;
  deadLetter: DeadLetter;
  slab: EventSlab;
  /** A target recorded a loss: the dispatcher emits a gap event once there is room. */
  gapPending: () => void;
}

/**
 * What the targets of one dispatcher share: the delivered counter (labelled by target) and the
 * dead-letter store (the webhook's: `webhook` counts what it writes and what it loses).
 */
export function wireTargets(opts: AuditDispatcherOptions, log: Logger, registry: Registry, slab: EventSlab, backoff: BackoffOptions, webhook: () => Driver, gapPending: () => void): TargetWiring {
  const delivered = new Counter(registry, `${METRIC_PREFIX}events_delivered_total`, 'Events accepted by a target (webhook: 2xx; file: written and fdatasynced).', 'target', ['webhook', 'file']);
  const deadLetter = new DeadLetter({
    dir: join(opts.dataDir, 'dead-letter'),
    maxBytes: opts.deadLetterMaxBytes ?? DEFAULTS.deadLetterMaxBytes,
    logger: log,
    onLost: (n, reason) => webhook().drop(reason, n),
    onWritten: (n, reason) => webhook().deadLettered(n, reason),
  });
  return { opts, log, registry, delivered, backoff, deadLetter, slab, gapPending };
}

export function makeTarget(w: TargetWiring, kind: TargetKind, withDeadLetters: boolean): Target {
  const buffer = new EventBuffer(w.opts.queueMaxEvents ?? DEFAULTS.queueMaxEvents, w.opts.queueMaxBytes ?? DEFAULTS.queueMaxBytes);
  const every = w.opts.dropLogIntervalMs ?? DEFAULTS.dropLogIntervalMs;
  const log = w.log.child({ target: kind });
  let driver: Driver | null = null;
  const metrics = new TargetMetrics(w.registry, kind, w.delivered, {
    queuedEvents: () => buffer.mq.length + buffer.heldOutside,
    queuedBytes: () => buffer.mq.bytes,
    inFlightRequests: () => driver?.requestsInFlight ?? 0,
    spoolBytes: () => buffer.spoolRef?.bytes ?? 0,
    spoolEvents: () => buffer.spoolRef?.events ?? 0,
    queueMaxEvents: () => buffer.mq.maxEvents,
    queueMaxBytes: () => buffer.mq.maxBytes,
    spoolMaxBytes: () => buffer.spoolRef?.maxBytes ?? 0,
    state: () => driver?.health.state ?? 'disabled',
    consecutiveFailures: () => driver?.health.consecutiveFailures ?? 0,
  });
  const ackMetrics = kind === 'webhook' ? new AckMetrics(w.registry, () => driver?.ack?.status() ?? null) : null;
  const gaps = w.opts.gapEvent ? new GapTracker(w.gapPending) : null;
  const d = new Driver({
    gaps,
    name: kind === 'webhook' ? 'audit webhook' : 'audit log file',
    buffer, logger: log, backoff: w.backoff, metrics, ackMetrics,
    drops: new ThrottledLog(log, every, 'audit events lost, counted by reason (spool_full, queue_full, spool_error, spool_corrupt, dead_letter_full, ...)'),
    deadLetter: withDeadLetters ? w.deadLetter : null,
    deadLetters: withDeadLetters
      ? new ThrottledLog(log, every, 'audit events refused by the receiver: written to the dead-letter files', () => ({ dir: w.deadLetter.dir, lastReply: driver?.lastDeadLetterReply }))
      : null,
    retire: (json) => w.slab.release(json),
  });
  driver = d;
  return { kind, driver: d, buffer, metrics, spool: null };
}

/** Opens the target's spool in `dataDir/<dirName>`; without one (it cannot open) events are kept in memory only. */
export async function openSpool(w: TargetWiring, t: Target, dirName: string): Promise<void> {
  const dir = join(w.opts.dataDir, dirName);
  try {
    t.spool = await Spool.open({
      dir,
      maxBytes: w.opts.spoolMaxBytes ?? DEFAULTS.spoolMaxBytes,
      fsyncIntervalMs: w.opts.spoolFsyncIntervalMs ?? DEFAULTS.spoolFsyncIntervalMs,
      segmentMaxBytes: w.opts.spoolSegmentMaxBytes,
      logger: w.log.child({ target: t.kind }),
      // bytes taken from memory and not yet on disk: never more than the memory queue held
      maxPendingWriteBytes: Math.max(32 * 1024 * 1024, t.buffer.mq.maxBytes),
      onLost: (count, reason) => t.driver.drop(reason, count),
      onWritten: () => t.driver.schedulePump(),
    });
  } catch (err) {
    t.spool = null;
    w.log.error({ dir, err: (err as Error).message }, 'audit spool unavailable: events are kept in memory only while the target fails');
  }
  t.buffer.attachSpool(t.spool);
}

/** The local audit log (--audit-log `path`): its file opened, its spool, its driver started. */
export async function openFileTarget(w: TargetWiring, path: string): Promise<Target> {
  const sink = new FileSink({
    path, logger: w.log,
    maxBytes: w.opts.auditLogMaxBytes ?? DEFAULTS.auditLogMaxBytes,
    maxFiles: w.opts.auditLogMaxFiles ?? DEFAULTS.auditLogMaxFiles,
    backoff: w.backoff,
  });
  await sink.open();
  const file = makeTarget(w, 'file', false);
  await openSpool(w, file, 'spool-audit-log');
  file.driver.setSink(sink, FILE_SETTINGS);
  file.driver.start();
  return file;
}
