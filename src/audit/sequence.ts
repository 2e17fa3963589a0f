// Sequence numbers and the integrity chain: where an event is handed to delivery it gets its number
// (1, 2, 3, ... per instance: one process start, or one --workers worker) and, with a key, its link
// in the HMAC chain. Both must follow the order events are handed over, so both happen here, on the
// request thread, synchronously, once per event.
//
// Integrity (serve --integrity-key-file): an event's JSON ends with
//   ,"integrity":{"prev":"<mac of the previous event of the instance, or empty>","mac":"<mac>"}}
// mac = base64url(HMAC-SHA256(key, prev || canonical)), canonical = the event's JSON text without
// its "integrity" member, exactly as the serializer wrote it (JSON.stringify's text with U+2028,
// U+2029 and U+0085 escaped; a receiver re-creates it from the parsed event with that rule). `prev`
// is carried so that an event after a declared gap can still be checked on its own; the chain
// (prev = the mac of the event before) shows removal, insertion and reordering.
//
// Rotation: the first event of every instance with a key is a `kind: "integrity"` event naming the key
// (keyId: the first 8 hex digits of SHA-256 of the key) and starting the chain (prev ""). A new key
// takes effect at the next start: that start's instance begins a new chain with its own such event.
import type { GapInfo } from '../dispatch/gaps.js';
import type { RefusalInfo } from '../dispatch/refusals.js';
import { createHash, createHmac } from 'node:crypto';
import { hostname } from 'node:os';
import { readFileSync, statSync } from 'node:fs';
import type { AuditEvent } from './event.js';
import type { AuditSink } from './sink.js';
import { serializeEvent } from './serialize.js';
import { uuidv7 } from './uuidv7.js';
import { escapeLineSeparators } from '../json-text.js';
import { ConfigError } from '../errors.js';

export interface IntegrityKey {
  key: Buffer;
  /** First 8 hex digits of SHA-256 of the key. */
  keyId: string;
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/**
 * Reads a secret key file for `flag`: refused (S3apError, exit 2) when it is readable or writable by
 * group or others, empty, or unreadable. The key is the file's bytes with one trailing newline removed.
 */
export function readIntegrityKey(file: string, flag = '--integrity-key-file', checkMode = true): IntegrityKey {
  let key: Buffer;
  try {
    const st = statSync(file);
    if (checkMode && (st.mode & 0o077) !== 0) {
      throw new ConfigError(flag, `${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 it`);
    }
    key = readFileSync(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(flag, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (key.length > 0 && key[key.length - 1] === 0x0a) key = key.subarray(0, key.length - 1);
  if (key.length === 0) throw new ConfigError(flag, `${file} is empty`);
  return { key, keyId: keyIdOf(key) };
}

/** One stamped event, ready for the dispatcher. */
export interface Stamped {
  json: string;
  timeMs: number;
  sequence: number;
  instance: string;
}

export class EventStamper {
  readonly instance: string;
  private seq = 0;
  private prev = '';
  private readonly hostName: string;

  constructor(private readonly integrity: IntegrityKey | null = null, opts: { instance?: string; hostName?: string } = {}) {
    this.instance = opts.instance ?? uuidv7();
    this.hostName = opts.hostName ?? hostname();
  }

  /** The last sequence number given out. */
  get lastSequence(): number {
    return this.seq;
  }

  /**
   * Where the key's announcement goes: set by whoever hands events over (the same path as the
   * events). Without it (or without a key) no announcement is made.
   */
  handOver: StampedHandOver | null = null;

  /** Before the first event of the instance: the `kind: "integrity"` event that starts the chain. */
  private begin(): void {
    if (this.integrity === null || this.seq !== 0 || this.handOver === null) return;
    const now = Date.now();
    const s = this.build({ version: '1', id: uuidv7(now), kind: 'integrity', time: new Date(now).toISOString(), message: 'integrity chain starts', integrityKey: { keyId: this.integrity.keyId, algorithm: 'HMAC-SHA256' } }, now);
    this.handOver(s.json, s.timeMs, s.sequence, s.instance);
  }

  /** An audit event: numbered, serialised, sealed. */
  stampEvent(e: AuditEvent, timeMs: number): Stamped {
    this.begin();
    const sequence = this.seq + 1;
    e.sequence = sequence;
    e.proxy.instance = this.instance;
    const json = serializeEvent(e); // may throw: then no number is used up
    this.seq = sequence;
    return { json: this.seal(json), timeMs, sequence, instance: this.instance };
  }

  /**
   * An audit event built for the live stream only (no target enabled): serialised with the
   * instance but without a sequence number or integrity seal, so the numbering and the chain
   * stay those of the events handed over for delivery.
   */
  plainEvent(e: AuditEvent): string {
    delete e.sequence;
    e.proxy.instance = this.instance;
    return serializeEvent(e);
  }

  /**
   * Any other event (gap, test, integrity): `body` has version, id, kind, time first; sequence is
   * put after id, `proxy: { host, instance }` last, then the seal.
   */
  stampObject(body: { version: string; id: string; kind: string; time: string } & Record<string, unknown>, timeMs: number): Stamped {
    this.begin();
    return this.build(body, timeMs);
  }

  private build(body: { version: string; id: string; kind: string; time: string } & Record<string, unknown>, timeMs: number): Stamped {
    const sequence = ++this.seq;
    const { version, id, kind, time, ...rest } = body;
    const ordered = { version, id, sequence, kind, time, ...rest, proxy: { host: this.hostName, instance: this.instance } };
    return { json: this.seal(escapeLineSeparators(JSON.stringify(ordered))), timeMs, sequence, instance: this.instance };
  }

  private seal(json: string): string {
    if (this.integrity === null) return json;
    const prev = this.prev;
    const mac = createHmac('sha256', this.integrity.key).update(prev).update(json).digest('base64url');
    this.prev = mac;
    return json.slice(0, -1) + ',"integrity":{"prev":"' + prev + '","mac":"' + mac + '"}}';
  }
}

/** What the stamped sink hands events to: the dispatcher (one process) or a worker's channel. */
export type StampedHandOver = (json: string, timeMs: number, sequence: number, instance: string, reservation?: number) => void;

/** Fail-closed admission as the sink's owner provides it: reserve (or count a refusal), release. */
export interface AdmissionHooks {
  admit(): number;
  release(reservation: number): void;
}

/**
 * The request path's AuditSink in front of the dispatcher: numbers, serialises and seals each event
 * and hands it over. Never blocks, never throws (a failed serialisation is counted upstream).
 */
export class SequencedSink implements AuditSink {
  constructor(
    private readonly stamper: EventStamper,
    private readonly out: StampedHandOver,
    private readonly isActive: () => boolean,
    private readonly admission: AdmissionHooks | null = null,
    /** False while only a live stream wants events: they are then built unnumbered, for `live`. */
    private readonly isDelivering: () => boolean = isActive,
    private readonly live: (json: string) => void = () => {},
  ) {
    stamper.handOver = out;
  }

  admit(): number {
    return this.admission ? this.admission.admit() : 0;
  }

  release(reservation: number): void {
    if (reservation > 0) this.admission?.release(reservation);
  }

  get active(): boolean {
    return this.isActive();
  }

  enqueue(event: AuditEvent, timeMs?: number, reservation = -1): void {
    if (!this.isActive()) {
      this.release(reservation);
      return;
    }
    if (!this.isDelivering()) {
      this.release(reservation);
      let json: string;
      try {
        json = this.stamper.plainEvent(event);
      } catch {
        return;
      }
      this.live(json);
      return;
    }
    let s: Stamped;
    try {
      s = this.stamper.stampEvent(event, timeMs ?? Date.parse(event.time));
    } catch {
      this.release(reservation);
      return;
    }
    this.out(s.json, s.timeMs, s.sequence, s.instance, reservation);
  }
}

/** The gap event's template: what the dispatcher's `gapEvent` option builds with. */
export function gapEventBuilder(stamper: EventStamper): (info: GapLike) => Stamped {
  return (info) => {
    const now = Date.now();
    return stamper.stampObject({
      version: '1', id: uuidv7(now), kind: 'gap', time: new Date(now).toISOString(),
      gap: {
        instance: info.instance, ranges: info.ranges, count: info.count, unlocated: info.unlocated, exact: info.exact,
        reason: info.reason, firstTime: new Date(info.firstTime).toISOString(), lastTime: new Date(info.lastTime).toISOString(),
        ...(info.lastSequence !== undefined ? { lastSequence: info.lastSequence } : {}),
      },
    }, now);
  };
}

/** The refused event's template (the dispatcher's `refusedEvent` option, serve --audit-required). */
export function refusedEventBuilder(stamper: EventStamper): (info: RefusalInfo) => Stamped {
  return (info) => {
    const now = Date.now();
    return stamper.stampObject({
      version: '1', id: uuidv7(now), kind: 'refused', time: new Date(now).toISOString(),
      refused: { count: info.count, reason: info.reason, firstTime: new Date(info.firstTime).toISOString(), lastTime: new Date(info.lastTime).toISOString() },
    }, now);
  };
}

/** The test event's template (the dispatcher's `testEvent` option). */
export function testEventBuilder(stamper: EventStamper): () => Stamped {
  return () => {
    const now = Date.now();
    return stamper.stampObject({ version: '1', id: uuidv7(now), kind: 'test', time: new Date(now).toISOString(), message: 's3-audit-proxy test event' }, now);
  };
}

/** The dispatcher's GapInfo, as the audit side sees it (audit/ may import dispatch/ types, not the reverse). */
export type GapLike = GapInfo;
