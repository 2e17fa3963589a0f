// The last sequence number accepted per producing instance, kept in `dataDir/sequence-state.json` so
// that the next start can declare what a crash cost. Written (atomically, 0600) at most once per
// second while events flow, and at close with `clean: true` and the gaps that could not be emitted
// any more (drops after close). The request path only sets a number in a map entry.
//
// At start, an earlier state that is not clean means the process died: for each of its instances a
// gap with reason "crash" is declared. How many events it cost cannot be known exactly (the spool
// holds no sequence numbers, memory is gone, and up to a second of acceptances after the last write
// is not recorded): the gap says `count: null` and `lastSequence`, the last number known accepted.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.js';
import type { GapInfo } from './gaps.js';

export const SEQUENCE_STATE_FILE = 'sequence-state.json';

interface InstanceState { lastSequence: number; lastTime: number }

interface StateFile {
  version: 1;
  clean: boolean;
  instances: Record<string, InstanceState>;
  /** Gaps known and not emitted (clean close only). */
  pendingGaps?: GapInfo[];
}

export class SequenceState {
  private readonly path: string;
  private readonly instances = new Map<string, InstanceState>();
  private lastInst: string | null = null;
  private lastEntry: InstanceState | null = null;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;

  constructor(dataDir: string, private readonly onError: (err: Error) => void) {
    this.path = join(dataDir, SEQUENCE_STATE_FILE);
  }

  /** Request path: O(1). */
  accepted(instance: string, seq: number, timeMs: number): void {
    let e = this.lastEntry;
    if (instance !== this.lastInst || e === null) {
      e = this.instances.get(instance) ?? null;
      if (e === null) {
        e = { lastSequence: 0, lastTime: 0 };
        this.instances.set(instance, e);
      }
      this.lastInst = instance;
      this.lastEntry = e;
    }
    if (seq > e.lastSequence) {
      e.lastSequence = seq;
      e.lastTime = timeMs;
      this.dirty = true;
    }
  }

  /** Reads what the previous run left: the gaps to declare now. Starts the once-a-second writer. */
  async open(intervalMs = 1000): Promise<GapInfo[]> {
    const out: GapInfo[] = [];
    let prev: StateFile | null = null;
    try {
      prev = JSON.parse(await readFile(this.path, 'utf8')) as StateFile;
    } catch {
      prev = null; // none (first start) or unreadable: nothing can be declared
    }
    if (prev && typeof prev === 'object' && prev.instances && typeof prev.instances === 'object') {
      if (!prev.clean) {
        for (const [instance, st] of Object.entries(prev.instances)) {
          out.push({ reason: 'crash', instance, ranges: [], count: null, unlocated: 0, exact: false, firstTime: st.lastTime, lastTime: st.lastTime, lastSequence: st.lastSequence });
        }
      } else if (Array.isArray(prev.pendingGaps)) {
        out.push(...prev.pendingGaps);
      }
    }
    // From now on this run is "not clean" until close() says otherwise.
    await this.write(false);
    this.timer = setInterval(() => { if (this.dirty && this.writing === null) void this.flush(); }, intervalMs);
    this.timer.unref();
    return out;
  }

  private async flush(): Promise<void> {
    this.writing = this.write(false).finally(() => { this.writing = null; });
    await this.writing;
  }

  private async write(clean: boolean, pendingGaps?: GapInfo[]): Promise<void> {
    this.dirty = false;
    const file: StateFile = { version: 1, clean, instances: Object.fromEntries(this.instances) };
    if (pendingGaps && pendingGaps.length > 0) file.pendingGaps = pendingGaps;
    try {
      await writeFileAtomic(this.path, JSON.stringify(file) + '\n');
    } catch (err) {
      this.onError(err as Error);
    }
  }

  /** Clean shutdown: the state and the gaps that remain to be declared by the next run. */
  async close(pendingGaps: GapInfo[]): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.writing;
    await this.write(true, pendingGaps);
  }
}
