// One pino logger for the process. Secrets never reach it: callers log ids and names, not headers,
// and the redact list below is a second line of defence.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { escapeLineSeparators } from './json-text.js';

export type { Logger };

export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'authToken',
  '*.authToken',
  'adminToken',
  '*.adminToken',
  'token',
  '*.token',
  'secret',
  '*.secret',
];

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { name: 's3-audit-proxy', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      // One record, one line: U+2028/U+2029/U+0085 (e.g. from an object key) escaped like in events.
      hooks: { streamWrite: escapeLineSeparators },
    },
    destination as pino.DestinationStream | undefined,
  );
}
