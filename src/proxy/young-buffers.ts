// A scavenge every 16 MiB of socket reads while a large body streams (docs/performance.md, "Large
// objects (session 9)"). Each read is a fresh 64 KiB buffer that dies young, yet only a garbage
// collection frees it. Node 20's V8 scavenges every ~32 MiB of them; Node 24's (the image's runtime)
// often does not scavenge at all and lets them pile up to its external-memory limit, then runs a full
// mark-compact: 16 per GiB, peak RSS ~195 MiB against ~125 MiB on Node 20. Watching V8's external
// memory (1.2 µs a look, every 10 ms, only while a large body streams) and asking for a minor GC
// when it has grown 16 MiB keeps both runtimes at a few scavenges per GiB and no mark-compact, and
// keeps the freed memory under glibc's trim threshold (src/proxy/malloc-env.ts).
import v8 from 'node:v8';
import vm from 'node:vm';

/** External (ArrayBuffer) growth that asks for a scavenge. */
export const SCAVENGE_AFTER_BYTES = 16 * 1024 * 1024;
/** How often the external memory is looked at while a large body streams. */
export const POLL_MS = 10;

export interface ScavengeHooks {
  /** Bytes held outside the V8 heap (ArrayBuffers) now. */
  externalBytes(): number;
  /** Runs a minor GC (a scavenge) now; false when none can be run. */
  minorGc(): boolean;
}

let exposedGc: ((options: { type: 'minor' }) => void) | null | undefined;

/** V8's `gc()`, exposed at run time into a fresh context (the process keeps no global `gc`). */
function v8MinorGc(): boolean {
  if (exposedGc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      exposedGc = vm.runInNewContext('gc') as (options: { type: 'minor' }) => void;
    } catch {
      exposedGc = null;
    }
  }
  if (exposedGc === null) return false;
  exposedGc({ type: 'minor' });
  return true;
}

const V8_SCAVENGE_HOOKS: ScavengeHooks = {
  externalBytes: () => v8.getHeapStatistics().external_memory,
  minorGc: v8MinorGc,
};

/** Started and stopped by GcHeadroom around large bodies; idle otherwise (no timer). */
export class YoungBufferScavenger {
  private timer: NodeJS.Timeout | null = null;
  /** External bytes after the last collection seen (ours or V8's own). */
  private floor = 0;
  private forced = 0;

  constructor(
    private readonly hooks: ScavengeHooks = V8_SCAVENGE_HOOKS,
    private readonly afterBytes = SCAVENGE_AFTER_BYTES,
    private readonly pollMs = POLL_MS,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.floor = this.hooks.externalBytes();
    this.timer = setInterval(() => this.check(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  /** One look: a scavenge when the external memory grew afterBytes since the last collection. */
  check(): void {
    const now = this.hooks.externalBytes();
    // Below the floor: V8 collected on its own (or our last scavenge's buffers were swept since).
    if (now < this.floor) { this.floor = now; return; }
    if (now - this.floor < this.afterBytes) return;
    if (!this.hooks.minorGc()) { this.stop(); return; }
    this.forced++;
    // What a scavenge frees may be swept concurrently: the floor follows it down on later looks.
    this.floor = this.hooks.externalBytes();
  }

  /** Scavenges asked for so far. */
  get scavenges(): number { return this.forced; }

  get running(): boolean { return this.timer !== null; }
}
