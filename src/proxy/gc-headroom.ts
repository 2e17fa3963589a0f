// Old-generation headroom for streaming. Every socket read is a fresh 64 KiB ArrayBuffer, and V8
// counts the external memory allocated since the last mark-compact against the old generation's
// allocation limit: with the small heap of this process (~14 MB live) that limit leaves ~15 MB, less
// than the ~32 MiB of young buffers V8 lets pile up between two scavenges. Once a mark-compact has
// set such a limit, a large transfer can run a full mark-compact every ~32 MiB (30 per GiB, +0.5 to
// +0.7 s of CPU per GiB; docs/performance.md, "Large objects (session 7)"). A larger growing factor
// while the heap is small keeps ~48 MiB of headroom above what is live, so those buffers die in
// scavenges as they should; once the heap is large, V8's own factor applies again.
import v8 from 'node:v8';
import { constants, PerformanceObserver } from 'node:perf_hooks';

/** Room wanted above the live old generation: the external bytes of one scavenge cycle, and some. */
export const GC_HEADROOM_BYTES = 48 * 1024 * 1024;
/** At most 4x (V8's own largest factor); below 50 % V8's dynamic factor is left alone. */
const MAX_PERCENT = 300;
const MIN_PERCENT = 50;

/** The `--heap-growing-percent` that leaves GC_HEADROOM_BYTES above `liveBytes` (0 = V8's default). */
export function growingPercentFor(liveBytes: number): number {
  if (!(liveBytes > 0)) return MAX_PERCENT;
  const percent = Math.ceil((GC_HEADROOM_BYTES / liveBytes) * 100);
  return percent < MIN_PERCENT ? 0 : Math.min(MAX_PERCENT, percent);
}

export interface GcHeadroomHooks {
  /** Bytes live on the V8 heap now. */
  liveBytes(): number;
  /** Applies a V8 flag. */
  setFlags(flags: string): void;
}

const V8_HOOKS: GcHeadroomHooks = {
  liveBytes: () => v8.getHeapStatistics().used_heap_size,
  setFlags: (flags) => v8.setFlagsFromString(flags),
};

/**
 * Sets the growing factor now and after every mark-compact (V8 reads it when it computes the next
 * limit, at the end of a mark-compact). Returns a function that stops following the heap.
 */
export function keepGcHeadroom(hooks: GcHeadroomHooks = V8_HOOKS): () => void {
  let current = -1;
  const apply = (): void => {
    const percent = growingPercentFor(hooks.liveBytes());
    if (percent === current) return;
    current = percent;
    hooks.setFlags(`--heap-growing-percent=${percent}`);
  };
  apply();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) { apply(); return; }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
