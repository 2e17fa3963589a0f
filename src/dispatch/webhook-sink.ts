// The webhook sink: HEC (event or raw) or NDJSON over HTTP(S). Formats a batch (formats.ts), posts
// it through the target's Sender (sender.ts) and reads the reply with retry-policy.ts.
import type { QueueItems } from './memory-queue.js';
import type { WebhookFormat, WebhookTargetConfig } from './types.js';
import type { AckPollReply, Sink, SinkReply } from './sink.js';
import { Sender } from './sender.js';
import { createFormatter, formatFromEndpoint, type Formatter } from './formats.js';
import { decide, parseHecReply, type BackoffOptions, type SendResult } from './retry-policy.js';
import { redactToken } from './auth-header.js';

export class WebhookSink implements Sink {
  readonly kind = 'webhook' as const;
  readonly label: string;
  readonly format: WebhookFormat;
  readonly sender: Sender;
  readonly formatter: Formatter;
  private readonly token: string;
  private readonly backoff: BackoffOptions;

  private constructor(config: WebhookTargetConfig, format: WebhookFormat, sender: Sender, formatter: Formatter, backoff: BackoffOptions) {
    this.label = config.endpoint;
    this.format = format;
    this.sender = sender;
    this.formatter = formatter;
    this.token = config.authToken ?? '';
    this.backoff = backoff;
  }

  /** Validates the settings and builds the connection pool; throws with a clear message. */
  static async create(config: WebhookTargetConfig, hostName: string, backoff: BackoffOptions): Promise<WebhookSink> {
    const format = config.format ?? formatFromEndpoint(config.endpoint);
    const meta = { host: config.host || hostName, source: config.source, sourcetype: config.sourcetype, index: config.index };
    const sender = await Sender.create(config, { format, meta });
    return new WebhookSink(config, format, sender, createFormatter(format, meta), backoff);
  }

  cost(jsonBytes: number, timeMs: number): number {
    return this.formatter.size(jsonBytes, timeMs);
  }

  async send(items: QueueItems, from: number, to: number, attempt: number): Promise<SinkReply> {
    const body = this.formatter.body(items.json, items.bytes, items.timeMs, from, to);
    const out = await this.sender.send(body, this.formatter.contentType);
    const decision = decide(out.result, attempt, to - from, this.backoff);
    if ('reason' in decision) decision.reason = this.redact(decision.reason);
    return {
      decision,
      latencyMs: out.latencyMs,
      statusCode: out.result.kind === 'reply' ? out.result.statusCode : null,
      reply: this.redact(replyText(out.result)),
      ackId: out.result.kind === 'reply' ? parseAckId(out.result.body) : null,
    };
  }

  async pollAcks(ids: readonly number[]): Promise<AckPollReply> {
    const out = await this.sender.pollAcks(ids);
    const r = out.result;
    if (r.kind === 'error') return { ok: false, error: this.redact(`${r.code}: ${r.message}`) };
    const acks = r.statusCode >= 200 && r.statusCode < 300 ? parseAcks(r.body) : null;
    if (acks === null) return { ok: false, error: this.redact(`ack endpoint: HTTP ${r.statusCode}: ${r.body.trim().slice(0, 200)}`) };
    return { ok: true, acks };
  }

  redact(text: string): string {
    return redactToken(text, this.token);
  }

  close(): Promise<void> {
    return this.sender.close();
  }

  destroy(): Promise<void> {
    return this.sender.destroy();
  }
}

function replyText(r: SendResult): string {
  if (r.kind === 'error') return `${r.code}: ${r.message}`;
  const hec = parseHecReply(r.body);
  return hec.text !== null ? r.body.trim() : r.body.slice(0, 4096);
}

/** `ackId` of a HEC reply ({"text":"Success","code":0,"ackId":N}), or null. */
export function parseAckId(body: string): number | null {
  if (!body.includes('ackId')) return null;
  try {
    const v = (JSON.parse(body) as { ackId?: unknown }).ackId;
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
  } catch {
    return null;
  }
}

/** The ack endpoint's answer {"acks":{"N":true|false}}, or null when it is not that. */
export function parseAcks(body: string): Map<number, boolean> | null {
  try {
    const o = (JSON.parse(body) as { acks?: unknown }).acks;
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return null;
    const out = new Map<number, boolean>();
    for (const [k, v] of Object.entries(o as Record<string, unknown>)) if (/^\d+$/.test(k)) out.set(Number(k), v === true);
    return out;
  } catch {
    return null;
  }
}
