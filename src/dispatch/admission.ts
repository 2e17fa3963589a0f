// Fail-closed admission (--audit-required): room promised in every enabled target, as a token of
// slot bits spent by enqueueSerialized() or given back; the dispatcher only carries the token.
import type { Driver } from './driver.js';
import type { Target } from './target-wiring.js';

/** reserve() tokens: which targets hold a slot for the event (bit set), or NOT_RESERVED. */
export const NOT_RESERVED = -1;
export const WEBHOOK_SLOT = 1;
export const FILE_SLOT = 2;

/**
 * Promises room for one event in every enabled target, before the request it audits is let
 * through: a token for enqueueSerialized() (or release()), 0 when no target is enabled (nothing to
 * keep), or NOT_RESERVED when some target has no room (`d.lastRefusal` says why; nothing is held).
 * O(1) unless memory is full (then one spill chunk, as push does).
 */
export function reserveSlots(webhook: Driver, file: Target | null, d: { lastRefusal: string }): number {
  let token = 0;
  if (webhook.currentSink !== null) {
    const why = webhook.reserve();
    if (why !== null) {
      d.lastRefusal = why;
      return NOT_RESERVED;
    }
    token |= WEBHOOK_SLOT;
  }
  if (file !== null) {
    const why = file.driver.reserve();
    if (why !== null) {
      if (token & WEBHOOK_SLOT) webhook.release();
      d.lastRefusal = why;
      return NOT_RESERVED;
    }
    token |= FILE_SLOT;
  }
  return token;
}

/** Gives back a reservation whose event will not come. */
export function releaseSlots(reservation: number, webhook: Driver, file: Target | null): void {
  if (reservation <= 0) return;
  if (reservation & WEBHOOK_SLOT) webhook.release();
  if (reservation & FILE_SLOT) file?.driver.release();
}

/** Slots of targets disabled since the reservation was made (`w`, `f`: what is enabled now). */
export function releaseUnused(reservation: number, w: boolean, f: Target | null, webhook: Driver, file: Target | null): void {
  if (!w && (reservation & WEBHOOK_SLOT)) webhook.release();
  if (!f && (reservation & FILE_SLOT)) file?.driver.release();
}
