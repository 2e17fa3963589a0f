// The dispatcher's boundary types: target settings and status as the admin plane sees them.
// (The request path's view of auditing, AuditSink, is src/audit/sink.ts.)
import type { Registry } from 'prom-client';
import type { AckStatus } from './ack-poller.js';

export type WebhookFormat = 'hec-event' | 'hec-raw' | 'ndjson';

/** Settings of the webhook target, as enabled by an admin (admin API, CLI, persisted config). */
export interface WebhookTargetConfig {
  endpoint: string;
  /** Sent verbatim when it holds a scheme ("Splunk x", "Bearer y"); else prefixed by format. Secret. */
  authToken: string;
  /** Default: chosen from the endpoint path. */
  format?: WebhookFormat;
  /** HEC envelope metadata. */
  index?: string;
  source?: string;
  sourcetype?: string;
  host?: string;
  gzip?: boolean;
  /** Batches close at this many events (default 500), bytes (default 1 MiB) or ms (default 1000). */
  batchMaxEvents?: number;
  batchMaxBytes?: number;
  batchMaxWaitMs?: number;
  /** Parallel requests in flight to the target (default 2). */
  concurrency?: number;
  requestTimeoutMs?: number;
  /** TLS to the receiver. */
  caFile?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
  insecureSkipVerify?: boolean;
  /** Probe GET /services/collector/health every N ms (HEC only; 0 = off). */
  healthCheckIntervalMs?: number;
  /** HEC indexer acknowledgement (HEC formats only): a batch is delivered once Splunk says it is indexed. */
  ack?: boolean;
  /** Re-send a batch not acknowledged after this long (default 300000, 5 minutes). */
  ackTimeoutMs?: number;
  /** Poll /services/collector/ack this often (default 2000). */
  ackPollIntervalMs?: number;
}

export type TargetState = 'disabled' | 'healthy' | 'degraded' | 'down' | 'unauthorized' | 'rejecting';

/** A state change of a target, newest last in TargetStatus.stateHistory. */
export interface TargetStateChange {
  at: string;
  state: TargetState;
  /** The error that caused it (null for a change to healthy or disabled). */
  error: string | null;
}

/** One of a target's recent errors: the latest time it came, and how many times in a row. */
export interface TargetRecentError {
  at: string;
  error: string;
  count: number;
}

export interface TargetStatus {
  state: TargetState;
  /** Events waiting in memory. */
  queued: number;
  queuedBytes: number;
  /** Bounds of the memory queue. */
  queueMaxEvents: number;
  queueMaxBytes: number;
  /** Events handed to the target since start (a rate is the difference of two readings). */
  enqueued: number;
  delivered: number;
  /** Total dropped, and by reason (e.g. "queue_full", "spool_full", "invalid_event"). */
  dropped: number;
  droppedByReason: Record<string, number>;
  /** Events currently held in the disk spool, and its size on disk. */
  spooled: number;
  spoolBytes: number;
  /** Bound of the disk spool, bytes. */
  spoolMaxBytes: number;
  deadLettered: number;
  deadLetteredByReason: Record<string, number>;
  retried: number;
  inFlight: number;
  lastSuccess: string | null;
  lastFailure: string | null;
  lastError: string | null;
  consecutiveFailures: number;
  /** Last delivery latency (request sent to reply), ms. */
  lastLatencyMs: number | null;
  /** The last state changes (up to 20), oldest first. */
  stateHistory: TargetStateChange[];
  /** The last distinct errors (up to 10), oldest first. */
  recentErrors: TargetRecentError[];
  /** S3 requests refused with 503 SlowDown by --audit-required (no room to keep their event). */
  refusedRequests: number;
  /** HEC indexer acknowledgement (ack-poller.ts), null while it is off. */
  ack: AckStatus | null;
}

/** The local audit log target (--audit-log) as the admin plane sees it. */
export interface AuditLogStatus {
  path: string;
  status: TargetStatus;
}

/** Reply of the receiver to the admin "send a test event" action. */
export interface TestEventResult {
  ok: boolean;
  statusCode: number | null;
  /** Receiver's reply body (first 4 KiB), or the network error text. */
  body: string;
  latencyMs: number;
}

/** What the admin plane (src/admin) uses of the dispatcher. */
export interface AuditControl {
  /** Current webhook settings (secret included: callers must redact before showing), or null when disabled. */
  webhookConfig(): WebhookTargetConfig | null;
  /** Enable or replace the webhook target live; null disables it. Queued and spooled events are kept. */
  setWebhook(config: WebhookTargetConfig | null): Promise<void>;
  status(): TargetStatus;
  /** The local audit log target, or null when there is none (optional: embedders may leave it out). */
  auditLogStatus?(): AuditLogStatus | null;
  sendTestEvent(): Promise<TestEventResult>;
  /** The dispatcher's metrics: a prom-client Registry, merged with the other owners' at scrape time. */
  metricsRegistry(): Registry;
}
