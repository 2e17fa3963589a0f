// Where the CLI commands write, and text from the network made safe and aligned for a terminal:
// the Output pair (stdout, stderr; tests pass their own), printable(), rows and tables.

export interface Output {
  out(s: string): void;
  err(s: string): void;
}

/** The process's stdout and stderr. */
export const STDIO: Output = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/**
 * Text from the network (a receiver's reply, an error) made safe for a terminal: control
 * characters (escape sequences, carriage returns, line breaks, C1) and line separators become
 * visible escapes, so a reply can neither rewrite the screen nor forge lines of output.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    const code = c.charCodeAt(0);
    return named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** Label and value lines, labels aligned; every value made printable. */
export function rows(pairs: Array<[string, string]>, indent = '  '): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${k.padEnd(w)}  ${printable(v)}`).join('\n');
}

/** Columns, left-aligned, header first; every cell made printable. */
export function table(header: string[], body: string[][]): string {
  const cells = [header, ...body].map((r) => r.map((c) => printable(c)));
  const w = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ').trimEnd()).join('\n');
}
