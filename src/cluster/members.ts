// Members of the fleet: one heartbeat object per replica, `<prefix>/members/<instance>.json`,
// rewritten every --cluster-heartbeat-interval. A member silent for LOST_AFTER_MS is shown `lost`;
// one silent for STALE_AFTER_MS is removed by whichever replica notices first.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../paths.js';

export const MEMBER_FORMAT = 's3ap-cluster-member/1';
export const LOST_AFTER_MS = 30_000;
export const STALE_AFTER_MS = 24 * 3600_000;

export type MemberState = 'up' | 'lost' | 'stopped';

/** What a replica says about itself (no secret: lastError is scrubbed of the token before). */
export interface Heartbeat {
  format: typeof MEMBER_FORMAT;
  instance: string;
  host: string;
  version: string;
  startedAt: string;
  heartbeatAt: string;
  /** true in the last heartbeat of a replica that stopped cleanly. */
  stopped: boolean;
  /** Settings revision in force here. */
  revision: number;
  /** Delivery state of the webhook target (disabled, healthy, down, ...). */
  delivery: string;
  queued: number;
  spooled: number;
  dropped: number;
  lastError: string | null;
  /** This replica's view of the store: ok, or why it cannot be read. */
  store: string;
}

/** As listed by show: the heartbeat and the member's state seen from here. */
export interface Member extends Heartbeat {
  state: MemberState;
  /** Seconds since its last heartbeat. */
  silentForS: number;
}

export function memberPrefix(prefix: string): string {
  return prefix ? `${prefix}/members/` : 'members/';
}

let version: string | null = null;
export function proxyVersion(): string {
  if (version === null) {
    try {
      version = String((JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

/** Key-safe instance name: the host name (sanitized) and a random suffix, new at every start. */
export function instanceName(hostName: string, random: string): string {
  return `${hostName.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 60)}-${random}`;
}

export function memberState(hb: Heartbeat, nowMs: number): Member {
  const silent = Math.max(0, nowMs - Date.parse(hb.heartbeatAt));
  const state: MemberState = hb.stopped ? 'stopped' : silent > LOST_AFTER_MS ? 'lost' : 'up';
  return { ...hb, state, silentForS: Math.round(silent / 1000) };
}

export function parseHeartbeat(text: string): Heartbeat | null {
  try {
    const hb = JSON.parse(text) as Heartbeat;
    if (hb && hb.format === MEMBER_FORMAT && typeof hb.instance === 'string' && !Number.isNaN(Date.parse(hb.heartbeatAt))) return hb;
  } catch { /* a foreign or torn object: skipped */ }
  return null;
}
