// The enabled webhook, kept on disk so a restart keeps auditing where the admin left it.
//
//   <dataDir>/audit-webhook.json   {"version": 1, "savedAt": "...", "config": {WebhookTargetConfig}}
//
// Written atomically (temporary file, fsync, rename, directory fsync) with mode 0600: it holds the
// webhook token. Disabling removes the file. At start-up the file is read, validated like an enable
// request, and applied before the S3 listener opens, so the first requests are audited too.
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { AuditControl, WebhookTargetConfig } from '../dispatch/types.js';
import { removeFileDurable, writeFileAtomic } from '../fs-atomic.js';
import { validateEnableBody } from './validate.js';
import { AdminHttpError } from './errors.js';

export const WEBHOOK_FILE = 'audit-webhook.json';
export const PERSIST_VERSION = 1;

export function webhookFilePath(dataDir: string): string {
  return join(dataDir, WEBHOOK_FILE);
}

export async function saveWebhook(dataDir: string, config: WebhookTargetConfig): Promise<string> {
  const path = webhookFilePath(dataDir);
  const doc = { version: PERSIST_VERSION, savedAt: new Date().toISOString(), config };
  await writeFileAtomic(path, `${JSON.stringify(doc, null, 2)}\n`, 0o600);
  return path;
}

export async function clearWebhook(dataDir: string): Promise<void> {
  await removeFileDurable(webhookFilePath(dataDir));
}

/** The saved config, or null when none is saved. Throws with a readable message when the file is bad. */
export async function loadWebhook(dataDir: string): Promise<WebhookTargetConfig | null> {
  const path = webhookFilePath(dataDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON`);
  }
  const d = doc as { version?: unknown; config?: unknown } | null;
  if (d === null || typeof d !== 'object' || d.version !== PERSIST_VERSION) throw new Error(`${path}: expected {"version": ${PERSIST_VERSION}, "config": {...}}`);
  try {
    return validateEnableBody(d.config);
  } catch (err) {
    throw new Error(`${path}: ${err instanceof AdminHttpError ? err.message : String(err)}`);
  }
}

/**
 * Applies the saved webhook (if any) to the dispatcher. Never throws: a file that cannot be used is
 * reported at error level and auditing starts disabled (S3 traffic is never held up by it).
 */
export async function restorePersistedWebhook(dataDir: string, control: AuditControl, logger: Logger): Promise<WebhookTargetConfig | null> {
  const path = webhookFilePath(dataDir);
  let config: WebhookTargetConfig | null;
  try {
    config = await loadWebhook(dataDir);
  } catch (err) {
    logger.error({ file: path, err: (err as Error).message }, 'saved audit webhook cannot be used: auditing to the webhook stays disabled until it is enabled again');
    return null;
  }
  if (!config) return null;
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) {
      await chmod(path, 0o600);
      logger.warn({ file: path }, 'saved audit webhook file was readable by others (it holds the token): set its mode to 0600');
    }
  } catch { /* best effort */ }
  try {
    await control.setWebhook(config);
  } catch (err) {
    logger.error({ file: path, endpoint: config.endpoint, err: (err as Error).message }, 'saved audit webhook could not be enabled: auditing to the webhook stays disabled until it is enabled again');
    return null;
  }
  logger.info({ file: path, endpoint: config.endpoint }, 'audit webhook restored from the data directory');
  return config;
}
