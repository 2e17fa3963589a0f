// /readyz: the S3 listener accepts connections and the backend answered a TCP connect recently.
// Probes are cached for CACHE_MS and shared by concurrent callers, so a busy load balancer cannot turn
// readiness checks into load on the backend.
import { connect } from 'node:net';

export const CACHE_MS = 2000;
export const PROBE_TIMEOUT_MS = 1000;

export interface ReadyReport {
  ready: boolean;
  reason: string | null;
  checks: { s3Listener: string; backend: string };
  checkedAt: string;
}

function hostPort(origin: string): { host: string; port: number } {
  const u = new URL(origin);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { host: host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port };
}

/** Resolves "ok" or the reason the connection failed ("ECONNREFUSED", "timeout after 1000 ms"). */
export function tcpProbe(origin: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<string> {
  const { host, port } = hostPort(origin);
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let done = false;
    const finish = (r: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish(`timeout after ${timeoutMs} ms`), timeoutMs);
    sock.once('connect', () => finish('ok'));
    sock.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
  });
}

export class Readiness {
  private cached: { at: number; report: ReadyReport } | null = null;
  private inFlight: Promise<ReadyReport> | null = null;
  private shuttingDown = false;

  constructor(private readonly s3Url: string, private readonly backend: string, private readonly probe = tcpProbe) {}

  /** From now on, not ready: load balancers should stop sending traffic. */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  async check(): Promise<ReadyReport> {
    if (this.shuttingDown) {
      return { ready: false, reason: 'shutting down', checks: { s3Listener: 'closing', backend: 'not checked' }, checkedAt: new Date().toISOString() };
    }
    const now = Date.now();
    if (this.cached && now - this.cached.at < CACHE_MS) return this.cached.report;
    this.inFlight ??= (async () => {
      try {
        const [s3, be] = await Promise.all([this.probe(this.s3Url), this.probe(this.backend)]);
        const reasons: string[] = [];
        if (s3 !== 'ok') reasons.push(`S3 listener ${this.s3Url} does not accept connections: ${s3}`);
        if (be !== 'ok') reasons.push(`backend ${this.backend} did not answer: ${be}`);
        const report: ReadyReport = {
          ready: reasons.length === 0,
          reason: reasons.length ? reasons.join('; ') : null,
          checks: { s3Listener: s3, backend: be },
          checkedAt: new Date().toISOString(),
        };
        this.cached = { at: Date.now(), report };
        return report;
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }
}
