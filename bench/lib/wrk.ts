// wrk runs: a generated Lua script sets an S3-looking request (SigV4 Authorization header, so the
// audit side parses real-looking auth) and prints the summary, including p99.9, as one JSON line.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.js';

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  /** Latency percentiles, ms. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export const S3_HEADERS: Record<string, string> = {
  'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024',
  'x-amz-date': '20250101T000000Z',
  'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
  'User-Agent': 'aws-sdk-js/3.0 s3-audit-proxy-bench',
};

function luaString(s: string): string {
  return JSON.stringify(s); // ASCII only here: JSON escapes are valid Lua escapes for these
}

export function writeWrkScript(dir: string, name: string, method: 'GET' | 'PUT', path: string, bodyBytes: number): string {
  const lines = [
    `wrk.method = ${luaString(method)}`,
    `wrk.path = ${luaString(path)}`,
    ...Object.entries(S3_HEADERS).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`),
    bodyBytes > 0 ? `wrk.body = string.rep("x", ${bodyBytes})` : '',
    bodyBytes > 0 ? 'wrk.headers["Content-Type"] = "application/octet-stream"' : '',
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'WRKJSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f,"max":%.0f,"mean":%.3f}\\n\',',
    '    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,',
    '    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))',
    'end',
  ];
  const file = join(dir, `${name}.lua`);
  writeFileSync(file, lines.filter(Boolean).join('\n') + '\n');
  return file;
}

export async function runWrk(wrkBin: string, url: string, script: string, connections: number, durationS: number, threads = 2): Promise<WrkResult> {
  const args = ['-t', String(Math.min(threads, connections)), '-c', String(connections), '-d', `${durationS}s`, '--timeout', '5s', '--latency', '-s', script, url];
  const r = await run(wrkBin, args, (durationS + 30) * 1000);
  const line = r.stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (!line) throw new Error(`wrk gave no summary (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  const j = JSON.parse(line.slice(8)) as Record<string, number>;
  const durationSec = j['duration_us']! / 1e6;
  const ms = (us: number | undefined): number => Math.round((us ?? 0) / 10) / 100;
  return {
    requests: j['requests']!,
    durationS: durationSec,
    rps: j['requests']! / durationSec,
    bytes: j['bytes']!,
    errors: { connect: j['connect']!, read: j['read']!, write: j['write']!, status: j['status']!, timeout: j['timeout']! },
    p50: ms(j['p50']),
    p90: ms(j['p90']),
    p99: ms(j['p99']),
    p999: ms(j['p999']),
    max: ms(j['max']),
    mean: ms(j['mean']),
  };
}
