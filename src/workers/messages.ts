// What the primary and its S3 listener workers say to each other over the cluster IPC channel
// (`serialization: 'advanced'`, so strings and number arrays cross without a JSON round trip).
//
// Messages are batched (see event-channel.ts): each one costs both processes tens of µs, so
// one per request would undo what the second core buys.
//
// Workers build and serialise events (the costly part, now spread over every core) and send them in
// batches; the primary owns the one dispatcher, spool, admin API and webhook. So there is one spool
// directory, one delivery order and one status, whatever the worker count.

import type { RequestMetricsDelta } from '../admin/metrics.js';

/** Worker → primary: a batch of events (a few ms' worth) and the request metrics counted meanwhile. */
export interface EventsMessage {
  t: 'events';
  /** Event JSON texts joined by '\n' (JSON text never holds a raw newline). Empty when none. */
  json: string;
  /** Event time (epoch ms) of each event, in order. */
  times: number[];
  /** Request metrics counted since the last message (null: none). */
  metrics: RequestMetricsDelta | null;
  /** Events the worker dropped since its last message because the channel was backlogged. */
  dropped: number;
  /**
   * The worker's instance (events are numbered per worker) and each event's sequence number; 0 for
   * an event built while only a live stream wanted events (unnumbered: the primary shows it to the
   * stream and never hands it to a target, even one enabled since).
   */
  instance: string;
  seqs: number[];
  /** Sequence numbers of the dropped events, as inclusive ranges. */
  droppedRanges: Array<[number, number]>;
  /** --audit-required only: 1 for each event that spent a credit (CreditsMessage), else 0; in event order. */
  reserved?: number[];
  /** --audit-required only: requests refused for want of a credit since the last message. */
  refused?: { count: number; firstTime: number; lastTime: number } | null;
}

/** Worker → primary: acknowledges an ActiveMessage (the admin API's reply waits for every worker). */
export interface AckMessage { t: 'ack'; seq: number }

/** Worker → primary: everything is sent; the worker exits next. */
export interface ByeMessage { t: 'bye' }

/**
 * Primary → worker: whether events are wanted at all (a target is enabled or a live stream is
 * attached; workers build no events otherwise) and whether they are for delivery (a target is
 * enabled: numbered and sealed) or for the live stream only (unnumbered).
 */
export interface ActiveMessage { t: 'active'; active: boolean; deliver: boolean; seq: number }

/** Primary → worker (--audit-required): `n` more credits, each room promised for one event (credits.ts). */
export interface CreditsMessage { t: 'credits'; n: number }

/** Primary → worker: stop accepting, finish in-flight requests, send the last events, exit. */
export interface StopMessage { t: 'stop'; deadlineMs: number }

export type WorkerToPrimary = EventsMessage | AckMessage | ByeMessage;
export type PrimaryToWorker = ActiveMessage | StopMessage | CreditsMessage;

/** Handed to each worker in its environment: what it must know before its first request. */
export interface WorkerInit {
  /** Backend origin (the embedded store's when the primary started one). */
  backend: string;
  /** Audit state at fork time; later changes arrive as ActiveMessage. */
  active: boolean;
  deliver: boolean;
  /** Set only for a worker started when none of its siblings is left: the port they listened on. */
  listenPort?: number;
}

/** Not S3AP_*: serve's option parser refuses unknown S3AP_ variables, and this is no setting. */
export const WORKER_INIT_ENV = 'S3_AUDIT_PROXY_WORKER_INIT';

const TYPES = new Set(['events', 'ack', 'bye', 'active', 'stop', 'credits']);

/** A message of ours (the channel may also carry Node's own cluster messages). */
export function isOurMessage(m: unknown): m is WorkerToPrimary | PrimaryToWorker {
  return typeof m === 'object' && m !== null && TYPES.has((m as { t?: unknown }).t as string);
}
