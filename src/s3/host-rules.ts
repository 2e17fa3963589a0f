// Which names the proxy serves, and how each Host header is read: path style, virtual-hosted (and
// for which bucket), a CNAME bucket, or not known at all. Backends disagree on unknown names (AWS S3
// and s3rver read them as a bucket name, MinIO and Ceph RGW as path style unless their domain is
// set), so the proxy is told its names and refuses a Host it cannot place (src/s3/interpret.ts).
// Pure: no I/O; the defaults that need the machine's names are computed by the caller.

export interface HostRulesSpec {
  /** Names read as path style: exact host names or "*.suffix"; ports are ignored. */
  pathStyleHosts: readonly string[];
  /** Base domains of virtual-hosted-style requests: "s3.example.com", "s3.*.example.com" ("*" = one label). */
  virtualHostDomains: readonly string[];
  /** A Host that matches nothing else is the bucket name (AWS S3 and s3rver do this). */
  cnameBuckets: boolean;
}

export type HostReading =
  | { kind: 'path' }
  | { kind: 'virtual'; bucket: string; domain: string }
  | { kind: 'cname'; bucket: string }
  | { kind: 'unknown'; reason: string };

interface Pattern {
  /** Labels, most significant first reversed: ["com", "example", "s3"]; "*" matches one label. */
  labels: string[];
}

/** AWS's regional, dual-stack and dash endpoint forms exist only under these parents. */
const AWS_PARENTS = new Set(['amazonaws.com', 'amazonaws.com.cn']);
const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
/** A bucket name as a host label sequence (lower case, 3-63, starts and ends alphanumeric). */
const HOST_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const normaliseName = (name: string): string => {
  let n = name.trim().toLowerCase();
  if (n.startsWith('[')) {
    const close = n.indexOf(']');
    return close === -1 ? n : n.slice(0, close + 1);
  }
  const colon = n.indexOf(':');
  if (colon !== -1 && n.indexOf(':', colon + 1) === -1) n = n.slice(0, colon); // "name:port"
  else if (colon !== -1) n = `[${n}]`; // a bare IPv6 address
  if (n.endsWith('.')) n = n.slice(0, -1);
  return n;
};

/** True for IPv4 and bracketed IPv6 literals: no backend reads those as a bucket name. */
export function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || (host.startsWith('[') && host.endsWith(']'));
}

function matchLabels(pattern: readonly string[], hostLabels: readonly string[], offset: number): boolean {
  // pattern and hostLabels are both reversed (TLD first); compare pattern against hostLabels[offset...].
  if (hostLabels.length - offset < pattern.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const h = hostLabels[offset + i]!;
    if (p === '*' ? h.length === 0 : p !== h) return false;
  }
  return true;
}

export class HostRules {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly domains: Pattern[] = [];
  /** Parents of the virtual-host domains: in CNAME mode, a name under one of them is not a CNAME. */
  private readonly parents: string[][] = [];
  readonly cnameBuckets: boolean;
  readonly spec: HostRulesSpec;

  constructor(spec: HostRulesSpec) {
    this.spec = spec;
    this.cnameBuckets = spec.cnameBuckets;
    for (const raw of spec.pathStyleHosts) {
      const n = normaliseName(raw);
      if (n.length === 0) continue;
      if (n.startsWith('*.')) this.suffixes.push(n.slice(1));
      else this.exact.add(n);
    }
    for (const raw of spec.virtualHostDomains) {
      const d = normaliseName(raw);
      if (d.length === 0) continue;
      const labels = d.split('.');
      const rev = [...labels].reverse();
      this.domains.push({ labels: rev });
      if (labels.length >= 3) this.parents.push(rev.slice(0, -1));
      // AWS: with base s3.amazonaws.com also s3.<region>., s3.dualstack.<region>. and s3-<region>.
      const parent = labels.slice(1).join('.');
      if (labels[0] === 's3' && AWS_PARENTS.has(parent)) {
        const p = parent.split('.').reverse();
        this.domains.push({ labels: [...p, '*', 's3'] });
        this.domains.push({ labels: [...p, '*', 'dualstack', 's3'] });
        this.domains.push({ labels: [...p, 's3-*'] });
      }
    }
  }

  /** Path style by name: the listed names and suffixes, and every IP literal. */
  isPathStyleName(host: string): boolean {
    if (this.exact.has(host) || isIpLiteral(host)) return true;
    for (const s of this.suffixes) if (host.length > s.length && host.endsWith(s)) return true;
    return false;
  }

  /**
   * How a host name (lower case, no port, no trailing dot) is read. The longest matching
   * virtual-host base wins; a Host equal to a base is path style on that endpoint.
   */
  read(host: string): HostReading {
    if (host.length === 0 || this.isPathStyleName(host)) return { kind: 'path' };
    const labels = host.split('.').reverse();
    let best: HostReading | null = null;
    let bestLen = -1;
    for (const d of this.domains) {
      const n = d.labels.length;
      if (n <= bestLen) continue;
      const dash = d.labels[n - 1] === 's3-*';
      const fixed = dash ? d.labels.slice(0, -1) : d.labels;
      if (!matchLabels(fixed, labels, 0)) continue;
      if (dash) {
        const l = labels[n - 1];
        if (l === undefined || !l.startsWith('s3-') || l.length === 3) continue;
      }
      if (labels.length === n) {
        best = { kind: 'path' };
        bestLen = n;
      } else {
        const bucket = labels.slice(n).reverse().join('.');
        best = { kind: 'virtual', bucket, domain: labels.slice(0, n).reverse().join('.') };
        bestLen = n;
      }
    }
    if (best !== null) return best;
    if (!this.cnameBuckets) {
      return { kind: 'unknown', reason: `Host "${host}" is neither a path-style name nor under a virtual-host domain of this proxy` };
    }
    for (const p of this.parents) {
      if (matchLabels(p, labels, 0)) {
        return { kind: 'unknown', reason: `Host "${host}" is under the parent of a virtual-host domain but matches none of its forms` };
      }
    }
    if (!HOST_BUCKET.test(host)) return { kind: 'unknown', reason: `Host "${host}" cannot be a bucket name` };
    return { kind: 'cname', bucket: host };
  }
}

/** The loopback names every proxy serves as path style. */
export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];
