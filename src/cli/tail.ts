// `s3-audit-proxy tail`: reads GET /api/v1/events/stream of the running proxy and prints each event
// (tail-format.ts), or the raw event with --json. Notices (attached, dropped, ended) go to stderr,
// so stdout holds events only. When stdout cannot keep up (a slow pipe) reading stops: the proxy's
// per-client buffer fills and it drops events for this client, never slowing S3; the drops are
// reported here. Ctrl-C (SIGINT) or SIGTERM ends it with exit code 0.
import { Agent, request } from 'undici';
import { formatHelp, resolveOptions } from '../config/options.js';
import { filterToQuery } from '../audit/event-filter.js';
import { ConfigError } from '../errors.js';
import { AdminApiError, clientOptionsFrom, refusal, unreachable, type AdminClientOptions } from './admin-client.js';
import { foreignEnv } from './audit-webhook-options.js';
import { printable } from './terminal-output.js';
import { formatEvent } from './tail-format.js';
import { filterFromFlags, TAIL_OPTIONS, TAIL_USAGE } from './tail-options.js';

const PREFIX = 's3-audit-proxy tail';
const STREAM_PATH = '/api/v1/events/stream';
/** The proxy pings every 15 s of silence: this long without a byte means the connection is dead. */
const SILENCE_MS = 45_000;

export interface TailIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  err(s: string): void;
  env: NodeJS.ProcessEnv;
}

const PROCESS_IO: TailIo = { stdout: process.stdout, err: (s) => process.stderr.write(s), env: process.env };

/** Writes, and waits for the drain when stdout's buffer is full (so that reading stops meanwhile). */
async function write(out: TailIo['stdout'], s: string, signal: AbortSignal): Promise<void> {
  if (out.write(s)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => { out.off('drain', done); signal.removeEventListener('abort', done); resolve(); };
    out.on('drain', done);
    signal.addEventListener('abort', done);
  });
}

interface Line {
  hello?: { filters?: unknown; maxBufferedBytes?: unknown };
  event?: Record<string, unknown>;
  dropped?: { count?: unknown; total?: unknown };
  ping?: unknown;
}

async function stream(client: AdminClientOptions, query: string, json: boolean, io: TailIo, signal: AbortSignal): Promise<number> {
  const color = io.stdout.isTTY === true && !io.env['NO_COLOR'];
  const agent = new Agent({ connect: { timeout: Math.min(client.timeoutMs, 10_000) }, headersTimeout: client.timeoutMs, bodyTimeout: SILENCE_MS });
  const url = new URL(`${STREAM_PATH}${query ? `?${query}` : ''}`, client.admin);
  try {
    let res;
    try {
      res = await request(url, {
        method: 'GET', dispatcher: agent, signal,
        headers: { authorization: `Bearer ${client.token.value}`, accept: 'application/x-ndjson', 'user-agent': 's3-audit-proxy-cli' },
      });
    } catch (err) {
      if (signal.aborted) return 0;
      throw unreachable(err, client);
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text().catch(() => '');
      let doc: unknown = null;
      try { doc = JSON.parse(text); } catch { /* not JSON: refusal() says HTTP <status> */ }
      throw refusal(res.statusCode, doc, client);
    }
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const text = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (text) await handleLine(text, json, color, client, io, signal);
        }
      }
    } catch (err) {
      if (signal.aborted) return 0;
      io.err(`${PREFIX}: the stream from ${client.admin.origin} broke: ${printable((err as Error).message)}\n`);
      return 1;
    }
    if (signal.aborted) return 0;
    io.err(`${PREFIX}: the proxy ended the stream (shutting down?)\n`);
    return 1;
  } finally {
    void agent.destroy().catch(() => {});
  }
}

async function handleLine(text: string, json: boolean, color: boolean, client: AdminClientOptions, io: TailIo, signal: AbortSignal): Promise<void> {
  let line: Line;
  try {
    line = JSON.parse(text) as Line;
  } catch {
    io.err(`${PREFIX}: skipped a line that is not JSON: ${printable(text.slice(0, 200))}\n`);
    return;
  }
  if (line.event !== undefined) {
    await write(io.stdout, json ? `${JSON.stringify(line.event)}\n` : `${formatEvent(line.event, { color })}\n`, signal);
  } else if (line.dropped !== undefined) {
    io.err(`${PREFIX}: ${Number(line.dropped.count)} events dropped: this reader fell behind (${Number(line.dropped.total)} since it attached)\n`);
  } else if (line.hello !== undefined) {
    const f = JSON.stringify(line.hello.filters ?? {});
    io.err(`${PREFIX}: streaming events from ${client.admin.origin}${f === '{}' ? '' : ` (filters ${printable(f)})`}; Ctrl-C to stop\n`);
  }
}

export async function tailCommand(argv: readonly string[], env: NodeJS.ProcessEnv, io: TailIo = { ...PROCESS_IO, env }): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(formatHelp(TAIL_USAGE, TAIL_OPTIONS));
    return 0;
  }
  let client: AdminClientOptions;
  let query: string;
  let json: boolean;
  try {
    const { values: v, positionals, sources } = resolveOptions(TAIL_OPTIONS, argv, env, { ignoreEnv: foreignEnv(TAIL_OPTIONS, env) });
    if (positionals.length) throw new ConfigError(positionals[0]!.slice(0, 80), 'unexpected argument (flags are spelled --name value; see --help)');
    query = filterToQuery(filterFromFlags(v)).toString();
    json = v['json'] === true;
    client = clientOptionsFrom(v, sources);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`${PREFIX}: ${printable(err.message)}\n`);
      return 2;
    }
    if (err instanceof AdminApiError) {
      io.err(`${PREFIX}: ${printable(err.message)}\n`);
      return err.kind === 'protocol' ? 2 : 1;
    }
    throw err;
  }
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await stream(client, query, json, io, ac.signal);
  } catch (err) {
    if (err instanceof AdminApiError) {
      io.err(`${PREFIX}: ${printable(err.message)}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
