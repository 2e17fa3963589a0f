// The driver's boundary types (batch settings, dead-letter store, options), apart from driver.ts as
// dispatcher-options.ts is from the dispatcher: what its builders name, without the scheduler.
import type { Logger } from '../log.js';
import type { GapTracker } from './gaps.js';
import type { EventJson } from './event-slab.js';
import type { EventBuffer } from './buffer.js';
import type { BackoffOptions } from './retry-policy.js';
import type { TargetMetrics } from './target-metrics.js';
import type { ThrottledLog } from './throttled-log.js';
import type { DeadLetterReason } from './dead-letter.js';
import type { AckSettings } from './ack-poller.js';
import type { AckMetrics } from './ack-metrics.js';

export interface DriverSettings {
  batchMaxEvents: number;
  batchMaxBytes: number;
  batchMaxWaitMs: number;
  concurrency: number;
  /** The sink's request timeout (bounds the stall threshold). */
  requestTimeoutMs: number;
  /** HEC indexer acknowledgement (null/absent: off; a 2xx is delivered). */
  ack?: AckSettings | null;
}

/** Where refused events go. Returns how many of [from, to) it kept; it reports the rest as lost itself. */
export interface DeadLetterStore {
  write(json: readonly EventJson[], from: number, to: number, reason: DeadLetterReason, statusCode: number | null, reply: string, endpoint: string): number;
}

export interface DriverOptions {
  /** For log lines: "audit webhook", "audit log file". */
  name: string;
  buffer: EventBuffer;
  logger: Logger;
  backoff: BackoffOptions;
  metrics: TargetMetrics;
  drops: ThrottledLog;
  deadLetter: DeadLetterStore | null;
  deadLetters: ThrottledLog | null;
  /** Where every loss is recorded for gap events (gaps.ts); null: counted only. */
  gaps?: GapTracker | null;
  /** Set for a target that may use HEC indexer acknowledgement (the webhook). */
  ackMetrics?: AckMetrics | null;
  /**
   * Called once per event of a memory batch the driver keeps no reference to any more (delivered
   * in one clean attempt, see Batch.clean): the dispatcher's slab may then reuse the bytes.
   */
  retire?: ((json: EventJson) => void) | null;
}
