// The client's address: the socket peer, unless the peer is a trusted proxy, in which case the
// right-most untrusted address of the one forwarding header those proxies manage (X-Forwarded-For by
// default, or Forwarded: for=) is the client. The other header is never read: a trusted proxy that
// manages only X-Forwarded-For passes a client's own Forwarded header through untouched.
import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { ConfigError } from '../errors.js';

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[], readonly header: 'x-forwarded-for' | 'forwarded' = 'x-forwarded-for') {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [addr, bits] = entry.split('/');
      const family = isIP(addr ?? '');
      if (!family) throw new ConfigError('--trusted-proxy', `not an IP address or CIDR: ${JSON.stringify(entry)}`);
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(addr!, type);
      else {
        const prefix = Number(bits);
        if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
          throw new ConfigError('--trusted-proxy', `bad prefix length in ${JSON.stringify(entry)}`);
        }
        this.list.addSubnet(addr!, prefix, type);
      }
    }
  }

  trusts(ip: string): boolean {
    if (this.empty) return false;
    const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    const family = isIP(v4);
    return family !== 0 && this.list.check(v4, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** Client address and, when it came from a forwarding header, the peer that sent it. */
  clientAddress(peer: string, headers: IncomingHttpHeaders): { ip: string; peerIp: string | null } {
    if (!this.trusts(peer)) return { ip: peer, peerIp: null };
    const chain = this.header === 'forwarded' ? forwardedFor(headers) : xForwardedFor(headers);
    // Walk from the right: the first address not itself a trusted proxy is the client.
    for (let i = chain.length - 1; i >= 0; i--) {
      const candidate = chain[i]!;
      if (!this.trusts(candidate)) return { ip: candidate, peerIp: peer };
    }
    return chain.length ? { ip: chain[0]!, peerIp: peer } : { ip: peer, peerIp: null };
  }
}

function stripPort(v: string): string {
  let s = v.trim().replace(/^"|"$/g, '');
  if (s.startsWith('[')) return s.slice(1, s.indexOf(']') === -1 ? undefined : s.indexOf(']'));
  if (isIP(s)) return s;
  const colon = s.lastIndexOf(':');
  if (colon !== -1 && s.indexOf(':') === colon) s = s.slice(0, colon);
  return s;
}

/** The for= addresses of every Forwarded element, in order. */
function forwardedFor(headers: IncomingHttpHeaders): string[] {
  const fwd = headers['forwarded'];
  const raw = Array.isArray(fwd) ? fwd.join(',') : fwd;
  if (!raw) return [];
  const out: string[] = [];
  for (const element of raw.split(',')) {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq !== -1 && pair.slice(0, eq).trim().toLowerCase() === 'for') {
        const ip = stripPort(pair.slice(eq + 1));
        if (isIP(ip)) out.push(ip);
      }
    }
  }
  return out;
}

function xForwardedFor(headers: IncomingHttpHeaders): string[] {
  const xff = headers['x-forwarded-for'];
  const raw = Array.isArray(xff) ? xff.join(',') : xff;
  if (!raw) return [];
  return raw.split(',').map(stripPort).filter((ip) => isIP(ip) !== 0);
}
