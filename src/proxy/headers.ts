// Header handling at the proxy boundary: hop-by-hop headers (RFC 9110 §7.6.1) are connection
// matters and are dropped both ways; every other header, Host included, is passed on byte for byte
// so that signatures made for the proxy's address stay valid at the backend.

/** Always hop-by-hop, plus proxy credentials. `Expect` is forwarded (it may be signed; the backend answers it). */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
]);

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

/** Request headers to send to the backend, as a flat [name, value, ...] list (undici accepts it). */
export function forwardRequestHeaders(rawHeaders: string[]): string[] {
  const extra = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (extra !== null && extra.has(lower))) continue;
    out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
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
    const lower = name.toLowerCase();
    const value = raw[i + 1]!.toString('latin1');
    if (lower === 'connection') {
      for (const t of value.split(',')) { const k = t.trim().toLowerCase(); if (k) (extra ??= new Set()).add(k); }
    }
    if (HOP_BY_HOP.has(lower)) continue;
    out[n++] = name;
    out[n++] = value;
  }
  out.length = n;
  if (extra === null) return out;
  const filtered: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!extra.has(out[i]!.toLowerCase())) filtered.push(out[i]!, out[i + 1]!);
  return filtered;
}
