// The audit-webhook CLI's flags and what they make: the option tables (--help, S3AP_* variables),
// the enable request body built and checked from the parsed flags, and which S3AP_* variables
// belong to other commands (shared with tail, verify and spool inspect).
import { resolve } from 'node:path';
import { envName, type OptionDef, type OptionValues } from '../config/options.js';
import { SERVE_OPTIONS } from '../config/serve-config.js';
import { ConfigError, UsageError } from '../errors.js';

export const PREFIX = 's3-audit-proxy audit-webhook';
const FORMATS = ['hec-event', 'hec-raw', 'ndjson'];

export const COMMON_OPTIONS: readonly OptionDef[] = [
  { name: 'admin', kind: 'string', arg: 'url', default: 'http://127.0.0.1:9081', help: 'admin API of the running proxy (its --admin-listen)' },
  { name: 'admin-token', kind: 'string', secret: true, help: 'admin API token (else --admin-token-file, else <data-dir>/admin-token); a flag shows in ps: prefer the file or S3AP_ADMIN_TOKEN' },
  { name: 'admin-token-file', kind: 'string', arg: 'file', help: 'file holding the admin API token' },
  { name: 'data-dir', kind: 'string', arg: 'dir', default: 'data', help: 'the proxy\'s data directory: its generated admin-token is read from there' },
  { name: 'timeout', kind: 'duration', default: 60_000, help: 'give up on the admin API after this long' },
  { name: 'json', kind: 'boolean', default: false, help: 'print the admin API\'s JSON reply instead of a summary' },
];

export const ENABLE_OPTIONS: readonly OptionDef[] = [
  { name: 'endpoint', kind: 'string', arg: 'url', help: 'webhook URL, e.g. https://splunk:8088/services/collector/event (required)' },
  { name: 'auth-token', kind: 'string', secret: true, aliases: ['auth_token'], arg: 'token', help: 'receiver token: "Splunk <HEC token>" or the bare token (required); one layer of surrounding quotes is removed, so Weka\'s --auth_token="\\"Splunk <token>\\"" works as printed' },
  { name: 'format', kind: 'string', arg: FORMATS.join('|'), help: 'body format (default: from the endpoint path)' },
  { name: 'index', kind: 'string', help: 'HEC index' },
  { name: 'source', kind: 'string', help: 'HEC source (default s3-audit-proxy)' },
  { name: 'sourcetype', kind: 'string', help: 'HEC sourcetype (default _json)' },
  { name: 'hec-host', kind: 'string', arg: 'name', help: 'HEC host field (default: the proxy\'s --host-name)' },
  { name: 'gzip', kind: 'boolean', help: 'gzip request bodies' },
  { name: 'batch-max-events', kind: 'integer', arg: 'n', help: 'events per request (default 500)' },
  { name: 'batch-max-bytes', kind: 'size', help: 'bytes per request (default 1MiB)' },
  { name: 'batch-max-wait', kind: 'duration', help: 'longest wait before a partial batch is sent (default 1s)' },
  { name: 'concurrency', kind: 'integer', arg: 'n', help: 'requests in flight to the receiver (default 2)' },
  { name: 'request-timeout', kind: 'duration', help: 'per request to the receiver (default 15s)' },
  { name: 'ca-file', kind: 'string', arg: 'file', help: 'CA bundle (PEM) to trust for an https endpoint' },
  { name: 'client-cert-file', kind: 'string', arg: 'file', help: 'client certificate (PEM) for mutual TLS' },
  { name: 'client-key-file', kind: 'string', arg: 'file', help: 'client key (PEM) for --client-cert-file' },
  { name: 'insecure-skip-verify', kind: 'boolean', help: 'do not verify the receiver\'s certificate (like curl -k)' },
  { name: 'health-check-interval', kind: 'duration', help: 'probe the HEC health endpoint this often (0 = off)' },
  { name: 'ack', kind: 'boolean', help: 'HEC indexer acknowledgement: an event is delivered (and leaves the spool) only once Splunk says it is indexed' },
  { name: 'ack-timeout', kind: 'duration', help: 'with --ack: send a batch again when not acknowledged after this long (default 5m)' },
  { name: 'ack-poll-interval', kind: 'duration', help: 'with --ack: poll /services/collector/ack this often (default 2s)' },
];

export const BATCH_OPTIONS: readonly OptionDef[] = [
  { name: 'batch-count', kind: 'integer', arg: 'n', help: 'events per request to the receiver (1-100000)' },
  { name: 'batch-size', kind: 'size', arg: 'bytes', help: 'bytes per request (1KiB-100MiB)' },
  { name: 'batch-time', kind: 'duration', help: 'longest wait before a partial batch is sent (0-10m)' },
];

const MS_FIELDS: Record<string, string> = {
  'batch-max-wait': 'batchMaxWaitMs',
  'request-timeout': 'requestTimeoutMs',
  'health-check-interval': 'healthCheckIntervalMs',
  'ack-timeout': 'ackTimeoutMs',
  'ack-poll-interval': 'ackPollIntervalMs',
};
const PLAIN_FIELDS: Record<string, string> = {
  format: 'format', index: 'index', source: 'source', sourcetype: 'sourcetype', 'hec-host': 'host', gzip: 'gzip',
  'batch-max-events': 'batchMaxEvents', 'batch-max-bytes': 'batchMaxBytes', concurrency: 'concurrency',
  'insecure-skip-verify': 'insecureSkipVerify', ack: 'ack',
};
const FILE_FIELDS: Record<string, string> = { 'ca-file': 'caFile', 'client-cert-file': 'clientCertFile', 'client-key-file': 'clientKeyFile' };

/**
 * Weka's guide types `--auth_token="\"Splunk B5A79AAD-...\""`: the shell hands over the value with
 * its quotes. One layer of matching surrounding quotes (double or single) is removed.
 */
export function stripOneQuoteLayer(value: string): string {
  const t = value.trim();
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t[t.length - 1] === t[0]) return t.slice(1, -1);
  return value;
}

/** The enable request body from the parsed flags. */
export function enableBody(v: OptionValues): Record<string, unknown> {
  const endpoint = v['endpoint'] as string | undefined;
  const token = v['auth-token'] as string | undefined;
  if (!endpoint) throw new UsageError(`${PREFIX} enable: --endpoint <url> is required (e.g. https://splunk:8088/services/collector/event)`);
  if (!token) throw new UsageError(`${PREFIX} enable: --auth-token <token> is required (e.g. --auth-token "Splunk <HEC token>")`);
  const format = v['format'] as string | undefined;
  if (format !== undefined && !FORMATS.includes(format)) throw new ConfigError('--format', `expected one of ${FORMATS.join(', ')}`);
  const body: Record<string, unknown> = { endpoint, authToken: stripOneQuoteLayer(token) };
  for (const [flag, field] of Object.entries(PLAIN_FIELDS)) if (v[flag] !== undefined) body[field] = v[flag];
  for (const [flag, field] of Object.entries(MS_FIELDS)) if (v[flag] !== undefined) body[field] = v[flag];
  // File paths are the CLI user's: make them absolute (the proxy resolves them in its own directory).
  for (const [flag, field] of Object.entries(FILE_FIELDS)) if (v[flag] !== undefined) body[field] = resolve(v[flag] as string);
  return body;
}

/** Environment variables that belong to other commands or verbs: not an error here. */
export function foreignEnv(defs: readonly OptionDef[], env: NodeJS.ProcessEnv): Set<string> {
  const mine = new Set(defs.map((d) => envName(d.name)));
  const known = new Set([...SERVE_OPTIONS, ...ENABLE_OPTIONS, ...BATCH_OPTIONS, ...COMMON_OPTIONS].map((d) => envName(d.name)));
  const out = new Set<string>();
  for (const k of Object.keys(env)) {
    if (!k.startsWith('S3AP_') || mine.has(k)) continue;
    if (known.has(k) || k.startsWith('S3AP_TEST_') || k.startsWith('S3AP_BENCH_')) out.add(k);
  }
  return out;
}
