// The cluster store's secrets: the proxy's own store credentials (--cluster-credentials-file) and the
// AES-256-GCM key (--cluster-key-file, mode 0600 enforced) that seals the receiver's token before
// it is written to the store. Nothing secret is ever written to the store in clear.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.js';

export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface ClusterKey {
  key: Buffer;
  /** First 16 hex digits of SHA-256(key): tells a wrong key from a corrupt token, never the key. */
  keyId: string;
}

/** A sealed secret as stored: AES-256-GCM, base64 fields. */
export interface SealedSecret {
  alg: 'AES-256-GCM';
  keyId: string;
  iv: string;
  tag: string;
  data: string;
}

const FLAG_KEY = '--cluster-key-file';
const FLAG_CREDS = '--cluster-credentials-file';
/** Bound to the ciphertext: a sealed token cannot be moved into another field or format. */
const AAD = Buffer.from('s3ap-cluster/authToken/1');

function readSecretFile(file: string, flag: string): Buffer {
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) throw new ConfigError(flag, `${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 it`);
    return readFileSync(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(flag, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** 32 raw bytes, or 64 hex characters, or base64 of 32 bytes (a trailing newline is allowed). */
export function readClusterKey(file: string): ClusterKey {
  const raw = readSecretFile(file, FLAG_KEY);
  const text = raw.toString('latin1').trim();
  let key: Buffer | null = null;
  if (raw.length === 32) key = raw;
  else if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) key = Buffer.from(text, 'base64');
  if (!key || key.length !== 32) throw new ConfigError(FLAG_KEY, `${file} must hold a 256-bit key: 32 bytes, 64 hex characters or base64 (e.g. \`openssl rand -hex 32 > ${file}\`)`);
  return { key, keyId: createHash('sha256').update(key).digest('hex').slice(0, 16) };
}

export function readClusterCredentials(file: string): StoreCredentials {
  const raw = readSecretFile(file, FLAG_CREDS);
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ConfigError(FLAG_CREDS, `${file} is not valid JSON: expected {"accessKeyId": "...", "secretAccessKey": "..."}`);
  }
  const d = doc as Partial<StoreCredentials> | null;
  if (!d || typeof d.accessKeyId !== 'string' || typeof d.secretAccessKey !== 'string' || !d.accessKeyId || !d.secretAccessKey) {
    throw new ConfigError(FLAG_CREDS, `${file}: expected {"accessKeyId": "...", "secretAccessKey": "..."}`);
  }
  return { accessKeyId: d.accessKeyId, secretAccessKey: d.secretAccessKey };
}

export function seal(key: ClusterKey, secret: string): SealedSecret {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key.key, iv);
  c.setAAD(AAD);
  const data = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
  return { alg: 'AES-256-GCM', keyId: key.keyId, iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), data: data.toString('base64') };
}

export class SealError extends Error {}

export function unseal(key: ClusterKey, s: SealedSecret): string {
  if (!s || s.alg !== 'AES-256-GCM' || typeof s.iv !== 'string' || typeof s.tag !== 'string' || typeof s.data !== 'string') throw new SealError('the stored token is not an AES-256-GCM sealed value');
  if (s.keyId !== key.keyId) throw new SealError(`the stored token was sealed with another key (key id ${String(s.keyId)}, this replica's ${key.keyId}): every replica needs the same --cluster-key-file`);
  try {
    const d = createDecipheriv('aes-256-gcm', key.key, Buffer.from(s.iv, 'base64'));
    d.setAAD(AAD);
    d.setAuthTag(Buffer.from(s.tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(s.data, 'base64')), d.final()]).toString('utf8');
  } catch {
    throw new SealError('the stored token does not authenticate under this key (altered or corrupt)');
  }
}
