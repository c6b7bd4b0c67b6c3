import { createTestDatabase } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from './client.js';
import { type Replicas, startReplicas } from './replicas.js';

// PGlite is one process: two replicas need the test PostgreSQL.
describe('multi-replica example on the test PostgreSQL', () => {
  let started: Replicas | undefined;
  beforeAll(async () => {
    started = await startReplicas({ databaseUrl: await createTestDatabase(), ports: [0, 0] });
  }, 120_000);
  afterAll(() => started?.stop());

  it('a subscriber on replica A receives, in order, every event ingested on replica B', async () => {
    const [a, b] = started!.replicas;
    expect(a!.url).not.toBe(b!.url);
    const lines: string[] = [];
    const result = await runDemo({
      urlA: a!.url,
      urlB: b!.url,
      token: started!.token,
      events: 50,
      log: (line) => lines.push(line),
    });
    expect(result.ingested).toHaveLength(50);
    expect(result.received).toEqual(result.ingested);
    expect([...result.seqs].sort((x, y) => x - y)).toEqual(result.seqs);
    expect(lines).toEqual([
      `ingested 50 events through ${b!.url}`,
      `received 50 alert changes through ${a!.url}, in order`,
    ]);
  });
});
