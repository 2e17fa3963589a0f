// The access-key file the signature gate reads at start-up (JSON object or "AKID:secret" lines).
// Apart from verify.ts because it is file parsing, not signing; errors name file and line, never a secret.
import { readFileSync } from 'node:fs';

/**
 * Reads access keys and secrets: JSON {"AKID": "secret", ...}, or lines "AKID:secret" / "AKID secret"
 * (blank lines and lines starting with # ignored). Errors name the file and line, never a secret.
 */
export function loadCredentialsFile(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`credentials file ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const map = new Map<string, string>();
  if (/^\s*[[{]/.test(text)) {
    for (const [key, secret, line] of parseFlatJsonObject(text, path)) {
      if (key.trim().length === 0 || /\s/.test(key)) {
        throw new Error(`credentials file ${path} line ${line}: an access key id is empty or contains spaces`);
      }
      if (secret.length === 0) throw new Error(`credentials file ${path} line ${line}: empty secret`);
      if (map.has(key)) throw new Error(`credentials file ${path} line ${line}: access key ${JSON.stringify(key)} listed twice`);
      map.set(key, secret);
    }
  } else {
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line.length === 0 || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      const space = line.search(/\s/);
      // Whichever separator comes first: secrets may contain ':' (after a space) or ' ' (after a ':').
      const sep = colon !== -1 && (space === -1 || colon < space) ? colon : space;
      const key = sep === -1 ? line : line.slice(0, sep).trim();
      let secret = sep === -1 ? '' : line.slice(sep + 1).trim();
      if (sep === space && secret.startsWith(':')) secret = secret.slice(1).trim(); // "AKID : secret"
      if (key.length === 0 || secret.length === 0) {
        throw new Error(`credentials file ${path} line ${i + 1}: expected "ACCESS_KEY_ID:SECRET" or "ACCESS_KEY_ID SECRET"`);
      }
      if (map.has(key)) throw new Error(`credentials file ${path} line ${i + 1}: access key ${JSON.stringify(key)} listed twice`);
      map.set(key, secret);
    }
  }
  if (map.size === 0) throw new Error(`credentials file ${path}: no credentials`);
  return map;
}

// One JSON token: a string (group 1), punctuation (2) or anything else (3). Sticky: scans in place.
const JSON_TOKEN = /\s*(?:("(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")|([{}:,])|(\S))/y;

/**
 * Parses {"k": "v", ...} with string values only, giving each pair's line. Hand-rolled because
 * JSON.parse errors quote the offending text (a secret, here) and, on Node 20, give no position.
 */
function parseFlatJsonObject(text: string, path: string): [string, string, number][] {
  const out: [string, string, number][] = [];
  let pos = 0;
  const lineAt = (i: number) => text.slice(0, i).split('\n').length;
  const next = (): { str?: string; punct?: string; at: number } | null => {
    JSON_TOKEN.lastIndex = pos;
    const m = JSON_TOKEN.exec(text);
    if (m === null) return null;
    pos = JSON_TOKEN.lastIndex;
    const at = pos - m[0].trimStart().length;
    if (m[1] !== undefined) return { str: JSON.parse(m[1]) as string, at };
    if (m[2] !== undefined) return { punct: m[2], at };
    return { at };
  };
  const fail = (at: number, what: string): never => {
    throw new Error(`credentials file ${path} line ${lineAt(at)}: invalid JSON (${what})`);
  };
  let t = next();
  if (t?.punct !== '{') fail(t?.at ?? pos, 'expected an object {"ACCESS_KEY_ID": "SECRET"}');
  t = next();
  if (t?.punct !== '}') {
    for (;;) {
      if (t?.str === undefined) fail(t?.at ?? text.length, 'expected an access key id string');
      const key = t!.str!;
      const line = lineAt(t!.at);
      t = next();
      if (t?.punct !== ':') fail(t?.at ?? text.length, 'expected ":"');
      t = next();
      if (t?.str === undefined) fail(t?.at ?? text.length, 'expected the secret as a string');
      out.push([key, t!.str!, line]);
      t = next();
      if (t?.punct === '}') break;
      if (t?.punct !== ',') fail(t?.at ?? text.length, 'expected "," or "}"');
      t = next();
    }
  }
  if (/\S/.test(text.slice(pos))) fail(pos + (text.slice(pos).search(/\S/)), 'text after the object');
  return out;
}
