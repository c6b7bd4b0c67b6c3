import {
  type Actor,
  assertCan,
  type Ci,
  type Kernel,
  type KeysetOrder,
  keysetCursor,
  keysetPage,
  NotFoundError,
  type OrderChoice,
  pageSize,
  parseKeysetCursor,
  type ReadOptions,
  ValidationError,
  type WriteScope,
} from '@opsgraph/core';
import { type SelectQueryBuilder, sql } from 'kysely';
import type { FacilitiesTables } from './model.js';

export const PLUGIN = 'facilities';
export const facilitiesPermissions = { read: 'facilities:read', write: 'facilities:write' } as const;

/** CI classes the plugin brings. A device is any other CI (e.g. a `linux_server`). */
export const classes = {
  location: 'facilities_location',
  region: 'region',
  site: 'site',
  building: 'building',
  room: 'room',
  rack: 'rack',
  powerPanel: 'power_panel',
  powerFeed: 'power_feed',
  pdu: 'pdu',
  sensor: 'environmental_sensor',
  powerGroup: 'power_group',
} as const;

/** `source powered_by target`: the target failing cuts the source's power (`to_source`). */
export const POWERED_BY = 'powered_by';
/** Core's cluster membership: `pdu member_of power_group`; the group's quorum decides its state. */
export const MEMBER_OF = 'member_of';
/** Core's containment: the container failing (or in maintenance) reaches what it holds (`to_target`). */
export const CONTAINS = 'contains';

const notPlaceable = new Set<string>(Object.values(classes));

export const tables = (db: Kernel['db'] | WriteScope['db']) => db.withTables<FacilitiesTables>();
export type Db = ReturnType<typeof tables>;

export function assertRead(options: ReadOptions): void {
  if (options.actor) assertCan(options.actor, facilitiesPermissions.read);
}

export function assertWrite(actor: Actor): void {
  assertCan(actor, facilitiesPermissions.write);
}

/**
 * Creates the CI of a facilities record through the CMDB, in the write's transaction and as its actor
 * (history names who did it), contained in `parentId` when given.
 */
export async function createCi(
  scope: WriteScope,
  ciClass: string,
  name: string,
  contain?: { parentId: string },
): Promise<Ci> {
  const cmdb = scope.kernel.services.cmdb;
  const ci = await cmdb.create({ class: ciClass, name }, { actor: scope.actor });
  if (contain) await cmdb.relate({ type: CONTAINS, sourceId: contain.parentId, targetId: ci.id }, scope);
  return ci;
}

/** Removes the `type` relationship from `sourceId` to `targetId`, if there is one. */
export async function unrelate(scope: WriteScope, type: string, sourceId: string, targetId: string) {
  const cmdb = scope.kernel.services.cmdb;
  const [mine] = await cmdb.relationshipsOf([sourceId]);
  const found = mine?.find((r) => r.type === type && r.sourceId === sourceId && r.targetId === targetId);
  if (found) await cmdb.unrelate(found.id, scope);
}

/** A live CI that may be mounted or powered: not retired, not one of the plugin's own classes. */
export async function liveDevice(scope: WriteScope, id: string, field: string): Promise<Ci> {
  const ci = await scope.kernel.services.cmdb.get(id);
  if (!ci) throw new NotFoundError('CI', id, field);
  if (ci.status === 'retired') throw ValidationError.field(field, `CI ${ci.name} is retired`);
  if (notPlaceable.has(ci.class))
    throw ValidationError.field(field, `CI ${ci.name} is a ${ci.class}, not a device that can be mounted`);
  return ci;
}

/**
 * Points the power of `ciId` (a rack or a device) at the PDUs it now hangs on. On one feed, directly:
 * `ci powered_by pdu` for each. On two feeds or more (A/B), through a power group: a CI of class
 * `power_group` (a core `cluster`, quorum 1) whose members are the PDUs (`pdu member_of group`), with
 * `ci powered_by group`; impact analysis then reports the CI `degraded` while one feed still powers it,
 * and `down` when none does. Once a CI has a group it keeps it (one member behaves as a direct link).
 */
export async function syncPowerPath(
  scope: WriteScope,
  ci: { id: string; name: string },
  pdus: readonly { ciId: string; feedId: string }[],
): Promise<void> {
  const cmdb = scope.kernel.services.cmdb;
  const options = { actor: scope.actor };
  const [rels = []] = await cmdb.relationshipsOf([ci.id]);
  const powered = rels.filter((r) => r.type === POWERED_BY && r.sourceId === ci.id);
  const targets = await cmdb.getMany(powered.map((r) => r.targetId));
  const groupRel = powered.find((_, i) => targets[i]?.class === classes.powerGroup);
  const wanted = new Set(pdus.map((p) => p.ciId));
  const redundant = new Set(pdus.map((p) => p.feedId)).size > 1;
  if (!groupRel && !redundant) {
    for (const r of powered) if (!wanted.has(r.targetId)) await cmdb.unrelate(r.id, options);
    for (const id of wanted)
      if (!powered.some((r) => r.targetId === id))
        await cmdb.relate({ type: POWERED_BY, sourceId: ci.id, targetId: id }, options);
    return;
  }
  let groupId = groupRel?.targetId;
  if (!groupId) {
    const group = await cmdb.create(
      { class: classes.powerGroup, name: `${ci.name} power`, attributes: { quorum: 1 } },
      options,
    );
    await cmdb.relate({ type: POWERED_BY, sourceId: ci.id, targetId: group.id }, options);
    groupId = group.id;
  }
  for (const r of powered) if (r !== groupRel) await cmdb.unrelate(r.id, options);
  const [groupRels = []] = await cmdb.relationshipsOf([groupId]);
  const members = groupRels.filter((r) => r.type === MEMBER_OF && r.targetId === groupId);
  for (const m of members) if (!wanted.has(m.sourceId)) await cmdb.unrelate(m.id, options);
  for (const id of wanted)
    if (!members.some((m) => m.sourceId === id))
      await cmdb.relate({ type: MEMBER_OF, sourceId: id, targetId: groupId }, options);
}

/** The PDUs (with their feeds) a device draws from. */
export const pdusDrawnBy = (db: Db, deviceId: string) =>
  db
    .selectFrom('facilitiesPowerDraws as d')
    .innerJoin('facilitiesPdus as p', 'p.ciId', 'd.pduId')
    .select(['p.ciId', 'p.feedId'])
    .where('d.deviceId', '=', deviceId)
    .execute();

/** `U12`, or `U41-U44` for a span. */
export const units = (from: number, to: number) => (from === to ? `U${from}` : `U${from}-U${to}`);

/** The names of CIs, for rows keyed by CI id. */
export async function namesOf(db: Kernel['db'], ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('cis')
    .select(['id', 'name'])
    .where('id', 'in', [...new Set(ids)])
    .execute();
  return new Map(rows.map((r) => [r.id, r.name]));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);

/** A page of a list: `first` rows (default 50, at most 500) after the cursor `after`. */
export interface PageRequest {
  readonly first?: number;
  readonly after?: string | null;
}

/** Rows with their cursors, and whether more follow. */
export interface Page<T> {
  readonly edges: { cursor: string; node: T }[];
  readonly hasNextPage: boolean;
  readonly endCursor: string | null;
}

/** Every list is by name, then CI id: a keyset on (name, id), so a page costs one query at any depth. */
const BY_NAME: OrderChoice = { field: 'name', direction: 'asc' };
const byName: KeysetOrder<{ id: string; name: string }> = {
  exprs: [sql.ref('name')],
  keys: (row) => [row.name],
  params: [(v) => (typeof v === 'string' ? sql`${v}::text` : undefined)],
};

export const emptyPage = <T>(): Page<T> => ({ edges: [], hasNextPage: false, endCursor: null });

/**
 * One page of `query` (its rows keyed by `idColumn` and named `name`), by name then id, in one statement.
 * The query is wrapped so the keyset compares plain columns (`name`, `id`) whatever its joins. `what`
 * names a row in the error for a foreign cursor ("a rack").
 */
export async function pageByName<T extends { ciId: string; name: string }>(
  db: Db,
  query: SelectQueryBuilder<any, any, T>,
  idColumn: string,
  page: PageRequest,
  what: string,
): Promise<Page<T>> {
  const first = pageSize(page.first);
  const after = page.after ? parseKeysetCursor(page.after, BY_NAME, byName, what) : undefined;
  if (first === 0) return emptyPage();
  const rows = (await keysetPage(
    db.selectFrom(query.select(sql.ref<string>(idColumn).as('id')).as('page')).selectAll(),
    byName.exprs,
    BY_NAME.direction,
    after,
  )
    .limit(first + 1)
    .execute()) as unknown as (T & { id: string })[];
  const edges = rows.slice(0, first).map(({ id, ...node }) => ({
    cursor: keysetCursor(BY_NAME, byName, { id, name: node.name }),
    node: node as unknown as T,
  }));
  return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
}
