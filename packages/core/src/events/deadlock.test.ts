// Two writers that lock alerts in opposite orders deadlock; PostgreSQL aborts one. When that is an
// ingest, it runs again and loses nothing. PostgreSQL only: PGlite has one connection, no deadlocks.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';

const admin = systemActor('test');
const postgres = testBackends().includes('postgres');

describe.runIf(postgres)('an ingest that loses a deadlock', () => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-04T10:00:00.000Z');
  const ci: Record<string, string> = {};

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend: 'postgres', clock });
    for (const name of ['hyp', 'app'])
      ci[name] = (
        await og.cmdb.create(
          { class: name === 'app' ? 'application' : 'linux_server', name },
          { actor: admin },
        )
      ).id;
    await og.cmdb.relate({ type: 'runs_on', sourceId: ci.app!, targetId: ci.hyp! }, { actor: admin });
  });
  afterAll(() => og?.close());

  it('runs again and keeps every event', async () => {
    // A live alert on app; a new alert on hyp will adopt it (update its row).
    const [appAlert] = await og.events.ingest(
      { source: 's', node: 'app', ciId: ci.app, type: 'slow', severity: 'major' },
      { actor: admin },
    );
    clock.advance(60_000);
    let ingest: Promise<{ outcome: string; alertId: string | null }[]> | undefined;
    await og.db.transaction().execute(async (trx) => {
      // The other writer holds app's alert first...
      await sql`select id from alerts where id = ${appAlert!.alertId} for update`.execute(trx);
      // ...the ingest upserts hyp's alert, then waits for app's to adopt it...
      ingest = og.events.ingest(
        { source: 's', node: 'hyp', ciId: ci.hyp, type: 'down', severity: 'critical', dedupKey: 'hyp-down' },
        { actor: admin },
      );
      ingest.catch(() => {}); // awaited below, once the other writer has committed
      await new Promise((resolve) => setTimeout(resolve, 300));
      // ...and the other writer now wants hyp's dedup key: a cycle. The ingest waited first, so its
      // deadlock check fires first and it is the one aborted.
      const other = sql`
        insert into alerts (id, dedup_key, status, severity, source, node, resource, type, message, labels, count,
          first_seen, last_seen, version, created_at, updated_at)
        values (${crypto.randomUUID()}, 'hyp-down', 'open', 'minor', 's', 'hyp', '', 'down', '', '{}', 1,
          now(), now(), 1, now(), now())
        on conflict (dedup_key) where status <> 'closed' do nothing`.execute(trx);
      await other;
      // The other writer commits when this callback returns; the ingest's retry then repeats its alert.
    });
    const results = await ingest!;
    expect(results).toHaveLength(1);
    const live = (await og.events.alerts({ dedupKey: 'hyp-down', status: ['open'] })).edges.map(
      (e) => e.node,
    );
    expect(live).toHaveLength(1);
    // The other writer's row took the key; the retried ingest folded its event into it.
    expect(live[0]).toMatchObject({ count: 2 });
    expect(results[0]).toMatchObject({ outcome: 'repeated', alertId: live[0]!.id });
  });
});
