// Child processes of the benchmark: spawn with a bounded wait for a "ready" line, stop by pid (never
// by name), and read CPU time and peak RSS from /proc.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';

export const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Every output line so far (stdout and stderr), capped. */
  lines: string[];
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const MAX_LINES = 2000;

/** Spawns `cmd args` now; output lines are kept and passed to onLine. */
export function spawnChild(
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  onLine?: (line: string) => void,
): Child {
  const spawnOpts: SpawnOptions = {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  };
  const proc = spawn(cmd, args, spawnOpts);
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
  proc.once('error', (err) => lines.push(`spawn error: ${String(err)}`));
  const onText = (stream: NodeJS.ReadableStream): void => {
    let buf = '';
    stream.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (lines.length < MAX_LINES) lines.push(line);
        if (onLine) onLine(line);
      }
    });
  };
  onText(proc.stdout!);
  onText(proc.stderr!);
  return {
    name,
    proc,
    pid: proc.pid ?? -1,
    lines,
    exited,
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * Spawns `cmd args` and resolves once `ready(line)` returns a value (bounded by timeoutMs).
 * Rejects with the output so far when the process exits first or the time runs out.
 */
export async function spawnReady<T>(
  name: string,
  cmd: string,
  args: string[],
  ready: (line: string) => T | undefined,
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ child: Child; value: T }> {
  let resolveLine: ((v: T) => void) | null = null;
  let pendingValue: { v: T } | null = null;
  const child = spawnChild(name, cmd, args, opts, (line) => {
    if (pendingValue) return;
    let v: T | undefined;
    try { v = ready(line); } catch { v = undefined; }
    if (v === undefined) return;
    pendingValue = { v };
    if (resolveLine) resolveLine(v);
  });
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const value = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      try { child.proc.kill('SIGKILL'); } catch { /* gone */ }
      reject(new Error(`${name} not ready within ${timeoutMs} ms:\n${child.lines.slice(-30).join('\n')}`));
    }, timeoutMs);
    resolveLine = (v) => { clearTimeout(timer); resolve(v); };
    if (pendingValue) resolveLine(pendingValue.v);
    void child.exited.then((code) => {
      clearTimeout(timer);
      if (!pendingValue) reject(new Error(`${name} exited (${code}) before it was ready:\n${child.lines.slice(-30).join('\n')}`));
    });
  });
  return { child, value };
}

/** Runs a command to completion (bounded), returning its output. */
export function run(cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => { if (stdout.length < 4_000_000) stdout += d.toString('utf8'); });
    p.stderr!.on('data', (d: Buffer) => { if (stderr.length < 1_000_000) stderr += d.toString('utf8'); });
    const t = setTimeout(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    p.once('error', (err) => { clearTimeout(t); resolve({ code: -1, stdout, stderr: stderr + String(err) }); });
    p.once('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

/** Whether an executable is on PATH. */
export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const p = r.stdout?.trim();
  return r.status === 0 && p ? p : null;
}

/** A port that was free a moment ago on 127.0.0.1 (for servers that need a port number up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function statTicks(pid: number): { ticks: number; ppid: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" of the command name: state(3) ppid(4) ... utime(14) stime(15)
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return null;
  }
}

/** Busy CPU seconds of the whole machine (all cores; idle and iowait excluded), from /proc/stat. */
export function systemBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    const busy = (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) + (v[5] ?? 0) + (v[6] ?? 0) + (v[7] ?? 0);
    return busy / CLK_TCK;
  } catch {
    return 0;
  }
}

/** CPU seconds of this process, its live descendants, and its reaped children (cutime+cstime). */
export function ownTreeCpuSeconds(): number {
  let reaped = 0;
  try {
    const s = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    reaped = (Number(rest[13]) + Number(rest[14])) / CLK_TCK;
  } catch { /* no /proc */ }
  return treeCpuSeconds(process.pid) + reaped;
}

/** Measures CPU used on the machine by processes that are not ours (other users of a shared box). */
export class ForeignCpu {
  private busy0 = systemBusySeconds();
  private own0 = ownTreeCpuSeconds();
  private t0 = performance.now();
  /** Cores' worth of CPU used by others since construction. */
  cores(): number {
    const wall = (performance.now() - this.t0) / 1000;
    if (wall <= 0) return 0;
    const foreign = systemBusySeconds() - this.busy0 - (ownTreeCpuSeconds() - this.own0);
    return Math.max(0, foreign / wall);
  }
}

/** utime+stime in seconds of a process (all its threads). */
export function cpuSeconds(pid: number): number {
  const s = statTicks(pid);
  return s ? s.ticks / CLK_TCK : 0;
}

/** utime+stime in seconds of a process and all its descendants (e.g. nginx master + workers). */
export function treeCpuSeconds(root: number): number {
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    const s = statTicks(pid);
    if (!s) continue;
    ticks.set(pid, s.ticks);
    const list = children.get(s.ppid);
    if (list) list.push(pid);
    else children.set(s.ppid, [pid]);
  }
  let total = 0;
  const stack = [root];
  let guard = 0;
  while (stack.length && guard++ < 10_000) {
    const p = stack.pop()!;
    total += ticks.get(p) ?? 0;
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return total / CLK_TCK;
}

/** A field of /proc/<pid>/status in KiB (VmHWM = peak RSS, VmRSS = current). */
export function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls cond every intervalMs until it holds or timeoutMs passes; returns whether it held. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await sleep(intervalMs);
  }
}
