// The dispatcher's boundary types: its options and defaults, and the counters snapshot.
import type { Logger } from '../log.js';
import type { DriverSettings } from './driver-options.js';
import type { GapInfo } from './gaps.js';
import type { RefusalInfo } from './refusals.js';
import type { TapOptions } from './tap.js';

/** Event to JSON text. Declared as a method type so that a dispatcher of a narrower event type still
 * passes where any dispatcher is expected (tests and the harness enqueue partial events). */
export type Serializer<E> = { serialize(event: E): string }['serialize'];

export interface AuditDispatcherOptions<E extends object = object> {
  /** Directory for spool/, spool-audit-log/ and dead-letter/. */
  dataDir: string;
  logger: Logger;
  /** HEC `host` (default: os.hostname()). */
  hostName?: string;
  /** Memory queue bound of each target, events (default 100000). */
  queueMaxEvents?: number;
  /** Memory queue bound of each target, bytes of event JSON (default 64 MiB). */
  queueMaxBytes?: number;
  /** Disk spool bound of each target, bytes (default 1 GiB). */
  spoolMaxBytes?: number;
  /** Spool fdatasync interval, ms (default 1000; 0 = after every write). */
  spoolFsyncIntervalMs?: number;
  /** Spool segment size before rotation, bytes (default 8 MiB). */
  spoolSegmentMaxBytes?: number;
  /** Dead-letter directory bound, bytes (default 256 MiB). */
  deadLetterMaxBytes?: number;
  /** Local JSONL audit log, a second target (default none). */
  auditLogFile?: string | null;
  auditLogMaxBytes?: number;
  auditLogMaxFiles?: number;
  /** Retry backoff: first delay bound and cap, ms (defaults 1000 and 30000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Interval of the "events dropped" log line, ms (default 10000). */
  dropLogIntervalMs?: number;
  /**
   * Event to JSON text for enqueue() (default JSON.stringify). The proxy passes its fixed-shape
   * serializer; the dispatcher itself never looks inside an event.
   */
  serialize?: Serializer<E>;
  /**
   * Builds the JSON text of a `kind: "gap"` event from what was lost (the audit side's template:
   * dispatch knows nothing of the event schema). Called synchronously just before the event is
   * pushed, so that the event's own sequence number follows the order events reach the dispatcher.
   * Without it losses are counted only. With it the dispatcher also keeps
   * `dataDir/sequence-state.json` (last sequence accepted per instance) and declares crashes.
   */
  gapEvent?: (info: GapInfo) => StampedEvent;
  /**
   * Builds a `kind: "refused"` event from requests refused by fail-closed admission
   * (recordRefused), emitted once there is room again. Without it refusals are counted only.
   */
  refusedEvent?: (info: RefusalInfo) => StampedEvent;
  /** The admin test event (sendTestEvent), stamped by the audit side; default: an unsequenced one. */
  testEvent?: () => StampedEvent;
  /** The live tap's bounds (stream clients, bytes buffered per client, ping interval). */
  tap?: TapOptions;
}

/** An event built by the audit side with its sequence number. */
export interface StampedEvent {
  json: string;
  timeMs: number;
  sequence: number;
  instance: string;
}

export const DEFAULTS = {
  queueMaxEvents: 100_000,
  queueMaxBytes: 64 * 1024 * 1024,
  spoolMaxBytes: 1024 * 1024 * 1024,
  spoolFsyncIntervalMs: 1000,
  deadLetterMaxBytes: 256 * 1024 * 1024,
  auditLogMaxBytes: 100 * 1024 * 1024,
  auditLogMaxFiles: 5,
  retryBaseMs: 1000,
  retryMaxMs: 30_000,
  batchMaxEvents: 500,
  batchMaxBytes: 1024 * 1024,
  batchMaxWaitMs: 1000,
  dropLogIntervalMs: 10_000,
} as const;

/** The audit-log file target: small batches, written and fdatasynced one at a time. */
export const FILE_SETTINGS: DriverSettings = { batchMaxEvents: 1000, batchMaxBytes: 1024 * 1024, batchMaxWaitMs: 200, concurrency: 1, requestTimeoutMs: 30_000 };

/** Snapshot of the delivery counters of the webhook target, for tests and benchmarks. */
export interface DispatcherCounters {
  /** Events offered to the webhook target (= enqueued). */
  generated: number;
  delivered: number;
  dropped: number;
  droppedByReason: Record<string, number>;
  deadLettered: number;
  /** Events written to the spool (cumulative). */
  spooled: number;
  /** Event re-sends (one per event per extra attempt). */
  retried: number;
  /** Events found in the spool when it was opened (left by an earlier run). */
  recovered: number;
  /** Current: memory (queue and batches given back), spool, spool bytes not yet written, requests and events in flight. */
  queued: number;
  spoolEvents: number;
  spoolPendingBytes: number;
  inFlight: number;
  inFlightEvents: number;
  /** Local audit log: events written and fdatasynced, and lost (all reasons). */
  fileWritten: number;
  fileDropped: number;
}

