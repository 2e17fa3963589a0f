// Readers for the parts of docker-compose.yml and the Dockerfile the deploy tests need (no YAML
// library: the compose file keeps a simple, fixed indentation).
import assert from 'node:assert/strict';

/** Lines of one service's block (after `services:`, at two-space indentation). */
export function serviceBlock(compose: string, name: string): string[] {
  const lines = compose.split('\n');
  const start = lines.findIndex((l) => l === `  ${name}:`);
  assert.ok(start !== -1, `docker-compose.yml has a service "${name}"`);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.trim() !== '' && !l.trim().startsWith('#') && /^ {0,2}\S/.test(l)) break;
    out.push(l);
  }
  return out;
}

/** `KEY: value` pairs under a service's `environment:` mapping, `${X:-default}` resolved to the default. */
export function serviceEnv(block: string[]): Record<string, string> {
  const i = block.findIndex((l) => /^ {4}environment:\s*$/.test(l));
  if (i === -1) return {};
  const env: Record<string, string> = {};
  for (const l of block.slice(i + 1)) {
    if (l.trim() === '' || l.trim().startsWith('#')) continue;
    const m = /^ {6}([A-Za-z_][A-Za-z0-9_]*):\s*(.*?)\s*(?:#.*)?$/.exec(l);
    if (!m) break;
    env[m[1]!] = unquote(m[2]!).replace(/\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}/g, '$1');
  }
  return env;
}

export function unquote(s: string): string {
  if (s.length >= 2 && ((s.startsWith('"') && s.endsWith('"')) || (s.startsWith("'") && s.endsWith("'")))) return s.slice(1, -1);
  return s;
}

/** The shell lines of a service's `command: - |` block. */
export function commandScript(block: string[]): string[] {
  const i = block.findIndex((l) => /^ {4}command:\s*$/.test(l));
  assert.ok(i !== -1 && /^ {6}- \|\s*$/.test(block[i + 1] ?? ''), 'the command is a `- |` block');
  const out: string[] = [];
  for (const l of block.slice(i + 2)) {
    if (!/^ {8}/.test(l)) break;
    out.push(l.slice(8));
  }
  return out;
}

/** Words of one POSIX shell command line (quotes and backslashes; no expansions). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (cur !== null) { words.push(cur); cur = null; }
    } else if (c === "'") {
      const j = line.indexOf("'", i + 1);
      assert.ok(j !== -1, `unterminated ' in: ${line}`);
      cur = (cur ?? '') + line.slice(i + 1, j);
      i = j;
    } else if (c === '"') {
      let s = '';
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) s += line[j] === '\\' && j + 1 < line.length ? line[++j] : line[j];
      assert.ok(j < line.length, `unterminated " in: ${line}`);
      cur = (cur ?? '') + s;
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      cur = (cur ?? '') + line[++i];
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) words.push(cur);
  return words;
}

/** `ENV A=1 B=2` lines of the Dockerfile (with continuation lines). */
export function dockerfileEnv(dockerfile: string): Record<string, string> {
  const env: Record<string, string> = {};
  const joined = dockerfile.replace(/\\\n/g, ' ');
  for (const line of joined.split('\n')) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const w of shellWords(m[1]!)) {
      const eq = w.indexOf('=');
      if (eq > 0) env[w.slice(0, eq)] = w.slice(eq + 1);
    }
  }
  return env;
}
