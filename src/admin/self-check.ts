// The webhook must never point at this proxy's own listeners: events would loop back into the
// proxy (one request grows into thousands of events) and the receiver's token would reach the S3
// backend. validate.ts checks the URL as written; this resolves the host name too (aliases in
// /etc/hosts, the machine's own name, anything that resolves to a loopback, unspecified or local
// interface address), however it is spelled.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { addressIsSelf, urlPort, type SelfAddress } from './validate.js';
import { badField } from './errors.js';

const LOOKUP_TIMEOUT_MS = 2000;

async function resolve(host: string): Promise<string[]> {
  if (isIP(host) !== 0) return [host];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((r) => {
    timer = setTimeout(() => r([]), LOOKUP_TIMEOUT_MS);
    timer.unref();
  });
  try {
    // A name that does not resolve (yet) cannot reach this proxy now; delivery will say so.
    return await Promise.race([lookup(host, { all: true, verbatim: true }).then((l) => l.map((a) => a.address), () => []), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Throws the admin API's 400 `endpoint_is_self` when `endpoint` reaches one of `self`. */
export async function assertNotSelf(endpoint: string, self: readonly SelfAddress[]): Promise<void> {
  if (self.length === 0) return;
  const url = new URL(endpoint);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = urlPort(url);
  const addresses = [host, ...(await resolve(host))];
  for (const s of self) {
    const hit = addresses.find((a) => addressIsSelf(a, port, s));
    if (hit !== undefined) {
      const via = hit === host ? '' : ` (${host} resolves to ${hit})`;
      throw badField('endpoint', 'endpoint_is_self', `points at this proxy's own ${s.what} (${s.host}:${s.port})${via}: audit events would loop back into the proxy`);
    }
  }
}
