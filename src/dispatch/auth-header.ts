// The Authorization header sent to the webhook.
import type { WebhookFormat } from './types.js';

/** "Scheme credentials": a token that already names its scheme is sent verbatim. */
const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*\s+\S/;

/**
 * The header value for a configured token: verbatim when it already carries a scheme
 * ("Splunk x", "Bearer y", "Basic z"); a bare token gets "Splunk " for HEC formats, "Bearer "
 * otherwise. An empty token means no header (null).
 */
export function authorizationHeader(token: string, format: WebhookFormat): string | null {
  const t = token.trim();
  if (t === '') return null;
  if (HAS_SCHEME.test(t)) return t;
  return format === 'ndjson' ? `Bearer ${t}` : `Splunk ${t}`;
}

/** Replaces every occurrence of the secret part of a token in `text` (for error messages). */
export function redactToken(text: string, token: string): string {
  let out = text;
  const t = token.trim();
  if (t === '') return out;
  const parts = [t, t.replace(/^\S+\s+/, '')].filter((p) => p.length >= 4);
  for (const p of parts) out = out.split(p).join('[REDACTED]');
  return out;
}
