// The proxy's names, from serve's settings: which Host values are path style (the listed ones, the
// listener's name, the loopback names, this machine's host name; every IP literal is path style
// anyway), which are virtual-hosted, and whether an unknown Host is a CNAME bucket.
import { hostname } from 'node:os';
import type { ServeConfig } from '../config/serve-config.js';
import { HostRules, LOOPBACK_NAMES, type InterpretPolicy } from '../s3/index.js';

type HostConfig = Pick<ServeConfig, 'listen' | 'pathStyleHosts' | 'virtualHostDomains' | 'hostBucketCname'>;

/** The names read as path style: the built-in ones plus --path-style-host. */
export function pathStyleHosts(cfg: HostConfig, machine: string = hostname()): string[] {
  const names = [...LOOPBACK_NAMES, machine.toLowerCase(), ...cfg.pathStyleHosts];
  const listen = cfg.listen.host;
  if (listen !== '0.0.0.0' && listen !== '::' && listen.length > 0) names.push(listen.includes(':') ? `[${listen}]` : listen);
  return [...new Set(names.map((n) => n.toLowerCase()))];
}

export function hostRulesFromConfig(cfg: HostConfig): HostRules {
  return new HostRules({
    pathStyleHosts: pathStyleHosts(cfg), virtualHostDomains: cfg.virtualHostDomains, cnameBuckets: cfg.hostBucketCname,
  });
}

export function interpretPolicyFromConfig(cfg: HostConfig & Pick<ServeConfig, 'literalPaths'>): InterpretPolicy {
  return { hostRules: hostRulesFromConfig(cfg), literalPaths: cfg.literalPaths };
}
