import {
  type Ci,
  CiReach,
  type Kernel,
  keysetPage,
  NotFoundError,
  type Page,
  type PageRequest,
  parseInput,
  parseKeysetCursor,
  pluginActor,
  type ReadOptions,
  ValidationError,
  type WriteOptions,
} from '@opsgraph/core';
import { sql } from 'kysely';
import { assertVersion, isUniqueViolation, networkPermissions, tables } from './common.js';
import {
  type ConnectInput,
  type CreateInterfaceInput,
  connectInput,
  createInterfaceInput,
  type NetworkInterface,
  type NetworkLink,
  type NetworkPath,
  type PathHop,
  type UpdateInterfaceInput,
  updateInterfaceInput,
} from './model.js';
import { byName, emptyPage, nameOrder, pageOf, pageSize } from './page.js';

type Db = Kernel['db'];

const isId = (id: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);

async function interfacesIn(db: Db, ids: readonly string[]): Promise<(NetworkInterface | null)[]> {
  const valid = ids.filter(isId);
  if (valid.length === 0) return ids.map(() => null);
  const rows = await tables(db)
    .selectFrom('networkInterfaces')
    .selectAll()
    .where('id', 'in', valid)
    .execute();
  return ids.map((id) => rows.find((r) => r.id === id.toLowerCase()) ?? null);
}

/** Longest path searched, in links. */
export const MAX_PATH_HOPS = 32;

/**
 * Device interfaces, the links (cables) between them, and paths over links. Devices are any CIs;
 * interfaces hang on them, so who may write the device (`network:write` on it) may write its interfaces.
 */
export class InterfacesService {
  constructor(private readonly kernel: Kernel) {}

  async createInterface(input: CreateInterfaceInput, { actor }: WriteOptions): Promise<NetworkInterface> {
    const writable = CiReach.of(actor, networkPermissions.write);
    const data = parseInput(createInterfaceInput, input);
    writable.assert(data.deviceId, 'deviceId');
    return this.kernel.write(actor, async ({ db, now, emit, kernel }) => {
      const device = await this.#device(kernel, data.deviceId, 'deviceId');
      const duplicate = () =>
        ValidationError.field('name', `interface ${data.name} already exists on ${device.name}`);
      if (await this.#named(db, device.id, data.name)) throw duplicate();
      const row = await tables(db)
        .insertInto('networkInterfaces')
        .values({
          id: crypto.randomUUID(),
          deviceId: device.id,
          name: data.name,
          type: data.type,
          speedMbps: data.speedMbps ?? null,
          mac: data.mac ?? null,
          enabled: data.enabled,
          description: data.description,
          createdAt: now,
          updatedAt: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? duplicate() : error;
        });
      emit('network.interface.created', { type: 'ci', id: device.id }, { interface: row });
      return row;
    });
  }

  async updateInterface(
    id: string,
    input: UpdateInterfaceInput,
    { actor }: WriteOptions,
  ): Promise<NetworkInterface> {
    const writable = CiReach.of(actor, networkPermissions.write);
    const data = parseInput(updateInterfaceInput, input);
    return this.kernel.write(actor, async ({ db, now, emit, kernel }) => {
      const current = await this.#lock(db, id);
      writable.assert(current.deviceId, 'id');
      assertVersion('interface', id, data.version, current.version);
      if (
        data.name !== undefined &&
        data.name !== current.name &&
        (await this.#named(db, current.deviceId, data.name))
      ) {
        const device = await this.#device(kernel, current.deviceId, 'id');
        throw ValidationError.field('name', `interface ${data.name} already exists on ${device.name}`);
      }
      const row = await tables(db)
        .updateTable('networkInterfaces')
        .set({
          ...(data.name !== undefined ? { name: data.name } : {}),
          ...(data.type !== undefined ? { type: data.type } : {}),
          ...(data.speedMbps !== undefined ? { speedMbps: data.speedMbps } : {}),
          ...(data.mac !== undefined ? { mac: data.mac } : {}),
          ...(data.enabled !== undefined ? { enabled: data.enabled } : {}),
          ...(data.description !== undefined ? { description: data.description } : {}),
          version: current.version + 1,
          updatedAt: now,
        })
        .where('id', '=', current.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      emit('network.interface.updated', { type: 'ci', id: row.deviceId }, { interface: row });
      return row;
    });
  }

  /** Deletes an interface; refused while a link uses it. Its addresses stay, unassigned. */
  async deleteInterface(id: string, version: number, { actor }: WriteOptions): Promise<NetworkInterface> {
    const writable = CiReach.of(actor, networkPermissions.write);
    return this.kernel.write(actor, async ({ db, emit }) => {
      const current = await this.#lock(db, id);
      writable.assert(current.deviceId, 'id');
      assertVersion('interface', id, version, current.version);
      const end = await tables(db)
        .selectFrom('networkLinkEnds')
        .select('linkId')
        .where('interfaceId', '=', current.id)
        .executeTakeFirst();
      if (end)
        throw ValidationError.field(
          'id',
          `interface ${current.name} is linked (link ${end.linkId}): disconnect it first`,
        );
      await tables(db).deleteFrom('networkInterfaces').where('id', '=', current.id).execute();
      emit('network.interface.deleted', { type: 'ci', id: current.deviceId }, { interface: current });
      return current;
    });
  }

  /** A device's interfaces by name. With an actor: `network:read` on the device. */
  async interfacesOf(deviceId: string, options: ReadOptions = {}): Promise<NetworkInterface[]> {
    CiReach.of(options.actor, networkPermissions.read).assert(deviceId, 'deviceId');
    if (!isId(deviceId)) return [];
    return tables(this.kernel.db)
      .selectFrom('networkInterfaces')
      .selectAll()
      .where('deviceId', '=', deviceId)
      .orderBy('name')
      .execute();
  }

  /** A keyset page of a device's interfaces by name. `after` is the `endCursor` of the page before. */
  async interfacePage(
    deviceId: string,
    page: PageRequest = {},
    options: ReadOptions = {},
  ): Promise<Page<NetworkInterface>> {
    CiReach.of(options.actor, networkPermissions.read).assert(deviceId, 'deviceId');
    const first = pageSize(page.first);
    const after = page.after ? parseKeysetCursor(page.after, byName, nameOrder, 'an interface') : undefined;
    if (!isId(deviceId)) return emptyPage();
    const query = tables(this.kernel.db)
      .selectFrom('networkInterfaces')
      .selectAll()
      .where('deviceId', '=', deviceId);
    const rows = await keysetPage(query, nameOrder.exprs, 'asc', after)
      .limit(first + 1)
      .execute();
    return pageOf(rows, first, byName, nameOrder);
  }

  async interfacesById(ids: readonly string[]): Promise<(NetworkInterface | null)[]> {
    return interfacesIn(this.kernel.db, ids);
  }

  /** The link on each interface, or null. */
  async linksOf(interfaceIds: readonly string[]): Promise<(NetworkLink | null)[]> {
    const valid = interfaceIds.filter(isId);
    if (valid.length === 0) return interfaceIds.map(() => null);
    const rows = await tables(this.kernel.db)
      .selectFrom('networkLinkEnds as e')
      .innerJoin('networkLinks as l', 'l.id', 'e.linkId')
      .selectAll('l')
      .select('e.interfaceId')
      .where('e.interfaceId', 'in', valid)
      .execute();
    return interfaceIds.map((id) => {
      const row = rows.find((r) => r.interfaceId === id.toLowerCase());
      if (!row) return null;
      const { interfaceId: _, ...link } = row;
      return link;
    });
  }

  /**
   * Links two interfaces with a cable. Each interface takes one link: a second is refused naming the
   * interface (checked first, and by the primary key of the link ends if two writers race). The two
   * devices get a CMDB `connected_to` relationship, so impact analysis follows the cabling.
   */
  async connect(input: ConnectInput, { actor }: WriteOptions): Promise<NetworkLink> {
    const writable = CiReach.of(actor, networkPermissions.write);
    const data = parseInput(connectInput, input);
    if (data.aInterfaceId.toLowerCase() === data.bInterfaceId.toLowerCase())
      throw ValidationError.field('bInterfaceId', 'a link joins two different interfaces');
    return this.kernel.write(actor, async ({ db, now, emit, kernel }) => {
      const ends = [] as { field: 'aInterfaceId' | 'bInterfaceId'; iface: NetworkInterface; device: Ci }[];
      for (const field of ['aInterfaceId', 'bInterfaceId'] as const) {
        const iface = await this.#lock(db, data[field], field);
        writable.assert(iface.deviceId, field);
        ends.push({ field, iface, device: await this.#device(kernel, iface.deviceId, field) });
      }
      const taken = (end: (typeof ends)[number], linkId: string) =>
        ValidationError.field(
          end.field,
          `interface ${end.iface.name} of ${end.device.name} is already linked (link ${linkId})`,
        );
      for (const end of ends) {
        const existing = await tables(db)
          .selectFrom('networkLinkEnds')
          .select('linkId')
          .where('interfaceId', '=', end.iface.id)
          .executeTakeFirst();
        if (existing) throw taken(end, existing.linkId);
      }
      const link = await tables(db)
        .insertInto('networkLinks')
        .values({
          id: crypto.randomUUID(),
          aInterfaceId: ends[0]!.iface.id,
          bInterfaceId: ends[1]!.iface.id,
          cableType: data.cableType,
          label: data.label,
          createdAt: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      for (const end of ends) {
        await tables(db)
          .insertInto('networkLinkEnds')
          .values({ interfaceId: end.iface.id, linkId: link.id })
          .execute()
          .catch((error: unknown) => {
            throw isUniqueViolation(error) ? taken(end, 'being created concurrently') : error;
          });
      }
      const [a, b] = ends as [(typeof ends)[number], (typeof ends)[number]];
      if (a.device.id !== b.device.id) {
        const [rels] = await kernel.services.cmdb.relationshipsOf([a.device.id]);
        const related = (rels ?? []).some(
          (r) =>
            r.type === 'connected_to' &&
            ((r.sourceId === a.device.id && r.targetId === b.device.id) ||
              (r.sourceId === b.device.id && r.targetId === a.device.id)),
        );
        if (!related)
          await kernel.services.cmdb.relate(
            { type: 'connected_to', sourceId: a.device.id, targetId: b.device.id },
            { actor: pluginActor('network') },
          );
      }
      emit('network.link.created', { type: 'ci', id: a.device.id }, { link });
      return link;
    });
  }

  /**
   * Removes a link. The devices' `connected_to` relationship goes too when no other link joins them
   * (one made by hand stays only while a link remains: the cabling is the source of truth here).
   */
  async disconnect(linkId: string, { actor }: WriteOptions): Promise<NetworkLink> {
    const writable = CiReach.of(actor, networkPermissions.write);
    return this.kernel.write(actor, async ({ db, emit, kernel }) => {
      const link = isId(linkId)
        ? await tables(db)
            .selectFrom('networkLinks')
            .selectAll()
            .where('id', '=', linkId)
            .forUpdate()
            .executeTakeFirst()
        : undefined;
      if (!link) throw new NotFoundError('link', linkId, 'id');
      const [a, b] = (await interfacesIn(db, [link.aInterfaceId, link.bInterfaceId])) as [
        NetworkInterface,
        NetworkInterface,
      ];
      writable.assert(a.deviceId, 'id');
      writable.assert(b.deviceId, 'id');
      await tables(db).deleteFrom('networkLinks').where('id', '=', link.id).execute();
      if (a.deviceId !== b.deviceId) {
        const others = await sql<{ n: number }>`
          select 1 as n from network_links l
          join network_interfaces x on x.id = l.a_interface_id
          join network_interfaces y on y.id = l.b_interface_id
          where (x.device_id = ${a.deviceId} and y.device_id = ${b.deviceId})
             or (x.device_id = ${b.deviceId} and y.device_id = ${a.deviceId})
          limit 1`.execute(db);
        if (others.rows.length === 0) {
          const [rels] = await kernel.services.cmdb.relationshipsOf([a.deviceId]);
          for (const r of rels ?? []) {
            const joins =
              (r.sourceId === a.deviceId && r.targetId === b.deviceId) ||
              (r.sourceId === b.deviceId && r.targetId === a.deviceId);
            if (r.type === 'connected_to' && joins)
              await kernel.services.cmdb.unrelate(r.id, { actor: pluginActor('network') });
          }
        }
      }
      emit('network.link.deleted', { type: 'ci', id: a.deviceId }, { link });
      return link;
    });
  }

  /**
   * Frees what a device held once it is retired (the `ci.retired` handler calls it as the plugin's
   * actor): every link on its interfaces is disconnected (with the `connected_to` relationships
   * `disconnect` removes) and every address on its interfaces released, all in one transaction, each
   * with its own `network.*` event, then one `network.device.released`. The interfaces stay, as records
   * of the retired device. Nothing held: nothing written, no event.
   */
  async releaseDevice(
    deviceId: string,
    { actor }: WriteOptions,
  ): Promise<{ linkIds: string[]; addressIds: string[] }> {
    CiReach.of(actor, networkPermissions.write).assert(deviceId, 'deviceId');
    if (!isId(deviceId)) return { linkIds: [], addressIds: [] };
    return this.kernel.write(actor, async ({ db, emit, kernel }) => {
      // Lock the device's interfaces first: a concurrent connect to one of them waits for us.
      const ifaces = await tables(db)
        .selectFrom('networkInterfaces')
        .select('id')
        .where('deviceId', '=', deviceId)
        .orderBy('id')
        .forUpdate()
        .execute();
      if (ifaces.length === 0) return { linkIds: [], addressIds: [] };
      const ids = ifaces.map((i) => i.id);
      const links = await tables(db)
        .selectFrom('networkLinkEnds')
        .select('linkId')
        .distinct()
        .where('interfaceId', 'in', ids)
        .orderBy('linkId')
        .execute();
      const addresses = await tables(db)
        .selectFrom('networkAddresses')
        .select(['id', 'version'])
        .where('interfaceId', 'in', ids)
        .orderBy('address')
        .execute();
      // The transaction's own services: each step joins this transaction.
      const { interfaces, ipam } = kernel.plugins.network;
      for (const { linkId } of links) await interfaces.disconnect(linkId, { actor });
      for (const a of addresses) await ipam.releaseAddress(a.id, a.version, { actor });
      const released = { linkIds: links.map((l) => l.linkId), addressIds: addresses.map((a) => a.id) };
      if (links.length > 0 || addresses.length > 0)
        emit('network.device.released', { type: 'ci', id: deviceId }, { deviceId, ...released });
      return released;
    });
  }

  /**
   * The shortest path from one device to another over links whose two interfaces are enabled, by a
   * recursive query over the link graph: a breadth-first pass finds each device's distance, then a
   * walk back from the target along decreasing distances gives one shortest path (ties broken by
   * link id). Empty hops: unreachable within `maxHops`.
   */
  async path(
    fromDeviceId: string,
    toDeviceId: string,
    options: ReadOptions & { maxHops?: number } = {},
  ): Promise<NetworkPath> {
    const readable = CiReach.of(options.actor, networkPermissions.read);
    readable.assert(fromDeviceId, 'fromDeviceId');
    readable.assert(toDeviceId, 'toDeviceId');
    if (!isId(fromDeviceId)) throw new NotFoundError('CI', fromDeviceId, 'fromDeviceId');
    if (!isId(toDeviceId)) throw new NotFoundError('CI', toDeviceId, 'toDeviceId');
    const from = fromDeviceId.toLowerCase();
    const to = toDeviceId.toLowerCase();
    const maxHops = Math.min(Math.max(options.maxHops ?? 16, 1), MAX_PATH_HOPS);
    if (from === to) return { fromDeviceId: from, toDeviceId: to, hops: [this.#start(from)] };
    const result = await sql<{ devices: string[]; links: string[]; froms: string[]; tos: string[] }>`
      with recursive edges as (
        select x.device_id as a, y.device_id as b, l.id as link_id, x.id as a_if, y.id as b_if
        from network_links l
        join network_interfaces x on x.id = l.a_interface_id and x.enabled
        join network_interfaces y on y.id = l.b_interface_id and y.enabled
        union all
        select y.device_id, x.device_id, l.id, y.id, x.id
        from network_links l
        join network_interfaces x on x.id = l.a_interface_id and x.enabled
        join network_interfaces y on y.id = l.b_interface_id and y.enabled
      ),
      reach(device, depth) as (
        select ${from}::uuid, 0
        union
        select e.b, r.depth + 1 from reach r join edges e on e.a = r.device
        where r.depth < ${maxHops} and r.device <> ${to}::uuid
      ),
      dist as (select device, min(depth) as depth from reach group by device),
      back(device, depth, devices, links, froms, tos) as (
        select d.device, d.depth, array[d.device], array[]::uuid[], array[]::uuid[], array[]::uuid[]
        from dist d where d.device = ${to}::uuid
        union all
        select e.a, k.depth - 1, e.a || k.devices, e.link_id || k.links, e.a_if || k.froms, e.b_if || k.tos
        from back k
        join edges e on e.b = k.device
        join dist d on d.device = e.a and d.depth = k.depth - 1
        where k.depth > 0
      )
      select devices, links, froms, tos from back
      where depth = 0
      order by links
      limit 1`.execute(this.kernel.db);
    const row = result.rows[0];
    if (!row) return { fromDeviceId: from, toDeviceId: to, hops: [] };
    const devices = pgArray(row.devices);
    const links = pgArray(row.links);
    const froms = pgArray(row.froms);
    const tos = pgArray(row.tos);
    const hops: PathHop[] = [this.#start(from)];
    for (let i = 0; i < links.length; i++)
      hops.push({
        deviceId: devices[i + 1]!,
        linkId: links[i]!,
        fromInterfaceId: froms[i]!,
        toInterfaceId: tos[i]!,
      });
    return { fromDeviceId: from, toDeviceId: to, hops };
  }

  #start(deviceId: string): PathHop {
    return { deviceId, linkId: null, fromInterfaceId: null, toInterfaceId: null };
  }

  async #device(kernel: Kernel, id: string, field: string): Promise<Ci> {
    const device = isId(id) ? await kernel.services.cmdb.get(id) : null;
    if (!device) throw new NotFoundError('CI', id, field);
    if (device.status === 'retired') throw ValidationError.field(field, `CI ${device.name} is retired`);
    return device;
  }

  async #named(db: Db, deviceId: string, name: string) {
    return tables(db)
      .selectFrom('networkInterfaces')
      .select('id')
      .where('deviceId', '=', deviceId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async #lock(db: Db, id: string, field = 'id'): Promise<NetworkInterface> {
    const row = isId(id)
      ? await tables(db)
          .selectFrom('networkInterfaces')
          .selectAll()
          .where('id', '=', id)
          .forUpdate()
          .executeTakeFirst()
      : undefined;
    if (!row) throw new NotFoundError('interface', id, field);
    return row;
  }
}

/** uuid[] comes back as an array from pg, and maybe as `{a,b}` text elsewhere. */
function pgArray(value: string[] | string): string[] {
  if (Array.isArray(value)) return value;
  const inner = value.replace(/^\{|\}$/g, '');
  return inner === '' ? [] : inner.split(',');
}
