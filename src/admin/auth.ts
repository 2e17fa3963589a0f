// The admin API's bearer token: where it comes from, and the check on every protected request.
//
//   --admin-token / S3AP_ADMIN_TOKEN    used as given
//   --admin-token-file F                first line of F
//   neither                             <dataDir>/admin-token, generated on first start (32 random bytes,
//                                       base64url, mode 0600) and reused afterwards
//
// The token itself is never logged: only where it was read from.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../fs-atomic.js';

export const ADMIN_TOKEN_FILE = 'admin-token';
/** Shorter tokens work but draw a warning at start-up. */
export const MIN_TOKEN_LENGTH = 16;

export type AdminTokenSource = 'option' | 'file' | 'generated' | 'data-dir';

export interface AdminToken {
  value: string;
  source: AdminTokenSource;
  /** File the token was read from or written to (null for --admin-token). */
  file: string | null;
}

export function generatedTokenPath(dataDir: string): string {
  return join(dataDir, ADMIN_TOKEN_FILE);
}

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** First non-empty line of a token file, trimmed. */
export function parseTokenFile(text: string): string {
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t) return t;
  }
  return '';
}

export async function loadAdminToken(
  opts: { adminToken: string | null; adminTokenFile: string | null; dataDir: string },
  logger: Logger,
): Promise<AdminToken> {
  let tok: AdminToken;
  if (opts.adminToken) {
    tok = { value: opts.adminToken.trim(), source: 'option', file: null };
    if (!tok.value) throw new ConfigError('--admin-token', 'must not be empty');
    logger.info('admin API token: from --admin-token / S3AP_ADMIN_TOKEN');
  } else if (opts.adminTokenFile) {
    let text: string;
    try {
      text = await readFile(opts.adminTokenFile, 'utf8');
    } catch (err) {
      throw new ConfigError('--admin-token-file', `cannot read ${opts.adminTokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const value = parseTokenFile(text);
    if (!value) throw new ConfigError('--admin-token-file', `${opts.adminTokenFile} holds no token`);
    tok = { value, source: 'file', file: opts.adminTokenFile };
    logger.info({ tokenFile: opts.adminTokenFile }, 'admin API token: read from --admin-token-file');
  } else {
    const file = generatedTokenPath(opts.dataDir);
    let existing = '';
    try {
      existing = parseTokenFile(await readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(file, `cannot read the admin token file: ${(err as Error).message}`);
    }
    if (existing) {
      const st = await stat(file);
      if ((st.mode & 0o077) !== 0) {
        await chmod(file, 0o600);
        logger.warn({ tokenFile: file, mode: (st.mode & 0o777).toString(8) }, 'admin API token file was readable by others: set its mode to 0600');
      }
      tok = { value: existing, source: 'data-dir', file };
      logger.info({ tokenFile: file }, 'admin API token: read from the data directory (the CLI finds it with --data-dir)');
    } else {
      const value = generateToken();
      await writeFileAtomic(file, `${value}\n`, 0o600);
      tok = { value, source: 'generated', file };
      logger.info({ tokenFile: file }, 'admin API token generated (mode 0600); the CLI reads it with --data-dir, or pass it as S3AP_ADMIN_TOKEN');
    }
  }
  if (tok.value.length < MIN_TOKEN_LENGTH) {
    logger.warn({ length: tok.value.length, minimum: MIN_TOKEN_LENGTH }, 'admin API token is short: use at least 16 random characters');
  }
  return tok;
}

export type AuthResult = 'ok' | 'missing' | 'invalid';

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Checks `Authorization: Bearer <token>` in constant time (hashes of equal length are compared). */
export class AdminAuth {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = sha256(token);
  }

  check(header: string | string[] | undefined): AuthResult {
    if (header === undefined || Array.isArray(header)) return header === undefined ? 'missing' : 'invalid';
    const m = /^\s*Bearer\s+(.*\S)\s*$/i.exec(header);
    if (!m) return header.trim() === '' ? 'missing' : 'invalid';
    return timingSafeEqual(sha256(m[1]!), this.expected) ? 'ok' : 'invalid';
  }
}

/** Logs refused requests, at most `burst` lines per window, then one summary line. */
export class AuthFailureLog {
  private windowStart = 0;
  private count = 0;
  private suppressed = 0;

  constructor(private readonly logger: Logger, private readonly burst = 20, private readonly windowMs = 10_000) {}

  refused(info: { peer: string; method: string; path: string; reason: AuthResult; requestId: string }): void {
    const now = Date.now();
    if (now - this.windowStart > this.windowMs) {
      if (this.suppressed > 0) this.logger.warn({ suppressed: this.suppressed }, 'admin API: more requests were refused (not logged one by one)');
      this.windowStart = now;
      this.count = 0;
      this.suppressed = 0;
    }
    if (++this.count > this.burst) {
      this.suppressed++;
      return;
    }
    this.logger.warn(
      { peer: info.peer, method: info.method, path: info.path, reason: info.reason === 'missing' ? 'no bearer token' : 'wrong token', reqId: info.requestId },
      'admin API: request refused (401)',
    );
  }
}
