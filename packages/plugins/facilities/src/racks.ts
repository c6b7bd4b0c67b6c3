import {
  ConflictError,
  type Kernel,
  NotFoundError,
  parseInput,
  type ReadOptions,
  ValidationError,
  type WriteOptions,
  type WriteScope,
} from '@opsgraph/core';
import {
  assertRead,
  assertWrite,
  CONTAINS,
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
  tables,
  units,
  unrelate,
} from './common.js';
import { elevationOf, renderElevationSvg } from './elevation.js';
import { findLocation } from './locations.js';
import {
  type CreateRackInput,
  createRackInput,
  type PlaceDeviceInput,
  type Placement,
  placeDeviceInput,
  type Rack,
  type RackElevation,
  type UpdateRackInput,
  updateRackInput,
} from './model.js';

const selectRacks = (db: Db) =>
  db
    .selectFrom('facilitiesRacks as r')
    .innerJoin('cis as c', 'c.id', 'r.ciId')
    .selectAll('r')
    .select('c.name');

const selectPlacements = (db: Db) =>
  db
    .selectFrom('facilitiesPlacements as p')
    .innerJoin('cis as c', 'c.id', 'p.deviceId')
    .selectAll('p')
    .select(['c.name as deviceName', 'c.class as deviceClass']);

/** The rack with this id, if there is one. */
export async function findRack(db: Db, id: string): Promise<Rack | undefined> {
  return isUuid(id) ? selectRacks(db).where('r.ciId', '=', id).executeTakeFirst() : undefined;
}

/** The racks of one room, by name. */
export async function racksInRoom(db: Db, roomId: string): Promise<Rack[]> {
  return selectRacks(db).where('r.roomId', '=', roomId).orderBy('c.name').orderBy('r.ciId').execute();
}

/** The rack, its row locked until the write ends: placements in one rack are checked one at a time. */
export async function lockRack(db: Db, id: string, field: string): Promise<Rack> {
  const locked = isUuid(id)
    ? await db
        .selectFrom('facilitiesRacks')
        .select('ciId')
        .where('ciId', '=', id)
        .forUpdate()
        .executeTakeFirst()
    : undefined;
  if (!locked) throw new NotFoundError('rack', id, field);
  return selectRacks(db).where('r.ciId', '=', id).executeTakeFirstOrThrow();
}

export interface RackFilter {
  /** Racks in this room. */
  readonly roomId?: string;
}

/** Racks, and the devices mounted in them at a U position, face and height. */
export class RacksService {
  constructor(private readonly kernel: Kernel) {}

  /** Creates a rack (a CI of class `rack`) in a room, which contains it. */
  async create(input: CreateRackInput, { actor }: WriteOptions): Promise<Rack> {
    assertWrite(actor);
    const data = parseInput(createRackInput, input);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const room = await findLocation(db, data.roomId);
      if (!room) throw new NotFoundError('room', data.roomId, 'roomId');
      if (room.kind !== 'room')
        throw ValidationError.field('roomId', `a rack goes in a room, and ${room.name} is a ${room.kind}`);
      const ci = await createCi(scope, classes.rack, data.name, { parentId: room.ciId });
      const row = await db
        .insertInto('facilitiesRacks')
        .values({
          ciId: ci.id,
          roomId: room.ciId,
          uHeight: data.uHeight,
          createdAt: scope.now,
          updatedAt: scope.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const rack: Rack = { ...row, name: ci.name };
      scope.emit('facilities.rack_created', { type: 'ci', id: ci.id }, { rack });
      return rack;
    });
  }

  /** Changes the rack's height if it is still at `version`; a device above the new height refuses it. */
  async update(id: string, input: UpdateRackInput, { actor }: WriteOptions): Promise<Rack> {
    assertWrite(actor);
    const data = parseInput(updateRackInput, input);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const current = await lockRack(db, id, 'id');
      if (current.version !== data.version)
        throw ConflictError.staleVersion('rack', current.name, data.version, current.version);
      const above = (await selectPlacements(db).where('p.rackId', '=', id).execute()).find(
        (p) => p.position + p.height - 1 > data.uHeight,
      );
      if (above)
        throw ValidationError.field(
          'uHeight',
          `rack ${current.name}: ${above.deviceName} occupies ${units(above.position, above.position + above.height - 1)}, above ${data.uHeight} U`,
        );
      const row = await db
        .updateTable('facilitiesRacks')
        .set({ uHeight: data.uHeight, version: current.version + 1, updatedAt: scope.now })
        .where('ciId', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      const rack: Rack = { ...row, name: current.name };
      scope.emit('facilities.rack_updated', { type: 'ci', id }, { rack });
      return rack;
    });
  }

  async get(id: string, options: ReadOptions = {}): Promise<Rack | null> {
    return (await this.getMany([id], options))[0] ?? null;
  }

  /** In the order of `ids`, null where missing: a DataLoader batch function. */
  async getMany(ids: readonly string[], options: ReadOptions = {}): Promise<(Rack | null)[]> {
    assertRead(options);
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return ids.map(() => null);
    const rows = await selectRacks(tables(this.kernel.db)).where('r.ciId', 'in', valid).execute();
    return ids.map((id) => rows.find((r) => r.ciId === id) ?? null);
  }

  /** Racks by name, in one room when `roomId` is given. */
  async list(filter: RackFilter = {}, options: ReadOptions = {}): Promise<Rack[]> {
    assertRead(options);
    return (await this.#query(filter)?.orderBy('c.name').orderBy('r.ciId').execute()) ?? [];
  }

  /** A page of `list`: `first` racks after the cursor `after`, in one query. */
  async page(filter: RackFilter, page: PageRequest, options: ReadOptions = {}): Promise<Page<Rack>> {
    assertRead(options);
    const query = this.#query(filter);
    return query ? pageByName(tables(this.kernel.db), query, 'r.ciId', page, 'a rack') : emptyPage();
  }

  /** The filtered query, unordered; undefined when no row can match (a room id that is no UUID). */
  #query(filter: RackFilter) {
    const query = selectRacks(tables(this.kernel.db));
    if (filter.roomId === undefined) return query;
    return isUuid(filter.roomId) ? query.where('r.roomId', '=', filter.roomId) : undefined;
  }

  /**
   * Mounts a device (any live CI) in a rack from U `position` up `height` U, on a face (both when full
   * depth); the rack then contains it in the CMDB. Refuses a U beyond the rack's height and a U another
   * device holds on that face, naming the rack and the U. The rack's row is locked while checking, so
   * concurrent placements cannot both take a U.
   */
  async place(input: PlaceDeviceInput, { actor }: WriteOptions): Promise<Placement> {
    assertWrite(actor);
    const data = parseInput(placeDeviceInput, input);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const rack = await lockRack(db, data.rackId, 'rackId');
      const device = await liveDevice(scope, data.deviceId, 'deviceId');
      const top = data.position + data.height - 1;
      if (top > rack.uHeight)
        throw ValidationError.field(
          'position',
          `rack ${rack.name} has ${rack.uHeight} U: ${units(data.position, top)} is out of range`,
        );
      const already = await selectPlacements(db).where('p.deviceId', '=', device.id).executeTakeFirst();
      if (already) {
        const where = (await findRack(db, already.rackId))!;
        throw ValidationError.field(
          'deviceId',
          `${device.name} is already in rack ${where.name} at ${units(already.position, already.position + already.height - 1)}: unplace it first`,
        );
      }
      const clash = (await selectPlacements(db).where('p.rackId', '=', rack.ciId).execute())
        .filter((p) => p.fullDepth || data.fullDepth || p.face === data.face)
        .filter((p) => p.position <= top && p.position + p.height - 1 >= data.position)
        .sort((a, b) => a.position - b.position)[0];
      if (clash)
        throw ValidationError.field(
          'position',
          `rack ${rack.name}: U${Math.max(data.position, clash.position)} is taken by ${clash.deviceName}`,
        );
      const row = await db
        .insertInto('facilitiesPlacements')
        .values({
          deviceId: device.id,
          rackId: rack.ciId,
          position: data.position,
          height: data.height,
          face: data.face,
          fullDepth: data.fullDepth,
          createdAt: scope.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((error: { code?: string }) => {
          // The same device placed concurrently in another rack (whose lock we do not hold).
          if (error.code === '23505')
            throw ValidationError.field('deviceId', `${device.name} is already placed`);
          throw error;
        });
      await scope.kernel.services.cmdb.relate(
        { type: CONTAINS, sourceId: rack.ciId, targetId: device.id },
        { actor: scope.actor },
      );
      const placement: Placement = { ...row, deviceName: device.name, deviceClass: device.class };
      scope.emit('facilities.device_placed', { type: 'ci', id: device.id }, { placement });
      return placement;
    });
  }

  /**
   * Takes a device out of its rack: the rack no longer contains it, and the power it drew from the
   * rack's PDUs is released (a device out of the rack draws nothing there).
   */
  async unplace(deviceId: string, { actor }: WriteOptions): Promise<Placement> {
    assertWrite(actor);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const found = isUuid(deviceId)
        ? await db
            .selectFrom('facilitiesPlacements')
            .selectAll()
            .where('deviceId', '=', deviceId)
            .executeTakeFirst()
        : undefined;
      if (!found) throw new NotFoundError('placement', deviceId, 'deviceId');
      const rack = await lockRack(db, found.rackId, 'deviceId');
      const placement = await selectPlacements(db)
        .where('p.deviceId', '=', deviceId)
        .executeTakeFirstOrThrow();
      await releaseDrawsInRack(scope, rack, deviceId);
      await db.deleteFrom('facilitiesPlacements').where('deviceId', '=', deviceId).execute();
      await unrelate(scope, CONTAINS, rack.ciId, deviceId);
      scope.emit('facilities.device_unplaced', { type: 'ci', id: deviceId }, { placement });
      return placement;
    });
  }

  /** The devices in a rack, top down. */
  async placements(rackId: string, options: ReadOptions = {}): Promise<Placement[]> {
    assertRead(options);
    if (!isUuid(rackId)) return [];
    return selectPlacements(tables(this.kernel.db))
      .where('p.rackId', '=', rackId)
      .orderBy('p.position', 'desc')
      .orderBy('p.face')
      .execute();
  }

  /** The devices in each of these racks, top down: a DataLoader batch function (one query). */
  async placementsOf(rackIds: readonly string[], options: ReadOptions = {}): Promise<Placement[][]> {
    assertRead(options);
    const valid = rackIds.filter(isUuid);
    const rows =
      valid.length === 0
        ? []
        : await selectPlacements(tables(this.kernel.db))
            .where('p.rackId', 'in', valid)
            .orderBy('p.position', 'desc')
            .orderBy('p.face')
            .execute();
    return rackIds.map((id) => rows.filter((p) => p.rackId === id));
  }

  /** The elevations of these racks (missing ones null), in two queries: a DataLoader batch function. */
  async elevationsOf(
    rackIds: readonly string[],
    options: ReadOptions = {},
  ): Promise<(RackElevation | null)[]> {
    const [found, placements] = await Promise.all([
      this.getMany(rackIds, options),
      this.placementsOf(rackIds),
    ]);
    return found.map((rack, i) => (rack ? elevationOf(rack, placements[i]!) : null));
  }

  /** Where a device is mounted, if it is. */
  async placementOf(deviceId: string, options: ReadOptions = {}): Promise<Placement | null> {
    assertRead(options);
    if (!isUuid(deviceId)) return null;
    return (
      (await selectPlacements(tables(this.kernel.db))
        .where('p.deviceId', '=', deviceId)
        .executeTakeFirst()) ?? null
    );
  }

  /** The rack U by U, top down, with what occupies each U on the front and on the rear. */
  async elevation(rackId: string, options: ReadOptions = {}): Promise<RackElevation> {
    assertRead(options);
    const rack = await this.get(rackId);
    if (!rack) throw new NotFoundError('rack', rackId, 'rackId');
    return elevationOf(rack, await this.placements(rackId));
  }

  /** The elevation drawn as an SVG document (front and rear side by side). */
  async elevationSvg(rackId: string, options: ReadOptions = {}): Promise<string> {
    return renderElevationSvg(await this.elevation(rackId, options));
  }
}

/** Releases the power a device draws from the PDUs of `rack` (the feed rows are locked first). */
async function releaseDrawsInRack(scope: WriteScope, rack: Rack, deviceId: string): Promise<void> {
  const db = tables(scope.db);
  const draws = await db
    .selectFrom('facilitiesPowerDraws as d')
    .innerJoin('facilitiesPdus as p', 'p.ciId', 'd.pduId')
    .innerJoin('cis as c', 'c.id', 'd.deviceId')
    .selectAll('d')
    .select(['p.feedId', 'c.name as deviceName'])
    .where('p.rackId', '=', rack.ciId)
    .where('d.deviceId', '=', deviceId)
    .execute();
  for (const { feedId, ...draw } of draws) {
    await db
      .selectFrom('facilitiesPowerFeeds')
      .select('ciId')
      .where('ciId', '=', feedId)
      .forUpdate()
      .execute();
    await db
      .deleteFrom('facilitiesPowerDraws')
      .where('pduId', '=', draw.pduId)
      .where('deviceId', '=', deviceId)
      .execute();
    await unrelate(scope, POWERED_BY, deviceId, draw.pduId);
    scope.emit(
      'facilities.power_released',
      { type: 'ci', id: deviceId },
      { draw, pduId: draw.pduId, rackId: rack.ciId },
    );
  }
}
