import { type OpsGraph, systemActor } from '@opsgraph/core';
import {
  createTestOpsGraph,
  createTestReplicas,
  type TestOpsGraph,
  testBackends,
} from '@opsgraph/core/testing';
import { createPubSub } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActivityEventDetail, createActivityEventTarget } from './event-target.js';

const actor = systemActor('test');

/** The next `count` details a pub/sub subscription yields. */
async function take(
  iterator: AsyncIterable<ActivityEventDetail | null>,
  count: number,
): Promise<ActivityEventDetail[]> {
  const taken: ActivityEventDetail[] = [];
  for await (const detail of iterator) {
    if (detail) taken.push(detail);
    if (taken.length === count) break;
  }
  return taken;
}

type Topics = { 'ci.created': [ActivityEventDetail]; 'ci.updated': [string, ActivityEventDetail] };

describe.each(testBackends())('activity event target on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

  it("feeds Yoga's pub/sub with committed events by type, and by type and subject id", async () => {
    const target = createActivityEventTarget(og);
    const pubsub = createPubSub<Topics>({ eventTarget: target });
    const created = take(pubsub.subscribe('ci.created'), 2);
    await target.ready;
    const web = await og.cmdb.create({ class: 'server', name: 'web-01' }, { actor });
    const db = await og.cmdb.create({ class: 'server', name: 'db-01' }, { actor });
    const updates = take(pubsub.subscribe('ci.updated', db.id), 1);
    await og.cmdb.update(web.id, { version: web.version, tags: ['not-this-one'] }, { actor });
    await og.cmdb.update(db.id, { version: db.version, tags: ['this-one'] }, { actor });
    const events = await og.activity.list({ after: (await created)[0]!.seq - 1 });
    const seqOf = (type: string, id: string) =>
      events.find((e) => e.type === type && e.subject?.id === id)!.seq;
    expect(await created).toEqual([
      { seq: seqOf('ci.created', web.id), type: 'ci.created', subject: { type: 'ci', id: web.id } },
      { seq: seqOf('ci.created', db.id), type: 'ci.created', subject: { type: 'ci', id: db.id } },
    ]);
    expect(await updates).toEqual([
      { seq: seqOf('ci.updated', db.id), type: 'ci.updated', subject: { type: 'ci', id: db.id } },
    ]);
    // Only commits travel: publishing directly is refused, naming what to do instead.
    expect(() => pubsub.publish('ci.created', { seq: 0, type: 'ci.created', subject: null })).toThrow(
      /committed domain events only.*scope\.emit/,
    );
    target.close();
  });
});

describe('activity event target across replicas (postgres)', () => {
  const enabled = testBackends().includes('postgres');
  let a: OpsGraph;
  let b: OpsGraph;
  beforeAll(async () => {
    if (!enabled) return;
    [a, b] = await createTestReplicas();
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it.runIf(enabled)('delivers a commit on replica B to a pub/sub subscriber on replica A', async () => {
    const target = createActivityEventTarget(a);
    const pubsub = createPubSub<Topics>({ eventTarget: target });
    const created = take(pubsub.subscribe('ci.created'), 3);
    await target.ready;
    const cis = [];
    for (const name of ['b-1', 'b-2', 'b-3'])
      cis.push(await b.cmdb.create({ class: 'server', name }, { actor }));
    expect((await created).map((d) => d.subject?.id)).toEqual(cis.map((ci) => ci.id));
    target.close();
  });
});
