// `s3-audit-proxy audit-webhook enable|disable|show|test`: the Weka-style CLI over the admin API.
//
//   s3-audit-proxy audit-webhook enable --endpoint https://splunk:8088/services/collector/event \
//       --auth-token "Splunk B5A79AAD-..."     (Weka's spelling --auth_token works too)
//   s3-audit-proxy audit-webhook test
//   s3-audit-proxy audit-webhook show [--json]
//   s3-audit-proxy audit-webhook disable
//
// Flags come from option tables (src/config/options.ts), so --help is generated and every flag also
// has an S3AP_* environment variable. No token is ever printed: the server shows tokens redacted.
import { resolve } from 'node:path';
import { envName, formatHelp, resolveOptions, type OptionDef, type OptionValues } from '../config/options.js';
import { SERVE_OPTIONS } from '../config/serve-config.js';
import { ConfigError, UsageError } from '../errors.js';
import { AdminApiError, callAdmin, clientOptionsFrom, type AdminClientOptions } from './admin-client.js';

const PREFIX = 's3-audit-proxy audit-webhook';
const API = '/api/v1/audit-webhook';
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
  { name: 'auth-token', kind: 'string', secret: true, aliases: ['auth_token'], arg: 'token', help: 'receiver token: "Splunk <HEC token>" or the bare token (required)' },
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

interface Verb {
  usage: string;
  options: readonly OptionDef[];
  run(client: AdminClientOptions, v: OptionValues, out: Output): Promise<number>;
}

export interface Output {
  out(s: string): void;
  err(s: string): void;
}

/** The process's stdout and stderr. */
export const STDIO: Output = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

// ---- formatting -------------------------------------------------------------------------------

function fmtBytes(n: unknown): string {
  if (typeof n !== 'number') return String(n);
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

const dash = (v: unknown): string => (v === null || v === undefined || v === '' ? '-' : String(v));

const SETTING_KEYS = [
  'index', 'source', 'sourcetype', 'host', 'gzip', 'batchMaxEvents', 'batchMaxBytes', 'batchMaxWaitMs', 'concurrency',
  'requestTimeoutMs', 'caFile', 'clientCertFile', 'clientKeyFile', 'insecureSkipVerify', 'healthCheckIntervalMs',
  'ack', 'ackTimeoutMs', 'ackPollIntervalMs',
];

/**
 * Text from the network (a receiver's reply, an error) made safe for a terminal: control
 * characters (escape sequences, carriage returns, line breaks, C1) and line separators become
 * visible escapes, so a reply can neither rewrite the screen nor forge lines of output.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    const code = c.charCodeAt(0);
    return named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

function rows(pairs: Array<[string, string]>, indent = '  '): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${k.padEnd(w)}  ${printable(v)}`).join('\n');
}

/** Readable summary of the GET document. */
export function summarize(doc: Record<string, unknown>): string {
  const st = (doc['status'] ?? {}) as Record<string, unknown>;
  const lines: string[] = [];
  if (doc['enabled'] === true) {
    lines.push('Audit webhook: enabled');
    const settings = SETTING_KEYS.filter((k) => doc[k] !== null && doc[k] !== undefined).map((k) => `${k}=${String(doc[k])}`);
    lines.push(rows([
      ['endpoint', dash(doc['endpoint'])],
      ['auth token', dash(doc['authToken'])],
      ['format', dash(doc['format'])],
      ['settings', settings.length ? settings.join(', ') : 'defaults'],
    ]));
  } else {
    lines.push('Audit webhook: disabled');
  }
  const dropped = typeof st['dropped'] === 'number' && st['dropped'] > 0 && st['droppedByReason']
    ? `${String(st['dropped'])} (${Object.entries(st['droppedByReason'] as Record<string, number>).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`).join(', ')})`
    : dash(st['dropped']);
  lines.push('Delivery:');
  lines.push(rows([
    ['state', dash(st['state'])],
    ['queued', dash(st['queued'])],
    ['delivered', dash(st['delivered'])],
    ['dropped', dropped],
    ['spooled', `${dash(st['spooled'])} (${fmtBytes(st['spoolBytes'])})`],
    ['dead-lettered', dash(st['deadLettered'])],
    ['last success', dash(st['lastSuccess'])],
    ['last error', st['lastError'] ? `${String(st['lastError'])}${st['lastFailure'] ? ` (at ${String(st['lastFailure'])})` : ''}` : '-'],
    // serve --audit-required only: requests answered 503 SlowDown for want of room for their event
    ...(typeof st['refusedRequests'] === 'number' && st['refusedRequests'] > 0 ? [['refused requests', `${st['refusedRequests']} (503 SlowDown, --audit-required)`] as [string, string]] : []),
  ]));
  const ack = st['ack'] as Record<string, unknown> | null | undefined;
  if (ack) {
    lines.push('Indexer acknowledgement:');
    lines.push(rows([
      ['state', dash(ack['state'])],
      ['pending', `${dash(ack['pendingBatches'])} batches, ${dash(ack['pendingEvents'])} events (max ${dash(ack['maxPendingBatches'])} batches)`],
      ['oldest pending', typeof ack['oldestPendingAgeMs'] === 'number' ? `${(ack['oldestPendingAgeMs'] / 1000).toFixed(1)} s` : '-'],
      ['timed out', `${dash(ack['timedOut'])} requests sent again (timeout ${dash(ack['timeoutMs'])} ms)`],
      ['acknowledged', `${dash(ack['acknowledgedEvents'])} events (last ${dash(ack['lastAcknowledged'])})`],
      ['last poll error', dash(ack['lastPollError'])],
    ]));
  }
  return `${lines.join('\n')}\n`;
}

// ---- verbs ------------------------------------------------------------------------------------

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

/** The enable request body from the parsed flags. */
export function enableBody(v: OptionValues): Record<string, unknown> {
  const endpoint = v['endpoint'] as string | undefined;
  const token = v['auth-token'] as string | undefined;
  if (!endpoint) throw new UsageError(`${PREFIX} enable: --endpoint <url> is required (e.g. https://splunk:8088/services/collector/event)`);
  if (!token) throw new UsageError(`${PREFIX} enable: --auth-token <token> is required (e.g. --auth-token "Splunk <HEC token>")`);
  const format = v['format'] as string | undefined;
  if (format !== undefined && !FORMATS.includes(format)) throw new ConfigError('--format', `expected one of ${FORMATS.join(', ')}`);
  const body: Record<string, unknown> = { endpoint, authToken: token };
  for (const [flag, field] of Object.entries(PLAIN_FIELDS)) if (v[flag] !== undefined) body[field] = v[flag];
  for (const [flag, field] of Object.entries(MS_FIELDS)) if (v[flag] !== undefined) body[field] = v[flag];
  // File paths are the CLI user's: make them absolute (the proxy resolves them in its own directory).
  for (const [flag, field] of Object.entries(FILE_FIELDS)) if (v[flag] !== undefined) body[field] = resolve(v[flag] as string);
  return body;
}

const VERBS: Record<string, Verb> = {
  enable: {
    usage: `Usage: ${PREFIX} enable --endpoint <url> --auth-token <token> [options]\n\n` +
      'Enable (or replace) the audit webhook of the running proxy, live; the proxy keeps it across restarts.\n' +
      'Weka\'s spelling works too: --auth_token="Splunk B5A79AAD-...".',
    options: [...ENABLE_OPTIONS, ...COMMON_OPTIONS],
    async run(client, v, o) {
      const doc = await callAdmin(client, 'POST', `${API}/enable`, enableBody(v));
      if (v['json']) o.out(`${JSON.stringify(doc, null, 2)}\n`);
      else o.out(`Audit webhook enabled: ${String(doc['endpoint'])} (format ${String(doc['format'])}, token ${String(doc['authToken'])})\n` +
        'Check delivery with `s3-audit-proxy audit-webhook test`.\n');
      return 0;
    },
  },
  disable: {
    usage: `Usage: ${PREFIX} disable [options]\n\nDisable the audit webhook. Events not yet delivered stay in the spool for the next enable.`,
    options: COMMON_OPTIONS,
    async run(client, v, o) {
      const doc = await callAdmin(client, 'POST', `${API}/disable`, {});
      const st = (doc['status'] ?? {}) as Record<string, unknown>;
      if (v['json']) o.out(`${JSON.stringify(doc, null, 2)}\n`);
      else o.out(`Audit webhook disabled. Held for the next enable: ${dash(st['spooled'])} spooled events (${fmtBytes(st['spoolBytes'])}).\n`);
      return 0;
    },
  },
  show: {
    usage: `Usage: ${PREFIX} show [options]\n\nShow the audit webhook settings (token redacted) and delivery status.`,
    options: COMMON_OPTIONS,
    async run(client, v, o) {
      const doc = await callAdmin(client, 'GET', API);
      o.out(v['json'] ? `${JSON.stringify(doc, null, 2)}\n` : summarize(doc));
      return 0;
    },
  },
  test: {
    usage: `Usage: ${PREFIX} test [options]\n\nSend one test event to the audit webhook now and print the receiver's reply.\n` +
      'Exits non-zero when the receiver did not accept it.',
    options: COMMON_OPTIONS,
    async run(client, v, o) {
      let doc: Record<string, unknown>;
      try {
        doc = await callAdmin(client, 'POST', `${API}/test`, {});
      } catch (err) {
        if (err instanceof AdminApiError && err.kind === 'conflict') {
          throw new AdminApiError('conflict', `no audit webhook is enabled: run \`${PREFIX} enable --endpoint <url> --auth-token <token>\` first`);
        }
        throw err;
      }
      const ok = doc['ok'] === true;
      if (v['json']) o.out(`${JSON.stringify(doc, null, 2)}\n`);
      else {
        const status = doc['statusCode'] === null ? 'no HTTP reply' : `HTTP ${String(doc['statusCode'])}`;
        o.out(`Test event to ${String(doc['endpoint'])}: ${ok ? 'accepted' : 'NOT accepted'}\n` +
          rows([['status', status], ['latency', `${String(doc['latencyMs'])} ms`], ['reply', dash(doc['body'])]]) + '\n');
      }
      if (!ok) o.err(`${PREFIX} test: the receiver did not accept the test event\n`);
      return ok ? 0 : 1;
    },
  },
};

export const AUDIT_WEBHOOK_USAGE = `Usage: s3-audit-proxy audit-webhook <enable|disable|show|test> [options]

Commands:
  enable    enable the audit webhook (--endpoint, --auth-token)
  disable   disable the audit webhook
  show      show the webhook settings and delivery status
  test      send one test event to the webhook

Run \`s3-audit-proxy audit-webhook <command> --help\` for a command's options.
`;

/** Environment variables that belong to other commands or verbs: not an error here. */
export function foreignEnv(defs: readonly OptionDef[], env: NodeJS.ProcessEnv): Set<string> {
  const mine = new Set(defs.map((d) => envName(d.name)));
  const known = new Set([...SERVE_OPTIONS, ...ENABLE_OPTIONS, ...COMMON_OPTIONS].map((d) => envName(d.name)));
  const out = new Set<string>();
  for (const k of Object.keys(env)) {
    if (!k.startsWith('S3AP_') || mine.has(k)) continue;
    if (known.has(k) || k.startsWith('S3AP_TEST_') || k.startsWith('S3AP_BENCH_')) out.add(k);
  }
  return out;
}

export async function auditWebhookCommand(argv: readonly string[], env: NodeJS.ProcessEnv, o: Output = STDIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    o.out(AUDIT_WEBHOOK_USAGE);
    return name === undefined ? 2 : 0;
  }
  const verb = VERBS[name];
  if (!verb) {
    o.err(`${PREFIX}: unknown command "${name}"\n\n${AUDIT_WEBHOOK_USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    o.out(formatHelp(verb.usage, verb.options));
    return 0;
  }
  let parsed;
  try {
    parsed = resolveOptions(verb.options, rest, env, { ignoreEnv: foreignEnv(verb.options, env) });
  } catch (err) {
    if (err instanceof ConfigError) {
      o.err(`${PREFIX} ${name}: ${printable(err.message)}\n`);
      return 2;
    }
    throw err;
  }
  const { values: v, positionals, sources } = parsed;
  if (positionals.length) {
    o.err(`${PREFIX} ${name}: unexpected argument "${positionals[0]!.slice(0, 80)}" (flags are spelled --name value; see --help)\n`);
    return 2;
  }
  try {
    const client = clientOptionsFrom(v, sources);
    return await verb.run(client, v, o);
  } catch (err) {
    if (err instanceof AdminApiError) {
      o.err(`${PREFIX} ${name}: ${printable(err.message)}\n`);
      return err.kind === 'protocol' && err.status === null ? 2 : 1;
    }
    if (err instanceof UsageError || err instanceof ConfigError) {
      o.err(`${PREFIX} ${name}: ${printable(err.message.replace(`${PREFIX} ${name}: `, ''))}\n`);
      return 2;
    }
    throw err;
  }
}
