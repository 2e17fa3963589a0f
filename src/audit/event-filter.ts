// Which events a live stream client wants (`tail`, the status page): filters like `mc admin trace`
// on the fields of the audit event (schema/audit-event.v1.json). One spec, parsed from the stream's
// query string (the admin API) or built from `tail`'s flags, and compiled into a predicate over an
// event's JSON text for the dispatcher's tap (which moves bytes and never looks inside an event).
import { parseDuration } from '../config/values.js';
import { ConfigError } from '../errors.js';

export interface EventFilterSpec {
  bucket: string | null;
  /** Object keys starting with this. */
  prefix: string | null;
  /** API names (PutObject, GetObject, ...), any of them; compared without case. */
  api: string[];
  accessKey: string | null;
  /** Response status: "403" (exact), "4xx" (a class), any of them. */
  status: string[];
  /** Only failures: status >= 400, an S3 error code, or an outcome other than "completed". */
  errors: boolean;
  /** Only requests that took at least this long (timing.totalMs), ms. */
  minDurationMs: number | null;
  /** Event kinds (s3, admin, gap, test, integrity), any of them. */
  kind: string[];
}

/** A query parameter (or, in `tail`, the flag behind it) with a bad value. */
export class FilterError extends Error {
  constructor(readonly param: string, message: string) {
    super(`${param}: ${message}`);
    this.name = 'FilterError';
  }
}

/** The stream's query parameters. */
export const FILTER_PARAMS = ['bucket', 'prefix', 'api', 'accessKey', 'status', 'errors', 'minDuration', 'kind'] as const;
export type FilterParam = (typeof FILTER_PARAMS)[number];
const REPEATABLE: ReadonlySet<string> = new Set(['api', 'status', 'kind']);
const MAX_VALUE = 1024;
const STATUS_RE = /^(?:[1-5][0-9][0-9]|[1-5]xx)$/;
const NAME_RE = /^[A-Za-z0-9:._-]{1,128}$/;

export function emptyFilter(): EventFilterSpec {
  return { bucket: null, prefix: null, api: [], accessKey: null, status: [], errors: false, minDurationMs: null, kind: [] };
}

/** Parses the stream's query string. Throws FilterError naming the parameter. */
export function parseEventFilter(q: URLSearchParams): EventFilterSpec {
  const spec = emptyFilter();
  for (const key of new Set(q.keys())) {
    if (!(FILTER_PARAMS as readonly string[]).includes(key)) throw new FilterError(key, `unknown parameter (known: ${FILTER_PARAMS.join(', ')})`);
    const values = q.getAll(key);
    if (values.length > 1 && !REPEATABLE.has(key)) throw new FilterError(key, 'given more than once');
    for (const v of values) {
      if (v.length > MAX_VALUE) throw new FilterError(key, `longer than ${MAX_VALUE} characters`);
      if (v === '' && key !== 'prefix') throw new FilterError(key, 'empty value');
    }
    const v = values[0]!;
    switch (key as FilterParam) {
      case 'bucket': spec.bucket = v; break;
      case 'prefix': spec.prefix = v; break;
      case 'accessKey': spec.accessKey = v; break;
      case 'api':
        for (const a of values) if (!NAME_RE.test(a)) throw new FilterError(key, `not an API name: ${JSON.stringify(a.slice(0, 80))}`);
        spec.api = values;
        break;
      case 'kind':
        for (const a of values) if (!NAME_RE.test(a)) throw new FilterError(key, `not an event kind: ${JSON.stringify(a.slice(0, 80))}`);
        spec.kind = values;
        break;
      case 'status':
        for (const s of values) {
          if (!STATUS_RE.test(s.toLowerCase())) throw new FilterError(key, `expected a status like 403 or a class like 4xx, got ${JSON.stringify(s.slice(0, 80))}`);
        }
        spec.status = values.map((s) => s.toLowerCase());
        break;
      case 'errors':
        if (!['1', 'true', '0', 'false'].includes(v)) throw new FilterError(key, `expected 1 or 0, got ${JSON.stringify(v.slice(0, 80))}`);
        spec.errors = v === '1' || v === 'true';
        break;
      case 'minDuration':
        try {
          spec.minDurationMs = parseDuration(key, v);
        } catch (err) {
          throw new FilterError(key, (err as ConfigError).message.replace(`${key}: `, ''));
        }
        break;
    }
  }
  return spec;
}

/** The spec as a query string (what `tail` sends); parseEventFilter(toQuery(s)) gives s back. */
export function filterToQuery(s: EventFilterSpec): URLSearchParams {
  const q = new URLSearchParams();
  if (s.bucket !== null) q.set('bucket', s.bucket);
  if (s.prefix !== null) q.set('prefix', s.prefix);
  for (const a of s.api) q.append('api', a);
  if (s.accessKey !== null) q.set('accessKey', s.accessKey);
  for (const st of s.status) q.append('status', st);
  if (s.errors) q.set('errors', '1');
  if (s.minDurationMs !== null) q.set('minDuration', `${s.minDurationMs}ms`);
  for (const k of s.kind) q.append('kind', k);
  return q;
}

/** The spec as the stream's `hello` shows it: only the filters that are set. */
export function describeFilter(s: EventFilterSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.bucket !== null) out['bucket'] = s.bucket;
  if (s.prefix !== null) out['prefix'] = s.prefix;
  if (s.api.length) out['api'] = s.api;
  if (s.accessKey !== null) out['accessKey'] = s.accessKey;
  if (s.status.length) out['status'] = s.status;
  if (s.errors) out['errors'] = true;
  if (s.minDurationMs !== null) out['minDurationMs'] = s.minDurationMs;
  if (s.kind.length) out['kind'] = s.kind;
  return out;
}

/** The fields filters look at, as far as the event has them. */
interface Fields {
  kind?: unknown;
  api?: { name?: unknown; bucket?: unknown; object?: unknown };
  auth?: { accessKey?: unknown };
  response?: { statusCode?: unknown; errorCode?: unknown };
  timing?: { totalMs?: unknown };
  outcome?: unknown;
}

function isFailure(e: Fields): boolean {
  const st = e.response?.statusCode;
  return (typeof st === 'number' && st >= 400) || (typeof e.response?.errorCode === 'string')
    || (typeof e.outcome === 'string' && e.outcome !== 'completed');
}

function statusMatches(want: readonly string[], st: unknown): boolean {
  if (typeof st !== 'number') return false;
  const s = String(st);
  return want.some((w) => (w.endsWith('xx') ? s[0] === w[0] && s.length === 3 : s === w));
}

/** True when the event (parsed) passes every filter that is set. */
export function matchesEvent(s: EventFilterSpec, e: Fields, apis: ReadonlySet<string> = new Set(s.api.map((a) => a.toLowerCase()))): boolean {
  if (s.kind.length && !s.kind.includes(e.kind as string)) return false;
  if (s.bucket !== null && e.api?.bucket !== s.bucket) return false;
  if (s.prefix !== null && !(typeof e.api?.object === 'string' && e.api.object.startsWith(s.prefix))) return false;
  if (apis.size && !(typeof e.api?.name === 'string' && apis.has(e.api.name.toLowerCase()))) return false;
  if (s.accessKey !== null && e.auth?.accessKey !== s.accessKey) return false;
  if (s.status.length && !statusMatches(s.status, e.response?.statusCode)) return false;
  if (s.errors && !isFailure(e)) return false;
  if (s.minDurationMs !== null && !(typeof e.timing?.totalMs === 'number' && e.timing.totalMs >= s.minDurationMs)) return false;
  return true;
}

// Several stream clients look at the same event in a row: it is parsed once.
let lastJson: string | null = null;
let lastParsed: Fields | null = null;
function parseOnce(json: string): Fields | null {
  if (json !== lastJson) {
    lastJson = json;
    try {
      lastParsed = JSON.parse(json) as Fields;
    } catch {
      lastParsed = null;
    }
  }
  return lastParsed;
}

/** The tap's predicate for a spec: over the event's JSON text; no filter set: no parsing at all. */
export function compileFilter(s: EventFilterSpec): (json: string) => boolean {
  if (Object.keys(describeFilter(s)).length === 0) return () => true;
  const apis = new Set(s.api.map((a) => a.toLowerCase()));
  return (json) => {
    const e = parseOnce(json);
    return e !== null && matchesEvent(s, e, apis);
  };
}
