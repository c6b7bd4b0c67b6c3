import { pino } from 'pino';

/** Structured logger (pino). Secrets are redacted by path before anything is written. */
export type Logger = pino.Logger;

/** Credential-bearing keys, at the top and up to two levels down (e.g. `err.headers.authorization`). */
const secretKeys = ['token', 'authorization', 'cookie', 'password', 'secret', 'connectionParams'];

export const redactPaths = [
  ...secretKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]),
  'headers["x-api-key"]',
  '*.headers["x-api-key"]',
  'connectionString',
  '*.connectionString',
];

/**
 * The last line of defence, on each serialised line: a secret that reached a message or an
 * unexpected key (an error quoting a header, say) is still not written. API token secrets
 * (`og_` and 43 characters) and anything after `Bearer ` are replaced.
 */
export function scrubSecrets(line: string): string {
  return line
    .replace(/(?<![A-Za-z0-9_-])og_[A-Za-z0-9_-]{20,}/g, 'og_[redacted]')
    .replace(/(Bearer\s+)(?![[<])[^\s"\\,;]+/gi, '$1[redacted]');
}

/**
 * A pino logger with the redactions above. `destination` defaults to stdout; pass a stream to
 * capture the lines (tests do, to check that no secret is written).
 */
export function createLogger(options: pino.LoggerOptions = {}, destination?: pino.DestinationStream): Logger {
  const settings: pino.LoggerOptions = {
    name: 'opsgraph',
    level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info'),
    redact: { paths: redactPaths, censor: '[redacted]' },
    ...options,
    hooks: { streamWrite: scrubSecrets, ...options.hooks },
  };
  return destination ? pino(settings, destination) : pino(settings);
}
