import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, scrubSecrets } from './logger.js';

const SECRET = `og_${'A1b2C3d4E5'.repeat(4)}xyz`; // the shape of an API token secret: og_ + 43 characters

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'trace' }, stream) };
}

describe('logger', () => {
  it('writes to the destination it is given', () => {
    const { lines, logger } = capture();
    logger.info({ requestId: 'r1' }, 'hello');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ name: 'opsgraph', msg: 'hello', requestId: 'r1' });
  });

  it('redacts credential keys at the top and two levels down, headers and connection params included', () => {
    const { lines, logger } = capture();
    logger.error(
      {
        err: Object.assign(new Error('upstream refused'), {
          headers: { authorization: 'Basic dXNlcjpwYXNz', cookie: 'session=abc' },
        }),
        req: { headers: { authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': 'k-123' } },
        params: { connectionParams: { token: 'plain-token-value' } },
        result: { createApiToken: { secret: 'plain-secret-value' } },
        password: 'hunter2',
      },
      'something failed',
    );
    const line = lines.join('');
    for (const leaked of [
      'dXNlcjpwYXNz',
      'session=abc',
      'k-123',
      'plain-token-value',
      'plain-secret-value',
      'hunter2',
    ]) {
      expect(line).not.toContain(leaked);
    }
    expect(line).toContain('[redacted]');
    expect(line).toContain('upstream refused');
  });

  it('scrubs token secrets and bearer credentials from messages and unexpected keys', () => {
    const { lines, logger } = capture();
    logger.warn(
      { detail: `header was "Bearer ${SECRET}"`, other: { deep: { deeper: SECRET } } },
      `got ${SECRET}`,
    );
    logger.warn('send an API token (Authorization: Bearer <token>)');
    const text = lines.join('');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(SECRET.slice(3));
    expect(text).toContain('og_[redacted]');
    // Placeholders in advice stay readable.
    expect(text).toContain('Bearer <token>');
    expect(scrubSecrets('catalog_entries_for_the_service_map')).toBe('catalog_entries_for_the_service_map');
    expect(scrubSecrets('Authorization: Bearer abc.def.ghi')).toBe('Authorization: Bearer [redacted]');
  });
});
