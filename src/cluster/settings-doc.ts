// The fleet's audit settings as stored: `<prefix>/settings/current.json` (what is in force) and one
// history object per change, `<prefix>/settings/history/<revision>-<instance>.json` (who changed
// what, when). The receiver token is sealed (AES-256-GCM); every other setting is plain JSON.
import type { WebhookTargetConfig } from '../dispatch/types.js';
import { validateEnableBody } from '../admin/validate.js';
import { AdminHttpError } from '../admin/errors.js';
import { seal, unseal, type ClusterKey, type SealedSecret } from './secrets.js';

export const SETTINGS_FORMAT = 's3ap-cluster-settings/1';

export type SettingsAction = 'enable' | 'disable' | 'batch-config';

/** Who made a change (never a secret). */
export interface ChangedBy {
  instance: string;
  host: string;
  peer: string | null;
  requestId: string | null;
}

export interface SettingsDoc {
  format: typeof SETTINGS_FORMAT;
  revision: number;
  changedAt: string;
  changedBy: ChangedBy;
  action: SettingsAction;
  /** null: disabled. The token is sealed. */
  webhook: (Omit<WebhookTargetConfig, 'authToken'> & { authToken: SealedSecret }) | null;
}

export function settingsKey(prefix: string, name: string): string {
  return prefix ? `${prefix}/settings/${name}` : `settings/${name}`;
}

export function historyName(revision: number, instance: string): string {
  return `history/${String(revision).padStart(12, '0')}-${instance}.json`;
}

export function encodeSettings(key: ClusterKey, webhook: WebhookTargetConfig | null, meta: Omit<SettingsDoc, 'format' | 'webhook'>): SettingsDoc {
  return {
    format: SETTINGS_FORMAT, ...meta,
    webhook: webhook === null ? null : { ...webhook, authToken: seal(key, webhook.authToken) },
  };
}

/** The stored document back as settings, checked like an enable request. Throws with a readable message. */
export function decodeSettings(key: ClusterKey, text: string): { doc: SettingsDoc; webhook: WebhookTargetConfig | null } {
  let doc: SettingsDoc;
  try {
    doc = JSON.parse(text) as SettingsDoc;
  } catch {
    throw new Error('the stored settings are not valid JSON');
  }
  if (!doc || doc.format !== SETTINGS_FORMAT || !Number.isSafeInteger(doc.revision)) throw new Error(`the stored settings are not a ${SETTINGS_FORMAT} document`);
  if (doc.webhook === null) return { doc, webhook: null };
  const token = unseal(key, doc.webhook.authToken);
  try {
    return { doc, webhook: validateEnableBody({ ...doc.webhook, authToken: token }) };
  } catch (err) {
    throw new Error(`the stored settings cannot be used: ${err instanceof AdminHttpError ? err.message : String(err)}`);
  }
}

/** Same settings (the token compared too): a poll that reads back what is in force changes nothing. */
export function sameSettings(a: WebhookTargetConfig | null, b: WebhookTargetConfig | null): boolean {
  if (a === null || b === null) return a === b;
  const norm = (c: WebhookTargetConfig): string => JSON.stringify(Object.entries(c).filter(([, v]) => v !== undefined).sort(([x], [y]) => x.localeCompare(y)));
  return norm(a) === norm(b);
}
