// Loss is never silent: every event a target drops is recorded here, by reason and by the producing
// instance, as ranges of sequence numbers when the drop path knows them (a refusal at push does), as a
// bare count when it does not (spool write errors, corrupt spool regions, dead-letter overflow: the
// dispatcher moves bytes and cannot read an event's sequence). The dispatcher turns each pending
// record into a `kind: "gap"` event (through the `gapEvent` option: dispatch knows nothing of the
// event schema) as soon as the target has room; until then records coalesce, bounded:
//
// - adjacent and repeated sequence numbers merge into one range;
// - past MAX_RANGES ranges of one record, neighbouring ranges are merged pairwise ("widened"): the
//   ranges then also cover numbers that were not lost (`exact: false`), `count` stays exact.
//
// O(1) amortised per lost event (the pairwise merge halves the list, so it runs once per
// MAX_RANGES/2 new ranges).

export const MAX_RANGES = 1000;

/** What a gap event says. Ranges are inclusive [from, to] sequence numbers, ascending. */
export interface GapInfo {
  reason: string;
  /** The instance whose sequence numbers were lost; null when unknown (a count-only loss). */
  instance: string | null;
  ranges: Array<[number, number]>;
  /** Events lost; null when not knowable (a crash: see `lastSequence`). */
  count: number | null;
  /** Of `count`, how many have no sequence number in `ranges` (their drop path could not know it). */
  unlocated: number;
  /** False when ranges were widened past MAX_RANGES (they then cover some numbers not lost). */
  exact: boolean;
  /** Event time (epoch ms) of the first and last lost event (or the time of the loss when unknown). */
  firstTime: number;
  lastTime: number;
  /** Crash gaps: the last sequence number the previous run is known to have accepted. */
  lastSequence?: number | null;
}

class GapRecord {
  /** Flat [from0, to0, from1, to1, ...], ascending. */
  ranges: number[] = [];
  count = 0;
  unlocated = 0;
  exact = true;
  firstTime = Infinity;
  lastTime = -Infinity;

  constructor(readonly reason: string, readonly instance: string | null) {}

  add(seq: number): void {
    const r = this.ranges;
    const n = r.length;
    if (n === 0 || seq > r[n - 1]! + 1) {
      r.push(seq, seq);
      if (r.length > MAX_RANGES * 2) this.widen();
    } else if (seq === r[n - 1]! + 1) {
      r[n - 1] = seq;
    } else if (seq < r[n - 2]!) {
      this.insert(seq);
    }
    // else: inside the last range (already recorded)
  }

  /** Rare: a number older than the last range (another target's order): insert, merging neighbours. */
  private insert(seq: number): void {
    const r = this.ranges;
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < r.length; i += 2) pairs.push([r[i]!, r[i + 1]!]);
    pairs.push([seq, seq]);
    pairs.sort((a, b) => a[0] - b[0]);
    const out: number[] = [];
    for (const [f, t] of pairs) {
      if (out.length > 0 && f <= out[out.length - 1]! + 1) out[out.length - 1] = Math.max(out[out.length - 1]!, t);
      else out.push(f, t);
    }
    this.ranges = out;
    if (out.length > MAX_RANGES * 2) this.widen();
  }

  /** Merges neighbouring ranges pairwise: half as many, covering a little more than was lost. */
  private widen(): void {
    const r = this.ranges;
    const out: number[] = [];
    for (let i = 0; i < r.length; i += 4) {
      if (i + 2 < r.length) out.push(r[i]!, r[i + 3]!);
      else out.push(r[i]!, r[i + 1]!);
    }
    this.ranges = out;
    this.exact = false;
  }

  info(): GapInfo {
    const ranges: Array<[number, number]> = [];
    for (let i = 0; i < this.ranges.length; i += 2) ranges.push([this.ranges[i]!, this.ranges[i + 1]!]);
    const now = Date.now();
    return {
      reason: this.reason, instance: this.instance, ranges, count: this.count, unlocated: this.unlocated, exact: this.exact,
      firstTime: Number.isFinite(this.firstTime) ? this.firstTime : now,
      lastTime: Number.isFinite(this.lastTime) ? this.lastTime : now,
    };
  }
}

export class GapTracker {
  private readonly records = new Map<string, GapRecord>();
  /** Gaps known before this run could emit them (crash of an earlier run, drops after close). */
  private readonly carried: GapInfo[] = [];
  private last: GapRecord | null = null;

  /** `onPending`: called on every loss recorded (cheap: the dispatcher sets a flag). */
  constructor(private readonly onPending: () => void = () => {}) {}

  get pending(): boolean {
    return this.records.size > 0 || this.carried.length > 0;
  }

  /**
   * `n` events lost for `reason`. `seq` >= 1: the sequence number of the one lost event (n must
   * be 1); otherwise the events have no known sequence number. `timeMs`: their event time, if known.
   */
  lost(reason: string, n: number, seq = -1, instance: string | null = null, timeMs = NaN): void {
    if (n <= 0) return;
    const located = seq >= 1 && n === 1;
    const inst = located ? instance : null;
    let rec = this.last;
    if (rec === null || rec.reason !== reason || rec.instance !== inst) {
      const key = `${reason}\u0000${inst ?? ''}`;
      rec = this.records.get(key) ?? null;
      if (rec === null) {
        rec = new GapRecord(reason, inst);
        this.records.set(key, rec);
      }
      this.last = rec;
    }
    rec.count += n;
    if (located) rec.add(seq);
    else rec.unlocated += n;
    const t = Number.isFinite(timeMs) ? timeMs : Date.now();
    if (t < rec.firstTime) rec.firstTime = t;
    if (t > rec.lastTime) rec.lastTime = t;
    this.onPending();
  }

  /** A gap known from elsewhere (an earlier run's crash, drops after its close). */
  carry(info: GapInfo): void {
    this.carried.push(info);
    this.onPending();
  }

  /** Forgets the pending records of one reason (not the carried ones). */
  forget(reason: string): void {
    for (const [key, rec] of this.records) if (rec.reason === reason) this.records.delete(key);
    this.last = null;
  }

  /** Everything pending, oldest records first; the tracker is empty afterwards. */
  take(): GapInfo[] {
    const out = this.carried.splice(0);
    for (const r of this.records.values()) out.push(r.info());
    this.records.clear();
    this.last = null;
    return out;
  }
}
