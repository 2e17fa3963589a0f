// `s3-audit-proxy tail`'s flags, as data (--help, S3AP_* variables), and the stream filter they make.
// The filters are `mc admin trace`'s (--api like --call, --status like --status-code, --errors) on the
// audit event's fields; the admin API checks them again (audit/event-filter.ts, one parser for both).
import type { OptionDef, OptionValues } from '../config/options.js';
import { emptyFilter, FilterError, filterToQuery, parseEventFilter, type EventFilterSpec } from '../audit/event-filter.js';
import { ConfigError } from '../errors.js';
import { COMMON_OPTIONS } from './audit-webhook-options.js';

export const TAIL_USAGE = `Usage: s3-audit-proxy tail [options]

Stream audit events live from the running proxy (like \`mc admin trace\`), whether or not a
webhook is enabled: one line per event (time, client, API, bucket/key, status or error code,
bytes in and out, duration), or the raw events with --json. Events this terminal could not take
in time are dropped by the proxy (never slowing S3) and reported on stderr. Ctrl-C ends it.`;

export const FILTER_OPTIONS: readonly OptionDef[] = [
  { name: 'bucket', kind: 'string', help: 'only events of this bucket' },
  { name: 'prefix', kind: 'string', help: 'only objects whose key starts with this' },
  { name: 'api', kind: 'string', arg: 'name', repeatable: true, help: 'only this S3 API (GetObject, PutObject, ...)' },
  { name: 'access-key', kind: 'string', arg: 'id', help: 'only requests signed with this access key id' },
  { name: 'status', kind: 'string', arg: '403|4xx|5xx', repeatable: true, help: 'only this response status or class' },
  { name: 'errors', kind: 'boolean', help: 'only failures (status >= 400, an S3 error code, or an aborted exchange)' },
  { name: 'min-duration', kind: 'duration', help: 'only requests that took at least this long (250ms, 1s)' },
  { name: 'kind', kind: 'string', arg: 's3|admin|gap|test', repeatable: true, help: 'only events of this kind' },
];

export const TAIL_OPTIONS: readonly OptionDef[] = [
  ...FILTER_OPTIONS,
  { name: 'json', kind: 'boolean', default: false, help: 'print each event as its raw JSON, one a line' },
  ...COMMON_OPTIONS.filter((d) => d.name !== 'json'),
];

/** Query parameter -> the flag that sets it (messages name the flag). */
const FLAG_OF: Record<string, string> = { accessKey: '--access-key', minDuration: '--min-duration' };

/** The stream filter from tail's flags; a bad value is a ConfigError naming the flag. */
export function filterFromFlags(v: OptionValues): EventFilterSpec {
  const s = emptyFilter();
  s.bucket = (v['bucket'] as string | undefined) ?? null;
  s.prefix = (v['prefix'] as string | undefined) ?? null;
  s.api = (v['api'] as string[] | undefined) ?? [];
  s.accessKey = (v['access-key'] as string | undefined) ?? null;
  s.status = (v['status'] as string[] | undefined) ?? [];
  s.errors = v['errors'] === true;
  s.minDurationMs = (v['min-duration'] as number | undefined) ?? null;
  s.kind = (v['kind'] as string[] | undefined) ?? [];
  try {
    // the server's own parser: a value it would refuse is refused here, naming the flag
    return parseEventFilter(filterToQuery(s));
  } catch (err) {
    if (err instanceof FilterError) throw new ConfigError(FLAG_OF[err.param] ?? `--${err.param}`, err.message.slice(err.param.length + 2));
    throw err;
  }
}
