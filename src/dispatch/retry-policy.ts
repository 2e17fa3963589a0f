// One function decides what a reply (or a network error) means for the batch that was sent, in the
// manner of Vector's RetryLogic. Nothing here drops events: every outcome either delivers them,
// keeps them for a later attempt, or names them for the dead-letter file.
//
// | reply                                                   | decision                                   |
// | ------------------------------------------------------- | ------------------------------------------ |
// | 2xx (HEC code 0)                                        | success                                    |
// | network error, timeout, 408, 429, 5xx except 501        | retry (backoff, Retry-After honoured)      |
// | HEC code 8, 9, 18, 19, 20 (whatever the status)         | retry                                      |
// | 401, 403 (HEC codes 1-4)                                | unauthorized: keep events, probe at backoff|
// | 400 code 6 with invalid-event-number n                  | partial: n indexed, event n dead-lettered  |
// | 413; 400 code 6 without a number, 12, 13; 400 without a | split: send each half; a single event that |
// |   HEC code; 422                                         |   is still refused is dead-lettered        |
// | 400 code 5 (no data)                                    | dead-letter the events sent                |
// | 400 code 7, 10, 11; 404, 405, 501, 3xx, other 4xx       | misconfigured: keep events, retry at       |
// |                                                         |   backoff (an operator can fix the target) |
import type { IncomingHttpHeaders } from 'node:http';

export interface ReplyResult {
  kind: 'reply';
  statusCode: number;
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>;
  /** Reply body text (possibly cut). */
  body: string;
}

export interface ErrorResult {
  kind: 'error';
  /** Stable error code (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, ...). */
  code: string;
  message: string;
}

export type SendResult = ReplyResult | ErrorResult;

export type Decision =
  | { action: 'success' }
  | { action: 'retry'; delayMs: number; reason: string; misconfigured: boolean }
  | { action: 'unauthorized'; delayMs: number; reason: string }
  | { action: 'partial'; accepted: number; reason: string }
  | { action: 'split'; reason: string }
  | { action: 'dead-letter'; reason: string };

export interface BackoffOptions {
  /** First retry delay bound, ms (default 1000). */
  baseMs: number;
  /** Largest delay, ms (default 30000). */
  maxMs: number;
  /** Random source in [0, 1) (tests pin it). */
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 30_000 };
/** A Retry-After longer than this is not waited for in full. */
export const RETRY_AFTER_CAP_MS = 300_000;

/** Exponential backoff with full jitter: uniform in [0, min(max, base * 2^attempt)]. attempt >= 0. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const exp = opts.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30);
  const ceil = Math.min(opts.maxMs, exp);
  return Math.floor((opts.random ?? Math.random)() * ceil);
}

/** Retry-After (delta seconds or HTTP date) in ms, or null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return null;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  if (Number.isFinite(t)) return Math.max(0, t - nowMs);
  return null;
}

export interface HecReply {
  code: number | null;
  text: string | null;
  invalidEventNumber: number | null;
}

/** Reads a HEC reply body `{"text":..,"code":N[,"invalid-event-number":n]}`; fields null when absent. */
export function parseHecReply(body: string): HecReply {
  const out: HecReply = { code: null, text: null, invalidEventNumber: null };
  const s = body.trim();
  if (!s.startsWith('{')) return out;
  try {
    const o = JSON.parse(s) as Record<string, unknown>;
    if (typeof o['code'] === 'number') out.code = o['code'];
    if (typeof o['text'] === 'string') out.text = o['text'];
    const n = o['invalid-event-number'];
    if (typeof n === 'number' && Number.isInteger(n)) out.invalidEventNumber = n;
    else if (typeof n === 'string' && /^\d+$/.test(n)) out.invalidEventNumber = Number(n);
  } catch {
    /* not JSON: a plain-text reply */
  }
  return out;
}

const RETRY_HEC_CODES = new Set([8, 9, 18, 19, 20]);

function describe(r: ReplyResult, hec: HecReply): string {
  const detail = hec.text ?? r.body.trim().slice(0, 200);
  return `HTTP ${r.statusCode}${hec.code !== null ? ` code ${hec.code}` : ''}${detail ? `: ${detail}` : ''}`;
}

/**
 * What to do with the `batchSize` events just sent, given the result and how many attempts in a
 * row have failed before (0 for the first failure: it sets the backoff).
 */
export function decide(result: SendResult, attempt: number, batchSize: number, opts: BackoffOptions = DEFAULT_BACKOFF): Decision {
  const backoff = (): number => backoffDelay(attempt, opts);
  if (result.kind === 'error') {
    return { action: 'retry', delayMs: backoff(), reason: `network error ${result.code}: ${result.message}`, misconfigured: false };
  }
  const status = result.statusCode;
  const hec = parseHecReply(result.body);
  const reason = describe(result, hec);
  const withRetryAfter = (): number => {
    const ra = parseRetryAfter(result.headers['retry-after']);
    return ra === null ? backoff() : Math.min(ra, RETRY_AFTER_CAP_MS);
  };

  if (status >= 200 && status < 300) return { action: 'success' };
  if (hec.code !== null && RETRY_HEC_CODES.has(hec.code)) return { action: 'retry', delayMs: withRetryAfter(), reason, misconfigured: false };
  if (status === 401 || status === 403) return { action: 'unauthorized', delayMs: backoff(), reason: `${reason} (check the auth token)` };
  if (status === 408 || status === 429) return { action: 'retry', delayMs: withRetryAfter(), reason, misconfigured: false };
  if (status === 501) return { action: 'retry', delayMs: backoff(), reason: `${reason} (check the endpoint URL)`, misconfigured: true };
  if (status >= 500) return { action: 'retry', delayMs: withRetryAfter(), reason, misconfigured: false };
  if (status === 413) return { action: 'split', reason };
  if (status === 400) {
    switch (hec.code) {
      case 6:
        if (hec.invalidEventNumber !== null && hec.invalidEventNumber >= 0 && hec.invalidEventNumber < batchSize) {
          return { action: 'partial', accepted: hec.invalidEventNumber, reason };
        }
        return { action: 'split', reason };
      case 5:
        return { action: 'dead-letter', reason };
      case 7:
        return { action: 'retry', delayMs: backoff(), reason: `${reason} (check the index setting)`, misconfigured: true };
      case 10:
      case 11:
        return { action: 'retry', delayMs: backoff(), reason: `${reason} (data channel refused)`, misconfigured: true };
      case 12:
      case 13:
      case null:
        return { action: 'split', reason };
      default:
        return { action: 'retry', delayMs: backoff(), reason, misconfigured: true };
    }
  }
  if (status === 422) return { action: 'split', reason };
  // 3xx (redirects are not followed), 404, 405, 410, 411, 415 and anything else: the target is set
  // up wrong, not the data. Keep the events and retry; the operator fixes the endpoint.
  return { action: 'retry', delayMs: backoff(), reason: `${reason} (check the endpoint URL)`, misconfigured: true };
}
