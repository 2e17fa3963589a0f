// How a webhook token is shown to people (admin API, CLI, logs): the scheme, then "****" and the last
// four characters of the secret when it is long enough that four characters give nothing away.
//   "Splunk B5A79AAD-D822-46CC-80D1-819F80D7BFB0"  ->  "Splunk ****BFB0"
//   "B5A79AAD-D822-46CC-80D1-819F80D7BFB0"         ->  "****BFB0"
//   "Splunk short"                                  ->  "Splunk ****"

/** Same rule as the dispatcher's Authorization header: a leading HTTP auth scheme, then credentials. */
const SCHEME = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s+(\S.*)$/s;

/** Secrets shorter than this are masked completely. */
export const MIN_REVEAL_LENGTH = 16;
export const MASK = '****';

export function splitToken(token: string): { scheme: string | null; secret: string } {
  const t = token.trim();
  const m = SCHEME.exec(t);
  return m ? { scheme: m[1]!, secret: m[2]!.trim() } : { scheme: null, secret: t };
}

/** Schemes shown in clear. Any other first word may be part of the secret ("secret word"): masked too. */
const KNOWN_SCHEMES = new Set(['splunk', 'bearer', 'basic', 'token', 'apikey', 'api-key', 'digest']);

export function redactToken(token: string | null | undefined): string | null {
  if (token === null || token === undefined) return null;
  const split = splitToken(token);
  const known = split.scheme !== null && KNOWN_SCHEMES.has(split.scheme.toLowerCase());
  const scheme = known ? split.scheme : null;
  const secret = known ? split.secret : token.trim();
  const tail = secret.length >= MIN_REVEAL_LENGTH ? secret.slice(-4) : '';
  return `${scheme ? `${scheme} ` : ''}${MASK}${tail}`;
}

/** Removes every occurrence of a token (whole value or secret part) from `text`. */
export function scrub(text: string, ...tokens: Array<string | null | undefined>): string {
  let out = text;
  for (const token of tokens) {
    if (!token) continue;
    const { secret } = splitToken(token);
    for (const p of [token.trim(), secret]) if (p.length >= 4) out = out.split(p).join('[REDACTED]');
  }
  return out;
}
