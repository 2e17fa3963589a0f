// A sink is where a target's batches go: the webhook (HEC, NDJSON) or the local JSONL file. Every
// sink sits behind the same buffer and driver; it only turns events [from, to) into one request (or
// one write) and says what the outcome means (retry-policy.ts's Decision).
import type { QueueItems } from './memory-queue.js';
import type { Decision } from './retry-policy.js';

export interface SinkReply {
  decision: Decision;
  /** Request start to reply read (or write and fsync), ms. */
  latencyMs: number;
  /** HTTP status of the reply, when there was one. */
  statusCode: number | null;
  /** The receiver's reply or the error, free of secrets (for dead letters and logs). */
  reply: string;
  /** HEC indexer acknowledgement: the `ackId` of an accepting reply (null: none; absent: not a HEC sink). */
  ackId?: number | null;
}

/** A poll of HEC's ack endpoint: the ids it answered, each true (indexed) or false; or why it failed. */
export type AckPollReply = { ok: true; acks: Map<number, boolean> } | { ok: false; error: string };

export interface Sink {
  readonly kind: 'webhook' | 'file';
  /** Where events go (endpoint URL or file path), for logs and dead letters. */
  readonly label: string;
  /** Bytes one event takes in a request body. */
  cost(jsonBytes: number, timeMs: number): number;
  /** `attempt`: failed attempts in a row before this one (sets the backoff of a retry decision). Never throws. */
  send(items: QueueItems, from: number, to: number, attempt: number): Promise<SinkReply>;
  /** HEC sinks: asks the receiver which of these ackIds are indexed. Never throws. */
  pollAcks?(ids: readonly number[]): Promise<AckPollReply>;
  /** Finishes what is in flight (bounded), then releases resources. */
  close(): Promise<void>;
  /** Aborts what is in flight now. */
  destroy(): Promise<void>;
}
