// What the numbers were measured on.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memGiB: number;
  kernel: string;
  node: string;
  nginx: string | null;
  wrk: string | null;
  curl: string | null;
  loadAvgStart: number[];
  loadAvgEnd?: number[];
}

function firstLine(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return null;
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return text ? text.split('\n')[0]!.trim() : null;
}

export function machineInfo(tools: { nginx: string | null; wrk: string | null; curl: string | null }): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch { /* keep os.cpus() */ }
  return {
    cpuModel,
    cores: os.cpus().length,
    memGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nginx: tools.nginx ? (firstLine(tools.nginx, ['-v'])?.replace(/^nginx version:\s*/, '') ?? null) : null,
    wrk: tools.wrk ? (firstLine(tools.wrk, ['-v'])?.replace(/\s*Copyright.*$/, '') ?? null) : null,
    curl: tools.curl ? (firstLine(tools.curl, ['--version'])?.split(' ').slice(0, 2).join(' ') ?? null) : null,
    loadAvgStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
