#!/usr/bin/env node
// Entry point of the `s3-audit-proxy` command: dispatches to the sub-commands.
import { S3apError } from '../errors.js';

const USAGE = `Usage: s3-audit-proxy <command> [options]

Commands:
  serve                         run the proxy (what \`npm start\` runs)
  audit-webhook enable          enable the audit webhook (--endpoint, --auth-token)
  audit-webhook disable         disable the audit webhook
  audit-webhook show            show the webhook configuration and delivery status
  audit-webhook test            send one test event to the webhook
  spool inspect                 show the disk spool (--data-dir): cursor, segments, corruption
  tail                          stream audit events live (--bucket, --api, --status, --errors, --json, ...)
  verify FILE...                check received events: sequence gaps, duplicates, integrity chain (--key-file)
  help                          this text

Run \`s3-audit-proxy <command> --help\` for a command's options.
`;

type Command = (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number>;

async function loadAuditWebhook(): Promise<Command> {
  const mod = await import('./audit-webhook.js');
  return mod.auditWebhookCommand;
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return (await import('./serve.js')).serveCommand(rest, env);
    case 'audit-webhook':
      return (await loadAuditWebhook())(rest, env);
    case 'spool':
      return (await import('./spool-inspect.js')).spoolCommand(rest, env);
    case 'tail':
      return (await import('./tail.js')).tailCommand(rest, env);
    case 'verify':
      return (await import('./verify.js')).verifyCommand(rest, env);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`s3-audit-proxy: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    if (err instanceof S3apError) {
      process.stderr.write(`s3-audit-proxy: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`s3-audit-proxy: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
