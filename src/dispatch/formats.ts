// Request bodies for the webhook, built from events serialised once at enqueue.
//
//   hec-event  POST /services/collector/event (or /services/collector): one HEC envelope per event,
//              `{"time":<epoch s.mmm>,"host":..,"source":..,"sourcetype":..,["index":..,]"event":<event>}`,
//              envelopes separated by "\n" (HEC accepts any whitespace between them).
//   hec-raw    POST /services/collector/raw: the events as newline-delimited JSON, metadata in the
//              query string (sourcetype, source, host, index, channel).
//   ndjson     any other endpoint: newline-delimited JSON, `application/x-ndjson`.
//
// Byte sizes are exact (computed from the JSON byte length measured at enqueue), so batches can be
// closed at a byte budget before anything is copied.
import type { WebhookFormat } from './types.js';
import { writeEventJson, type EventJson } from './event-slab.js';

export const DEFAULT_SOURCETYPE = '_json';
export const DEFAULT_SOURCE = 's3-audit-proxy';

/** Format implied by an endpoint URL's path. */
export function formatFromEndpoint(endpoint: string): WebhookFormat {
  let path: string;
  try {
    path = new URL(endpoint).pathname;
  } catch {
    path = endpoint;
  }
  path = path.replace(/\/+$/, '');
  if (path.endsWith('/services/collector/raw') || path.endsWith('/services/collector/raw/1.0')) return 'hec-raw';
  if (path.endsWith('/services/collector/event') || path.endsWith('/services/collector') || path.endsWith('/services/collector/event/1.0')) return 'hec-event';
  return 'ndjson';
}

export function isHecFormat(format: WebhookFormat): boolean {
  return format !== 'ndjson';
}

/** HEC `time`: epoch seconds with millisecond decimals, e.g. "1732530000.123". */
export function hecTime(timeMs: number): string {
  return (Math.round(timeMs) / 1000).toFixed(3);
}

// hecTime() runs twice per event (batch sizing, then the body) and toFixed() was a tenth of the
// delivery path's profile: for the times that occur (0 <= ms < 1e14, where k/1000 is within far less
// than half a millisecond of its double, so toFixed(3) prints exactly the integer digits) the digits
// are computed from integers, written straight into the body. Anything else takes hecTime().
const FAST_TIME_LIMIT = 1e14;

/** Bytes of hecTime(timeMs). */
function hecTimeLength(timeMs: number): number {
  const k = Math.round(timeMs);
  if (!(k >= 0 && k < FAST_TIME_LIMIT)) return hecTime(timeMs).length;
  let s = Math.floor(k / 1000);
  let digits = 1;
  while (s >= 10) {
    s = Math.floor(s / 10);
    digits++;
  }
  return digits + 4;
}

/** Writes hecTime(timeMs) (ASCII) at `off`; returns the offset after it. */
function writeHecTime(buf: Buffer, off: number, timeMs: number): number {
  const k = Math.round(timeMs);
  if (!(k >= 0 && k < FAST_TIME_LIMIT)) {
    const t = hecTime(timeMs);
    return off + buf.write(t, off, t.length, 'latin1');
  }
  let s = Math.floor(k / 1000);
  let f = k - s * 1000;
  const end = off + hecTimeLength(k);
  let i = end - 1;
  for (let d = 0; d < 3; d++) {
    const q = Math.floor(f / 10);
    buf[i--] = 0x30 + (f - q * 10);
    f = q;
  }
  buf[i--] = 0x2e; // .
  do {
    const q = Math.floor(s / 10);
    buf[i--] = 0x30 + (s - q * 10);
    s = q;
  } while (s > 0);
  return end;
}

/** Copies `src` at `off` (short constant parts: a loop beats a native copy's call cost). */
function writeBytes(buf: Buffer, off: number, src: Uint8Array): number {
  for (let i = 0; i < src.length; i++) buf[off + i] = src[i]!;
  return off + src.length;
}

/** Event time (epoch ms) from an event's RFC 3339 `time`; now when missing or unparsable. */
export function eventTimeMs(time: unknown): number {
  if (typeof time === 'string') {
    const ms = Date.parse(time);
    if (Number.isFinite(ms)) return ms;
  }
  return Date.now();
}

export interface FormatMeta {
  host: string;
  source?: string;
  sourcetype?: string;
  index?: string;
}

export interface Formatter {
  readonly format: WebhookFormat;
  readonly contentType: string;
  /** Bytes one event takes in a body. */
  size(jsonBytes: number, timeMs: number): number;
  /** Writes one event at `off`; returns the offset after it. */
  write(buf: Buffer, off: number, json: EventJson, jsonBytes: number, timeMs: number): number;
  /** Body for events [from, to) of parallel arrays. */
  body(json: readonly EventJson[], jsonBytes: readonly number[], timeMs: readonly number[], from?: number, to?: number): Buffer;
}

abstract class BaseFormatter implements Formatter {
  abstract readonly format: WebhookFormat;
  abstract readonly contentType: string;
  abstract size(jsonBytes: number, timeMs: number): number;
  abstract write(buf: Buffer, off: number, json: EventJson, jsonBytes: number, timeMs: number): number;

  body(json: readonly EventJson[], jsonBytes: readonly number[], timeMs: readonly number[], from = 0, to = json.length): Buffer {
    let total = 0;
    for (let i = from; i < to; i++) total += this.size(jsonBytes[i], timeMs[i]);
    const buf = Buffer.allocUnsafe(total);
    let off = 0;
    for (let i = from; i < to; i++) off = this.write(buf, off, json[i], jsonBytes[i], timeMs[i]);
    if (off !== total) throw new Error(`formatter: body size mismatch (${off} != ${total})`);
    return buf;
  }
}

class LinesFormatter extends BaseFormatter {
  constructor(readonly format: WebhookFormat, readonly contentType: string) {
    super();
  }
  size(jsonBytes: number): number {
    return jsonBytes + 1;
  }
  write(buf: Buffer, off: number, json: EventJson, jsonBytes: number): number {
    off = writeEventJson(buf, off, json, jsonBytes);
    buf[off] = 0x0a;
    return off + 1;
  }
}

const TIME_KEY = Buffer.from('{"time":', 'latin1');

class HecEventFormatter extends BaseFormatter {
  readonly format = 'hec-event' as const;
  readonly contentType = 'application/json';
  /** `,"host":..,"event":` rendered once, as bytes (pino's trick: constant parts are cached). */
  private readonly middle: Buffer;

  constructor(meta: FormatMeta) {
    super();
    let m = `,"host":${JSON.stringify(meta.host)},"source":${JSON.stringify(meta.source || DEFAULT_SOURCE)}`;
    m += `,"sourcetype":${JSON.stringify(meta.sourcetype || DEFAULT_SOURCETYPE)}`;
    if (meta.index) m += `,"index":${JSON.stringify(meta.index)}`;
    m += ',"event":';
    this.middle = Buffer.from(m, 'utf8');
  }

  size(jsonBytes: number, timeMs: number): number {
    // {"time":  + time + middle + json + }\n
    return 8 + hecTimeLength(timeMs) + this.middle.length + jsonBytes + 2;
  }

  write(buf: Buffer, off: number, json: EventJson, jsonBytes: number, timeMs: number): number {
    off = writeBytes(buf, off, TIME_KEY);
    off = writeHecTime(buf, off, timeMs);
    off = writeBytes(buf, off, this.middle);
    off = writeEventJson(buf, off, json, jsonBytes);
    buf[off] = 0x7d; // }
    buf[off + 1] = 0x0a;
    return off + 2;
  }
}

export function createFormatter(format: WebhookFormat, meta: FormatMeta): Formatter {
  switch (format) {
    case 'hec-event':
      return new HecEventFormatter(meta);
    case 'hec-raw':
      return new LinesFormatter('hec-raw', 'text/plain; charset=utf-8');
    case 'ndjson':
      return new LinesFormatter('ndjson', 'application/x-ndjson');
  }
}

/**
 * Path and query to POST to: the endpoint's own, plus for hec-raw the metadata and channel as query
 * parameters (parameters already in the endpoint URL win).
 */
export function requestPath(endpoint: URL, format: WebhookFormat, meta: FormatMeta, channel: string): string {
  if (format !== 'hec-raw') return endpoint.pathname + endpoint.search;
  const q = new URLSearchParams(endpoint.search);
  const put = (k: string, v: string | undefined): void => {
    if (v && !q.has(k)) q.set(k, v);
  };
  put('channel', channel);
  put('sourcetype', meta.sourcetype || DEFAULT_SOURCETYPE);
  put('source', meta.source || DEFAULT_SOURCE);
  put('host', meta.host);
  put('index', meta.index);
  return `${endpoint.pathname}?${q.toString()}`;
}

/** HEC health endpoint on the same origin as an event endpoint. */
export function healthPath(endpoint: URL): string {
  return collectorPath(endpoint, 'health');
}

/** HEC indexer acknowledgement endpoint on the same origin as an event endpoint. */
export function ackPath(endpoint: URL): string {
  return collectorPath(endpoint, 'ack');
}

function collectorPath(endpoint: URL, leaf: string): string {
  const p = endpoint.pathname;
  const i = p.indexOf('/services/collector');
  return `${i >= 0 ? p.slice(0, i) : ''}/services/collector/${leaf}`;
}
