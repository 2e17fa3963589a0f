// Where an admin change to the webhook is kept: the data directory (one replica), or the cluster
// store (--cluster-store: the whole fleet follows it). The routes apply a change live, then hand it
// here; when keeping it fails they put the previous setting back.
import type { WebhookTargetConfig } from '../dispatch/types.js';
import type { ClusterSync, Requester } from '../cluster/sync.js';
import type { SettingsAction } from '../cluster/settings-doc.js';
import { clearWebhook, saveWebhook, webhookFilePath } from './persisted-webhook.js';

export interface SettingsPersistence {
  /** For messages: the file, or the store's s3:// URL. */
  where: string;
  /** Runs one change (apply, then keep) while the store's own updates wait. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  save(cfg: WebhookTargetConfig, action: Exclude<SettingsAction, 'disable'>, who: Requester): Promise<void>;
  clear(who: Requester): Promise<void>;
}

export function dataDirPersistence(dataDir: string): SettingsPersistence {
  return {
    where: webhookFilePath(dataDir),
    exclusive: (fn) => fn(),
    save: async (cfg) => { await saveWebhook(dataDir, cfg); },
    clear: () => clearWebhook(dataDir),
  };
}

export function clusterPersistence(sync: ClusterSync): SettingsPersistence {
  return {
    where: `the cluster store ${sync.storeUrl()}`,
    exclusive: (fn) => sync.exclusive(fn),
    save: (cfg, action, who) => sync.publish(cfg, action, who),
    clear: (who) => sync.publish(null, 'disable', who),
  };
}
