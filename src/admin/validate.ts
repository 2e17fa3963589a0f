// Validation of the admin API's request bodies. Everything an admin can send is checked here, before
// anything is applied: unknown fields, wrong types and out-of-range numbers are refused with a 400
// that names the field, so a typo never silently falls back to a default.
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { WebhookFormat, WebhookTargetConfig } from '../dispatch/types.js';
import { formatFromEndpoint, isHecFormat } from '../dispatch/formats.js';
import { AdminHttpError, badField } from './errors.js';

export const FORMATS: readonly WebhookFormat[] = ['hec-event', 'hec-raw', 'ndjson'];

type Kind = 'integer' | 'boolean' | 'string' | 'path' | 'format';

interface FieldSpec {
  kind: Kind;
  min?: number;
  max?: number;
  /** Integers: 0 is allowed besides [min, max] (meaning "off"). */
  zeroOff?: boolean;
  unit?: string;
}

/** Optional settings of the enable body: the WebhookTargetConfig options, with their allowed ranges. */
export const OPTION_FIELDS: Readonly<Record<string, FieldSpec>> = {
  format: { kind: 'format' },
  index: { kind: 'string', max: 256 },
  source: { kind: 'string', max: 256 },
  sourcetype: { kind: 'string', max: 256 },
  host: { kind: 'string', max: 256 },
  gzip: { kind: 'boolean' },
  batchMaxEvents: { kind: 'integer', min: 1, max: 100_000 },
  batchMaxBytes: { kind: 'integer', min: 1024, max: 100 * 1024 * 1024, unit: 'bytes' },
  batchMaxWaitMs: { kind: 'integer', min: 0, max: 600_000, unit: 'ms' },
  concurrency: { kind: 'integer', min: 1, max: 64 },
  requestTimeoutMs: { kind: 'integer', min: 100, max: 600_000, unit: 'ms' },
  caFile: { kind: 'path' },
  clientCertFile: { kind: 'path' },
  clientKeyFile: { kind: 'path' },
  insecureSkipVerify: { kind: 'boolean' },
  healthCheckIntervalMs: { kind: 'integer', min: 1000, max: 86_400_000, zeroOff: true, unit: 'ms' },
  ack: { kind: 'boolean' },
  ackTimeoutMs: { kind: 'integer', min: 1000, max: 86_400_000, unit: 'ms' },
  ackPollIntervalMs: { kind: 'integer', min: 100, max: 600_000, unit: 'ms' },
};

export const MAX_ENDPOINT_LENGTH = 2048;
export const MAX_TOKEN_LENGTH = 4096;

/** An address this process listens on: the webhook must not point at it (it would audit itself). */
export interface SelfAddress {
  host: string;
  port: number;
  what: string;
}

// Control characters (C0, DEL, C1) never belong in a header value or a name.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && !Number.isInteger(v)) return 'non-integer number';
  return typeof v;
}

function checkOption(field: string, spec: FieldSpec, v: unknown): unknown {
  switch (spec.kind) {
    case 'boolean':
      if (typeof v !== 'boolean') throw badField(field, 'invalid_type', `expected true or false, got ${typeName(v)}`);
      return v;
    case 'integer': {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw badField(field, 'invalid_type', `expected an integer${spec.unit ? ` (${spec.unit})` : ''}, got ${typeName(v)}`);
      if (!Number.isInteger(v)) throw badField(field, 'invalid_type', `expected an integer${spec.unit ? ` (${spec.unit})` : ''}, got ${v}`);
      if (spec.zeroOff && v === 0) return 0;
      if (v < spec.min! || v > spec.max!) {
        throw badField(field, 'out_of_range', `must be ${spec.zeroOff ? '0 (off) or ' : ''}between ${spec.min} and ${spec.max}${spec.unit ? ` ${spec.unit}` : ''}, got ${v}`);
      }
      return v;
    }
    case 'format':
      if (typeof v !== 'string') throw badField(field, 'invalid_type', `expected a string, got ${typeName(v)}`);
      if (!(FORMATS as readonly string[]).includes(v)) throw badField(field, 'invalid_value', `must be one of ${FORMATS.join(', ')}`);
      return v;
    case 'string':
    case 'path': {
      if (typeof v !== 'string') throw badField(field, 'invalid_type', `expected a string, got ${typeName(v)}`);
      if (v.trim() === '') throw badField(field, 'invalid_value', 'must not be empty');
      const max = spec.max ?? 4096;
      if (v.length > max) throw badField(field, 'out_of_range', `at most ${max} characters`);
      if (CONTROL.test(v)) throw badField(field, 'invalid_value', 'must not contain control characters');
      return v;
    }
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * One spelling per address: IPv4-mapped IPv6 (`::ffff:127.0.0.1`, which URL writes `::ffff:7f00:1`)
 * becomes the IPv4 address; IPv6 is lower-cased without brackets.
 */
export function canonicalAddress(host: string): string {
  const h = stripBrackets(host).toLowerCase();
  const m = /^(?:0{0,4}:){0,5}:?ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(h);
  if (!m) return h;
  if (m[1]) return m[1];
  const hi = parseInt(m[2]!, 16);
  const lo = parseInt(m[3]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

export function isLoopbackOrAny(host: string): boolean {
  const h = canonicalAddress(host);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::' || h === '::1' || h === '0.0.0.0' || h === '0:0:0:0:0:0:0:1' || h === '0:0:0:0:0:0:0:0') return true;
  if (/^127\./.test(h) || /^0\./.test(h)) return true;
  return false;
}

/** The host name and every interface address of this machine, canonical. */
export function localAddresses(): Set<string> {
  const out = new Set<string>([hostname().toLowerCase()]);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(canonicalAddress(a.address));
  return out;
}

/**
 * True when `host` (a name or an address, as given or as resolved) on `port` reaches `self`: same
 * port, and the host is this machine (a loopback or unspecified address, one of its interface
 * addresses or its host name) or the listener's own host.
 */
export function addressIsSelf(host: string, port: number, self: SelfAddress): boolean {
  if (port !== self.port) return false;
  const h = canonicalAddress(host);
  const selfHost = canonicalAddress(self.host);
  if (h === selfHost) return true;
  const selfIsAny = selfHost === '0.0.0.0' || selfHost === '::' || selfHost === '';
  const selfIsLoopback = isLoopbackOrAny(selfHost);
  if (isLoopbackOrAny(h)) return selfIsAny || selfIsLoopback;
  if (localAddresses().has(h)) return selfIsAny || h === selfHost;
  return false;
}

export function urlPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** The literal check (no DNS): `url` names `self`. The enable route also resolves names (self-check.ts). */
export function pointsAt(url: URL, self: SelfAddress): boolean {
  return addressIsSelf(url.hostname, urlPort(url), self);
}

export function validateEndpoint(raw: unknown, self: readonly SelfAddress[]): string {
  if (raw === undefined || raw === null) throw badField('endpoint', 'missing_field', 'required (the webhook URL, e.g. https://splunk:8088/services/collector/event)');
  if (typeof raw !== 'string') throw badField('endpoint', 'invalid_type', `expected a URL string, got ${typeName(raw)}`);
  if (raw.length > MAX_ENDPOINT_LENGTH) throw badField('endpoint', 'out_of_range', `at most ${MAX_ENDPOINT_LENGTH} characters`);
  if (CONTROL.test(raw) || /\s/.test(raw)) throw badField('endpoint', 'invalid_endpoint', 'must not contain spaces or control characters');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badField('endpoint', 'invalid_endpoint', 'not a valid absolute URL (e.g. https://splunk:8088/services/collector/event)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw badField('endpoint', 'unsupported_scheme', `scheme ${url.protocol} is not allowed: use http:// or https://`);
  }
  if (!url.hostname) throw badField('endpoint', 'invalid_endpoint', 'has no host');
  if (url.username || url.password) throw badField('endpoint', 'invalid_endpoint', 'must not carry credentials (user:password@): give the token as authToken');
  if (url.hash) throw badField('endpoint', 'invalid_endpoint', 'must not have a #fragment');
  const host = stripBrackets(url.hostname);
  if (isIP(host) === 0 && !/^[a-z0-9.-]+$/i.test(host)) throw badField('endpoint', 'invalid_endpoint', 'host name is not valid');
  for (const s of self) {
    if (pointsAt(url, s)) {
      throw badField('endpoint', 'endpoint_is_self', `points at this proxy's own ${s.what} (${s.host}:${s.port}): audit events would loop back into the proxy`);
    }
  }
  return url.toString();
}

export function validateAuthToken(raw: unknown): string {
  if (raw === undefined || raw === null) throw badField('authToken', 'missing_field', 'required (e.g. "Splunk <HEC token>" or the bare HEC token)');
  if (typeof raw !== 'string') throw badField('authToken', 'invalid_type', `expected a string, got ${typeName(raw)}`);
  const t = raw.trim();
  if (t === '') throw badField('authToken', 'invalid_value', 'must not be empty');
  if (t.length > MAX_TOKEN_LENGTH) throw badField('authToken', 'out_of_range', `at most ${MAX_TOKEN_LENGTH} characters`);
  if (CONTROL.test(t)) throw badField('authToken', 'invalid_value', 'must not contain control characters or line breaks');
  if (/[^\x20-\x7e]/.test(t)) throw badField('authToken', 'invalid_value', 'must be printable ASCII (it is sent in an HTTP header)');
  return t;
}

/** The body of POST /api/v1/audit-webhook/enable, as a WebhookTargetConfig. */
export function validateEnableBody(body: unknown, self: readonly SelfAddress[] = []): WebhookTargetConfig {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AdminHttpError(400, 'invalid_body', `expected a JSON object like {"endpoint": "...", "authToken": "..."}, got ${typeName(body)}`);
  }
  const obj = body as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== 'endpoint' && key !== 'authToken' && !Object.hasOwn(OPTION_FIELDS, key)) {
      const hint = key === 'auth_token' || key === 'auth-token' || key === 'token' ? ' (did you mean "authToken"?)' : '';
      throw badField(key.slice(0, 100), 'unknown_field', `unknown field${hint}; allowed: endpoint, authToken, ${Object.keys(OPTION_FIELDS).join(', ')}`);
    }
  }
  const cfg: WebhookTargetConfig = {
    endpoint: validateEndpoint(obj['endpoint'], self),
    authToken: validateAuthToken(obj['authToken']),
  };
  const out = cfg as unknown as Record<string, unknown>;
  for (const [field, spec] of Object.entries(OPTION_FIELDS)) {
    const v = obj[field];
    if (v === undefined || v === null) continue;
    out[field] = checkOption(field, spec, v);
  }
  if (Boolean(cfg.clientCertFile) !== Boolean(cfg.clientKeyFile)) {
    const missing = cfg.clientCertFile ? 'clientKeyFile' : 'clientCertFile';
    throw badField(missing, 'missing_field', 'clientCertFile and clientKeyFile go together');
  }
  checkAck(cfg);
  return cfg;
}

/** HEC indexer acknowledgement exists only on HEC; its timings only with it. */
function checkAck(cfg: WebhookTargetConfig): void {
  if (cfg.ack === true) {
    const format = cfg.format ?? formatFromEndpoint(cfg.endpoint);
    if (!isHecFormat(format)) throw badField('ack', 'invalid_value', `indexer acknowledgement is a Splunk HEC feature: it needs format hec-event or hec-raw, not ${format}`);
    return;
  }
  for (const f of ['ackTimeoutMs', 'ackPollIntervalMs'] as const) {
    if (cfg[f] !== undefined) throw badField(f, 'invalid_value', 'applies only with "ack": true (HEC indexer acknowledgement)');
  }
}

/** Bodies of the action routes (disable, test): nothing, or an empty object. */
export function validateEmptyBody(body: unknown): void {
  if (body === undefined) return;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AdminHttpError(400, 'invalid_body', `expected no body or {}, got ${typeName(body)}`);
  }
  const keys = Object.keys(body);
  if (keys.length > 0) throw badField(keys[0]!.slice(0, 100), 'unknown_field', 'unknown field: this route takes no settings');
}

/** Parses a request body: empty -> undefined; otherwise JSON or a 400 saying where it broke. */
export function parseJsonBody(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // Never echo the parser's message: it quotes the body, which may hold a token.
    const pos = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new AdminHttpError(400, 'malformed_json', `request body is not valid JSON${pos !== undefined ? ` (error at byte ${pos})` : ''}`);
  }
}

/** The body of POST /api/v1/audit-webhook/batch-config: at least one of the three batch settings. */
export function validateBatchBody(body: unknown): Pick<WebhookTargetConfig, 'batchMaxEvents' | 'batchMaxBytes' | 'batchMaxWaitMs'> {
  const fields = ['batchMaxEvents', 'batchMaxBytes', 'batchMaxWaitMs'] as const;
  if (body === null || body === undefined || typeof body !== 'object' || Array.isArray(body)) {
    throw new AdminHttpError(400, 'invalid_body', `expected a JSON object like {"batchMaxEvents": 500, "batchMaxBytes": 1048576, "batchMaxWaitMs": 1000}, got ${typeName(body)}`);
  }
  const obj = body as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!(fields as readonly string[]).includes(key)) throw badField(key.slice(0, 100), 'unknown_field', `unknown field; allowed: ${fields.join(', ')}`);
  }
  const out: Record<string, unknown> = {};
  for (const f of fields) if (obj[f] !== undefined && obj[f] !== null) out[f] = checkOption(f, OPTION_FIELDS[f]!, obj[f]);
  if (Object.keys(out).length === 0) throw new AdminHttpError(400, 'missing_field', `give at least one of ${fields.join(', ')}`);
  return out;
}
