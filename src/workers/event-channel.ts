// The audit sink of an S3 listener worker: serialises each event on the worker's own core and sends
// the events of one event-loop turn to the primary in one IPC message. Like the dispatcher's
// enqueue it never blocks and never throws: when the channel is backlogged beyond `maxUnsentBytes`
// (the primary cannot keep up) events are dropped and counted, and the count travels with the next
// message so that the primary's status and metrics show the loss.
import type { AuditEvent } from '../audit/event.js';
import type { RequestMetricsSink } from '../audit/observer.js';
import { serializeEvent } from '../audit/serialize.js';
import type { AuditSink } from '../dispatch/types.js';
import type { EventsMessage, WorkerToPrimary } from './messages.js';

/** The part of `process` (a cluster worker) the channel uses; tests pass their own. */
export interface IpcPort {
  send(message: WorkerToPrimary, callback: (err: Error | null) => void): boolean;
}

/** Default bound on bytes handed to the channel and not yet written: 16 MiB per worker. */
export const DEFAULT_MAX_UNSENT_BYTES = 16 * 1024 * 1024;

export class WorkerEventChannel implements AuditSink, RequestMetricsSink {
  /** Set by the primary (ActiveMessage); false = build no events. */
  active: boolean;
  private json = '';
  private times: number[] = [];
  private metrics: Array<string | number> = [];
  private dropped = 0;
  private unsentBytes = 0;
  private flushScheduled = false;
  private closed = false;
  private readonly waiters: Array<() => void> = [];

  constructor(
    private readonly port: IpcPort,
    active: boolean,
    private readonly maxUnsentBytes = DEFAULT_MAX_UNSENT_BYTES,
  ) {
    this.active = active;
  }

  enqueue(event: AuditEvent, timeMs?: number): void {
    if (!this.active || this.closed) return;
    let text: string;
    try {
      text = serializeEvent(event);
    } catch {
      this.dropped++;
      this.scheduleFlush();
      return;
    }
    // UTF-16 length: a cheap stand-in for the byte size (within 3x), good enough for a bound.
    if (this.unsentBytes + this.json.length + text.length > this.maxUnsentBytes) {
      this.dropped++;
    } else {
      this.json = this.times.length === 0 ? text : this.json + '\n' + text;
      this.times.push(timeMs ?? Date.parse(event.time));
    }
    this.scheduleFlush();
  }

  observe(apiName: string, statusCode: number, outcome: string, durationMs: number): void {
    if (this.closed) return;
    this.metrics.push(apiName, statusCode, outcome, durationMs);
    this.scheduleFlush();
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
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One message per event-loop turn: under load a turn completes many requests, and an idle
    // proxy sends each event at once (no timer, no added latency).
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.times.length === 0 && this.metrics.length === 0 && this.dropped === 0) return;
    const msg: EventsMessage = { t: 'events', json: this.json, times: this.times, metrics: this.metrics, dropped: this.dropped };
    const size = this.json.length + this.times.length * 8 + this.metrics.length * 16 + 64;
    this.json = '';
    this.times = [];
    this.metrics = [];
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
