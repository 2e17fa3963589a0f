// `s3-audit-proxy verify`: proves a set of received events complete and untampered, from what the
// events themselves carry (sequence, proxy.instance, gap events, integrity.prev/mac).
//
// Each line is an event, or an object holding one in `event` (a HEC envelope, a dead-letter line;
// a string there is parsed), or a Splunk export line (`result._raw`). Events are grouped by
// instance and ordered by sequence (lines may come in any order):
//
// - declared gaps: gap events' ranges; a count-only loss (`unlocated`, e.g. a spool write error)
//   covers that many missing numbers of any instance; a crash (`count: null`) covers whatever is
//   missing of its instance (its extent is not knowable), up to its `lastSequence`;
// - undeclared gaps: numbers missing and not covered;
// - duplicates: the same instance and sequence twice with the same content is harmless (at-least-once
//   delivery); with different content it is tampering;
// - with a key: every event's mac must be HMAC-SHA256(key, prev || canonical) and its prev the mac
//   of the event numbered just before it (an empty prev only at sequence 1).
//
// Canonical text: the event without `integrity`, as JSON.stringify writes it with U+2028, U+2029
// and U+0085 escaped (the serializer's exact bytes, since parsing keeps member order).
import { createHash, createHmac } from 'node:crypto';
import { escapeLineSeparators } from '../json-text.js';

export type ProblemKind = 'undeclared_gap' | 'tampered_duplicate' | 'mac_mismatch' | 'chain_break' | 'unsigned' | 'unparsable';

export interface Problem {
  kind: ProblemKind;
  instance: string | null;
  sequence: number | null;
  eventId: string | null;
  /** Where it was read (file:line), when known. */
  where: string | null;
  detail: string;
}

export interface InstanceReport {
  instance: string;
  events: number;
  firstSequence: number;
  lastSequence: number;
  missing: number;
  declaredMissing: number;
  undeclaredMissing: number;
}

export interface VerifyReport {
  lines: number;
  events: number;
  /** Events without sequence or instance (earlier versions, foreign lines). */
  unsequenced: number;
  instances: InstanceReport[];
  gapEvents: number;
  /** Declared lost, by reason (null counts: "unknown"). */
  declaredByReason: Record<string, number | 'unknown'>;
  duplicates: number;
  problems: number;
  /** The first problems (up to 100), the first one first. */
  firstProblems: Problem[];
  chainChecked: boolean;
}

interface Inst {
  ids: Array<string | undefined>;
  /** The mac (keyed) or a SHA-1 of the canonical text: content fingerprint. */
  fps: Array<string | undefined>;
  /** prev values waiting for the event before them (only when that one was not read yet). */
  waiting: Map<number, { prev: string; id: string; where: string }>;
  ranges: Array<[number, number]>;
  crash: number | null;
  events: number;
  max: number;
}

const MAX_LISTED = 100;

export class Verifier {
  private readonly insts = new Map<string, Inst>();
  private lines = 0;
  private events = 0;
  private unsequenced = 0;
  private gapEvents = 0;
  private duplicates = 0;
  private unlocated = 0;
  private readonly declared = new Map<string, number | 'unknown'>();
  private problemCount = 0;
  private readonly problems: Problem[] = [];

  constructor(private readonly key: Buffer | null = null) {}

  private inst(name: string): Inst {
    let i = this.insts.get(name);
    if (!i) {
      i = { ids: [], fps: [], waiting: new Map(), ranges: [], crash: null, events: 0, max: 0 };
      this.insts.set(name, i);
    }
    return i;
  }

  private problem(p: Problem): void {
    this.problemCount++;
    if (this.problems.length < MAX_LISTED) this.problems.push(p);
  }

  /** One line of input. */
  addLine(line: string, where: string | null = null): void {
    if (line.length === 0 || /^\s*$/.test(line)) return;
    this.lines++;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      this.problem({ kind: 'unparsable', instance: null, sequence: null, eventId: null, where, detail: 'not JSON' });
      return;
    }
    const ev = unwrap(v);
    if (ev === null) {
      this.problem({ kind: 'unparsable', instance: null, sequence: null, eventId: null, where, detail: 'no event in this line' });
      return;
    }
    this.addEvent(ev, where, rawCanonical(line, ev === v));
  }

  /**
   * `raw`: the canonical text cut from the line itself when it holds the sealed bytes verbatim (a
   * bare event, or the last member `event` of an envelope): saves re-serialising. Only trusted when
   * its mac matches; otherwise the event is re-serialised and checked again.
   */
  addEvent(ev: Record<string, unknown>, where: string | null = null, raw: string | null = null): void {
    this.events++;
    const seq = ev['sequence'];
    const proxy = ev['proxy'] as Record<string, unknown> | undefined;
    const instance = proxy && typeof proxy['instance'] === 'string' ? proxy['instance'] : null;
    const id = typeof ev['id'] === 'string' ? ev['id'] : null;
    if (ev['kind'] === 'gap') this.addGap(ev['gap'] as Record<string, unknown> | undefined, instance);
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1 || instance === null) {
      this.unsequenced++;
      return;
    }
    const integ = ev['integrity'] as { prev?: unknown; mac?: unknown } | undefined;
    let fp: string;
    let prev: string | null = null;
    const canonicalOf = (): string => {
      if (integ === undefined) return escapeLineSeparators(JSON.stringify(ev));
      const { integrity: _drop, ...rest } = ev;
      return escapeLineSeparators(JSON.stringify(rest));
    };
    if (this.key !== null) {
      if (integ === undefined || typeof integ.mac !== 'string' || typeof integ.prev !== 'string') {
        this.problem({ kind: 'unsigned', instance, sequence: seq, eventId: id, where, detail: 'no integrity.prev/mac' });
        fp = createHash('sha1').update(canonicalOf()).digest('base64');
      } else {
        prev = integ.prev;
        const macOf = (c: string): string => createHmac('sha256', this.key!).update(integ.prev as string).update(c).digest('base64url');
        let ok = raw !== null && macOf(raw) === integ.mac;
        if (!ok) ok = macOf(canonicalOf()) === integ.mac;
        if (!ok) this.problem({ kind: 'mac_mismatch', instance, sequence: seq, eventId: id, where, detail: 'integrity.mac does not match the event: edited, or another key' });
        fp = integ.mac;
      }
    } else {
      // without the key: a fingerprint of the content (raw text when it re-serialises the same)
      fp = createHash('sha1').update(raw ?? canonicalOf()).digest('base64');
    }
    const st = this.inst(instance);
    const had = st.fps[seq];
    if (had !== undefined) {
      if (had === fp) this.duplicates++;
      else this.problem({ kind: 'tampered_duplicate', instance, sequence: seq, eventId: id, where, detail: `sequence ${seq} read twice with different content (ids ${st.ids[seq]} and ${id})` });
      return;
    }
    st.fps[seq] = fp;
    st.ids[seq] = id ?? '';
    st.events++;
    if (seq > st.max) st.max = seq;
    if (this.key !== null && prev !== null) {
      // this event's link to the one before it
      if (seq === 1) {
        if (prev !== '') this.problem({ kind: 'chain_break', instance, sequence: seq, eventId: id, where, detail: 'the first event of an instance must start the chain (empty prev)' });
      } else if (prev === '') {
        this.problem({ kind: 'chain_break', instance, sequence: seq, eventId: id, where, detail: 'a chain restarts in the middle of an instance' });
      } else {
        const before = st.fps[seq - 1];
        if (before !== undefined) {
          if (before !== prev) this.problem({ kind: 'chain_break', instance, sequence: seq, eventId: id, where, detail: `integrity.prev is not the mac of sequence ${seq - 1}` });
        } else {
          st.waiting.set(seq, { prev, id: id ?? '', where: where ?? '' });
        }
      }
      // the link of the event after it, read earlier
      const next = st.waiting.get(seq + 1);
      if (next !== undefined) {
        st.waiting.delete(seq + 1);
        if (next.prev !== fp) this.problem({ kind: 'chain_break', instance, sequence: seq + 1, eventId: next.id, where: next.where || null, detail: `integrity.prev is not the mac of sequence ${seq}` });
      }
    }
  }

  private addGap(g: Record<string, unknown> | undefined, emitter: string | null): void {
    if (!g || typeof g !== 'object') return;
    this.gapEvents++;
    const reason = typeof g['reason'] === 'string' ? g['reason'] : 'unknown';
    const inst = typeof g['instance'] === 'string' ? g['instance'] : emitter;
    const count = g['count'];
    const prevCount = this.declared.get(reason);
    if (typeof count === 'number') {
      if (prevCount !== 'unknown') this.declared.set(reason, (prevCount ?? 0) + count);
    } else {
      this.declared.set(reason, 'unknown');
    }
    if (typeof g['unlocated'] === 'number') this.unlocated += g['unlocated'];
    if (inst === null) return;
    const st = this.inst(inst);
    if (Array.isArray(g['ranges'])) {
      for (const r of g['ranges'] as unknown[]) {
        if (Array.isArray(r) && typeof r[0] === 'number' && typeof r[1] === 'number') st.ranges.push([r[0], r[1]]);
      }
    }
    if (count === null) {
      const last = typeof g['lastSequence'] === 'number' ? g['lastSequence'] : 0;
      st.crash = Math.max(st.crash ?? 0, last, 1);
    }
  }

  finish(): VerifyReport {
    const instances: InstanceReport[] = [];
    let unlocated = this.unlocated;
    for (const [name, st] of this.insts) {
      if (st.events === 0 && st.crash === null && st.ranges.length === 0) continue;
      st.ranges.sort((a, b) => a[0] - b[0]);
      const top = Math.max(st.max, st.crash ?? 0);
      let first = 0;
      let missing = 0;
      let declared = 0;
      let undeclared = 0;
      let ri = 0;
      for (let s = 1; s <= top; s++) {
        if (st.fps[s] !== undefined) {
          if (first === 0) first = s;
          continue;
        }
        missing++;
        while (ri < st.ranges.length && st.ranges[ri]![1] < s) ri++;
        const inRange = ri < st.ranges.length && st.ranges[ri]![0] <= s;
        if (inRange || st.crash !== null) {
          declared++;
        } else if (unlocated > 0) {
          unlocated--;
          declared++;
        } else {
          undeclared++;
          if (undeclared === 1) {
            let after = s + 1;
            while (after <= st.max && st.fps[after] === undefined) after++;
            const id = st.ids[after] ?? null;
            this.problem({ kind: 'undeclared_gap', instance: name, sequence: s, eventId: id || null, where: null, detail: `sequence ${s}${after - 1 > s ? `..${after - 1}` : ''} missing and declared by no gap event${id ? ` (the next event read is ${id}, sequence ${after})` : ''}` });
          } else {
            this.problemCount++;
          }
        }
      }
      instances.push({ instance: name, events: st.events, firstSequence: first, lastSequence: st.max, missing, declaredMissing: declared, undeclaredMissing: undeclared });
    }
    return {
      lines: this.lines, events: this.events, unsequenced: this.unsequenced, instances, gapEvents: this.gapEvents,
      declaredByReason: Object.fromEntries(this.declared), duplicates: this.duplicates,
      problems: this.problemCount, firstProblems: this.problems, chainChecked: this.key !== null,
    };
  }
}

/**
 * The sealed canonical text as it stands in the line, or null: the line is the event itself, or
 * the event is the envelope's last member `"event":{...}`; the trailing integrity member is cut off.
 */
function rawCanonical(line: string, bare: boolean): string | null {
  let text = line.trimEnd();
  if (!bare) {
    const at = text.lastIndexOf('"event":{');
    if (at < 0 || !text.endsWith('}')) return null;
    text = text.slice(at + 8, -1);
  }
  const i = text.lastIndexOf(',"integrity":{"prev":"');
  return i < 0 ? text : text.slice(0, i) + '}';
}

/** The event in a line: the line itself, its `event` member (object or JSON text), or a Splunk export's result._raw. */
export function unwrap(v: unknown): Record<string, unknown> | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if ('version' in o && 'id' in o && 'kind' in o) return o;
  const e = o['event'];
  if (typeof e === 'object' && e !== null && !Array.isArray(e)) return e as Record<string, unknown>;
  if (typeof e === 'string') {
    try { return unwrap(JSON.parse(e)); } catch { return null; }
  }
  const r = o['result'] as Record<string, unknown> | undefined;
  if (r && typeof r === 'object' && typeof r['_raw'] === 'string') {
    try { return unwrap(JSON.parse(r['_raw'])); } catch { return null; }
  }
  return null;
}

/** The report as text lines. */
export function formatReport(r: VerifyReport): string {
  const out: string[] = [];
  out.push(`Events:     ${r.events} (${r.lines} lines${r.unsequenced ? `, ${r.unsequenced} without sequence` : ''}), ${r.instances.length} instance(s)`);
  for (const i of r.instances) {
    out.push(`  ${i.instance}  sequence ${i.firstSequence}..${i.lastSequence}  events ${i.events}  missing ${i.missing} (declared ${i.declaredMissing}, UNDECLARED ${i.undeclaredMissing})`);
  }
  const reasons = Object.entries(r.declaredByReason).map(([k, v]) => `${k} ${v}`).join(', ');
  out.push(`Declared:   ${r.gapEvents} gap event(s)${reasons ? `: ${reasons}` : ''}`);
  out.push(`Duplicates: ${r.duplicates} (same content: harmless)`);
  out.push(`Chain:      ${r.chainChecked ? 'checked' : 'not checked (no --key-file)'}`);
  if (r.problems === 0) {
    out.push('Status:     OK: every event accounted for');
  } else {
    const p = r.firstProblems[0]!;
    out.push(`Status:     ${r.problems} problem(s); first: ${p.kind} instance ${p.instance ?? '-'} sequence ${p.sequence ?? '-'} event ${p.eventId ?? '-'}${p.where ? ` at ${p.where}` : ''}: ${p.detail}`);
    for (const q of r.firstProblems.slice(1, 20)) out.push(`  ${q.kind} instance ${q.instance ?? '-'} sequence ${q.sequence ?? '-'} event ${q.eventId ?? '-'}${q.where ? ` at ${q.where}` : ''}: ${q.detail}`);
  }
  return out.join('\n') + '\n';
}
