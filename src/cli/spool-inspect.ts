// `s3-audit-proxy spool inspect --data-dir D [--json]`: what the disk spool holds, read-only.
//
// Exit 0 when the spool is intact, 1 when anything is corrupt, torn, unreadable or inconsistent,
// 2 on usage errors. Needs no lock: it opens nothing for writing, so it can look at a live spool.
import { join, resolve } from 'node:path';
import { formatHelp, resolveOptions, type OptionDef } from '../config/options.js';
import { ConfigError } from '../errors.js';
import { inspectSpool, type SpoolReport } from '../dispatch/spool-inspect.js';
import { foreignEnv } from './audit-webhook-options.js';
import { STDIO, type Output } from './terminal-output.js';

const PREFIX = 's3-audit-proxy spool';

const INSPECT_OPTIONS: readonly OptionDef[] = [
  { name: 'data-dir', kind: 'string', arg: 'dir', default: 'data', help: 'the proxy\'s data directory (the spool is its spool/ folder)' },
  { name: 'json', kind: 'boolean', default: false, help: 'print one JSON document instead of a table' },
];

const INSPECT_USAGE = `Usage: ${PREFIX} inspect --data-dir <dir> [--json]\n\n` +
  'Show what the disk spool holds: the cursor and whether it agrees with the segments, each segment,\n' +
  'what is still to deliver, corrupt regions and torn tails. Read-only; works while the proxy runs.\n' +
  'Exit status: 0 intact, 1 corrupt or inconsistent, 2 usage error.';

export const SPOOL_USAGE = `Usage: ${PREFIX} inspect --data-dir <dir> [--json]

Commands:
  inspect   show the disk spool's cursor, segments, unread events and any corruption

Run \`${PREFIX} inspect --help\` for its options.
`;

function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => `  ${r.map((c, i) => c.padEnd(w[i]!)).join('  ')}`.trimEnd()).join('\n');
}

/** The human summary of a report. */
export function formatSpoolReport(r: SpoolReport): string {
  const c = r.cursor;
  const cursor = c.found === 'absent' ? 'none (reading starts at the first segment)'
    : c.found === 'bad' ? `UNUSABLE: ${c.problem}`
    : `segment ${c.segment}, offset ${c.offset}${c.consistent ? ' (agrees with the segments)' : ` (DISAGREES: ${c.problem})`}`;
  const lines = [`Spool:   ${r.dir}`, `Cursor:  ${cursor}`, ''];
  if (r.segments.length === 0) lines.push('  (no segments)');
  else {
    lines.push(table(['SEGMENT', 'BYTES', 'RECORDS', 'UNREAD', 'FIRST EVENT', 'LAST EVENT', 'PROBLEMS'], r.segments.map((s) => [
      String(s.id), String(s.bytes), String(s.records), String(s.unread), s.firstEventTime ?? '-', s.lastEventTime ?? '-',
      [s.error ? `unreadable (${s.error})` : '', s.corrupt.length ? `${s.corrupt.length} corrupt` : '', s.tornTail ? 'torn tail' : ''].filter(Boolean).join(', ') || '-',
    ])));
  }
  lines.push('', `Unread:  ${r.unreadEvents} events, ${r.unreadBytes} bytes`);
  for (const [title, list] of [['Corrupt', r.corruptRegions], ['Torn', r.tornTails]] as const) {
    for (const x of list) lines.push(`${title}: segment ${x.segment} offset ${x.offset}, ${x.bytes} bytes skipped`);
  }
  lines.push(`Status:  ${r.intact ? 'intact' : 'NOT intact'}`);
  return `${lines.join('\n')}\n`;
}

export async function spoolCommand(argv: readonly string[], env: NodeJS.ProcessEnv, o: Output = STDIO): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    o.out(SPOOL_USAGE);
    return verb === undefined ? 2 : 0;
  }
  if (verb !== 'inspect') {
    o.err(`${PREFIX}: unknown command "${verb}"\n\n${SPOOL_USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    o.out(formatHelp(INSPECT_USAGE, INSPECT_OPTIONS));
    return 0;
  }
  let parsed;
  try {
    parsed = resolveOptions(INSPECT_OPTIONS, rest, env, { ignoreEnv: foreignEnv(INSPECT_OPTIONS, env) });
  } catch (err) {
    if (err instanceof ConfigError) {
      o.err(`${PREFIX} inspect: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.positionals.length) {
    o.err(`${PREFIX} inspect: unexpected argument "${parsed.positionals[0]!.slice(0, 80)}" (flags are spelled --name value; see --help)\n`);
    return 2;
  }
  const report = await inspectSpool(join(resolve(parsed.values['data-dir'] as string), 'spool'));
  o.out(parsed.values['json'] ? `${JSON.stringify(report, null, 2)}\n` : formatSpoolReport(report));
  return report.intact ? 0 : 1;
}
