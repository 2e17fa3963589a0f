// Header handling at the proxy boundary: hop-by-hop headers (RFC 9110 §7.6.1) are connection
// matters and are dropped both ways; every other header, Host included, is passed on byte for byte
// so that signatures made for the proxy's address stay valid at the backend.

/** Always hop-by-hop, plus proxy credentials. `Expect` is forwarded (it may be signed; the backend answers it). */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
]);

/** HOP_BY_HOP holds names of these lengths only: a name of another length is not hop-by-hop, and is
 * not lower-cased to find out (most names of a request or reply: Date, Content-Length, ETag, ...). */
const HOP_LENGTH = new Uint8Array(32);
for (const name of HOP_BY_HOP) HOP_LENGTH[name.length] = 1;

/** HOP_BY_HOP.has(name.toLowerCase()), without the copy for names of other lengths. */
function isHopByHop(name: string): boolean {
  return name.length < 32 && HOP_LENGTH[name.length] === 1 && HOP_BY_HOP.has(name.toLowerCase());
}

function connectionTokens(raw: string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.split(',')) {
        const name = t.trim().toLowerCase();
        if (name && name !== 'close' && name !== 'keep-alive') (tokens ??= new Set()).add(name);
      }
    }
  }
  return tokens;
}

/** Framing is the two hops' own business: never passed on, even when signed. */
const FRAMING = new Set(['transfer-encoding', 'te', 'trailer', 'upgrade']);
const SIGNED_HEADERS_AUTH = /SignedHeaders=([^,\s]+)/;
const SIGNED_HEADERS_QUERY = /[?&]X-Amz-SignedHeaders=([^&]*)/i;

/**
 * Hop-by-hop request headers (other than framing) that the request's SigV4 signature covers
 * (Authorization's SignedHeaders, or X-Amz-SignedHeaders of a presigned URL): they must reach the
 * backend unchanged or the signature breaks there (a client that copies a reply's `Keep-Alive` into
 * a metadata-replacing self-copy signs it). Null when there are none (the usual case).
 */
export function signedHopByHop(rawHeaders: string[], url: string): Set<string> | null {
  let list: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 13 && rawHeaders[i]!.toLowerCase() === 'authorization') {
      list = SIGNED_HEADERS_AUTH.exec(rawHeaders[i + 1]!)?.[1];
      break;
    }
  }
  if (list === undefined && url.includes('SignedHeaders')) {
    const m = SIGNED_HEADERS_QUERY.exec(url)?.[1];
    if (m !== undefined) list = decodeURIComponent(m.replace(/\+/g, ' '));
  }
  if (list === undefined) return null;
  let keep: Set<string> | null = null;
  const extra = connectionTokens(rawHeaders);
  for (const name of list.toLowerCase().split(';')) {
    if (FRAMING.has(name)) continue;
    if (HOP_BY_HOP.has(name) || (extra !== null && extra.has(name))) (keep ??= new Set()).add(name);
  }
  return keep;
}

/**
 * Request headers to send to the backend, as a flat [name, value, ...] list (undici accepts it).
 * `keep`: hop-by-hop names to pass on anyway (signed ones, see signedHopByHop).
 */
export function forwardRequestHeaders(rawHeaders: string[], keep: ReadonlySet<string> | null = null): string[] {
  const extra = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (extra === null ? isHopByHop(name) : (HOP_BY_HOP.has(name.toLowerCase()) || extra.has(name.toLowerCase()))) {
      if (keep === null || !keep.has(name.toLowerCase())) continue;
    }
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}

/** Backend response headers (raw buffers from undici) to write to the client, flat, latin1-preserving. */
export function forwardResponseHeaders(raw: Buffer[]): string[] {
  const out: string[] = new Array(raw.length);
  let n = 0;
  let extra: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const value = raw[i + 1]!.toString('latin1');
    if (isHopByHop(name)) {
      if (name.length === 10 && name.toLowerCase() === 'connection') {
        for (const t of value.split(',')) { const k = t.trim().toLowerCase(); if (k) (extra ??= new Set()).add(k); }
      }
      continue;
    }
    out[n++] = name;
    out[n++] = value;
  }
  out.length = n;
  if (extra === null) return out;
  const filtered: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!extra.has(out[i]!.toLowerCase())) filtered.push(out[i]!, out[i + 1]!);
  return filtered;
}
