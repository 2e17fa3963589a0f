// A driver's shutdown decisions: when waiting for deliveries is of no more use, then what it still
// holds goes to the spool (the rest counted lost). Runs once, after the request path has stopped.
import type { Logger } from '../log.js';
import type { Health } from './health.js';
import type { EventBuffer } from './buffer.js';
import type { Batch } from './batch.js';
import type { Sink } from './sink.js';
import type { AckPoller } from './ack-poller.js';

/** Nothing more can usefully happen before the deadline. */
export function idleForClose(sink: Sink | null, health: Health, b: EventBuffer, inFlight: ReadonlyMap<Batch, number>, ack: AckPoller | null): boolean {
  // A target that is failing, stalled or absent takes nothing more: memory goes to the spool now.
  if (!sink || !health.healthy) return b.mq.length === 0 || !b.spoolUsable;
  return inFlight.size === 0 && b.empty && b.unacknowledgedSpoolBatches === 0 && (ack?.tracker.pendingRanges ?? 0) === 0;
}

/**
 * Everything still held in memory (queued, given back, in flight, accepted but not acknowledged by
 * the indexer) goes to the spool; what does not fit is dropped (`drop`) and said.
 */
export function spoolAtShutdown(b: EventBuffer, inFlight: ReadonlyMap<Batch, number>, ack: AckPoller | null, drop: (reason: string, n: number) => void, log: Logger): void {
  const spool = b.spoolRef;
  const reason = spool === null ? 'shutdown' : spool.error !== null ? 'spool_error' : 'spool_full';
  // still unacknowledged: kept like events never sent (spool batches stay on disk, memory ones are spooled)
  const waiting = (ack?.stop() ?? []).map((e) => (e.batch.unsettle(e.from, e.to), e.batch));
  let lost = 0;
  for (const items of b.drainForShutdown([...inFlight.keys(), ...waiting])) {
    const n = items.json.length;
    const acc = b.spoolItems(items);
    lost += n - acc;
  }
  if (lost > 0) {
    drop(reason, lost);
    log.error({ events: lost, reason }, 'audit events lost at shutdown: no room to keep them');
  }
}
