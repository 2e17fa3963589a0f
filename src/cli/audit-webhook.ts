// `s3-audit-proxy audit-webhook enable|disable|batch-config|show|test`: the Weka-style CLI over the admin API.
//
//   s3-audit-proxy audit-webhook enable --endpoint https://splunk:8088/services/collector/event \
//       --auth-token "Splunk B5A79AAD-..."     (Weka's spelling --auth_token works too)
//   s3-audit-proxy audit-webhook test
//   s3-audit-proxy audit-webhook show [--json]
//   s3-audit-proxy audit-webhook disable
//
// Flags come from option tables (src/config/options.ts), so --help is generated and every flag also
// has an S3AP_* environment variable. No token is ever printed: the server shows tokens redacted.
import { formatHelp, resolveOptions, type OptionDef, type OptionValues } from '../config/options.js';
import { ConfigError, UsageError } from '../errors.js';
import { AdminApiError, callAdmin, clientOptionsFrom, type AdminClientOptions } from './admin-client.js';
import { BATCH_OPTIONS, COMMON_OPTIONS, ENABLE_OPTIONS, enableBody, foreignEnv, PREFIX } from './audit-webhook-options.js';
import { dash, fmtBytes, summarize } from './audit-webhook-show.js';
import { printable, rows, STDIO, type Output } from './terminal-output.js';

const API = '/api/v1/audit-webhook';

interface Verb {
  usage: string;
  options: readonly OptionDef[];
  run(client: AdminClientOptions, v: OptionValues, out: Output): Promise<number>;
}

const VERBS: Record<string, Verb> = {
  enable: {
    usage: `Usage: ${PREFIX} enable --endpoint <url> --auth-token <token> [options]\n\n` +
      'Enable (or replace) the audit webhook of the running proxy, live; the proxy keeps it across restarts.\n' +
      'Weka\'s spelling works too, typed as Weka prints it: --auth_token="\\"Splunk B5A79AAD-...\\""\n' +
      '(one layer of quotes around the token is removed).',
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
  'batch-config': {
    usage: `Usage: ${PREFIX} batch-config [--batch-count N] [--batch-size BYTES] [--batch-time DURATION] [options]\n\n` +
      'Change how the enabled webhook batches events, live (Weka\'s batch-config); with a cluster store, on every replica.',
    options: [...BATCH_OPTIONS, ...COMMON_OPTIONS],
    async run(client, v, o) {
      const body: Record<string, unknown> = {};
      if (v['batch-count'] !== undefined) body['batchMaxEvents'] = v['batch-count'];
      if (v['batch-size'] !== undefined) body['batchMaxBytes'] = v['batch-size'];
      if (v['batch-time'] !== undefined) body['batchMaxWaitMs'] = v['batch-time'];
      if (Object.keys(body).length === 0) throw new UsageError(`${PREFIX} batch-config: give at least one of --batch-count, --batch-size, --batch-time`);
      let doc: Record<string, unknown>;
      try {
        doc = await callAdmin(client, 'POST', `${API}/batch-config`, body);
      } catch (err) {
        if (err instanceof AdminApiError && err.kind === 'conflict') {
          throw new AdminApiError('conflict', `no audit webhook is enabled: run \`${PREFIX} enable --endpoint <url> --auth-token <token>\` first`);
        }
        throw err;
      }
      if (v['json']) o.out(`${JSON.stringify(doc, null, 2)}\n`);
      else o.out(`Batch settings changed: ${dash(doc['batchMaxEvents'])} events, ${dash(doc['batchMaxBytes'])} bytes, ${dash(doc['batchMaxWaitMs'])} ms (unset: the default)\n`);
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

export const AUDIT_WEBHOOK_USAGE = `Usage: s3-audit-proxy audit-webhook <enable|disable|batch-config|show|test> [options]

Commands:
  enable        enable the audit webhook (--endpoint, --auth-token)
  disable       disable the audit webhook
  batch-config  change the batch settings, live (--batch-count, --batch-size, --batch-time)
  show          show the webhook settings, delivery status and (cluster store) members
  test          send one test event to the webhook

Run \`s3-audit-proxy audit-webhook <command> --help\` for a command's options.
`;

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
