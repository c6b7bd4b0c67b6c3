import {
  assertCan,
  type Kernel,
  type KeysetOrder,
  keysetPage,
  NotFoundError,
  type OrderChoice,
  type Page,
  type PageRequest,
  parseInput,
  parseKeysetCursor,
  pluginActor,
  type ReadOptions,
  ValidationError,
  type WriteOptions,
  type WriteScope,
} from '@opsgraph/core';
import { sql } from 'kysely';
import {
  assertVersion,
  isUniqueViolation,
  networkPermissions,
  PrefixFullError,
  tables,
  vrfIs,
} from './common.js';
import {
  blockSize,
  maxLength,
  normaliseAddress,
  normalisePrefix,
  parseAddress,
  parsePrefix,
  toText,
  usableRange,
} from './ip.js';
import {
  type AllocateAddressInput,
  type AllocatePrefixInput,
  allocateAddressInput,
  allocatePrefixInput,
  type CreateAddressInput,
  type CreatePrefixInput,
  type CreateVrfInput,
  createAddressInput,
  createPrefixInput,
  createVrfInput,
  type NetworkAddress,
  type NetworkPrefix,
  type NetworkTables,
  type NetworkVrf,
  type PrefixUtilisation,
  type UpdateAddressInput,
  updateAddressInput,
} from './model.js';
import { byName, nameOrder, pageOf, pageSize } from './page.js';

type Db = Kernel['db'];
type PrefixRow = NetworkTables['networkPrefixes'] & { version: number };

export interface IpamOptions {
  /** Utilisation (0-1) from which a prefix raises a warning through event management; full is critical. */
  readonly utilisationWarning?: number;
}

export interface PrefixFilter {
  /** Undefined: every VRF; null: the global table. */
  readonly vrfId?: string | null;
  /** Only prefixes inside this one (itself included), e.g. `10.0.0.0/8`. */
  readonly within?: string;
  readonly limit?: number;
}

export interface AddressFilter {
  /** The addresses inside this prefix (at any depth). */
  readonly prefixId?: string;
  readonly vrfId?: string | null;
  readonly interfaceId?: string;
  readonly limit?: number;
}

const MAX_LIST = 5000;
/** Allocation retries when a concurrent manual write took the address it found (unique backstop). */
const ALLOCATE_ATTEMPTS = 3;

const familyOf = (text: string): 4 | 6 => (text.includes(':') ? 6 : 4);

const toPrefix = (row: Omit<NetworkPrefix, 'family'>): NetworkPrefix => {
  const prefix = normalisePrefix(row.prefix);
  return { ...row, prefix, family: familyOf(prefix) };
};
const toAddress = (row: Omit<NetworkAddress, 'family'>): NetworkAddress => {
  const address = normaliseAddress(row.address);
  return { ...row, address, family: familyOf(address) };
};

// The longest prefix of the row's VRF containing it: computed on read, so it stays right when a
// prefix is added between two others or removed.
const parentOfPrefix = sql<string | null>`(select q.id from network_prefixes q
  where q.vrf_id is not distinct from p.vrf_id and q.prefix >> p.prefix
  order by masklen(q.prefix) desc limit 1)`;
const prefixOfAddress = sql<string | null>`(select q.id from network_prefixes q
  where q.vrf_id is not distinct from a.vrf_id and q.prefix >>= a.address
  order by masklen(q.prefix) desc limit 1)`;

const selectPrefixes = (db: Db) =>
  tables(db).selectFrom('networkPrefixes as p').selectAll('p').select(parentOfPrefix.as('parentId'));
const selectAddresses = (db: Db) =>
  tables(db).selectFrom('networkAddresses as a').selectAll('a').select(prefixOfAddress.as('prefixId'));

const isId = (id: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);

// Keyset pages over (VRF, prefix or address, id): the global table first (its VRF key is ''), then
// each VRF, addresses in numeric order (IPv4 before IPv6). The cursor carries the keys as text.
const byPosition: OrderChoice = { field: 'position', direction: 'asc' };
const vrfKey = (v: unknown) => (v === '' || (typeof v === 'string' && isId(v)) ? sql`${v}::text` : undefined);
const checked = (parse: (text: string) => unknown, cast: 'cidr' | 'inet') => (v: unknown) => {
  if (typeof v !== 'string' || v.length > 64) return undefined;
  try {
    parse(v);
  } catch {
    return undefined; // not a key this API wrote: parseKeysetCursor names `after`
  }
  return sql`${v}::${sql.raw(cast)}`;
};
const prefixOrder: KeysetOrder<NetworkPrefix> = {
  exprs: [sql`coalesce(p.vrf_id::text, '')`, sql.ref('p.prefix')],
  keys: (p) => [p.vrfId ?? '', p.prefix],
  params: [vrfKey, checked((v) => parsePrefix(v, 'after'), 'cidr')],
};
const addressOrder: KeysetOrder<NetworkAddress> = {
  exprs: [sql`coalesce(a.vrf_id::text, '')`, sql.ref('a.address')],
  keys: (a) => [a.vrfId ?? '', a.address],
  params: [vrfKey, checked((v) => parseAddress(v, 'after'), 'inet')],
};

async function prefixesIn(db: Db, ids: readonly string[]): Promise<(NetworkPrefix | null)[]> {
  const valid = ids.filter(isId);
  if (valid.length === 0) return ids.map(() => null);
  const rows = (await selectPrefixes(db).where('p.id', 'in', valid).execute()).map(toPrefix);
  return ids.map((id) => rows.find((r) => r.id === id.toLowerCase()) ?? null);
}

async function vrfsIn(db: Db, ids: readonly string[]): Promise<(NetworkVrf | null)[]> {
  const valid = ids.filter(isId);
  if (valid.length === 0) return ids.map(() => null);
  const rows = await tables(db).selectFrom('networkVrfs').selectAll().where('id', 'in', valid).execute();
  return ids.map((id) => rows.find((r) => r.id === id.toLowerCase()) ?? null);
}

/** IP address management: VRFs, prefixes, addresses, utilisation and safe allocation. */
export class IpamService {
  constructor(
    private readonly kernel: Kernel,
    private readonly options: IpamOptions = {},
  ) {}

  // --- VRFs ---

  async createVrf(input: CreateVrfInput, { actor }: WriteOptions): Promise<NetworkVrf> {
    assertCan(actor, networkPermissions.write);
    const data = parseInput(createVrfInput, input);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const taken = await tables(db)
        .selectFrom('networkVrfs')
        .select(['name', 'rd'])
        .where((eb) => eb.or([eb('name', '=', data.name), eb('rd', '=', data.rd ?? null)]))
        .executeTakeFirst();
      if (taken?.name === data.name) throw ValidationError.field('name', `a VRF named ${data.name} exists`);
      if (taken)
        throw ValidationError.field('rd', `route distinguisher ${data.rd} is used by VRF ${taken.name}`);
      const vrf = await tables(db)
        .insertInto('networkVrfs')
        .values({
          id: crypto.randomUUID(),
          name: data.name,
          rd: data.rd ?? null,
          description: data.description,
          createdAt: now,
          updatedAt: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((error: unknown) => {
          throw isUniqueViolation(error)
            ? ValidationError.field('name', `a VRF named ${data.name} exists`)
            : error;
        });
      emit('network.vrf.created', { type: 'network_vrf', id: vrf.id }, { vrf });
      return vrf;
    });
  }

  async vrfs(options: ReadOptions = {}): Promise<NetworkVrf[]> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    return tables(this.kernel.db).selectFrom('networkVrfs').selectAll().orderBy('name').execute();
  }

  /** A keyset page of VRFs by name. `after` is the `endCursor` of the page before. */
  async vrfPage(page: PageRequest = {}, options: ReadOptions = {}): Promise<Page<NetworkVrf>> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    const first = pageSize(page.first);
    const after = page.after ? parseKeysetCursor(page.after, byName, nameOrder, 'a VRF') : undefined;
    const query = tables(this.kernel.db).selectFrom('networkVrfs').selectAll();
    const rows = await keysetPage(query, nameOrder.exprs, 'asc', after)
      .limit(first + 1)
      .execute();
    return pageOf(rows, first, byName, nameOrder);
  }

  async vrfsById(ids: readonly string[]): Promise<(NetworkVrf | null)[]> {
    return vrfsIn(this.kernel.db, ids);
  }

  // --- prefixes ---

  async createPrefix(input: CreatePrefixInput, { actor }: WriteOptions): Promise<NetworkPrefix> {
    assertCan(actor, networkPermissions.write);
    const data = parseInput(createPrefixInput, input);
    const parsed = parsePrefix(data.prefix, 'prefix');
    return this.kernel.write(actor, (scope) =>
      this.#insertPrefix(scope, {
        prefix: parsed.text,
        vrfId: data.vrfId ?? null,
        status: data.status,
        vlanId: data.vlanId ?? null,
        description: data.description,
      }),
    );
  }

  /**
   * Carves the first free child prefix of `length` out of the parent (lowest address first, aligned),
   * not overlapping any prefix already inside it. Locks the parent's chain like address allocation;
   * none free is a PrefixFullError naming the parent.
   */
  async allocatePrefix(input: AllocatePrefixInput, { actor }: WriteOptions): Promise<NetworkPrefix> {
    assertCan(actor, networkPermissions.write);
    const data = parseInput(allocatePrefixInput, input);
    return this.kernel.write(actor, async (scope) => {
      const parent = await this.#lockPrefix(scope.db, data.parentId, 'parentId');
      const range = parsePrefix(parent.prefix, 'parentId');
      if (data.length <= range.length || data.length > maxLength(range.family))
        throw ValidationError.field(
          'length',
          `must be longer than the parent's /${range.length} and at most /${maxLength(range.family)}`,
        );
      const children = await tables(scope.db)
        .selectFrom('networkPrefixes')
        .select('prefix')
        .where(vrfIs('vrf_id', parent.vrfId))
        .where(sql<boolean>`prefix << ${parent.prefix}::cidr`)
        .execute();
      const taken = children.map((c) => parsePrefix(normalisePrefix(c.prefix), 'prefix'));
      taken.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      const size = blockSize(range.family, data.length);
      let candidate = range.start;
      for (const child of taken) {
        if (child.end < candidate) continue;
        if (candidate + size - 1n < child.start) break;
        candidate = ((child.end + 1n + size - 1n) / size) * size; // the next aligned block past it
      }
      if (candidate + size - 1n > range.end)
        throw new PrefixFullError(
          parent.id,
          range.text,
          `Prefix ${range.text} is full: no free /${data.length} is left in it`,
        );
      return this.#insertPrefix(scope, {
        prefix: `${toText(range.family, candidate)}/${data.length}`,
        vrfId: parent.vrfId,
        status: data.status,
        vlanId: null,
        description: data.description,
      });
    });
  }

  async #insertPrefix(
    { db, now, emit }: WriteScope,
    data: Pick<PrefixRow, 'prefix' | 'vrfId' | 'status' | 'vlanId' | 'description'>,
  ): Promise<NetworkPrefix> {
    const where = await this.#vrfLabel(db, data.vrfId, 'vrfId');
    if (data.vlanId) {
      const vlan = await tables(db)
        .selectFrom('networkVlans')
        .select('id')
        .where('id', '=', data.vlanId)
        .executeTakeFirst();
      if (!vlan) throw new NotFoundError('VLAN', data.vlanId, 'vlanId');
    }
    const duplicate = () => ValidationError.field('prefix', `${data.prefix} already exists in ${where}`);
    const existing = await tables(db)
      .selectFrom('networkPrefixes')
      .select('id')
      .where(vrfIs('vrf_id', data.vrfId))
      .where('prefix', '=', data.prefix)
      .executeTakeFirst();
    if (existing) throw duplicate();
    const id = crypto.randomUUID();
    await tables(db)
      .insertInto('networkPrefixes')
      .values({ id, ...data, alertLevel: null, createdAt: now, updatedAt: now })
      .execute()
      .catch((error: unknown) => {
        throw isUniqueViolation(error) ? duplicate() : error;
      });
    const prefix = toPrefix(await selectPrefixes(db).where('p.id', '=', id).executeTakeFirstOrThrow());
    emit('network.prefix.created', { type: 'network_prefix', id }, { prefix });
    return prefix;
  }

  /**
   * Deletes a prefix. Refused while it holds an address no other prefix of its VRF contains: addresses
   * live inside a prefix.
   */
  async deletePrefix(id: string, version: number, { actor }: WriteOptions): Promise<NetworkPrefix> {
    assertCan(actor, networkPermissions.write);
    return this.kernel.write(actor, async ({ db, emit, kernel }) => {
      const row = await this.#lockPrefix(db, id, 'id');
      assertVersion('prefix', id, version, row.version);
      const prefix = toPrefix(await selectPrefixes(db).where('p.id', '=', row.id).executeTakeFirstOrThrow());
      const orphan = await tables(db)
        .selectFrom('networkAddresses as a')
        .select(sql<string>`host(a.address)`.as('host'))
        .where(vrfIs('a.vrf_id', row.vrfId))
        .where(sql<boolean>`a.address <<= ${row.prefix}::cidr`)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('network_prefixes as q' as any)
                .select(sql`1`.as('one'))
                .where(
                  sql<boolean>`q.vrf_id is not distinct from a.vrf_id and q.id <> ${row.id} and q.prefix >>= a.address`,
                ),
            ),
          ),
        )
        .limit(1)
        .executeTakeFirst();
      if (orphan)
        throw ValidationError.field(
          'id',
          `${prefix.prefix} still holds ${normaliseAddress(orphan.host)}, which no other prefix contains: release its addresses first`,
        );
      if (row.alertLevel) await this.#raise(kernel, prefix, null);
      await tables(db).deleteFrom('networkPrefixes').where('id', '=', row.id).execute();
      emit('network.prefix.deleted', { type: 'network_prefix', id: row.id }, { prefix });
      return prefix;
    });
  }

  async getPrefix(id: string, options: ReadOptions = {}): Promise<NetworkPrefix | null> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    const [prefix] = await this.prefixesById([id]);
    return prefix ?? null;
  }

  async prefixesById(ids: readonly string[]): Promise<(NetworkPrefix | null)[]> {
    return prefixesIn(this.kernel.db, ids);
  }

  /** Prefixes by VRF and address (IPv4 before IPv6), each with its parent. */
  async prefixes(filter: PrefixFilter = {}, options: ReadOptions = {}): Promise<NetworkPrefix[]> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    let query = selectPrefixes(this.kernel.db);
    if (filter.vrfId !== undefined) query = query.where(vrfIs('p.vrf_id', filter.vrfId));
    if (filter.within !== undefined) {
      const within = parsePrefix(filter.within, 'within');
      query = query.where(sql<boolean>`p.prefix <<= ${within.text}::cidr`);
    }
    const rows = await query
      .orderBy(sql`p.vrf_id nulls first`)
      .orderBy('p.prefix')
      .limit(Math.min(filter.limit ?? MAX_LIST, MAX_LIST))
      .execute();
    return rows.map(toPrefix);
  }

  /**
   * A keyset page of prefixes, with the filters of `prefixes` (VRF, `within`), in its order: the
   * global table, then each VRF, by address. `after` is the `endCursor` of the page before.
   */
  async prefixPage(
    filter: Omit<PrefixFilter, 'limit'> = {},
    page: PageRequest = {},
    options: ReadOptions = {},
  ): Promise<Page<NetworkPrefix>> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    const first = pageSize(page.first);
    const after = page.after ? parseKeysetCursor(page.after, byPosition, prefixOrder, 'a prefix') : undefined;
    if (filter.vrfId && !isId(filter.vrfId)) return { edges: [], hasNextPage: false, endCursor: null };
    let query = selectPrefixes(this.kernel.db);
    if (filter.vrfId !== undefined) query = query.where(vrfIs('p.vrf_id', filter.vrfId));
    if (filter.within !== undefined) {
      const within = parsePrefix(filter.within, 'within');
      query = query.where(sql<boolean>`p.prefix <<= ${within.text}::cidr`);
    }
    const rows = await keysetPage(query, prefixOrder.exprs, 'asc', after)
      .limit(first + 1)
      .execute();
    return pageOf(rows.map(toPrefix), first, byPosition, prefixOrder);
  }

  /** How full each prefix is: its addresses over its usable addresses (see `usableRange`). */
  async utilisation(
    ids: readonly string[],
    options: ReadOptions = {},
  ): Promise<(PrefixUtilisation | null)[]> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    return this.#utilisation(this.kernel.db, await this.prefixesById(ids));
  }

  async #utilisation(
    db: Db,
    prefixes: readonly (NetworkPrefix | null)[],
  ): Promise<(PrefixUtilisation | null)[]> {
    const found = prefixes.filter((p): p is NetworkPrefix => p !== null);
    if (found.length === 0) return prefixes.map(() => null);
    const ranges = found.map((p) => ({ prefix: p, ...usableRange(parsePrefix(p.prefix, 'prefix')) }));
    // One query for the whole batch: each prefix's usable range as a VALUES row.
    const values = sql.join(
      ranges.map(
        (r) =>
          sql`(${r.prefix.id}::uuid, ${toText(r.prefix.family, r.first)}::inet, ${toText(r.prefix.family, r.last)}::inet)`,
      ),
    );
    const counts = await sql<{ id: string; used: string | number }>`
      select v.id, count(a.id) as used
      from (values ${values}) as v(id, first, last)
      join network_prefixes p on p.id = v.id
      left join network_addresses a
        on a.vrf_id is not distinct from p.vrf_id and a.address between v.first and v.last
      group by v.id`.execute(db);
    return prefixes.map((p) => {
      if (!p) return null;
      const range = ranges.find((r) => r.prefix.id === p.id)!;
      const used = BigInt(counts.rows.find((c) => c.id === p.id)?.used ?? 0);
      // Number() of a bigint ratio loses precision only far past what a percentage shows.
      const ratio = range.size === 0n ? 1 : Number((used * 1_000_000n) / range.size) / 1_000_000;
      return { prefixId: p.id, used, total: range.size, ratio };
    });
  }

  // --- addresses ---

  /** Records an address. It must be a usable address of the longest prefix containing it in its VRF. */
  async createAddress(input: CreateAddressInput, { actor }: WriteOptions): Promise<NetworkAddress> {
    assertCan(actor, networkPermissions.write);
    const data = parseInput(createAddressInput, input);
    const parsed = parseAddress(data.address, 'address');
    return this.kernel.write(actor, async (scope) => {
      const vrfId = data.vrfId ?? null;
      const where = await this.#vrfLabel(scope.db, vrfId, 'vrfId');
      const container = await tables(scope.db)
        .selectFrom('networkPrefixes')
        .selectAll()
        .where(vrfIs('vrf_id', vrfId))
        .where(sql<boolean>`prefix >>= ${parsed.text}::inet`)
        .orderBy(sql`masklen(prefix)`, 'desc')
        .limit(1)
        .executeTakeFirst();
      if (!container)
        throw ValidationError.field(
          'address',
          `${parsed.text} is in no prefix of ${where}: create its prefix first`,
        );
      const range = parsePrefix(normalisePrefix(container.prefix), 'prefix');
      const usable = usableRange(range);
      if (parsed.value < usable.first || parsed.value > usable.last)
        throw ValidationError.field(
          'address',
          `${parsed.text} is not a host address of ${range.text} (hosts are ${toText(range.family, usable.first)} to ${toText(range.family, usable.last)})`,
        );
      const taken = await tables(scope.db)
        .selectFrom('networkAddresses')
        .select('id')
        .where(vrfIs('vrf_id', vrfId))
        .where('address', '=', parsed.text)
        .executeTakeFirst();
      if (taken) throw ValidationError.field('address', `${parsed.text} is already in use in ${where}`);
      return this.#insertAddress(scope, { ...data, vrfId, address: parsed.text }, container.id, false);
    });
  }

  /**
   * Takes the lowest free usable address of the prefix. Safe under concurrency: the prefix row and the
   * prefixes containing it are locked (FOR UPDATE, outermost first, so allocators never deadlock), and
   * the unique index on (VRF, address) is the backstop. A full prefix is a PrefixFullError naming it.
   */
  async allocateAddress(input: AllocateAddressInput, { actor }: WriteOptions): Promise<NetworkAddress> {
    assertCan(actor, networkPermissions.write);
    const data = parseInput(allocateAddressInput, input);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.kernel.write(actor, async (scope) => {
          const prefix = await this.#lockPrefix(scope.db, data.prefixId, 'prefixId');
          const range = parsePrefix(normalisePrefix(prefix.prefix), 'prefixId');
          const usable = usableRange(range);
          const first = toText(range.family, usable.first);
          const last = toText(range.family, usable.last);
          // The lowest free address: the first usable one, or the one after a used address whose
          // successor is free. Linear in the addresses of the prefix, whatever its size (IPv6 too).
          const found = await sql<{ host: string }>`
            select host(c.candidate) as host from (
              select ${first}::inet as candidate
              union all
              select a.address + 1 from network_addresses a
              where ${vrfIs('a.vrf_id', prefix.vrfId)} and a.address >= ${first}::inet and a.address < ${last}::inet
            ) c
            where not exists (
              select 1 from network_addresses b
              where ${vrfIs('b.vrf_id', prefix.vrfId)} and b.address = c.candidate
            )
            order by c.candidate
            limit 1`.execute(scope.db);
          const free = found.rows[0]?.host;
          if (!free)
            throw new PrefixFullError(
              prefix.id,
              range.text,
              `Prefix ${range.text} is full: all ${usable.size} usable addresses are allocated`,
            );
          return this.#insertAddress(scope, { ...data, vrfId: prefix.vrfId, address: free }, prefix.id, true);
        });
      } catch (error) {
        // Only a manual write racing into the same free address gets here; run again if ours to retry.
        if (!isUniqueViolation(error) || this.kernel.inTransaction || attempt >= ALLOCATE_ATTEMPTS)
          throw error;
      }
    }
  }

  async #insertAddress(
    scope: WriteScope,
    data: {
      vrfId: string | null;
      address: string;
      status: NetworkAddress['status'];
      interfaceId?: string | null | undefined;
      dnsName: string;
      description: string;
    },
    prefixId: string,
    allocated: boolean,
  ): Promise<NetworkAddress> {
    const { db, now, emit, kernel } = scope;
    if (data.interfaceId) await this.#assertInterface(db, data.interfaceId);
    const id = crypto.randomUUID();
    await tables(db)
      .insertInto('networkAddresses')
      .values({
        id,
        vrfId: data.vrfId,
        address: data.address,
        status: data.status,
        interfaceId: data.interfaceId ?? null,
        dnsName: data.dnsName,
        description: data.description,
        createdAt: now,
        updatedAt: now,
      })
      .execute();
    const address = toAddress(await selectAddresses(db).where('a.id', '=', id).executeTakeFirstOrThrow());
    emit('network.address.assigned', { type: 'network_prefix', id: prefixId }, { address, allocated });
    await this.#refreshAlert(kernel, prefixId);
    return address;
  }

  async updateAddress(
    id: string,
    input: UpdateAddressInput,
    { actor }: WriteOptions,
  ): Promise<NetworkAddress> {
    assertCan(actor, networkPermissions.write);
    const data = parseInput(updateAddressInput, input);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const row = await this.#lockAddress(db, id);
      assertVersion('address', id, data.version, row.version);
      if (data.interfaceId) await this.#assertInterface(db, data.interfaceId);
      await tables(db)
        .updateTable('networkAddresses')
        .set({
          ...(data.status !== undefined ? { status: data.status } : {}),
          ...(data.interfaceId !== undefined ? { interfaceId: data.interfaceId } : {}),
          ...(data.dnsName !== undefined ? { dnsName: data.dnsName } : {}),
          ...(data.description !== undefined ? { description: data.description } : {}),
          version: row.version + 1,
          updatedAt: now,
        })
        .where('id', '=', row.id)
        .execute();
      const address = toAddress(
        await selectAddresses(db).where('a.id', '=', row.id).executeTakeFirstOrThrow(),
      );
      emit('network.address.updated', { type: 'network_address', id: row.id }, { address });
      return address;
    });
  }

  /** Frees an address: it can be allocated again. */
  async releaseAddress(id: string, version: number, { actor }: WriteOptions): Promise<NetworkAddress> {
    assertCan(actor, networkPermissions.write);
    return this.kernel.write(actor, async ({ db, emit, kernel }) => {
      const row = await this.#lockAddress(db, id);
      assertVersion('address', id, version, row.version);
      const address = toAddress(
        await selectAddresses(db).where('a.id', '=', row.id).executeTakeFirstOrThrow(),
      );
      await tables(db).deleteFrom('networkAddresses').where('id', '=', row.id).execute();
      emit('network.address.released', { type: 'network_address', id: row.id }, { address });
      if (address.prefixId) await this.#refreshAlert(kernel, address.prefixId);
      return address;
    });
  }

  async addresses(filter: AddressFilter = {}, options: ReadOptions = {}): Promise<NetworkAddress[]> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    let query = selectAddresses(this.kernel.db);
    if (filter.prefixId !== undefined) {
      const [prefix] = await this.prefixesById([filter.prefixId]);
      if (!prefix) throw new NotFoundError('prefix', filter.prefixId, 'prefixId');
      query = query
        .where(vrfIs('a.vrf_id', prefix.vrfId))
        .where(sql<boolean>`a.address <<= ${prefix.prefix}::cidr`);
    }
    if (filter.vrfId !== undefined) query = query.where(vrfIs('a.vrf_id', filter.vrfId));
    if (filter.interfaceId !== undefined) query = query.where('a.interfaceId', '=', filter.interfaceId);
    const rows = await query
      .orderBy(sql`a.vrf_id nulls first`)
      .orderBy('a.address')
      .limit(Math.min(filter.limit ?? MAX_LIST, MAX_LIST))
      .execute();
    return rows.map(toAddress);
  }

  /**
   * A keyset page of addresses, with the filters of `addresses` (prefix, VRF, interface), by VRF and
   * address. `after` is the `endCursor` of the page before.
   */
  async addressPage(
    filter: Omit<AddressFilter, 'limit'> = {},
    page: PageRequest = {},
    options: ReadOptions = {},
  ): Promise<Page<NetworkAddress>> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    const first = pageSize(page.first);
    const after = page.after
      ? parseKeysetCursor(page.after, byPosition, addressOrder, 'an address')
      : undefined;
    if ((filter.vrfId && !isId(filter.vrfId)) || (filter.interfaceId && !isId(filter.interfaceId)))
      return { edges: [], hasNextPage: false, endCursor: null };
    let query = selectAddresses(this.kernel.db);
    if (filter.prefixId !== undefined) {
      const [prefix] = await this.prefixesById([filter.prefixId]);
      if (!prefix) throw new NotFoundError('prefix', filter.prefixId, 'prefixId');
      query = query
        .where(vrfIs('a.vrf_id', prefix.vrfId))
        .where(sql<boolean>`a.address <<= ${prefix.prefix}::cidr`);
    }
    if (filter.vrfId !== undefined) query = query.where(vrfIs('a.vrf_id', filter.vrfId));
    if (filter.interfaceId !== undefined) query = query.where('a.interfaceId', '=', filter.interfaceId);
    const rows = await keysetPage(query, addressOrder.exprs, 'asc', after)
      .limit(first + 1)
      .execute();
    return pageOf(rows.map(toAddress), first, byPosition, addressOrder);
  }

  // --- helpers ---

  /**
   * Locks the prefix and every prefix of its VRF containing it, outermost first (one order for all
   * allocators: no deadlock), and returns the prefix. Concurrent allocations in it, or in a prefix
   * around or inside it, then run one after the other.
   */
  async #lockPrefix(db: Db, id: string, field: string): Promise<PrefixRow> {
    const target = isId(id)
      ? await tables(db)
          .selectFrom('networkPrefixes')
          .select(['vrfId', 'prefix'])
          .where('id', '=', id)
          .executeTakeFirst()
      : undefined;
    if (!target) throw new NotFoundError('prefix', id, field);
    const chain = await tables(db)
      .selectFrom('networkPrefixes')
      .selectAll()
      .where(vrfIs('vrf_id', target.vrfId))
      .where(sql<boolean>`prefix >>= ${target.prefix}::cidr`)
      .orderBy(sql`masklen(prefix)`)
      .forUpdate()
      .execute();
    const row = chain.find((r) => r.id === id.toLowerCase());
    if (!row) throw new NotFoundError('prefix', id, field);
    return row as PrefixRow;
  }

  async #lockAddress(db: Db, id: string) {
    const row = isId(id)
      ? await tables(db)
          .selectFrom('networkAddresses')
          .selectAll()
          .where('id', '=', id)
          .forUpdate()
          .executeTakeFirst()
      : undefined;
    if (!row) throw new NotFoundError('address', id, 'id');
    return row;
  }

  async #assertInterface(db: Db, interfaceId: string): Promise<void> {
    const found = await tables(db)
      .selectFrom('networkInterfaces')
      .select('id')
      .where('id', '=', interfaceId)
      .executeTakeFirst();
    if (!found) throw new NotFoundError('interface', interfaceId, 'interfaceId');
  }

  async #vrfLabel(db: Db, vrfId: string | null, field: string): Promise<string> {
    if (vrfId === null) return 'the global table';
    const vrf = await tables(db)
      .selectFrom('networkVrfs')
      .select('name')
      .where('id', '=', vrfId)
      .executeTakeFirst();
    if (!vrf) throw new NotFoundError('VRF', vrfId, field);
    return `VRF ${vrf.name}`;
  }

  /**
   * Raises, changes or clears the prefix's utilisation alert through event management, only when its
   * level changes (warning from `utilisationWarning`, critical when full), with a stable dedup key.
   */
  async #refreshAlert(kernel: Kernel, prefixId: string): Promise<void> {
    const [prefix] = await prefixesIn(kernel.db, [prefixId]);
    if (!prefix) return;
    const [use] = await this.#utilisation(kernel.db, [prefix]);
    const warnAt = this.options.utilisationWarning ?? 0.9;
    const level = !use ? null : use.used >= use.total ? 'critical' : use.ratio >= warnAt ? 'warning' : null;
    if (level === prefix.alertLevel) return;
    await this.#raise(kernel, prefix, level, use ?? undefined);
  }

  async #raise(kernel: Kernel, prefix: NetworkPrefix, level: string | null, use?: PrefixUtilisation) {
    await tables(kernel.db)
      .updateTable('networkPrefixes')
      .set({ alertLevel: level })
      .where('id', '=', prefix.id)
      .execute();
    const vrf = prefix.vrfId ? (await vrfsIn(kernel.db, [prefix.vrfId]))[0] : null;
    await kernel.services.events.ingest(
      {
        source: 'opsgraph-network',
        node: prefix.prefix,
        resource: vrf ? `vrf:${vrf.name}` : 'global',
        type: 'prefix_utilisation',
        severity: (level ?? 'clear') as 'critical' | 'warning' | 'clear',
        dedupKey: `network:prefix:${prefix.id}:utilisation`,
        message: use
          ? `Prefix ${prefix.prefix} is ${Math.round(use.ratio * 100)}% used (${use.used} of ${use.total} addresses)`
          : `Prefix ${prefix.prefix} is no longer tracked`,
        labels: { prefix: prefix.prefix, prefixId: prefix.id },
      },
      { actor: pluginActor('network') },
    );
  }
}
