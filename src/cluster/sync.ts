// Cluster mode (--cluster-store): the fleet's audit settings live in the S3 backend, and every replica
// follows them. At start the store is read before the S3 port opens (or, with
// --cluster-start-without-store, the settings last saved in --data-dir are used until it can be).
// Then a poll (a GET with If-None-Match: cheap, 304 while nothing changed) applies every change
// within --cluster-poll-interval, and a heartbeat object tells the others this replica is alive.
// A store that fails mid-run keeps the last known settings in force, and says so (show, logs, metrics).
import { randomBytes } from 'node:crypto';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log.js';
import type { AuditControl, TargetStatus, WebhookTargetConfig } from '../dispatch/types.js';
import { clearWebhook, saveWebhook } from '../admin/persisted-webhook.js';
import { scrub } from '../admin/redact.js';
import type { ClusterKey } from './secrets.js';
import { StoreClient } from './store-client.js';
import { counterFn, gauge, Registry } from '../dispatch/metrics.js';
import { decodeSettings, encodeSettings, historyName, sameSettings, settingsKey, type ChangedBy, type SettingsAction } from './settings-doc.js';
import { instanceName, memberPrefix, memberState, MEMBER_FORMAT, parseHeartbeat, proxyVersion, STALE_AFTER_MS, type Heartbeat, type Member } from './members.js';

export interface ClusterOptions {
  config: ServeConfig;
  logger: Logger;
  /** The control settings are applied to (the front's: with --workers it also tells the workers). */
  control: AuditControl;
  hostName: string;
  /** Origin of the backend (or the embedded store) holding the store's bucket. */
  backend: string;
  status(): TargetStatus;
}

/** What show, /metrics and the logs say about the store. */
export interface ClusterStatus {
  store: string;
  instance: string;
  /** ok: read at the last poll; unreachable: the last poll failed and the last known settings stay in force. */
  state: 'ok' | 'unreachable' | 'unusable';
  lastError: string | null;
  lastReadAt: string | null;
  /** Since when the store has been failing (null while ok). */
  failingSince: string | null;
  revision: number;
  changedAt: string | null;
  changedBy: ChangedBy | null;
  action: SettingsAction | null;
  pollIntervalMs: number;
  heartbeatIntervalMs: number;
}

/** Who asked for a change through the admin API. */
export interface Requester {
  peer: string | null;
  requestId: string | null;
}

/** Cleanup of stale heartbeats runs every this many heartbeats (about once a minute at the default). */
const CLEANUP_EVERY = 12;
const MEMBERS_CACHE_MS = 2000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ClusterSync {
  readonly instance: string;
  private readonly startedAt = new Date().toISOString();
  private readonly prefix: string;
  private readonly currentKey: string;
  private etag: string | null = null;
  private revision = 0;
  private changedAt: string | null = null;
  private changedBy: ChangedBy | null = null;
  private action: SettingsAction | null = null;
  private state: ClusterStatus['state'] = 'ok';
  private lastError: string | null = null;
  private lastReadAt: string | null = null;
  private failingSince: string | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private pollTimer: NodeJS.Timeout | null = null;
  private beatTimer: NodeJS.Timeout | null = null;
  private beats = 0;
  private stopped = false;
  /** Off once the backend has shown it does not evaluate If-Match / If-None-Match on PUT correctly. */
  private conditionalWrites = true;
  private membersCache: { at: number; list: Promise<Member[]> } | null = null;
  /** Counters for /metrics. */
  private applied = 0;
  private pollFailures = 0;
  private lastPropagationMs: number | null = null;

  constructor(private readonly o: ClusterOptions, private readonly client: StoreClient, private readonly key: ClusterKey) {
    const s = o.config.clusterStore!;
    this.prefix = s.prefix;
    this.currentKey = settingsKey(s.prefix, 'current.json');
    this.instance = instanceName(o.hostName, randomBytes(4).toString('hex'));
  }

  private get log(): Logger { return this.o.logger; }

  /** One at a time: admin changes and the poll's updates never interleave. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  storeUrl(): string {
    return `s3://${this.client.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  /** Reads the store; applies the settings when they changed. Throws when the store cannot be read. */
  async pull(): Promise<void> {
    const r = await this.client.get(this.currentKey, this.etag);
    if (r.status === 304) return this.readOk();
    // Nothing written yet (or removed by hand): the settings in force stay.
    if (r.status === 404) return this.readOk();
    StoreClient.expect(r, `GET ${this.currentKey}`, 200);
    let decoded;
    try {
      decoded = decodeSettings(this.key, r.body.toString('utf8'));
    } catch (err) {
      this.failed('unusable', (err as Error).message);
      return;
    }
    const { doc, webhook } = decoded;
    this.readOk();
    const before = this.o.control.webhookConfig();
    this.etag = r.etag;
    if (doc.revision === this.revision && sameSettings(before, webhook)) return;
    if (!sameSettings(before, webhook)) {
      try {
        await this.o.control.setWebhook(webhook);
      } catch (err) {
        this.log.error({ store: this.storeUrl(), revision: doc.revision, err: scrub((err as Error).message, webhook?.authToken) }, 'cluster: the stored audit settings cannot be applied here; the previous ones stay');
        return;
      }
      await this.saveLocal(webhook);
      this.applied++;
      if (doc.changedBy.instance !== this.instance) this.lastPropagationMs = Math.max(0, Date.now() - Date.parse(doc.changedAt));
      this.log.info({
        store: this.storeUrl(), revision: doc.revision, action: doc.action, changedAt: doc.changedAt, changedBy: doc.changedBy,
        enabled: webhook !== null, endpoint: webhook?.endpoint ?? null, propagationMs: this.lastPropagationMs,
      }, 'cluster: audit settings applied from the store');
    }
    this.revision = doc.revision;
    this.changedAt = doc.changedAt;
    this.changedBy = doc.changedBy;
    this.action = doc.action;
  }

  /** Writes a change made through this replica's admin API: history object, then current.json. */
  async publish(webhook: WebhookTargetConfig | null, action: SettingsAction, who: Requester): Promise<void> {
    // Read what is there now: the new revision follows it (last writer wins; with conditional
    // writes where the backend honours them, a writer that raced another tries again on top of it).
    for (let attempt = 1; ; attempt++) {
      const cur = await this.client.get(this.currentKey);
      StoreClient.expect(cur, `GET ${this.currentKey}`, 200, 404);
      let base = this.revision;
      if (cur.status === 200) {
        try { base = Math.max(base, (JSON.parse(cur.body.toString('utf8')) as { revision?: number }).revision ?? 0); } catch { /* overwritten below */ }
      }
      const changedBy: ChangedBy = { instance: this.instance, host: this.o.hostName, peer: who.peer, requestId: who.requestId };
      const doc = encodeSettings(this.key, webhook, { revision: base + 1, changedAt: new Date().toISOString(), changedBy, action });
      StoreClient.expect(await this.client.put(settingsKey(this.prefix, historyName(doc.revision, this.instance)), doc), 'write settings history', 200);
      const conditions = !this.conditionalWrites ? {} : cur.status === 200 && cur.etag ? { ifMatch: cur.etag } : { ifNoneMatch: '*' };
      const put = await this.client.put(this.currentKey, doc, conditions);
      if ((put.status === 412 || put.status === 409) && attempt < 3) {
        // Another writer won the race, or the backend refuses a condition that holds (Ceph RGW
        // 16.2 answers 412 to If-Match with the ETag it just served): tell the two apart.
        const again = await this.client.get(this.currentKey);
        if (again.status === cur.status && again.etag === cur.etag) {
          this.conditionalWrites = false;
          this.log.warn({ store: this.storeUrl(), status: put.status }, 'cluster: the store refuses conditional writes whose condition holds; writing without them (last writer wins)');
        }
        continue;
      }
      StoreClient.expect(put, `PUT ${this.currentKey}`, 200);
      this.etag = put.etag;
      this.revision = doc.revision;
      this.changedAt = doc.changedAt;
      this.changedBy = changedBy;
      this.action = action;
      this.readOk();
      await this.saveLocal(webhook);
      return;
    }
  }

  private async saveLocal(webhook: WebhookTargetConfig | null): Promise<void> {
    // The fallback of --cluster-start-without-store (local disk, mode 0600, as without a store).
    try {
      if (webhook) await saveWebhook(this.o.config.dataDir, webhook);
      else await clearWebhook(this.o.config.dataDir);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cluster: could not keep a local copy of the audit settings');
    }
  }

  private readOk(): void {
    if (this.state !== 'ok') this.log.info({ store: this.storeUrl(), failingSince: this.failingSince }, 'cluster: store readable again');
    this.state = 'ok';
    this.lastError = null;
    this.failingSince = null;
    this.lastReadAt = new Date().toISOString();
  }

  failed(state: 'unreachable' | 'unusable', message: string): void {
    this.pollFailures++;
    if (this.state === 'ok' || this.lastError !== message) {
      this.log.error({ store: this.storeUrl(), err: message, revision: this.revision, enabled: this.o.control.webhookConfig() !== null },
        'cluster: store cannot be read; the last known audit settings stay in force');
    }
    if (this.state === 'ok') this.failingSince = new Date().toISOString();
    this.state = state;
    this.lastError = message;
  }

  heartbeat(stopped = false): Heartbeat {
    const st = this.o.status();
    const token = this.o.control.webhookConfig()?.authToken;
    return {
      format: MEMBER_FORMAT, instance: this.instance, host: this.o.hostName, version: proxyVersion(),
      startedAt: this.startedAt, heartbeatAt: new Date().toISOString(), stopped, revision: this.revision,
      delivery: st.state, queued: st.queued, spooled: st.spooled, dropped: st.dropped,
      lastError: st.lastError === null ? null : scrub(st.lastError, token).slice(0, 500),
      store: this.state === 'ok' ? 'ok' : `${this.state}: ${this.lastError ?? ''}`.slice(0, 300),
    };
  }

  private async beat(stopped = false): Promise<void> {
    const key = `${memberPrefix(this.prefix)}${this.instance}.json`;
    StoreClient.expect(await this.client.put(key, this.heartbeat(stopped)), `PUT ${key}`, 200);
    if (!stopped && ++this.beats % CLEANUP_EVERY === 1) await this.removeStale();
  }

  /**
   * Every member's last heartbeat, with its state seen from here. Listed at most once per
   * MEMBERS_CACHE_MS however often show or a status page asks (one LIST and a GET per member).
   */
  members(): Promise<Member[]> {
    const now = Date.now();
    if (this.membersCache && now - this.membersCache.at < MEMBERS_CACHE_MS) return this.membersCache.list;
    // One more try on a failure: a slow store answer should not blank the members table.
    const list = this.listMembers().catch(() => this.listMembers());
    this.membersCache = { at: now, list };
    list.catch(() => { this.membersCache = null; });
    return list;
  }

  private async listMembers(): Promise<Member[]> {
    const keys = await this.client.list(memberPrefix(this.prefix));
    const now = Date.now();
    const out: Member[] = [];
    await Promise.all(keys.map(async ({ key }) => {
      const r = await this.client.get(key);
      if (r.status !== 200) return;
      const hb = parseHeartbeat(r.body.toString('utf8'));
      if (hb) out.push(memberState(hb, now));
    }));
    return out.sort((a, b) => a.host.localeCompare(b.host) || a.startedAt.localeCompare(b.startedAt));
  }

  private async removeStale(): Promise<void> {
    const now = Date.now();
    for (const m of await this.listMembers()) {
      if (now - Date.parse(m.heartbeatAt) > STALE_AFTER_MS) {
        await this.client.delete(`${memberPrefix(this.prefix)}${m.instance}.json`);
        this.log.info({ instance: m.instance, host: m.host, heartbeatAt: m.heartbeatAt }, 'cluster: removed the heartbeat of a member silent for a day');
      }
    }
  }

  status(): ClusterStatus {
    return {
      store: this.storeUrl(), instance: this.instance, state: this.state, lastError: this.lastError, lastReadAt: this.lastReadAt,
      failingSince: this.failingSince, revision: this.revision, changedAt: this.changedAt, changedBy: this.changedBy, action: this.action,
      pollIntervalMs: this.o.config.clusterPollIntervalMs, heartbeatIntervalMs: this.o.config.clusterHeartbeatIntervalMs,
    };
  }

  /** The store's state for /metrics, read at scrape time. */
  readonly metricsRegistry = (() => {
    const r = new Registry();
    gauge(r, 's3ap_cluster_store_up', '1 when the last read of the cluster store succeeded; 0: the last known settings stay in force.', () => (this.state === 'ok' ? 1 : 0));
    gauge(r, 's3ap_cluster_settings_revision', 'Revision of the cluster audit settings in force here.', () => this.revision);
    counterFn(r, 's3ap_cluster_settings_applied_total', 'Settings changes read from the store and applied.', () => this.applied);
    counterFn(r, 's3ap_cluster_store_failures_total', 'Polls of the cluster store that failed.', () => this.pollFailures);
    counterFn(r, 's3ap_cluster_store_requests_total', 'Requests this replica sent to the cluster store.', () => this.client.requests);
    gauge(r, 's3ap_cluster_propagation_seconds', 'Time from a change written by another replica to its application here (last change; NaN before one).',
      () => (this.lastPropagationMs === null ? NaN : this.lastPropagationMs / 1000));
    return r;
  })();

  /** Polls and heartbeats from now on (after the S3 and admin listeners are up). */
  startLoops(): void {
    const poll = (): void => {
      this.pollTimer = setTimeout(() => {
        void this.exclusive(() => this.pull()).catch((err: unknown) => this.failed('unreachable', (err as Error).message)).finally(() => { if (!this.stopped) poll(); });
      }, this.o.config.clusterPollIntervalMs);
      this.pollTimer.unref();
    };
    const beat = (): void => {
      this.beatTimer = setTimeout(() => {
        void this.beat().catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'cluster: heartbeat not written')).finally(() => { if (!this.stopped) beat(); });
      }, this.o.config.clusterHeartbeatIntervalMs);
      this.beatTimer.unref();
    };
    poll();
    void this.beat().catch(() => {});
    beat();
  }

  /** Stops the loops; the last heartbeat says "stopped" (best effort, bounded). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.beatTimer) clearTimeout(this.beatTimer);
    await Promise.race([this.beat(true).catch(() => {}), sleep(2000)]);
    await this.client.close().catch(() => {});
  }
}
