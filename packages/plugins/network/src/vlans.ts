import {
  assertCan,
  type Kernel,
  type KeysetOrder,
  keysetPage,
  NotFoundError,
  type Page,
  type PageRequest,
  parseInput,
  parseKeysetCursor,
  type ReadOptions,
  ValidationError,
  type WriteOptions,
} from '@opsgraph/core';
import { sql } from 'kysely';
import { assertVersion, isUniqueViolation, networkPermissions, tables } from './common.js';
import {
  type CreateVlanGroupInput,
  type CreateVlanInput,
  createVlanGroupInput,
  createVlanInput,
  type NetworkVlan,
  type NetworkVlanGroup,
} from './model.js';
import { boolKey, byName, emptyPage, intKey, nameOrder, pageOf, pageSize, uuidKey } from './page.js';

const isId = (id: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);

// VLANs by group (as `order by group_id`: the groupless last), then VID. The null group gets a key of
// its own (a flag, then the nil UUID) so the row comparison of a keyset page never meets a null.
const NIL = '00000000-0000-0000-0000-000000000000';
const byGroupVid = { field: 'vid', direction: 'asc' } as const;
const vlanOrder: KeysetOrder<NetworkVlan> = {
  exprs: [sql`(group_id is null)`, sql`coalesce(group_id, ${NIL}::uuid)`, sql.ref('vid')],
  keys: (v) => [v.groupId === null, v.groupId ?? NIL, v.vid],
  params: [boolKey, uuidKey, intKey],
};

/** VLANs (VID 1-4094), unique per VLAN group (and among the VLANs of no group). */
export class VlansService {
  constructor(private readonly kernel: Kernel) {}

  async createGroup(input: CreateVlanGroupInput, { actor }: WriteOptions): Promise<NetworkVlanGroup> {
    assertCan(actor, networkPermissions.write);
    const data = parseInput(createVlanGroupInput, input);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const taken = () => ValidationError.field('name', `a VLAN group named ${data.name} exists`);
      const existing = await tables(db)
        .selectFrom('networkVlanGroups')
        .select('id')
        .where('name', '=', data.name)
        .executeTakeFirst();
      if (existing) throw taken();
      const group = await tables(db)
        .insertInto('networkVlanGroups')
        .values({ id: crypto.randomUUID(), name: data.name, description: data.description, createdAt: now })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? taken() : error;
        });
      emit('network.vlan_group.created', { type: 'network_vlan_group', id: group.id }, { group });
      return group;
    });
  }

  async groups(options: ReadOptions = {}): Promise<NetworkVlanGroup[]> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    return tables(this.kernel.db).selectFrom('networkVlanGroups').selectAll().orderBy('name').execute();
  }

  /** A keyset page of VLAN groups by name. `after` is the `endCursor` of the page before. */
  async groupPage(page: PageRequest = {}, options: ReadOptions = {}): Promise<Page<NetworkVlanGroup>> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    const first = pageSize(page.first);
    const after = page.after ? parseKeysetCursor(page.after, byName, nameOrder, 'a VLAN group') : undefined;
    const query = tables(this.kernel.db).selectFrom('networkVlanGroups').selectAll();
    const rows = await keysetPage(query, nameOrder.exprs, 'asc', after)
      .limit(first + 1)
      .execute();
    return pageOf(rows, first, byName, nameOrder);
  }

  async groupsById(ids: readonly string[]): Promise<(NetworkVlanGroup | null)[]> {
    const valid = ids.filter(isId);
    if (valid.length === 0) return ids.map(() => null);
    const rows = await tables(this.kernel.db)
      .selectFrom('networkVlanGroups')
      .selectAll()
      .where('id', 'in', valid)
      .execute();
    return ids.map((id) => rows.find((r) => r.id === id.toLowerCase()) ?? null);
  }

  async createVlan(input: CreateVlanInput, { actor }: WriteOptions): Promise<NetworkVlan> {
    assertCan(actor, networkPermissions.write);
    const data = parseInput(createVlanInput, input);
    const groupId = data.groupId?.toLowerCase() ?? null;
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      let where = 'among the VLANs of no group';
      if (groupId) {
        const group = await tables(db)
          .selectFrom('networkVlanGroups')
          .select('name')
          .where('id', '=', groupId)
          .executeTakeFirst();
        if (!group) throw new NotFoundError('VLAN group', groupId, 'groupId');
        where = `in group ${group.name}`;
      }
      const taken = (name: string) =>
        ValidationError.field('vid', `VLAN ${data.vid} (${name}) already exists ${where}`);
      let existing = tables(db).selectFrom('networkVlans').select('name').where('vid', '=', data.vid);
      existing = groupId ? existing.where('groupId', '=', groupId) : existing.where('groupId', 'is', null);
      const found = await existing.executeTakeFirst();
      if (found) throw taken(found.name);
      const vlan = await tables(db)
        .insertInto('networkVlans')
        .values({
          id: crypto.randomUUID(),
          groupId,
          vid: data.vid,
          name: data.name,
          status: data.status,
          description: data.description,
          createdAt: now,
          updatedAt: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? taken('created concurrently') : error;
        });
      emit('network.vlan.created', { type: 'network_vlan', id: vlan.id }, { vlan });
      return vlan;
    });
  }

  /** Deletes a VLAN; refused while a prefix names it. */
  async deleteVlan(id: string, version: number, { actor }: WriteOptions): Promise<NetworkVlan> {
    assertCan(actor, networkPermissions.write);
    return this.kernel.write(actor, async ({ db, emit }) => {
      const vlan = isId(id)
        ? await tables(db)
            .selectFrom('networkVlans')
            .selectAll()
            .where('id', '=', id)
            .forUpdate()
            .executeTakeFirst()
        : undefined;
      if (!vlan) throw new NotFoundError('VLAN', id, 'id');
      assertVersion('VLAN', id, version, vlan.version);
      const user = await tables(db)
        .selectFrom('networkPrefixes')
        .select('prefix')
        .where('vlanId', '=', vlan.id)
        .executeTakeFirst();
      if (user) throw ValidationError.field('id', `VLAN ${vlan.vid} is used by prefix ${user.prefix}`);
      await tables(db).deleteFrom('networkVlans').where('id', '=', vlan.id).execute();
      emit('network.vlan.deleted', { type: 'network_vlan', id: vlan.id }, { vlan });
      return vlan;
    });
  }

  /** VLANs by group then VID; `groupId` null: those of no group. */
  async vlans(filter: { groupId?: string | null } = {}, options: ReadOptions = {}): Promise<NetworkVlan[]> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    let query = tables(this.kernel.db).selectFrom('networkVlans').selectAll();
    if (filter.groupId === null) query = query.where('groupId', 'is', null);
    else if (filter.groupId !== undefined) {
      if (!isId(filter.groupId)) return [];
      query = query.where('groupId', '=', filter.groupId);
    }
    return query.orderBy('groupId', 'asc').orderBy('vid').execute();
  }

  /** A keyset page of VLANs, with the filter and order of `vlans`. `after`: the page before's `endCursor`. */
  async vlanPage(
    filter: { groupId?: string | null } = {},
    page: PageRequest = {},
    options: ReadOptions = {},
  ): Promise<Page<NetworkVlan>> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    const first = pageSize(page.first);
    const after = page.after ? parseKeysetCursor(page.after, byGroupVid, vlanOrder, 'a VLAN') : undefined;
    let query = tables(this.kernel.db).selectFrom('networkVlans').selectAll();
    if (filter.groupId === null) query = query.where('groupId', 'is', null);
    else if (filter.groupId !== undefined) {
      if (!isId(filter.groupId)) return emptyPage();
      query = query.where('groupId', '=', filter.groupId);
    }
    const rows = await keysetPage(query, vlanOrder.exprs, 'asc', after)
      .limit(first + 1)
      .execute();
    return pageOf(rows, first, byGroupVid, vlanOrder);
  }
}
