// Reconciling a discovery feed (og.cmdb.reconcile) against the least a database could do with the same
// rows: a raw multi-row INSERT … ON CONFLICT into cis and relationships. Both run in this process, each
// round on a fresh migrated database, on PGlite and on a PostgreSQL server started for the run.
import { type OpsGraph, type ReconcilePayload, systemActor } from '@opsgraph/core';
import { type Backend, backendLabel, openDatabases, timed } from '../databases.js';
import type { BatchScenario, BatchSide } from '../harness.js';

const actor = systemActor('bench');
const SOURCE = 'discovery';

/** Sizes: the 10,000 CIs + 30,000 relationships; `--quick` a small feed that proves it works. */
export const sizes = {
  full: { cis: 10_000, relationships: 30_000 },
  quick: { cis: 300, relationships: 900 },
};

interface Feed {
  readonly payload: ReconcilePayload;
  /** The same CIs and relationships as table rows, ids assigned, for the baseline. */
  readonly ciRows: Record<string, unknown>[];
  readonly relationshipRows: Record<string, unknown>[];
}

/**
 * A data centre's worth of CIs: clusters, databases, applications and Linux servers (identified by
 * name or by host name + domain), related as a discovery tool would: servers member_of clusters
 * (acyclic, so the cycle check runs), applications runs_on servers and depends_on databases, databases
 * runs_on servers, servers connected_to each other.
 */
export function makeFeed(cis: number, relationships: number): Feed {
  const clusters = Math.max(1, Math.floor(cis / 20));
  const databases = Math.max(1, Math.floor(cis / 10));
  const applications = Math.max(1, Math.floor(cis / 5));
  const servers = cis - clusters - databases - applications;
  const items: ReconcilePayload['cis'][number][] = [];
  for (let i = 0; i < clusters; i++)
    items.push({ ref: `c${i}`, class: 'cluster', name: `cluster-${i}`, attributes: { quorum: 2 } });
  for (let i = 0; i < databases; i++)
    items.push({
      ref: `d${i}`,
      class: 'database',
      name: `db-${i}`,
      attributes: { engine: 'postgresql', port: 5432, version: '15' },
    });
  for (let i = 0; i < applications; i++)
    items.push({
      ref: `a${i}`,
      class: 'application',
      name: `app-${i}`,
      environment: 'prod',
      attributes: { version: `1.${i % 10}` },
    });
  for (let i = 0; i < servers; i++)
    items.push({
      ref: `s${i}`,
      class: 'linux_server',
      name: `srv-${i}`,
      environment: 'prod',
      tags: ['discovered'],
      attributes: {
        hostname: `srv-${i}`,
        domain: 'dc1.example',
        ip_address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        os: 'linux',
        distribution: 'debian',
        cpu_count: 2 + (i % 4) * 2,
        memory_gb: 8 + (i % 8) * 4,
      },
    });
  const edges: { type: string; source: string; target: string }[] = [];
  const add = (type: string, source: string, target: string) => {
    if (edges.length < relationships) edges.push({ type, source, target });
  };
  for (let i = 0; i < servers; i++) add('member_of', `s${i}`, `c${i % clusters}`);
  for (let i = 0; i < applications; i++) {
    add('runs_on', `a${i}`, `s${(i * 3) % servers}`);
    add('depends_on', `a${i}`, `d${i % databases}`);
  }
  for (let i = 0; i < databases; i++) add('runs_on', `d${i}`, `s${(i * 5 + 1) % servers}`);
  for (let k = 1; edges.length < relationships && k < servers; k++) {
    for (let i = 0; i < servers; i++) add('connected_to', `s${i}`, `s${(i + k) % servers}`);
  }

  const now = new Date();
  const ids = new Map(items.map((item) => [item.ref!, crypto.randomUUID()]));
  const ciRows = items.map((item) => ({
    id: ids.get(item.ref!)!,
    class: item.class,
    name: item.name,
    status: 'operational',
    environment: item.environment ?? null,
    attributes: JSON.stringify(item.attributes ?? {}),
    tags: item.tags ?? [],
    createdAt: now,
    updatedAt: now,
  }));
  const relationshipRows = edges.map((e) => ({
    id: crypto.randomUUID(),
    type: e.type,
    sourceId: ids.get(e.source)!,
    targetId: ids.get(e.target)!,
    createdAt: now,
  }));
  return { payload: { cis: items, relationships: edges }, ciRows, relationshipRows };
}

/** PostgreSQL's limit of bind parameters in one statement. */
const MAX_PARAMETERS = 65_535;

/** The baseline: the same rows, multi-row INSERT … ON CONFLICT, as few statements as the limit allows. */
async function rawInsert(og: OpsGraph, feed: Feed): Promise<void> {
  await og.db.transaction().execute(async (trx) => {
    const insert = async (
      table: 'cis' | 'relationships',
      rows: Record<string, unknown>[],
      conflict: string[],
    ) => {
      const per = Math.floor(MAX_PARAMETERS / Object.keys(rows[0]!).length);
      for (let i = 0; i < rows.length; i += per) {
        await trx
          .insertInto(table)
          .values(rows.slice(i, i + per) as never)
          .onConflict((oc) => oc.columns(conflict as never).doNothing())
          .execute();
      }
    };
    await insert('cis', feed.ciRows, ['id']);
    await insert('relationships', feed.relationshipRows, ['type', 'sourceId', 'targetId']);
  });
}

async function prepare(og: OpsGraph): Promise<void> {
  await og.cmdb.defineSource({ name: SOURCE, priority: 10 }, { actor });
}

function reconcileScenario(backend: Backend): BatchScenario {
  const label = backendLabel[backend];
  return {
    kind: 'batch',
    name: `reconcile-${backend}`,
    goal: 0.4,
    description: `reconcile a discovery feed vs a raw multi-row INSERT … ON CONFLICT of the same rows, ${label}`,
    async setup({ quick }) {
      const size = quick ? sizes.quick : sizes.full;
      const feed = makeFeed(size.cis, size.relationships);
      const warm = makeFeed(Math.max(50, size.cis / 20), Math.max(150, size.relationships / 20));
      const dbs = await openDatabases(backend, prepare);
      const rows = size.cis + size.relationships;
      const baseline: BatchSide = {
        label: 'raw INSERT … ON CONFLICT',
        description: `${size.cis.toLocaleString('en-US')} cis rows + ${size.relationships.toLocaleString('en-US')} relationships rows, multi-row statements (≤ 65,535 parameters each), one transaction`,
        rows,
        run: (warmup) => timed(dbs, (og) => rawInsert(og, warmup ? warm : feed)),
      };
      const subject: BatchSide = {
        label: 'og.cmdb.reconcile',
        description: `the same ${size.cis.toLocaleString('en-US')} CIs + ${size.relationships.toLocaleString('en-US')} relationships as a feed: validation, identification, precedence, identities, history and events`,
        rows,
        run: (warmup) =>
          timed(dbs, async (og) => {
            const report = await og.cmdb.reconcile(warmup ? warm.payload : feed.payload, {
              actor,
              source: SOURCE,
            });
            const expected = warmup ? warm.payload : feed.payload;
            if (
              report.created !== expected.cis.length ||
              report.relationships.created !== expected.relationships!.length
            )
              throw new Error(
                `reconcile created ${report.created} CIs and ${report.relationships.created} relationships`,
              );
          }),
      };
      return { baseline, subject, teardown: () => dbs.close() };
    },
  };
}

export default [reconcileScenario('pglite'), reconcileScenario('postgres')];
