// A generated IT estate for the impact benchmark: business services on three tiers of applications, on
// VMs and quorum clusters, on hypervisors, on storage arrays. The same seed gives the same graph on every
// backend and every run.
import type { OpsGraph } from '@opsgraph/core';

export interface GraphSpec {
  readonly services: number;
  /** Applications per tier, from the front (used by services) to the back. */
  readonly tiers: readonly [number, number, number];
  readonly clusters: number;
  readonly hypervisors: number;
  readonly storage: number;
  readonly vms: number;
  /** All relationships; what the estate's structure does not use is filled with a `none` type. */
  readonly relationships: number;
}

/** 100,000 CIs and 300,000 relationships. */
export const fullSpec: GraphSpec = {
  services: 1_000,
  tiers: [4_000, 7_000, 8_000],
  clusters: 2_000,
  hypervisors: 4_000,
  storage: 1_000,
  vms: 73_000,
  relationships: 300_000,
};

/** A fiftieth of it: 2,000 CIs, 6,000 relationships, for smoke runs. */
export const quickSpec: GraphSpec = {
  services: 20,
  tiers: [80, 140, 160],
  clusters: 40,
  hypervisors: 80,
  storage: 20,
  vms: 1_460,
  relationships: 6_000,
};

/** Members per cluster and the quorum each cluster keeps. */
const MEMBERS = 3;
const QUORUM = 2;
/** The non-propagating type that fills the estate up to its relationship count (e.g. backups). */
export const FILLER_TYPE = 'bench_backs_up_to';

export interface Graph {
  readonly cis: { id: string; class: string; name: string; attributes: Record<string, unknown> }[];
  readonly relationships: { id: string; type: string; sourceId: string; targetId: string }[];
  readonly hypervisors: readonly string[];
}

/** mulberry32: a small seeded generator, so the estate is the same everywhere. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generateGraph(spec: GraphSpec, seed = 20_26): Graph {
  const rand = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
  // Version 4, RFC variant: ids the API accepts as UUIDs.
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(rand() * 4)]}${hex(3)}-${hex(12)}`;

  const cis: Graph['cis'] = [];
  const make = (cls: string, prefix: string, count: number, attributes: Record<string, unknown> = {}) =>
    Array.from({ length: count }, (_, i) => {
      const ci = { id: uuid(), class: cls, name: `${prefix}-${i + 1}`, attributes };
      cis.push(ci);
      return ci.id;
    });
  const services = make('business_service', 'service', spec.services);
  const tiers = spec.tiers.map((count, t) => make('application', `app-t${t + 1}`, count));
  const clusters = make('cluster', 'cluster', spec.clusters, { quorum: QUORUM });
  const hypervisors = make('server', 'hypervisor', spec.hypervisors);
  const storage = make('hardware', 'storage', spec.storage);
  const vms = make('linux_server', 'vm', spec.vms);

  const relationships: Graph['relationships'] = [];
  const seen = new Set<string>();
  const relate = (type: string, sourceId: string, targetId: string) => {
    const key = `${type} ${sourceId} ${targetId}`;
    if (sourceId === targetId || seen.has(key)) return false;
    seen.add(key);
    relationships.push({ id: uuid(), type, sourceId, targetId });
    return true;
  };
  /** `count` distinct relationships from `source` to picks of `targets`. */
  const fanOut = (type: string, source: string, targets: readonly string[], count: number) => {
    for (let made = 0; made < count; ) if (relate(type, source, pick(targets))) made++;
  };

  // Each cluster has its own members, so quorum is judged per cluster.
  const shuffled = [...vms];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  const members = shuffled.slice(0, spec.clusters * MEMBERS);
  clusters.forEach((cluster, i) => {
    for (let m = 0; m < MEMBERS; m++) relate('member_of', members[i * MEMBERS + m]!, cluster);
  });
  for (const vm of vms) relate('hosted_on', vm, pick(hypervisors));
  for (const hv of hypervisors) fanOut('depends_on', hv, storage, 2);
  for (const app of tiers.flat()) {
    // A quarter of the placements are on clusters (redundant), the rest on single VMs.
    for (let made = 0; made < 3; ) if (relate('runs_on', app, pick(rand() < 0.25 ? clusters : vms))) made++;
  }
  const [front, middle, back] = tiers as [string[], string[], string[]];
  for (const app of front) fanOut('depends_on', app, middle, 6);
  for (const app of middle) fanOut('depends_on', app, back, 6);
  for (const service of services) fanOut('depends_on', service, front, 20);
  while (relationships.length < spec.relationships) relate(FILLER_TYPE, pick(vms), pick(vms));
  return { cis, relationships, hypervisors };
}

/** Bulk multi-row inserts (a few thousand rows per statement), then fresh planner statistics. */
export async function loadGraph(og: OpsGraph, graph: Graph): Promise<void> {
  const now = new Date();
  const chunk = <T>(rows: readonly T[], size: number) =>
    Array.from({ length: Math.ceil(rows.length / size) }, (_, i) => rows.slice(i * size, (i + 1) * size));
  for (const rows of chunk(graph.cis, 4_000)) {
    await og.db
      .insertInto('cis')
      .values(
        rows.map((ci) => ({
          id: ci.id,
          class: ci.class,
          name: ci.name,
          status: 'operational' as const,
          environment: null,
          attributes: JSON.stringify(ci.attributes),
          tags: [],
          createdAt: now,
          updatedAt: now,
          retiredAt: null,
        })),
      )
      .execute();
  }
  for (const rows of chunk(graph.relationships, 10_000)) {
    await og.db
      .insertInto('relationships')
      .values(rows.map((r) => ({ ...r, createdAt: now })))
      .execute();
  }
}
