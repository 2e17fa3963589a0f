// `s3-audit-proxy verify [--key-file F] [--json] FILE...`: are the events in these files complete
// and untampered? Streams each file line by line (src/audit/verify.ts does the checking).
//
// Exit 0 when every sequence number is accounted for (present or declared by a gap event) and,
// with --key-file, every mac and chain link holds; 1 otherwise, naming the first problem
// (instance, sequence, event id); 2 on usage errors.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { formatHelp, resolveOptions, type OptionDef } from '../config/options.js';
import { ConfigError } from '../errors.js';
import { readIntegrityKey } from '../audit/sequence.js';
import { formatReport, Verifier } from '../audit/verify.js';
import { foreignEnv } from './audit-webhook-options.js';
import { STDIO, type Output } from './terminal-output.js';

const PREFIX = 's3-audit-proxy verify';

const VERIFY_OPTIONS: readonly OptionDef[] = [
  { name: 'key-file', kind: 'string', arg: 'file', help: 'the serve --integrity-key-file key: check every mac and chain link' },
  { name: 'json', kind: 'boolean', default: false, help: 'print the report as one JSON document' },
];

const VERIFY_USAGE = `Usage: ${PREFIX} [--key-file <file>] [--json] FILE...\n\n` +
  'Reads JSON lines (events, HEC envelopes, dead-letter lines, Splunk exports; "-" = stdin), groups\n' +
  'them by proxy.instance, orders them by sequence and reports declared gaps, UNDECLARED gaps,\n' +
  'duplicates and, with --key-file, broken macs and chain links.\n' +
  'Exit status: 0 everything accounted for, 1 a problem (the first one is named), 2 usage error.';

export async function verifyCommand(argv: readonly string[], env: NodeJS.ProcessEnv, o: Output = STDIO): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    o.out(formatHelp(VERIFY_USAGE, VERIFY_OPTIONS));
    return 0;
  }
  let parsed;
  let key: Buffer | null = null;
  try {
    parsed = resolveOptions(VERIFY_OPTIONS, argv, env, { ignoreEnv: foreignEnv(VERIFY_OPTIONS, env) });
    const kf = parsed.values['key-file'] as string | undefined;
    // the reader's copy of the key: its mode is the reader's business
    if (kf !== undefined) key = readIntegrityKey(kf, '--key-file', false).key;
  } catch (err) {
    if (err instanceof ConfigError) {
      o.err(`${PREFIX}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const files = parsed.positionals;
  const flagLike = files.find((f) => f.startsWith('--'));
  if (flagLike !== undefined) {
    o.err(`${PREFIX}: unknown flag ${flagLike.slice(0, 80)} (see --help)\n`);
    return 2;
  }
  if (files.length === 0) {
    o.err(`${PREFIX}: no FILE given (see --help)\n`);
    return 2;
  }
  const v = new Verifier(key);
  for (const file of files) {
    const input = file === '-' ? process.stdin : createReadStream(file);
    let n = 0;
    try {
      const rl = createInterface({ input, crlfDelay: Infinity });
      for await (const line of rl) {
        n++;
        v.addLine(line, `${file}:${n}`);
      }
    } catch (err) {
      o.err(`${PREFIX}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})\n`);
      return 2;
    }
  }
  const report = v.finish();
  o.out(parsed.values['json'] ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.problems === 0 ? 0 : 1;
}
