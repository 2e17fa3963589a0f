// The audit sink of an S3 listener worker: serialises each event on the worker's own core and sends
// events to the primary in batches. Like the dispatcher's enqueue it never blocks and never throws:
// when the channel is backlogged beyond `maxUnsentBytes` (the primary cannot keep up) events are
// dropped and counted, and the count travels with the next message so that the primary's status
// and metrics show the loss.
//
// Batching: an IPC message costs both processes tens of µs (serialise, pipe, parse, emit), so one
// per request or per event-loop turn cost more CPU than the second core gave (measured: --workers 2
// slower than one process). A batch leaves FLUSH_MS after its first event or at FLUSH_EVENTS
// events, whichever comes first; the dispatcher batches for up to a second anyway. Request metrics
// are summed here and ride along, or leave on their own every METRICS_MS when no events flow.
import type { AuditEvent } from '../audit/event.js';
import type { RequestMetricsSink } from '../audit/observer.js';
import { EventStamper, type Stamped } from '../audit/sequence.js';
import { RequestMetrics } from '../admin/metrics.js';
import type { AuditSink } from '../audit/sink.js';
import type { EventsMessage, WorkerToPrimary } from './messages.js';
import type { WorkerCredits } from './credits.js';

/** The part of `process` (a cluster worker) the channel uses; tests pass their own. */
export interface IpcPort {
  send(message: WorkerToPrimary, callback: (err: Error | null) => void): boolean;
}

/** Default bound on bytes handed to the channel and not yet written: 16 MiB per worker. */
export const DEFAULT_MAX_UNSENT_BYTES = 16 * 1024 * 1024;
export const FLUSH_MS = 5;
export const FLUSH_EVENTS = 256;
export const METRICS_MS = 1000;

export class WorkerEventChannel implements AuditSink, RequestMetricsSink {
  /** Set by the primary (ActiveMessage); false = build no events. */
  active: boolean;
  /** Set by the primary: false while events are for the live stream only (sent unnumbered, seq 0). */
  delivering: boolean;
  private json = '';
  private times: number[] = [];
  private seqs: number[] = [];
  /** --audit-required: which events spent a credit (1) or not (0). */
  private reserved: number[] = [];
  private droppedRanges: Array<[number, number]> = [];
  private readonly metrics = new RequestMetrics();
  private metricsPending = false;
  private dropped = 0;
  private unsentBytes = 0;
  private eventTimer: NodeJS.Timeout | null = null;
  private metricsTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly waiters: Array<() => void> = [];

  constructor(
    private readonly port: IpcPort,
    active: boolean,
    private readonly maxUnsentBytes = DEFAULT_MAX_UNSENT_BYTES,
    /** Numbers (and seals) this worker's events: its own instance. */
    readonly stamper: EventStamper = new EventStamper(),
    /** --audit-required: credits granted by the primary (credits.ts); null = fail open, no admission. */
    readonly credits: WorkerCredits | null = null,
    delivering = active,
  ) {
    this.active = active;
    this.delivering = delivering;
    stamper.handOver = (json, timeMs, seq) => this.add(json, timeMs, seq);
  }

  /** --audit-required: spends a credit (1), or refuses (-1, counted and reported with the next message). */
  admit(): number {
    if (this.credits === null || !this.active || !this.delivering || this.closed) return 0;
    const t = this.credits.spend();
    if (t < 0) this.armEventTimer();
    return t;
  }

  release(reservation: number): void {
    if (reservation > 0) this.credits?.giveBack();
  }

  enqueue(event: AuditEvent, timeMs?: number, reservation = -1): void {
    if (!this.active || this.closed) {
      this.release(reservation);
      return;
    }
    if (!this.delivering) {
      this.release(reservation);
      let json: string;
      try {
        json = this.stamper.plainEvent(event);
      } catch {
        return; // not numbered: nothing to declare
      }
      this.add(json, timeMs ?? Date.parse(event.time), 0);
      return;
    }
    let s: Stamped;
    try {
      s = this.stamper.stampEvent(event, timeMs ?? Date.parse(event.time));
    } catch {
      this.release(reservation);
      this.dropped++;
      this.armEventTimer();
      return;
    }
    this.add(s.json, s.timeMs, s.sequence, reservation > 0);
  }

  private add(text: string, timeMs: number, seq: number, reserved = false): void {
    // UTF-16 length: a cheap stand-in for the byte size (within 3x), good enough for a bound.
    // An event that spent a credit is never dropped here: the primary holds its room.
    if (!reserved && this.unsentBytes + this.json.length + text.length > this.maxUnsentBytes) {
      if (seq === 0) return; // for the live stream only: not an audit loss
      this.dropped++;
      const r = this.droppedRanges;
      const last = r[r.length - 1];
      if (last !== undefined && last[1] === seq - 1) last[1] = seq;
      else r.push([seq, seq]);
      this.armEventTimer();
      return;
    }
    this.json = this.times.length === 0 ? text : this.json + '\n' + text;
    this.times.push(timeMs);
    this.seqs.push(seq);
    if (this.credits !== null) this.reserved.push(reserved ? 1 : 0);
    if (this.times.length >= FLUSH_EVENTS) this.flush();
    else this.armEventTimer();
  }

  observe(apiName: string, statusCode: number, outcome: string, durationMs: number): void {
    if (this.closed) return;
    this.metrics.observe(apiName, statusCode, outcome, durationMs);
    this.metricsPending = true;
    if (this.metricsTimer === null && this.eventTimer === null) {
      this.metricsTimer = setTimeout(() => { this.metricsTimer = null; this.flush(); }, METRICS_MS);
      this.metricsTimer.unref();
    }
  }

  /** Sends what is pending now; resolves when every message handed to the channel is written. */
  async drain(): Promise<void> {
    this.flush();
    if (this.unsentBytes === 0) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** After the last drain: later calls are ignored (the worker is exiting). */
  close(): void {
    this.closed = true;
    this.clearTimers();
  }

  private armEventTimer(): void {
    if (this.eventTimer !== null) return;
    this.eventTimer = setTimeout(() => { this.eventTimer = null; this.flush(); }, FLUSH_MS);
  }

  private clearTimers(): void {
    if (this.eventTimer !== null) clearTimeout(this.eventTimer);
    if (this.metricsTimer !== null) clearTimeout(this.metricsTimer);
    this.eventTimer = this.metricsTimer = null;
  }

  private flush(): void {
    this.clearTimers();
    const metrics = this.metricsPending ? this.metrics.takeDelta() : null;
    this.metricsPending = false;
    const refused = this.credits?.takeRefusals() ?? null;
    if (this.times.length === 0 && metrics === null && this.dropped === 0 && refused === null) return;
    const msg: EventsMessage = { t: 'events', json: this.json, times: this.times, metrics, dropped: this.dropped, instance: this.stamper.instance, seqs: this.seqs, droppedRanges: this.droppedRanges };
    if (this.credits !== null) {
      msg.reserved = this.reserved;
      msg.refused = refused;
      this.reserved = [];
    }
    const size = this.json.length + this.times.length * 8 + (metrics ? 256 : 0) + 64;
    this.json = '';
    this.times = [];
    this.seqs = [];
    this.droppedRanges = [];
    this.dropped = 0;
    this.unsentBytes += size;
    try {
      this.port.send(msg, () => this.sent(size));
    } catch {
      // The channel is gone (the primary died): nothing can be delivered from here.
      this.sent(size);
    }
  }

  private sent(size: number): void {
    this.unsentBytes -= size;
    if (this.unsentBytes === 0) while (this.waiters.length) this.waiters.shift()!();
  }
}
