// Opening the cluster store at start-up: read before the S3 port opens (not ready until then), or
// with --cluster-start-without-store the settings last saved in --data-dir while it cannot be.
import type { WebhookTargetConfig } from '../dispatch/types.js';
import { EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY } from '../proxy/embedded-store.js';
import { loadWebhook, restorePersistedWebhook } from '../admin/persisted-webhook.js';
import { readClusterCredentials, readClusterKey } from './secrets.js';
import { StoreClient, StoreError } from './store-client.js';
import { ClusterSync, type ClusterOptions } from './sync.js';

const START_RETRY_MAX_MS = 5000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Opens the store and applies its settings before the S3 port opens. While it cannot be read this
 * waits (not ready), retrying, unless --cluster-start-without-store: then the settings last saved in
 * --data-dir are used and the poll keeps trying.
 */
export async function openCluster(o: ClusterOptions): Promise<ClusterSync> {
  const { config, logger } = o;
  const key = readClusterKey(config.clusterKeyFile!);
  const credentials = config.clusterCredentialsFile ? readClusterCredentials(config.clusterCredentialsFile) : { accessKeyId: EMBEDDED_ACCESS_KEY, secretAccessKey: EMBEDDED_SECRET_KEY };
  const client = new StoreClient({ origin: o.backend, bucket: config.clusterStore!.bucket, credentials });
  const sync = new ClusterSync(o, client, key);
  logger.info({ store: sync.storeUrl(), instance: sync.instance }, 'cluster: reading the audit settings from the store');
  for (let attempt = 1; ; attempt++) {
    try {
      await client.ensureBucket();
      await sync.exclusive(() => sync.pull());
      if (sync.status().state === 'unusable') throw new StoreError(sync.status().lastError ?? 'unusable settings');
      await adoptLocalSettings(sync, o);
      return sync;
    } catch (err) {
      const message = (err as Error).message;
      if (config.clusterStartWithoutStore) {
        logger.warn({ store: sync.storeUrl(), err: message }, 'cluster: store cannot be read at start; starting with the settings last saved in the data directory (--cluster-start-without-store)');
        await restorePersistedWebhook(config.dataDir, o.control, logger);
        sync.failed('unreachable', message);
        return sync;
      }
      if (attempt === 1 || attempt % 10 === 0) {
        logger.error({ store: sync.storeUrl(), err: message, attempt }, 'cluster: store cannot be read at start: not ready, the S3 port stays closed until it can (--cluster-start-without-store opens it anyway)');
      }
      await sleep(Math.min(START_RETRY_MAX_MS, 250 * attempt));
    }
  }
}

/**
 * A store that has never held settings, on a replica that has a webhook saved in its data
 * directory (single-replica settings before cluster mode): that webhook becomes the fleet's.
 */
async function adoptLocalSettings(sync: ClusterSync, o: ClusterOptions): Promise<void> {
  if (sync.status().revision !== 0) return;
  let local: WebhookTargetConfig | null = null;
  try { local = await loadWebhook(o.config.dataDir); } catch { return; }
  if (!local) return;
  await sync.exclusive(async () => {
    await o.control.setWebhook(local);
    await sync.publish(local, 'enable', { peer: null, requestId: null });
  });
  o.logger.info({ store: sync.storeUrl(), endpoint: local.endpoint }, 'cluster: the store held no settings; the webhook saved in the data directory is now the fleet\'s');
}
