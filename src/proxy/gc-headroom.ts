// Old-generation headroom while large bodies stream. Every socket read is a fresh 64 KiB
// ArrayBuffer, and V8 counts the external memory allocated since the last mark-compact against the
// old generation's allocation limit. With the small heap of this process (~14 MB live) that limit
// leaves ~15 MB: less than the ~32 MiB of young buffers V8 lets pile up between two scavenges. Once
// a mark-compact has set such a limit, a large transfer runs a full mark-compact every ~32 MiB (about
// 30 per GiB, +0.5 to +0.7 s of CPU per GiB; docs/performance.md, "Large objects (session 7)").
// While a large body streams, a larger growing factor leaves ~48 MiB above what is live, so those
// buffers die in scavenges as they should; when no large body streams, V8's own factor applies again
// (the headroom is not kept for small requests, whose heap would grow into it: +40 MiB RSS measured).
// While bodies stream, a YoungBufferScavenger also asks for a scavenge every 16 MiB of reads (young-buffers.ts).
import v8 from 'node:v8';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { YoungBufferScavenger } from './young-buffers.js';

/** Room wanted above the live old generation: the external bytes of one scavenge cycle, and some. */
export const GC_HEADROOM_BYTES = 48 * 1024 * 1024;
/** A body of at least this many bytes (Content-Length) keeps the headroom while it streams. */
export const LARGE_BODY_BYTES = 8 * 1024 * 1024;
/** At most 4x (V8's own largest factor); below 50 % V8's dynamic factor is left alone. */
const MAX_PERCENT = 300;
const MIN_PERCENT = 50;

/** The `--heap-growing-percent` that leaves GC_HEADROOM_BYTES above `liveBytes` (0 = V8's default). */
export function growingPercentFor(liveBytes: number): number {
  if (!(liveBytes > 0)) return MAX_PERCENT;
  const percent = Math.ceil((GC_HEADROOM_BYTES / liveBytes) * 100);
  return percent < MIN_PERCENT ? 0 : Math.min(MAX_PERCENT, percent);
}

/** True for a Content-Length value of a large body. */
export function isLargeBody(contentLength: string | string[] | null | undefined): boolean {
  return typeof contentLength === 'string' && contentLength.length >= 7 && Number(contentLength) >= LARGE_BODY_BYTES;
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
 * Counts the large bodies streaming now; while there is one, the growing factor keeps the headroom
 * (set at once and after every mark-compact: V8 reads it when it computes the next limit, at the end
 * of a mark-compact). Inert until enable() (`serve` enables it; embedders and tests need not).
 */
export class GcHeadroom {
  private enabled = false;
  private streams = 0;
  private current = 0;
  private observer: PerformanceObserver | null = null;

  constructor(private readonly hooks: GcHeadroomHooks = V8_HOOKS, private readonly scavenger: YoungBufferScavenger | null = new YoungBufferScavenger()) {}

  enable(): void { this.enabled = true; }

  /** A large body starts streaming; returns whether end() is owed. */
  begin(): boolean {
    if (!this.enabled) return false;
    if (this.streams++ === 0) {
      this.observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) { this.apply(); return; }
        }
      });
      this.observer.observe({ entryTypes: ['gc'] });
      this.apply();
      this.scavenger?.start();
    }
    return true;
  }

  /** That body is done (completed or not). */
  end(): void {
    if (this.streams === 0) return;
    if (--this.streams > 0) return;
    this.scavenger?.stop();
    this.observer?.disconnect();
    this.observer = null;
    this.apply();
  }

  /** Large bodies streaming now. */
  get active(): number { return this.streams; }

  /** Scavenges asked for while large bodies streamed. */
  get scavenges(): number { return this.scavenger?.scavenges ?? 0; }

  private apply(): void {
    const percent = this.streams > 0 ? growingPercentFor(this.hooks.liveBytes()) : 0;
    if (percent === this.current) return;
    this.current = percent;
    this.hooks.setFlags(`--heap-growing-percent=${percent}`);
  }
}

/** The process's own (enabled by `serve`). */
export const gcHeadroom = new GcHeadroom();
