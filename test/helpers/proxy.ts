// Start the proxy for a test: in-process (fast, inspectable) or as a real child process
// (`node dist/src/cli/main.js serve ...`) for start-up, signals and crash tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { createLogger } from '../../src/log.js';
import { startServer, type RunningServer, type ServerParts } from '../../src/cli/serve.js';
import { projectRoot } from '../../src/paths.js';

/** Collects pino's JSON lines so tests can read (and grep) the logs. */
export class LogSink extends Writable {
  lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(line);
    cb();
  }
  get records(): Array<Record<string, unknown>> { return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>); }
  text(): string { return this.lines.join('\n'); }
}

export interface InProcessProxy extends RunningServer {
  url: string;
  port: number;
  logs: LogSink;
  dataDir: string;
  close(): Promise<void>;
}

export async function startInProcessProxy(args: string[], opts: { logLevel?: string; parts?: ServerParts } = {}): Promise<InProcessProxy> {
  const dataDir = mkdtempSync(join(tmpdir(), 's3ap-proxy-'));
  const config = loadServeConfig(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', opts.logLevel ?? 'debug', ...args], {});
  const logs = new LogSink();
  const logger = createLogger(config.logLevel as 'debug', logs);
  const running = await startServer(config, logger, opts.parts);
  return {
    ...running,
    url: running.proxy.url,
    port: running.proxy.port,
    logs,
    dataDir,
    async close() {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ChildProxy {
  child: ChildProcess;
  url: string;
  adminUrl: string | null;
  output: string[];
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawn the real CLI; resolves once it logs "s3-audit-proxy listening" (bounded wait). */
export async function spawnProxy(
  args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000, opts: { fileSizeLimitKiB?: number; onLine?: (line: string) => void; cwd?: string; nodeArgs?: string[]; node?: string } = {},
): Promise<ChildProxy> {
  const main = join(projectRoot(), 'dist', 'src', 'cli', 'main.js');
  // With a file-size limit (`ulimit -f`), writes past it fail with EFBIG: a full disk without root.
  const [cmd, argv] = opts.fileSizeLimitKiB === undefined
    ? [opts.node ?? process.execPath, [...(opts.nodeArgs ?? []), main, 'serve', ...args]]
    : ['bash', ['-c', `ulimit -f ${opts.fileSizeLimitKiB} && exec "$0" "$@"`, opts.node ?? process.execPath, ...(opts.nodeArgs ?? []), main, 'serve', ...args]];
  const child = spawn(cmd, argv, {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let buf = '';
  const ready = new Promise<{ url: string; adminUrl: string | null }>((resolve, reject) => {
    // A proxy that did not start in time is killed: no orphan outlives the test.
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`proxy did not start within ${timeoutMs} ms:\n${output.join('\n')}`)); }, timeoutMs);
    let adminUrl: string | null = null;
    const onLine = (line: string): void => {
      output.push(line);
      opts.onLine?.(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; listen?: string; admin?: string };
        if (rec.msg === 'admin API listening' && rec.admin) adminUrl = rec.admin;
        if (rec.msg === 's3-audit-proxy listening' && rec.listen) { clearTimeout(timer); resolve({ url: rec.listen, adminUrl }); }
      } catch { /* not JSON: keep it in output */ }
    };
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) !== -1) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`proxy exited with ${code} before listening:\n${output.join('\n')}`)); });
  });
  const { url, adminUrl } = await ready;
  return {
    child, url, adminUrl, output, exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

export function tempDir(prefix = 's3ap-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
