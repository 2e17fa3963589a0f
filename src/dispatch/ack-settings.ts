// HEC indexer acknowledgement settings of a webhook config, with their defaults.
import type { WebhookTargetConfig } from './types.js';
import type { AckSettings } from './ack-poller.js';
import { DEFAULT_ACK_POLL_INTERVAL_MS, DEFAULT_ACK_TIMEOUT_MS } from './ack-tracker.js';
import { formatFromEndpoint, isHecFormat } from './formats.js';

/** The ack settings of `config`, or null when acknowledgement is off (or the format is not HEC). */
export function ackSettings(config: WebhookTargetConfig): AckSettings | null {
  if (config.ack !== true || !isHecFormat(config.format ?? formatFromEndpoint(config.endpoint))) return null;
  return {
    timeoutMs: config.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS,
    pollIntervalMs: config.ackPollIntervalMs ?? DEFAULT_ACK_POLL_INTERVAL_MS,
  };
}
