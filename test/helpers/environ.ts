// The environment a process started with (or was re-executed with): /proc/<pid>/environ as a map (Linux).
import { readFileSync } from 'node:fs';

export function environOf(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) out.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return out;
}
