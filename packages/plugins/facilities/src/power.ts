import {
  type Kernel,
  NotFoundError,
  parseInput,
  type ReadOptions,
  ValidationError,
  type WriteOptions,
} from '@opsgraph/core';
import { type Selectable, sql } from 'kysely';
import {
  assertRead,
  assertWrite,
  classes,
  createCi,
  type Db,
  emptyPage,
  isUuid,
  liveDevice,
  type Page,
  type PageRequest,
  POWERED_BY,
  pageByName,
  pdusDrawnBy,
  syncPowerPath,
  tables,
} from './common.js';
import { findLocation } from './locations.js';
import {
  type AllocatePowerInput,
  allocatePowerInput,
  type CreatePduInput,
  type CreatePowerFeedInput,
  type CreatePowerPanelInput,
  createPduInput,
  createPowerFeedInput,
  createPowerPanelInput,
  type FacilitiesTables,
  type Pdu,
  type PowerBudget,
  type PowerDraw,
  type PowerFeed,
  type PowerPanel,
  type RackPowerBudget,
  type RoomPowerBudget,
} from './model.js';
import { findRack, lockRack, racksInRoom } from './racks.js';

type FeedRow = Selectable<FacilitiesTables['facilitiesPowerFeeds']> & { name: string };

/** Usable watts of a feed: V × A (× √3 three-phase) × max utilization, rounded down. */
export const feedCapacityW = (f: Pick<FeedRow, 'voltage' | 'amperage' | 'phase' | 'maxUtilization'>) =>
  Math.floor((f.voltage * f.amperage * (f.phase === 'three' ? Math.sqrt(3) : 1) * f.maxUtilization) / 100);

const budget = (capacityW: number, allocatedW: number): PowerBudget => ({
  capacityW,
  allocatedW,
  headroomW: capacityW - allocatedW,
});

const allocated = (db: Db) =>
  db
    .selectFrom('facilitiesPowerDraws')
    .select(['pduId', sql<string>`sum(watts)`.as('watts')])
    .groupBy('pduId');

const selectPdus = (db: Db) =>
  db
    .selectFrom('facilitiesPdus as p')
    .innerJoin('cis as c', 'c.id', 'p.ciId')
    .leftJoin(allocated(db).as('a'), 'a.pduId', 'p.ciId')
    .selectAll('p')
    .select(['c.name', sql<string | null>`a.watts`.as('allocated')]);

const toPdu = ({ allocated, ...row }: { allocated: string | null } & Omit<Pdu, 'allocatedW'>): Pdu => ({
  ...row,
  allocatedW: Number(allocated ?? 0),
});

const selectFeeds = (db: Db) =>
  db
    .selectFrom('facilitiesPowerFeeds as f')
    .innerJoin('cis as c', 'c.id', 'f.ciId')
    .selectAll('f')
    .select([
      'c.name',
      (eb) =>
        eb
          .selectFrom('facilitiesPowerDraws as d')
          .innerJoin('facilitiesPdus as p', 'p.ciId', 'd.pduId')
          .whereRef('p.feedId', '=', 'f.ciId')
          .select(sql<string | null>`sum(d.watts)`.as('w'))
          .as('allocated'),
    ]);

const mapPage = <T, U>(page: Page<T>, f: (node: T) => U): Page<U> => ({
  ...page,
  edges: page.edges.map(({ cursor, node }) => ({ cursor, node: f(node) })),
});

const toFeed = ({ allocated, ...row }: FeedRow & { allocated: string | null }): PowerFeed => ({
  ...row,
  capacityW: feedCapacityW(row),
  allocatedW: Number(allocated ?? 0),
});

/**
 * Power panels, the feeds they supply, the PDUs feeds supply in racks, and the watts devices draw from
 * PDUs. In the CMDB: `feed powered_by panel`, `pdu powered_by feed`, `rack powered_by pdu`, `device
 * powered_by pdu`, all propagating to the powered end, so a failed feed reaches its PDUs, their racks,
 * the devices in those racks (through `contains`) and what depends on them.
 */
export interface PanelFilter {
  /** Panels in this site, building or room. */
  readonly locationId?: string;
}
export interface FeedFilter {
  /** Feeds from this panel. */
  readonly panelId?: string;
}
export interface PduFilter {
  /** PDUs in this rack. */
  readonly rackId?: string;
  /** PDUs fed by this feed. */
  readonly feedId?: string;
}

/** `query` narrowed to `column = value` for each filter value given; undefined if one is no UUID. */
function narrowed<Q extends { where: (column: never, op: '=', value: string) => Q }>(
  query: Q,
  conditions: readonly (readonly [string, string | undefined])[],
): Q | undefined {
  let q = query;
  for (const [column, value] of conditions) {
    if (value === undefined) continue;
    if (!isUuid(value)) return undefined;
    q = q.where(column as never, '=', value);
  }
  return q;
}

export class PowerService {
  constructor(private readonly kernel: Kernel) {}

  /** A power panel (a CI) in a site, building or room, which contains it. */
  async createPanel(input: CreatePowerPanelInput, { actor }: WriteOptions): Promise<PowerPanel> {
    assertWrite(actor);
    const data = parseInput(createPowerPanelInput, input);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const location = await findLocation(db, data.locationId);
      if (!location) throw new NotFoundError('location', data.locationId, 'locationId');
      if (location.kind === 'region')
        throw ValidationError.field(
          'locationId',
          `a power panel goes in a site, building or room, not a region`,
        );
      const ci = await createCi(scope, classes.powerPanel, data.name, { parentId: location.ciId });
      const row = await db
        .insertInto('facilitiesPowerPanels')
        .values({ ciId: ci.id, locationId: location.ciId, createdAt: scope.now })
        .returningAll()
        .executeTakeFirstOrThrow();
      const panel: PowerPanel = { ...row, name: ci.name };
      scope.emit('facilities.power_panel_created', { type: 'ci', id: ci.id }, { panel });
      return panel;
    });
  }

  /** A power feed (a CI) from a panel, `powered_by` it; its capacity follows from V, A and phase. */
  async createFeed(input: CreatePowerFeedInput, { actor }: WriteOptions): Promise<PowerFeed> {
    assertWrite(actor);
    const data = parseInput(createPowerFeedInput, input);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const panel = await db
        .selectFrom('facilitiesPowerPanels')
        .select('ciId')
        .where('ciId', '=', data.panelId)
        .executeTakeFirst();
      if (!panel) throw new NotFoundError('power panel', data.panelId, 'panelId');
      const ci = await createCi(scope, classes.powerFeed, data.name);
      await scope.kernel.services.cmdb.relate(
        { type: POWERED_BY, sourceId: ci.id, targetId: panel.ciId },
        { actor: scope.actor },
      );
      const { name: _, ...values } = data;
      const row = await db
        .insertInto('facilitiesPowerFeeds')
        .values({ ...values, ciId: ci.id, createdAt: scope.now, updatedAt: scope.now })
        .returningAll()
        .executeTakeFirstOrThrow();
      const feed = toFeed({ ...row, name: ci.name, allocated: null });
      scope.emit('facilities.power_feed_created', { type: 'ci', id: ci.id }, { feed });
      return feed;
    });
  }

  /** A PDU (a CI) in a rack, fed by a feed: `pdu powered_by feed` and `rack powered_by pdu`. */
  async createPdu(input: CreatePduInput, { actor }: WriteOptions): Promise<Pdu> {
    assertWrite(actor);
    const data = parseInput(createPduInput, input);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const rack = await lockRack(db, data.rackId, 'rackId');
      const feed = await db
        .selectFrom('facilitiesPowerFeeds')
        .select('ciId')
        .where('ciId', '=', data.feedId)
        .executeTakeFirst();
      if (!feed) throw new NotFoundError('power feed', data.feedId, 'feedId');
      const ci = await createCi(scope, classes.pdu, data.name);
      const cmdb = scope.kernel.services.cmdb;
      await cmdb.relate({ type: POWERED_BY, sourceId: ci.id, targetId: feed.ciId }, { actor: scope.actor });
      const row = await db
        .insertInto('facilitiesPdus')
        .values({
          ciId: ci.id,
          rackId: rack.ciId,
          feedId: feed.ciId,
          capacityW: data.capacityW,
          createdAt: scope.now,
          updatedAt: scope.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      // The rack is powered by its PDUs: directly on one feed, through a power group on A/B feeds.
      const inRack = await db
        .selectFrom('facilitiesPdus')
        .select(['ciId', 'feedId'])
        .where('rackId', '=', rack.ciId)
        .execute();
      await syncPowerPath(scope, { id: rack.ciId, name: rack.name }, inRack);
      const pdu: Pdu = { ...row, name: ci.name, allocatedW: 0 };
      scope.emit('facilities.pdu_created', { type: 'ci', id: ci.id }, { pdu });
      return pdu;
    });
  }

  /**
   * Sets the watts a device mounted in the PDU's rack draws from the PDU (replacing what it drew
   * before); the device is then `powered_by` the PDU. Refuses more than the PDU or its feed has left,
   * naming the PDU or feed and the rack. The rack's and the feed's rows are locked while checking (in
   * that order, as unplacing takes them), so concurrent allocations cannot together over-allocate.
   */
  async allocate(input: AllocatePowerInput, { actor }: WriteOptions): Promise<PowerDraw> {
    assertWrite(actor);
    const data = parseInput(allocatePowerInput, input);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const found = await db
        .selectFrom('facilitiesPdus')
        .selectAll()
        .where('ciId', '=', data.pduId)
        .executeTakeFirst();
      if (!found) throw new NotFoundError('PDU', data.pduId, 'pduId');
      const rack = await lockRack(db, found.rackId, 'pduId');
      await db
        .selectFrom('facilitiesPowerFeeds')
        .select('ciId')
        .where('ciId', '=', found.feedId)
        .forUpdate()
        .execute();
      const feed = toFeed(await selectFeeds(db).where('f.ciId', '=', found.feedId).executeTakeFirstOrThrow());
      const pdu = toPdu(await selectPdus(db).where('p.ciId', '=', data.pduId).executeTakeFirstOrThrow());
      const device = await liveDevice(scope, data.deviceId, 'deviceId');
      const placed = await db
        .selectFrom('facilitiesPlacements')
        .select('rackId')
        .where('deviceId', '=', device.id)
        .executeTakeFirst();
      if (placed?.rackId !== rack.ciId)
        throw ValidationError.field(
          'deviceId',
          `${device.name} is not mounted in rack ${rack.name}, where PDU ${pdu.name} is: place it there first`,
        );
      const before = await db
        .selectFrom('facilitiesPowerDraws')
        .selectAll()
        .where('pduId', '=', pdu.ciId)
        .where('deviceId', '=', device.id)
        .executeTakeFirst();
      const others = (w: number) => w - (before?.watts ?? 0);
      const refuse = (what: string, capacity: number, taken: number) =>
        ValidationError.field(
          'watts',
          `${what}: ${taken} W of ${capacity} W allocated, ${data.watts} W more for ${device.name} would exceed it by ${taken + data.watts - capacity} W`,
        );
      if (others(pdu.allocatedW) + data.watts > pdu.capacityW)
        throw refuse(`PDU ${pdu.name} in rack ${rack.name}`, pdu.capacityW, others(pdu.allocatedW));
      if (others(feed.allocatedW) + data.watts > feed.capacityW)
        throw refuse(
          `feed ${feed.name} (via PDU ${pdu.name} in rack ${rack.name})`,
          feed.capacityW,
          others(feed.allocatedW),
        );
      const row = before
        ? await db
            .updateTable('facilitiesPowerDraws')
            .set({ watts: data.watts })
            .where('pduId', '=', pdu.ciId)
            .where('deviceId', '=', device.id)
            .returningAll()
            .executeTakeFirstOrThrow()
        : await db
            .insertInto('facilitiesPowerDraws')
            .values({ pduId: pdu.ciId, deviceId: device.id, watts: data.watts, createdAt: scope.now })
            .returningAll()
            .executeTakeFirstOrThrow();
      if (!before) await syncPowerPath(scope, device, await pdusDrawnBy(db, device.id));
      const draw: PowerDraw = { ...row, deviceName: device.name };
      scope.emit(
        'facilities.power_allocated',
        { type: 'ci', id: device.id },
        {
          draw,
          pduId: pdu.ciId,
          rackId: rack.ciId,
        },
      );
      return draw;
    });
  }

  /** Releases what a device draws from a PDU; it is no longer `powered_by` it. */
  async release(input: { pduId: string; deviceId: string }, { actor }: WriteOptions): Promise<PowerDraw> {
    assertWrite(actor);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const pdu = isUuid(input.pduId)
        ? await db.selectFrom('facilitiesPdus').selectAll().where('ciId', '=', input.pduId).executeTakeFirst()
        : undefined;
      if (!pdu) throw new NotFoundError('PDU', input.pduId, 'pduId');
      await lockRack(db, pdu.rackId, 'pduId');
      await db
        .selectFrom('facilitiesPowerFeeds')
        .select('ciId')
        .where('ciId', '=', pdu.feedId)
        .forUpdate()
        .execute();
      const row = isUuid(input.deviceId)
        ? await db
            .deleteFrom('facilitiesPowerDraws')
            .where('pduId', '=', pdu.ciId)
            .where('deviceId', '=', input.deviceId)
            .returningAll()
            .executeTakeFirst()
        : undefined;
      if (!row) throw new NotFoundError('power draw', `${input.deviceId} on PDU ${input.pduId}`, 'deviceId');
      const [name] = await scope.kernel.services.cmdb.getMany([row.deviceId]);
      const draw: PowerDraw = { ...row, deviceName: name?.name ?? row.deviceId };
      await syncPowerPath(
        scope,
        { id: row.deviceId, name: draw.deviceName },
        await pdusDrawnBy(db, row.deviceId),
      );
      scope.emit(
        'facilities.power_released',
        { type: 'ci', id: row.deviceId },
        {
          draw,
          pduId: pdu.ciId,
          rackId: pdu.rackId,
        },
      );
      return draw;
    });
  }

  async panels(filter: PanelFilter = {}, options: ReadOptions = {}): Promise<PowerPanel[]> {
    assertRead(options);
    return (await this.#panels(filter)?.orderBy('c.name').orderBy('p.ciId').execute()) ?? [];
  }

  /** A page of `panels`: `first` panels after the cursor `after`, in one query. */
  async panelsPage(
    filter: PanelFilter,
    page: PageRequest,
    options: ReadOptions = {},
  ): Promise<Page<PowerPanel>> {
    assertRead(options);
    const query = this.#panels(filter);
    return query ? pageByName(tables(this.kernel.db), query, 'p.ciId', page, 'a power panel') : emptyPage();
  }

  /** Feeds with their capacity and what is allocated through them, by name. */
  async feeds(filter: FeedFilter = {}, options: ReadOptions = {}): Promise<PowerFeed[]> {
    assertRead(options);
    const query = this.#feeds(filter);
    return query ? (await query.orderBy('c.name').orderBy('f.ciId').execute()).map(toFeed) : [];
  }

  /** A page of `feeds`: `first` feeds after the cursor `after`, in one query. */
  async feedsPage(
    filter: FeedFilter,
    page: PageRequest,
    options: ReadOptions = {},
  ): Promise<Page<PowerFeed>> {
    assertRead(options);
    const query = this.#feeds(filter);
    return query
      ? mapPage(await pageByName(tables(this.kernel.db), query, 'f.ciId', page, 'a power feed'), toFeed)
      : emptyPage();
  }

  /** PDUs with their allocated load, by name; of one rack or one feed when asked. */
  async pdus(filter: PduFilter = {}, options: ReadOptions = {}): Promise<Pdu[]> {
    assertRead(options);
    const query = this.#pdus(filter);
    return query ? (await query.orderBy('c.name').orderBy('p.ciId').execute()).map(toPdu) : [];
  }

  /** A page of `pdus`: `first` PDUs after the cursor `after`, in one query. */
  async pdusPage(filter: PduFilter, page: PageRequest, options: ReadOptions = {}): Promise<Page<Pdu>> {
    assertRead(options);
    const query = this.#pdus(filter);
    return query
      ? mapPage(await pageByName(tables(this.kernel.db), query, 'p.ciId', page, 'a PDU'), toPdu)
      : emptyPage();
  }

  /** The PDUs in each of these racks, by name: a DataLoader batch function (one query). */
  async pdusOf(rackIds: readonly string[], options: ReadOptions = {}): Promise<Pdu[][]> {
    assertRead(options);
    const valid = rackIds.filter(isUuid);
    const rows =
      valid.length === 0
        ? []
        : (
            await selectPdus(tables(this.kernel.db))
              .where('p.rackId', 'in', valid)
              .orderBy('c.name')
              .orderBy('p.ciId')
              .execute()
          ).map(toPdu);
    return rackIds.map((id) => rows.filter((p) => p.rackId === id));
  }

  #panels(filter: PanelFilter) {
    const query = tables(this.kernel.db)
      .selectFrom('facilitiesPowerPanels as p')
      .innerJoin('cis as c', 'c.id', 'p.ciId')
      .selectAll('p')
      .select('c.name');
    return narrowed(query, [['p.locationId', filter.locationId]]);
  }

  #feeds(filter: FeedFilter) {
    return narrowed(selectFeeds(tables(this.kernel.db)), [['f.panelId', filter.panelId]]);
  }

  #pdus(filter: PduFilter) {
    return narrowed(selectPdus(tables(this.kernel.db)), [
      ['p.rackId', filter.rackId],
      ['p.feedId', filter.feedId],
    ]);
  }

  /** What devices draw from a PDU, by device name. */
  async draws(pduId: string, options: ReadOptions = {}): Promise<PowerDraw[]> {
    return (await this.drawsOf([pduId], options))[0]!;
  }

  /** The budgets of these racks (missing ones null), in two queries: a DataLoader batch function. */
  async rackBudgetsOf(
    rackIds: readonly string[],
    options: ReadOptions = {},
  ): Promise<(RackPowerBudget | null)[]> {
    assertRead(options);
    const racks = await this.kernel.plugins.facilities.racks.getMany(rackIds);
    const budgets = await this.#rackBudgets(racks.filter((r) => r !== null));
    return rackIds.map((id) => budgets.find((b) => b.rackId === id) ?? null);
  }

  /** What devices draw from each of these PDUs, by device name: a DataLoader batch function. */
  async drawsOf(pduIds: readonly string[], options: ReadOptions = {}): Promise<PowerDraw[][]> {
    assertRead(options);
    const valid = pduIds.filter(isUuid);
    const rows =
      valid.length === 0
        ? []
        : await tables(this.kernel.db)
            .selectFrom('facilitiesPowerDraws as d')
            .innerJoin('cis as c', 'c.id', 'd.deviceId')
            .selectAll('d')
            .select('c.name as deviceName')
            .where('d.pduId', 'in', valid)
            .orderBy('c.name')
            .execute();
    return pduIds.map((id) => rows.filter((d) => d.pduId === id));
  }

  /** A rack's power: the capacity of its PDUs, what devices draw from them, and the headroom. */
  async rackBudget(rackId: string, options: ReadOptions = {}): Promise<RackPowerBudget> {
    assertRead(options);
    const rack = await findRack(tables(this.kernel.db), rackId);
    if (!rack) throw new NotFoundError('rack', rackId, 'rackId');
    return this.#rackBudgets([rack]).then(([b]) => b!);
  }

  /** A room's power: the budgets of its racks, summed. */
  async roomBudget(roomId: string, options: ReadOptions = {}): Promise<RoomPowerBudget> {
    assertRead(options);
    const db = tables(this.kernel.db);
    const room = await findLocation(db, roomId);
    if (room?.kind !== 'room') throw new NotFoundError('room', roomId, 'roomId');
    const racks = await this.#rackBudgets(await racksInRoom(db, roomId));
    const sum = (f: (b: RackPowerBudget) => number) => racks.reduce((total, b) => total + f(b), 0);
    return {
      roomId,
      roomName: room.name,
      ...budget(
        sum((b) => b.capacityW),
        sum((b) => b.allocatedW),
      ),
      racks,
    };
  }

  async #rackBudgets(racks: readonly { ciId: string; name: string }[]): Promise<RackPowerBudget[]> {
    if (racks.length === 0) return [];
    const pdus = (
      await selectPdus(tables(this.kernel.db))
        .where(
          'p.rackId',
          'in',
          racks.map((r) => r.ciId),
        )
        .orderBy('c.name')
        .orderBy('p.ciId')
        .execute()
    ).map(toPdu);
    return racks.map((rack) => {
      const mine = pdus.filter((p) => p.rackId === rack.ciId);
      return {
        rackId: rack.ciId,
        rackName: rack.name,
        ...budget(
          mine.reduce((t, p) => t + p.capacityW, 0),
          mine.reduce((t, p) => t + p.allocatedW, 0),
        ),
        pdus: mine,
      };
    });
  }
}
