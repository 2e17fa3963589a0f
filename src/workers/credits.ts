// serve --audit-required with --workers: admission without waiting on IPC. The primary owns the one
// dispatcher, so only it can promise room for an event; it does so ahead of time, granting each
// worker a few credits, each one a reservation it holds in the dispatcher (reserve()). A worker
// spends a credit when it admits a request (no IPC on the request path) and refuses the request
// when it has none; the event travels with a mark saying it used a credit, and the primary pushes
// it against the oldest reservation it holds for that worker, then grants again, up to the
// worker's allowance, as room allows. Refusals are counted in the worker and sent with its next
// message; the primary records them (reason: why its last reservation failed) for a `refused` event.
import type { AuditDispatcher } from '../dispatch/dispatcher.js';
import { NOT_RESERVED } from '../dispatch/dispatcher.js';

/** Credits a worker may hold: a quarter of the memory queue shared out, at least 1, at most 256. */
export function creditAllowance(queueMaxEvents: number, workers: number): number {
  return Math.max(1, Math.min(256, Math.floor(queueMaxEvents / (4 * Math.max(1, workers)))));
}

/** Refusals counted in a worker since its last message. */
export interface RefusalCount {
  count: number;
  firstTime: number;
  lastTime: number;
}

/** The worker's side: credits granted and not spent, and the refusals made for want of one. */
export class WorkerCredits {
  private credits = 0;
  private refused: RefusalCount | null = null;

  get available(): number {
    return this.credits;
  }

  /** The primary granted `n` more. */
  grant(n: number): void {
    this.credits += n;
  }

  /** 1 (a credit spent: the event is promised room) or -1 (none left: refuse, counted). */
  spend(): number {
    if (this.credits > 0) {
      this.credits--;
      return 1;
    }
    const now = Date.now();
    if (this.refused === null) this.refused = { count: 1, firstTime: now, lastTime: now };
    else {
      this.refused.count++;
      this.refused.lastTime = now;
    }
    return -1;
  }

  /** A spent credit whose event will not come: usable again. */
  giveBack(): void {
    this.credits++;
  }

  get hasRefusals(): boolean {
    return this.refused !== null;
  }

  /** The refusals to report, now reset. */
  takeRefusals(): RefusalCount | null {
    const r = this.refused;
    this.refused = null;
    return r;
  }
}

/** The primary's side, per worker: the dispatcher reservations behind the credits it granted. */
export class CreditLedger {
  private readonly tokens: number[] = [];

  constructor(private readonly dispatcher: AuditDispatcher<object>, readonly allowance: number) {}

  /** Reservations held for credits not yet spent. */
  get outstanding(): number {
    return this.tokens.length;
  }

  /** Reserves up to the allowance; returns how many credits to send the worker (0: none, or no room). */
  topUp(): number {
    let n = 0;
    while (this.tokens.length < this.allowance) {
      const t = this.dispatcher.reserve();
      if (t === NOT_RESERVED) break;
      this.tokens.push(t);
      n++;
    }
    return n;
  }

  /** The reservation behind a credit the worker spent (NOT_RESERVED if it spent one it never had). */
  spend(): number {
    return this.tokens.shift() ?? NOT_RESERVED;
  }

  /** The targets changed (a webhook enabled or disabled): each credit is reserved again against them. */
  rebase(): void {
    for (let i = 0; i < this.tokens.length; i++) {
      this.dispatcher.release(this.tokens[i]!);
      const t = this.dispatcher.reserve();
      // no room now: the credit stays, its event is pushed like any other (counted if dropped)
      this.tokens[i] = t === NOT_RESERVED ? 0 : t;
    }
  }

  /** The worker is gone: its reservations go back. */
  releaseAll(): void {
    for (const t of this.tokens.splice(0)) this.dispatcher.release(t);
  }
}

/** What the primary sends a worker (its node:cluster Worker). */
export interface CreditPort {
  isConnected(): boolean;
  send(m: { t: 'credits'; n: number }): unknown;
}

/** How often workers short of credits are topped up when no message of theirs triggers it. */
const TOP_UP_MS = 50;

/** The primary's credits for all its workers: a few calls from primary.ts. */
export class PrimaryCredits {
  private readonly ledgers = new Map<CreditPort, CreditLedger>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly dispatcher: AuditDispatcher<object>, private readonly allowance: number) {
    this.timer = setInterval(() => { for (const [port, l] of this.ledgers) if (l.outstanding < l.allowance) this.grant(port, l); }, TOP_UP_MS);
    this.timer.unref();
  }

  /** A new worker: its first credits. */
  attach(port: CreditPort): void {
    const l = new CreditLedger(this.dispatcher, this.allowance);
    this.ledgers.set(port, l);
    this.grant(port, l);
  }

  /** The reservation for an event the worker marked as having spent a credit. */
  spend(port: CreditPort): number {
    return this.ledgers.get(port)?.spend() ?? NOT_RESERVED;
  }

  /** After a worker's message: its refusals recorded, its credits topped up. */
  afterMessage(port: CreditPort, refused: RefusalCount | null | undefined): void {
    if (refused) this.dispatcher.recordRefused(this.dispatcher.lastRefusal || 'queue_full', refused.count, refused.firstTime, refused.lastTime);
    const l = this.ledgers.get(port);
    if (l) this.grant(port, l);
  }

  detach(port: CreditPort): void {
    this.ledgers.get(port)?.releaseAll();
    this.ledgers.delete(port);
  }

  /** The audit targets changed. */
  rebase(): void {
    for (const l of this.ledgers.values()) l.rebase();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private grant(port: CreditPort, l: CreditLedger): void {
    if (!port.isConnected()) return;
    const n = l.topUp();
    if (n > 0) port.send({ t: 'credits', n });
  }
}
