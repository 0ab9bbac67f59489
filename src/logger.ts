// The one pino logger, created at the composition root and passed down; secrets never reach a log line.
import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino blanks out wherever they appear in a log object. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  '*.*.headers.authorization',
  'bearerToken',
  '*.bearerToken',
];

const CREDENTIALS_IN_URL = /(\b[a-z][a-z0-9+.-]*:\/\/)([^/@\s:]+)(?::[^/@\s]*)?@/gi;

/** A URL or free text with any user:password@ or token@ part of a URL removed. */
export function stripCredentials(text: string): string {
  return text.replace(CREDENTIALS_IN_URL, '$1***@');
}

export interface LoggerOptions {
  level?: string;
  /** where JSON lines go; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'promoter' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? process.stdout,
  );
}

/** A logger that drops everything; for tests and for pure-output commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
