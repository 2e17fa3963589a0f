// Events on the first run: with the embedded store (no --backend) events also go to
// <data-dir>/audit.jsonl unless --audit-log says otherwise, so that `npm start` and one S3 request
// show an event somewhere. `--audit-log none` turns the file off.
import { join } from 'node:path';
import type { Logger } from '../log.js';

export const AUDIT_LOG_FILE = 'audit.jsonl';
export const AUDIT_LOG_NONE = 'none';

/** The --audit-log file to use: as given, none, or the default for the embedded store. */
export function auditLogSetting(given: string | null, dataDir: string, backend: string | null): string | null {
  if (given === AUDIT_LOG_NONE) return null;
  if (given !== null) return given;
  return backend === null ? join(dataDir, AUDIT_LOG_FILE) : null;
}

/** The start-up line that says where events go and how to watch them. */
export function announceAuditLog(logger: Logger, auditLog: string | null, dataDir: string): void {
  const tail = `s3-audit-proxy tail --data-dir ${dataDir}`;
  if (auditLog === null) {
    logger.info({ watch: tail }, `audit events: watch them live with \`${tail}\` (no local audit log: --audit-log <file> writes one)`);
    return;
  }
  logger.info({ auditLog, watch: tail },
    `audit events are written to ${auditLog}: follow them with \`tail -f ${auditLog}\` or \`${tail}\` (--audit-log none turns the file off)`);
}
