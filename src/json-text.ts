// JSON text that is also safe as one line for every line splitter: U+2028 (LINE SEPARATOR), U+2029
// (PARAGRAPH SEPARATOR) and U+0085 (NEXT LINE) are valid raw inside JSON strings, and JSON.stringify
// leaves them raw, but JavaScript, Unicode-aware log shippers and editors treat them as line breaks,
// which would split one JSONL record into several. Written as \uXXXX escapes, JSON.parse gives the same
// value. Used for every JSON the proxy writes: events, dead letters, logs, admin replies.

const SEPARATORS = /[\u0085\u2028\u2029]/g;
const HAS_SEPARATOR = /[\u0085\u2028\u2029]/;

function escapeOne(c: string): string {
  return c === '\u2028' ? '\\u2028' : c === '\u2029' ? '\\u2029' : '\\u0085';
}

/** `json` (JSON text) with raw U+2028/U+2029/U+0085 escaped. Only valid on JSON text: the three
 * characters can only occur inside strings there, where \uXXXX means the same. */
export function escapeLineSeparators(json: string): string {
  return HAS_SEPARATOR.test(json) ? json.replace(SEPARATORS, escapeOne) : json;
}

/** JSON.stringify, with the line separators escaped. */
export function stringifyJsonLine(value: unknown): string {
  return escapeLineSeparators(JSON.stringify(value));
}

/** True when `text` contains any character some splitter treats as a line break, besides \n and \r. */
export function hasLineSeparator(text: string): boolean {
  return HAS_SEPARATOR.test(text);
}
