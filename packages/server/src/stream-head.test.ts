import { systemActor } from '@opsgraph/core';
import { testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const actor = systemActor('test');

describe.each(testBackends())('streamHead on %s', (backend) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ backend });
  });
  afterAll(() => t?.close());

  it('is the newest seq of any kind, for any signed-in caller, and refused to anonymous callers', async () => {
    // cmdb:read only: no activity:read, so activityHead is refused but streamHead is not.
    const before = await t.gql('{ streamHead }', undefined, t.tokens.reader);
    expect(before.body.errors).toBeUndefined();
    expect(before.body.data?.streamHead).toBe(await t.og.activity.latestSeq());
    expect(
      (await t.gql('{ activityHead }', undefined, t.tokens.reader)).body.errors?.[0]?.extensions?.code,
    ).toBe('FORBIDDEN');

    await t.og.cmdb.create({ class: 'linux_server', name: 'head-01' }, { actor });
    await t.og.events.ingest(
      { source: 'test', node: 'head-01', type: 'disk', severity: 'warning' },
      { actor },
    );
    const after = await t.gql('{ streamHead }', undefined, t.tokens.reader);
    const head = await t.og.activity.latestSeq();
    expect(after.body.data?.streamHead).toBe(head);
    expect(head).toBeGreaterThan(before.body.data?.streamHead);

    const anonymous = await t.gql('{ streamHead }');
    expect(anonymous.body.data?.streamHead ?? null).toBeNull();
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(anonymous.body.errors?.[0]?.message).toMatch(/streamHead needs an authenticated caller/);
  });
});
