// One compact, aligned line per event for `s3-audit-proxy tail` in a terminal:
//   12:04:05.123  127.0.0.1        PutObject               photos/2024/cat.jpg          200          ↑12.0K ↓0      3.1ms
// time (UTC), client, API, bucket/key (or what the event is about), status or error code, bytes in
// and out, duration. Colour (status, failures) only when asked for (stdout a TTY, NO_COLOR unset).
// Every field comes from the network: control characters are shown escaped, never interpreted.
import { printable } from './terminal-output.js';

export interface FormatOptions {
  color: boolean;
}

const W = { client: 15, api: 24, target: 40, status: 26 };

const ESC = '\u001b[';
const paint = (on: boolean, code: string, s: string): string => (on ? `${ESC}${code}m${s}${ESC}0m` : s);

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
/** A text field, made safe for a terminal (printable). */
const str = (v: unknown): string | null => (typeof v === 'string' ? printable(v) : typeof v === 'number' ? String(v) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** 0, 512, 1.5K, 12.0M: at most 6 characters. */
export function shortBytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024) return String(n);
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 100 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** 0.4ms, 12.3ms, 1.25s, 75s. */
export function shortDuration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms < 100 ? ms.toFixed(1) : Math.round(ms)}ms`;
  const s = ms / 1000;
  return `${s < 10 ? s.toFixed(2) : s < 100 ? s.toFixed(1) : Math.round(s)}s`;
}

/** Cut to `w` columns, keeping the end (the key's last part says most), padded. */
function fit(s: string, w: number, keepEnd = false): string {
  if (s.length <= w) return s.padEnd(w);
  return keepEnd ? `…${s.slice(s.length - w + 1)}` : `${s.slice(0, w - 1)}…`;
}

/** bucket/key in the target column: the bucket stays whole (when it leaves room), the key keeps its end. */
function fitObject(bucket: string | null, key: string | null): string {
  if (bucket === null) return fit('/', W.target);
  if (key === null) return fit(bucket, W.target);
  const whole = `${bucket}/${key}`;
  if (whole.length <= W.target || bucket.length > W.target / 2) return fit(whole, W.target, true);
  return `${bucket}/${fit(key, W.target - bucket.length - 1, true)}`;
}

function timeOf(e: Obj): string {
  const t = str(e['time']);
  const m = t ? /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(t) : null;
  return (m ? m[1]! : (t ?? '-')).padEnd(12);
}

function statusColor(code: number | null, failed: boolean): string {
  if (failed || (code !== null && code >= 500)) return '31'; // red
  if (code !== null && code >= 400) return '33'; // yellow
  return '32'; // green
}

/** The line for one event (without the newline). */
export function formatEvent(e: Obj, o: FormatOptions): string {
  const kind = str(e['kind']) ?? '?';
  const time = paint(o.color, '2', timeOf(e));
  if (kind === 'gap') {
    const g = obj(e['gap']);
    const what = `${str(g['count']) ?? 'unknown number of'} events lost (${str(g['reason']) ?? '?'})`;
    return `${time}  ${'-'.padEnd(W.client)}  ${paint(o.color, '31', fit('gap', W.api))}  ${what}`;
  }
  if (kind !== 's3' && kind !== 'admin') {
    return `${time}  ${'-'.padEnd(W.client)}  ${fit(kind, W.api)}  ${str(e['message']) ?? ''}`;
  }
  const api = obj(e['api']);
  const req = obj(e['request']);
  const res = obj(e['response']);
  const bytes = obj(e['bytes']);
  const client = str(obj(e['client'])['ip']) ?? '-';
  const bucket = str(api['bucket']);
  const key = str(api['object']);
  const target = kind === 'admin' ? fit(str(req['path']) ?? '-', W.target, true) : fitObject(bucket, key);
  const code = num(res['statusCode']);
  const errorCode = str(res['errorCode']);
  const outcome = str(e['outcome']);
  const failed = outcome !== null && outcome !== 'completed';
  const status = `${code ?? '-'}${errorCode ? ` ${errorCode}` : failed ? ` ${outcome}` : ''}`;
  const io = `↑${shortBytes(num(bytes['received']))} ↓${shortBytes(num(bytes['sent']))}`;
  const duration = shortDuration(num(obj(e['timing'])['totalMs']));
  return [
    time,
    fit(client, W.client),
    fit(str(api['name']) ?? '-', W.api),
    target,
    paint(o.color, statusColor(code, failed || errorCode !== null), fit(status, W.status)),
    io.padEnd(15),
    duration.padStart(7),
  ].join('  ');
}
