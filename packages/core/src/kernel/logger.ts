import { pino } from 'pino';

/** Structured logger (pino). Secrets are redacted by path before anything is written. */
export type Logger = pino.Logger;

export const redactPaths = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'password',
  '*.password',
  'connectionString',
];

export function createLogger(options: pino.LoggerOptions = {}): Logger {
  return pino({
    name: 'opsgraph',
    level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info'),
    redact: { paths: redactPaths, censor: '[redacted]' },
    ...options,
  });
}
