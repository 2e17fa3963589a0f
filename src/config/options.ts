// A command's options as data: name, kind, default, help, secret. One table drives flag parsing,
// S3AP_* environment variables, the config file and --help, so the four can never disagree.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import {
  parseBoolean, parseDuration, parseHostPort, parseInteger, parseLevel, parseSize, parseUrl, parseWorkers,
  type ValueKind,
} from './values.js';

export interface OptionDef {
  /** Flag name without dashes, kebab-case: "backend-ca". */
  name: string;
  kind: ValueKind;
  help: string;
  default?: unknown;
  /** May be given more than once (env and file: comma-separated or an array). */
  repeatable?: boolean;
  /** Never printed, never logged. */
  secret?: boolean;
  /** Other spellings accepted on the command line (e.g. Weka's "auth_token"). */
  aliases?: string[];
  /** Value placeholder for --help. */
  arg?: string;
}

export type OptionValues = Record<string, unknown>;

export const envName = (name: string): string => `S3AP_${name.replace(/-/g, '_').toUpperCase()}`;
const camel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function convert(def: OptionDef, setting: string, raw: unknown): unknown {
  switch (def.kind) {
    case 'string': {
      if (typeof raw !== 'string' && typeof raw !== 'number') throw new ConfigError(setting, 'expected a string');
      const s = String(raw);
      if (s === '') throw new ConfigError(setting, 'must not be empty');
      return s;
    }
    case 'boolean': return parseBoolean(setting, raw);
    case 'integer': return parseInteger(setting, raw);
    case 'duration': return parseDuration(setting, raw);
    case 'size': return parseSize(setting, raw);
    case 'hostport': return parseHostPort(setting, raw);
    case 'url': return parseUrl(setting, raw).toString();
    case 'level': return parseLevel(setting, raw);
    case 'workers': return parseWorkers(setting, raw);
  }
}

function convertAll(def: OptionDef, setting: string, raw: unknown): unknown {
  if (!def.repeatable) return convert(def, setting, raw);
  const items = Array.isArray(raw) ? raw : String(raw).split(',').map((s) => s.trim()).filter(Boolean);
  return items.map((item) => convert(def, setting, item));
}

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
  /** Which source set each option: for diagnostics. */
  sources: Record<string, 'flag' | 'env' | 'file' | 'default'>;
}

/** Parse `--name value`, `--name=value`, `--flag`; unknown flags throw naming the flag. */
export function parseFlags(defs: readonly OptionDef[], argv: readonly string[]): { values: OptionValues; positionals: string[] } {
  const byFlag = new Map<string, OptionDef>();
  for (const d of defs) {
    byFlag.set(d.name, d);
    for (const a of d.aliases ?? []) byFlag.set(a, d);
  }
  const values: OptionValues = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg.length > 1 && arg !== '-h') throw new ConfigError(arg, 'unknown flag (flags are spelled --name)');
      positionals.push(arg === '-h' ? '--help' : arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    const def = byFlag.get(flag);
    const setting = `--${flag}`;
    if (!def) throw new ConfigError(setting, 'unknown flag (see --help)');
    let raw: unknown;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else if (def.kind === 'boolean') raw = true;
    else {
      if (i + 1 >= argv.length || argv[i + 1]!.startsWith('--')) throw new ConfigError(setting, `needs a value${def.arg ? ` (${def.arg})` : ''}`);
      raw = argv[++i];
    }
    const v = convert(def, setting, raw);
    if (def.repeatable) ((values[def.name] ??= []) as unknown[]).push(v);
    else values[def.name] = v;
  }
  return { values, positionals };
}

/** Values from S3AP_* environment variables. Unknown S3AP_ names are ignored only if listed in `ignoreEnv`. */
export function readEnv(defs: readonly OptionDef[], env: NodeJS.ProcessEnv, ignoreEnv: ReadonlySet<string> = new Set()): OptionValues {
  const byEnv = new Map(defs.map((d) => [envName(d.name), d]));
  const values: OptionValues = {};
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith('S3AP_') || raw === undefined || ignoreEnv.has(key)) continue;
    const def = byEnv.get(key);
    if (!def) throw new ConfigError(key, 'unknown environment variable');
    values[def.name] = convertAll(def, key, raw);
  }
  return values;
}

/** Values from a JSON config file; keys are flag names (kebab-case) or their camelCase form. */
export function readConfigFile(defs: readonly OptionDef[], path: string): OptionValues {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`--config ${path}`, `cannot read the config file: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`--config ${path}`, 'expected a JSON object');
  const byKey = new Map<string, OptionDef>();
  for (const d of defs) { byKey.set(d.name, d); byKey.set(camel(d.name), d); }
  const values: OptionValues = {};
  for (const [key, raw] of Object.entries(doc)) {
    const def = byKey.get(key);
    const setting = `${path}: "${key}"`;
    if (!def || def.name === 'config') throw new ConfigError(setting, 'unknown setting');
    values[def.name] = convertAll(def, setting, raw);
  }
  return values;
}

/** Flags win over environment, environment over the config file, the file over defaults. */
export function resolveOptions(
  defs: readonly OptionDef[], argv: readonly string[], env: NodeJS.ProcessEnv,
  opts: { ignoreEnv?: ReadonlySet<string> } = {},
): ParsedArgs {
  const flags = parseFlags(defs, argv);
  const fromEnv = readEnv(defs, env, opts.ignoreEnv);
  const configPath = (flags.values['config'] ?? fromEnv['config']) as string | undefined;
  const fromFile = configPath ? readConfigFile(defs, configPath) : {};
  const values: OptionValues = {};
  const sources: ParsedArgs['sources'] = {};
  for (const d of defs) {
    const [v, src] = d.name in flags.values ? [flags.values[d.name], 'flag' as const]
      : d.name in fromEnv ? [fromEnv[d.name], 'env' as const]
      : d.name in fromFile ? [fromFile[d.name], 'file' as const]
      : [d.default, 'default' as const];
    if (v !== undefined) { values[d.name] = v; sources[d.name] = src; }
  }
  return { values, positionals: flags.positionals, sources };
}

/** --help text generated from the table. */
export function formatHelp(usage: string, defs: readonly OptionDef[]): string {
  const rows = defs.map((d) => {
    const left = `  --${d.name}${d.kind === 'boolean' ? '' : ` <${d.arg ?? d.kind}>`}`;
    const extra = [
      d.repeatable ? 'repeatable' : '',
      d.default !== undefined && !d.secret ? `default ${typeof d.default === 'object' ? JSON.stringify(d.default) : String(d.default)}` : '',
      `env ${envName(d.name)}`,
    ].filter(Boolean).join('; ');
    return `${left.padEnd(36)} ${d.help} (${extra})`;
  });
  return `${usage}\n\nOptions:\n${rows.join('\n')}\n`;
}
