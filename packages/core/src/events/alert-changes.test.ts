import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ForbiddenError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '../testing/index.js';
import { type AlertChange, alertEventTypes } from './alert-changes.js';
import type { AlertFilter, EventInput } from './model.js';

const admin = systemActor('test');

/** The first `n` changes of a stream (then stops it), or throws after a few seconds. */
async function take(stream: AsyncIterableIterator<AlertChange>, n: number): Promise<AlertChange[]> {
  const out: AlertChange[] = [];
  const timeout = setTimeout(() => void stream.return?.(), 8_000);
  try {
    for await (const change of stream) {
      out.push(change);
      if (out.length === n) break;
    }
  } finally {
    clearTimeout(timeout);
  }
  if (out.length < n) throw new Error(`stream ended after ${out.length} of ${n} changes`);
  return out;
}

const summary = (c: AlertChange) => `${c.kind} ${c.alert.dedupKey}`;

describe.each(testBackends())('followAlerts on %s', (backend) => {
  let og: TestOpsGraph;
  let web: string;
  let db: string;
  const event = (key: string, extra: Partial<EventInput> = {}): EventInput => ({
    source: 'follow-test',
    node: 'nowhere',
    type: 'check',
    severity: 'major',
    dedupKey: key,
    ...extra,
  });
  const head = () => og.activity.latestSeq({ types: alertEventTypes });
  const follow = async (filter: AlertFilter = {}, actor?: Actor) =>
    og.events.followAlerts({ after: await head(), filter, ...(actor ? { actor } : {}) });

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
    web = (await og.cmdb.create({ class: 'server', name: 'fa-web' }, { actor: admin })).id;
    db = (await og.cmdb.create({ class: 'server', name: 'fa-db' }, { actor: admin })).id;
  });
  afterAll(() => og?.close());

  it('delivers opened, updated, acknowledged and closed in order, with the alert as each left it', async () => {
    const stream = await follow({ dedupKey: 'fa-life' });
    const [r] = await og.events.ingest(event('fa-life'), { actor: admin });
    await og.events.ingest([event('fa-life'), event('fa-life', { severity: 'critical' })], { actor: admin });
    await og.events.ingest(event('fa-other'), { actor: admin });
    const acked = await og.events.acknowledge(r!.alertId!, { actor: admin, version: 1 });
    await og.events.close(r!.alertId!, { actor: admin, version: acked.version });
    const changes = await take(stream, 4);
    expect(changes.map(summary)).toEqual([
      'opened fa-life',
      'updated fa-life',
      'acknowledged fa-life',
      'closed fa-life',
    ]);
    expect(changes[1]).toMatchObject({ repeats: 2, alert: { count: 3, severity: 'critical' } });
    expect(changes[0]!.repeats).toBeNull();
    expect(changes[3]!.alert).toMatchObject({ status: 'closed', closeReason: 'manual', version: 3 });
    // Revived as the rest of the SDK hands alerts out.
    expect(changes[3]!.alert.closedAt).toBeInstanceOf(Date);
    expect(changes[3]!.alert.lastSeen).toBeInstanceOf(Date);
    const seqs = changes.map((c) => c.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('tells followers of open alerts when one leaves: acknowledged or closed', async () => {
    const stream = await follow({ status: ['open'], source: 'follow-status' });
    const opts = { source: 'follow-status' };
    const [a, b] = await og.events.ingest([event('fs-a', opts), event('fs-b', opts)], { actor: admin });
    await og.events.acknowledge(a!.alertId!, { actor: admin });
    // Acknowledged, then closed: that close leaves "acknowledged", not "open".
    await og.events.close(a!.alertId!, { actor: admin });
    await og.events.ingest(event('fs-b', { ...opts, severity: 'clear' }), { actor: admin });
    expect(b!.outcome).toBe('opened');
    expect((await take(stream, 4)).map(summary)).toEqual([
      'opened fs-a',
      'opened fs-b',
      'acknowledged fs-a',
      'closed fs-b',
    ]);
  });

  it('filters by severity, CI and node', async () => {
    const bySeverity = await follow({ severity: ['critical'], source: 'follow-filter' });
    const byCi = await follow({ ciId: web.toUpperCase(), source: 'follow-filter' });
    const byNode = await follow({ node: 'FA-DB', source: 'follow-filter' });
    const opts = { source: 'follow-filter' };
    await og.events.ingest(
      [
        event('ff-1', { ...opts, node: 'fa-web', severity: 'minor' }),
        event('ff-2', { ...opts, node: 'fa-db', severity: 'critical' }),
        event('ff-3', { ...opts, node: 'fa-web', severity: 'critical' }),
      ],
      { actor: admin },
    );
    expect((await take(bySeverity, 2)).map(summary)).toEqual(['opened ff-2', 'opened ff-3']);
    expect((await take(byCi, 2)).map(summary)).toEqual(['opened ff-1', 'opened ff-3']);
    expect((await take(byNode, 1)).map((c) => [summary(c), c.alert.ciId])).toEqual([['opened ff-2', db]]);
  });

  it('gives a scoped reader only the changes of alerts on its CIs, and resumes after a seq', async () => {
    const reader = await scopedTestActor(og, 'fa-reader', [
      { ciId: web, mode: 'contains', permissions: ['event:read'] },
    ]);
    const start = await head();
    const stream = og.events.followAlerts({
      after: start,
      actor: reader,
      filter: { source: 'follow-scope' },
    });
    const opts = { source: 'follow-scope' };
    await og.events.ingest(
      [
        event('fsc-db', { ...opts, node: 'fa-db' }),
        event('fsc-none', opts),
        event('fsc-web', { ...opts, node: 'fa-web' }),
      ],
      { actor: admin },
    );
    await og.events.ingest(event('fsc-db', { ...opts, node: 'fa-db', severity: 'clear' }), { actor: admin });
    await og.events.ingest(event('fsc-web', { ...opts, node: 'fa-web', severity: 'clear' }), {
      actor: admin,
    });
    const seen = await take(stream, 2);
    expect(seen.map(summary)).toEqual(['opened fsc-web', 'closed fsc-web']);
    // As a follower that handled the first one and reconnected.
    const resumed = og.events.followAlerts({ after: seen[0]!.seq, actor: reader, filter: opts });
    expect((await take(resumed, 1)).map(summary)).toEqual(['closed fsc-web']);
  });

  it('refuses without event:read, a bad filter, and ends the stream when event:read goes', async () => {
    const nobody: Actor = { kind: 'user', id: 'n', name: 'n', permissions: ['cmdb:read'] };
    expect(() => og.events.followAlerts({ actor: nobody })).toThrow(ForbiddenError);
    const bad = (() => {
      try {
        og.events.followAlerts({ filter: { status: ['gone' as never] } });
      } catch (error) {
        return error;
      }
    })();
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad).toMatchObject({ field: 'filter.status.0' });

    const held = ['event:read'];
    const fading: Actor = { kind: 'user', id: 'fading', name: 'fading', permissions: held };
    const stream = og.events.followAlerts({ after: await head(), actor: fading, filter: { source: 'fade' } });
    await og.events.ingest(event('fade-1', { source: 'fade' }), { actor: admin });
    expect((await stream.next()).value).toMatchObject({ kind: 'opened', alert: { dedupKey: 'fade-1' } });
    held.length = 0;
    await og.events.ingest(event('fade-2', { source: 'fade' }), { actor: admin });
    await expect(stream.next()).rejects.toThrow(ForbiddenError);
  });
});
