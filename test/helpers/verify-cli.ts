// Runs the built `s3-audit-proxy verify` CLI: its exit code and everything it printed.
import { execFile } from 'node:child_process';
import { CLI_MAIN } from './admin.js';

export function verifyCli(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, 'verify', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
  });
}
