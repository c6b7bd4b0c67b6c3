import {
  type Kernel,
  NotFoundError,
  parseInput,
  type ReadOptions,
  ValidationError,
  type WriteOptions,
} from '@opsgraph/core';
import {
  assertRead,
  assertWrite,
  classes,
  createCi,
  type Db,
  emptyPage,
  isUuid,
  type Page,
  type PageRequest,
  pageByName,
  tables,
} from './common.js';
import {
  allowedParents,
  type CreateLocationInput,
  createLocationInput,
  type Location,
  type LocationKind,
} from './model.js';

export interface LocationFilter {
  readonly kind?: LocationKind;
  /** Children of this location; `null` for the roots. */
  readonly parentId?: string | null;
}

const selectLocations = (db: Db) =>
  db
    .selectFrom('facilitiesLocations as l')
    .innerJoin('cis as c', 'c.id', 'l.ciId')
    .selectAll('l')
    .select('c.name');

/** The location with this id, if there is one. */
export async function findLocation(db: Db, id: string): Promise<Location | undefined> {
  return isUuid(id) ? selectLocations(db).where('l.ciId', '=', id).executeTakeFirst() : undefined;
}

/** Regions, sites, buildings and rooms: a containment tree of CIs (core's `contains`). */
export class LocationsService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * Creates a location as a CI of its kind's class, contained in its parent. A site's parent is a region
   * (or none), a building's a site, a room's a building; a region may sit in a region.
   */
  async create(input: CreateLocationInput, { actor }: WriteOptions): Promise<Location> {
    assertWrite(actor);
    const data = parseInput(createLocationInput, input);
    if (!data.parentId && data.kind !== 'region' && data.kind !== 'site')
      throw ValidationError.field(
        'parentId',
        `a ${data.kind} needs a parent (${allowedParents[data.kind][0]})`,
      );
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      if (data.parentId) {
        const parent = await findLocation(db, data.parentId);
        if (!parent) throw new NotFoundError('location', data.parentId, 'parentId');
        if (!allowedParents[data.kind].includes(parent.kind))
          throw ValidationError.field(
            'parentId',
            `a ${data.kind} goes in a ${allowedParents[data.kind].join(' or ')}, and ${parent.name} is a ${parent.kind}`,
          );
      }
      const ci = await createCi(
        scope,
        classes[data.kind],
        data.name,
        data.parentId ? { parentId: data.parentId } : undefined,
      );
      const row = await db
        .insertInto('facilitiesLocations')
        .values({
          ciId: ci.id,
          kind: data.kind,
          parentId: data.parentId ?? null,
          address: data.address ?? null,
          createdAt: scope.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const location: Location = { ...row, name: ci.name };
      scope.emit('facilities.location_created', { type: 'ci', id: ci.id }, { location });
      return location;
    });
  }

  async get(id: string, options: ReadOptions = {}): Promise<Location | null> {
    assertRead(options);
    return (await this.getMany([id]))[0] ?? null;
  }

  /** In the order of `ids`, null where missing: a DataLoader batch function. */
  async getMany(ids: readonly string[], options: ReadOptions = {}): Promise<(Location | null)[]> {
    assertRead(options);
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return ids.map(() => null);
    const rows = await selectLocations(tables(this.kernel.db)).where('l.ciId', 'in', valid).execute();
    return ids.map((id) => rows.find((r) => r.ciId === id) ?? null);
  }

  /** By name, then id. */
  async list(filter: LocationFilter = {}, options: ReadOptions = {}): Promise<Location[]> {
    assertRead(options);
    return (await this.#query(filter)?.orderBy('c.name').orderBy('l.ciId').execute()) ?? [];
  }

  /** A page of `list`: `first` locations after the cursor `after`, in one query. */
  async page(filter: LocationFilter, page: PageRequest, options: ReadOptions = {}): Promise<Page<Location>> {
    assertRead(options);
    const query = this.#query(filter);
    return query ? pageByName(tables(this.kernel.db), query, 'l.ciId', page, 'a location') : emptyPage();
  }

  /** The children of each of these locations, by name: a DataLoader batch function (one query). */
  async childrenOf(ids: readonly string[], options: ReadOptions = {}): Promise<Location[][]> {
    assertRead(options);
    const valid = ids.filter(isUuid);
    const rows =
      valid.length === 0
        ? []
        : await selectLocations(tables(this.kernel.db))
            .where('l.parentId', 'in', valid)
            .orderBy('c.name')
            .orderBy('l.ciId')
            .execute();
    return ids.map((id) => rows.filter((r) => r.parentId === id));
  }

  /** The filtered query, unordered; undefined when no row can match (a parent id that is no UUID). */
  #query(filter: LocationFilter) {
    let query = selectLocations(tables(this.kernel.db));
    if (filter.kind) query = query.where('l.kind', '=', filter.kind);
    if (filter.parentId === null) query = query.where('l.parentId', 'is', null);
    else if (filter.parentId !== undefined) {
      if (!isUuid(filter.parentId)) return undefined;
      query = query.where('l.parentId', '=', filter.parentId);
    }
    return query;
  }
}
