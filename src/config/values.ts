// Parsers for option values. Each throws ConfigError naming the setting, so a bad value stops
// start-up with a message the user can act on.
import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.js';

export type ValueKind = 'string' | 'boolean' | 'integer' | 'duration' | 'size' | 'hostport' | 'url' | 'level' | 'workers';

export interface HostPort {
  host: string;
  port: number;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1000, kb: 1000, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};
const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i;
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

export function parseBoolean(name: string, raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  const v = String(raw).toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes' || v === 'on' || v === '') return true;
  if (v === 'false' || v === '0' || v === 'no' || v === 'off') return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
}

export function parseInteger(name: string, raw: unknown, min = 0): number {
  const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new ConfigError(name, `expected an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Most S3 listener processes (--workers); each holds its own backend pool and some MiB of heap. */
export const MAX_WORKERS = 64;

/** A process count from 1 to MAX_WORKERS, or "auto": one per core the process may use. */
export function parseWorkers(name: string, raw: unknown): number {
  if (raw === 'auto') return Math.min(MAX_WORKERS, availableParallelism());
  const n = typeof raw === 'number' ? raw : /^\d+$/.test(String(raw).trim()) ? Number(String(raw).trim()) : NaN;
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_WORKERS)) {
    throw new ConfigError(name, `expected a whole number from 1 to ${MAX_WORKERS} or auto, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Milliseconds from "1500", "1500ms", "2s", "1m". */
export function parseDuration(name: string, raw: unknown): number {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw >= 0) return Math.round(raw);
  const m = DURATION_RE.exec(String(raw).trim());
  if (!m) throw new ConfigError(name, `expected a duration like 500ms, 5s or 2m, got ${JSON.stringify(raw)}`);
  return Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? 'ms').toLowerCase()]!);
}

/** Bytes from "1048576", "64MiB", "1GB". */
export function parseSize(name: string, raw: unknown): number {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw >= 0) return Math.round(raw);
  const m = SIZE_RE.exec(String(raw).trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new ConfigError(name, `expected a size like 1048576, 64MiB or 1GiB, got ${JSON.stringify(raw)}`);
  }
  return Math.round(Number(m[1]) * unit);
}

/** "host:port", "[::1]:port" or ":port" (all interfaces). */
export function parseHostPort(name: string, raw: unknown): HostPort {
  const s = String(raw).trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(name, `expected host:port (e.g. 127.0.0.1:9080), got ${JSON.stringify(raw)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function parseUrl(name: string, raw: unknown, schemes: readonly string[] = ['http:', 'https:']): URL {
  let u: URL;
  try {
    u = new URL(String(raw));
  } catch {
    throw new ConfigError(name, `expected a URL, got ${JSON.stringify(raw)}`);
  }
  if (!schemes.includes(u.protocol)) {
    throw new ConfigError(name, `unsupported scheme ${u.protocol} (use ${schemes.map((s) => s.slice(0, -1)).join(' or ')})`);
  }
  return u;
}

export function parseLevel(name: string, raw: unknown): string {
  const v = String(raw).toLowerCase();
  if (!LEVELS.has(v)) throw new ConfigError(name, `expected one of ${[...LEVELS].join(', ')}, got ${JSON.stringify(raw)}`);
  return v;
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
