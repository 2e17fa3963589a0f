// Admin API and CLI helpers for tests: HTTP calls that keep a transcript (for the "no secret ever
// appears" grep), the real CLI run as a child process (asynchronously: the HEC receiver lives in the
// test process and must keep answering), and the OpenAPI document's schemas compiled with Ajv.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { projectRoot } from '../../src/paths.js';

export const CLI_MAIN = join(projectRoot(), 'dist', 'src', 'cli', 'main.js');

export interface AdminReply {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** Parsed JSON body, or undefined when not JSON. */
  json: any;
}

/** Everything tests saw: responses, CLI output. Grepped for secrets at the end. */
export class Transcript {
  readonly entries: string[] = [];
  add(s: string): void {
    this.entries.push(s);
  }
  text(): string {
    return this.entries.join('\n');
  }
}

export interface CallOptions {
  token?: string | null;
  /** Authorization header value as given (overrides token). */
  authorization?: string;
  /** A JSON value to send, or a raw string/Buffer body. */
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

export async function adminCall(base: string, method: string, path: string, opts: CallOptions = {}, transcript?: Transcript): Promise<AdminReply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.authorization !== undefined) headers['authorization'] = opts.authorization;
  else if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  let body: string | Buffer | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path, base), { method, headers, body, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const h: Record<string, string> = {};
  res.headers.forEach((v, k) => { h[k] = v; });
  transcript?.add(`${method} ${path} -> ${res.status} ${JSON.stringify(h)} ${text}`);
  return { status: res.status, headers: h, text, json };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/src/cli/main.js <args>` with a clean environment plus `env`; bounded. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, transcript?: Transcript, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI ${args.slice(0, 2).join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => {
      clearTimeout(timer);
      // Output only: the command line itself carries the tokens the test passed on purpose.
      transcript?.add(`[${args.slice(0, 2).join(' ')}] exit ${code}\n${stdout}\n${stderr}`);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The OpenAPI document and a validator for its component schemas. */
export function loadOpenApi(): { doc: any; validate(schemaName: string, value: unknown): string | null; validateSchema(schema: unknown, value: unknown): string | null } {
  const doc = JSON.parse(readFileSync(join(projectRoot(), 'openapi', 'admin-api.json'), 'utf8'));
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  // Component schemas as one 2020-12 schema with $defs; OpenAPI refs point into components.
  const defs = JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('#/components/schemas/', 'urn:s3ap:admin-api#/$defs/'));
  ajv.addSchema({ $id: 'urn:s3ap:admin-api', $defs: defs });
  const check = (schema: unknown, value: unknown): string | null => {
    const s = JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/', 'urn:s3ap:admin-api#/$defs/'));
    const v = ajv.compile(s);
    return v(value) ? null : ajv.errorsText(v.errors);
  };
  return {
    doc,
    validate: (name, value) => check({ $ref: `#/components/schemas/${name}` }, value),
    validateSchema: check,
  };
}

/** Lines of a child proxy's output parsed as JSON (others skipped). */
export function logRecords(output: string[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const l of output) {
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch { /* not JSON */ }
  }
  return out;
}
