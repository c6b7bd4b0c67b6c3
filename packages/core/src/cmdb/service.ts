import { assertCan, permissions, type ReadOptions, type WriteOptions } from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import {
  type CiChange,
  type CiChangeFilter,
  ciChangeEventTypes,
  type FollowCiChangesOptions,
  followCiChanges,
} from './changes.js';
import { findClassesByName, listCis } from './listing.js';
import {
  type Ci,
  type CiClass,
  type CiFilter,
  type CiPageRequest,
  type CreateCiInput,
  createCiInput,
  type FieldChange,
  type Page,
  type RelateInput,
  type Relationship,
  type RelationshipType,
  relateInput,
  type UpdateCiInput,
  updateCiInput,
} from './model.js';
import * as store from './store.js';

/** Configuration items: the CMDB's records of what exists and how it is configured. */
export class CmdbService {
  constructor(private readonly kernel: Kernel) {}

  async get(id: string, options: ReadOptions = {}): Promise<Ci | null> {
    this.#canRead(options);
    if (!isUuid(id)) return null;
    return (await store.findCi(this.kernel.db, id)) ?? null;
  }

  /** Loads many CIs in one query, in the order of `ids` (null where missing): a DataLoader batch function. */
  async getMany(ids: readonly string[], options: ReadOptions = {}): Promise<(Ci | null)[]> {
    this.#canRead(options);
    const rows = await store.findCis(this.kernel.db, ids.filter(isUuid));
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  /**
   * A page of CIs matching `filter`, ordered by `page.orderBy` (default: name ascending), ties by id.
   * Continue with `after: page.endCursor` under the same order; a cursor of another order is refused.
   */
  async list(filter: CiFilter = {}, page: CiPageRequest = {}, options: ReadOptions = {}): Promise<Page<Ci>> {
    this.#canRead(options);
    return listCis(this.kernel.db, filter, page);
  }

  /** Loads classes by name in one query, in the order of `names` (null where unknown): a DataLoader batch. */
  async classesByName(names: readonly string[], options: ReadOptions = {}): Promise<(CiClass | null)[]> {
    this.#canRead(options);
    const byName = new Map((await findClassesByName(this.kernel.db, names)).map((c) => [c.name, c]));
    return names.map((name) => byName.get(name) ?? null);
  }

  /** The seq of the newest CI change: `follow` after it to miss nothing from now on. */
  async changesHead(options: ReadOptions = {}): Promise<number> {
    this.#canRead(options);
    return this.kernel.services.activity.latestSeq({ types: ciChangeEventTypes });
  }

  /**
   * Changes of CIs matching `filter` after `options.after` (default: from now on), in commit order:
   * the backlog first, then live ones. The actor's cmdb:read is checked again on every event.
   */
  follow(filter: CiChangeFilter = {}, options: FollowCiChangesOptions = {}): AsyncIterableIterator<CiChange> {
    this.#canRead(options);
    return followCiChanges(this.kernel, filter, options);
  }

  async classes(options: ReadOptions = {}): Promise<CiClass[]> {
    this.#canRead(options);
    return store.listClasses(this.kernel.db);
  }

  async create(input: CreateCiInput, { actor }: WriteOptions): Promise<Ci> {
    assertCan(actor, permissions.cmdbWrite);
    const data = parseInput(createCiInput, input);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      if (!(await store.findClass(db, data.class))) {
        throw ValidationError.field('class', `unknown CI class "${data.class}"`);
      }
      const ci = await store.insertCi(db, {
        id: crypto.randomUUID(),
        class: data.class,
        name: data.name,
        status: data.status,
        environment: data.environment ?? null,
        attributes: data.attributes,
        tags: data.tags,
        createdAt: now,
        updatedAt: now,
        retiredAt: null,
      });
      emit('ci.created', { type: 'ci', id: ci.id }, { ci });
      return ci;
    });
  }

  /** Changes a CI if it is still at `input.version`; else `ConflictError`. */
  async update(id: string, input: UpdateCiInput, { actor }: WriteOptions): Promise<Ci> {
    assertCan(actor, permissions.cmdbWrite);
    const { version, ...patch } = parseInput(updateCiInput, input);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const current = await this.#current(db, id);
      if (current.status === 'retired')
        throw ValidationError.field('id', `CI ${id} is retired and cannot change`);
      if (current.version !== version) throw ConflictError.staleVersion('CI', id, version, current.version);
      const changes = diff(current, patch);
      if (changes.length === 0) return current;
      const updated = await store.updateCiIfVersion(db, id, version, { ...patch, updatedAt: now });
      // Between our read and our update another writer committed: report it rather than overwrite.
      if (!updated)
        throw ConflictError.staleVersion('CI', id, version, (await this.#current(db, id)).version);
      emit('ci.updated', { type: 'ci', id }, { ci: updated, changes });
      return updated;
    });
  }

  /** Soft retirement: the CI and its history stay; it leaves default listings. */
  async retire(id: string, version: number, { actor }: WriteOptions): Promise<Ci> {
    assertCan(actor, permissions.cmdbWrite);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const current = await this.#current(db, id);
      if (current.status === 'retired') return current;
      if (current.version !== version) throw ConflictError.staleVersion('CI', id, version, current.version);
      const retired = await store.updateCiIfVersion(db, id, version, {
        status: 'retired',
        retiredAt: now,
        updatedAt: now,
      });
      if (!retired)
        throw ConflictError.staleVersion('CI', id, version, (await this.#current(db, id)).version);
      emit('ci.retired', { type: 'ci', id }, { ci: retired });
      return retired;
    });
  }

  async relationshipTypes(options: ReadOptions = {}): Promise<RelationshipType[]> {
    this.#canRead(options);
    return store.listRelationshipTypes(this.kernel.db);
  }

  /** Every relationship touching each of `ciIds` (either end), in one query: a DataLoader batch function. */
  async relationshipsOf(ciIds: readonly string[], options: ReadOptions = {}): Promise<Relationship[][]> {
    this.#canRead(options);
    const rows = await store.relationshipsOf(this.kernel.db, ciIds.filter(isUuid));
    return ciIds.map((id) => rows.filter((r) => r.sourceId === id || r.targetId === id));
  }

  /**
   * Relates two live CIs: `source <type> target`, e.g. `app depends_on db`. Refuses an unknown type, a
   * missing or retired CI, a self-loop, a duplicate, and a cycle in an acyclic type (`contains`).
   */
  async relate(input: RelateInput, { actor }: WriteOptions): Promise<Relationship> {
    assertCan(actor, permissions.cmdbWrite);
    const data = parseInput(relateInput, input);
    if (data.sourceId.toLowerCase() === data.targetId.toLowerCase())
      throw ValidationError.field('targetId', 'a CI cannot be related to itself');
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const type = await store.findRelationshipType(db, data.type);
      if (!type) throw ValidationError.field('type', `unknown relationship type "${data.type}"`);
      const ends = await store.findCis(db, [data.sourceId, data.targetId]);
      for (const field of ['sourceId', 'targetId'] as const) {
        const ci = ends.find((c) => c.id === data[field].toLowerCase());
        if (!ci) throw new NotFoundError('CI', data[field], field);
        if (ci.status === 'retired') throw ValidationError.field(field, `CI ${ci.name} is retired`);
      }
      const duplicate = () =>
        ValidationError.field('targetId', `the CIs are already related by ${data.type}`);
      if (await store.findRelationshipBetween(db, data.type, data.sourceId, data.targetId)) throw duplicate();
      if (type.acyclic) {
        await store.lockRelationshipType(db, data.type);
        if (await store.reaches(db, data.type, data.sourceId, data.targetId)) {
          throw ValidationError.field('targetId', `${data.type} would close a cycle`);
        }
      }
      const relationship = await store
        .insertRelationship(db, { id: crypto.randomUUID(), ...data, createdAt: now })
        .catch((error: { code?: string }) => {
          // A concurrent writer inserted the same relationship after our check.
          throw error.code === '23505' ? duplicate() : error;
        });
      emit('ci.related', { type: 'ci', id: data.sourceId }, { relationship });
      return relationship;
    });
  }

  /** Removes a relationship; the event keeps what it was. */
  async unrelate(id: string, { actor }: WriteOptions): Promise<Relationship> {
    assertCan(actor, permissions.cmdbWrite);
    return this.kernel.write(actor, async ({ db, emit }) => {
      const relationship = isUuid(id) ? await store.deleteRelationship(db, id) : undefined;
      if (!relationship) throw new NotFoundError('relationship', id, 'id');
      emit('ci.unrelated', { type: 'ci', id: relationship.sourceId }, { relationship });
      return relationship;
    });
  }

  async #current(db: Kernel['db'], id: string): Promise<Ci> {
    const ci = isUuid(id) ? await store.findCi(db, id) : undefined;
    if (!ci) throw new NotFoundError('CI', id, 'id');
    return ci;
  }

  #canRead(options: ReadOptions): void {
    if (options.actor) assertCan(options.actor, permissions.cmdbRead);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID.test(value);

function diff(current: Ci, patch: Partial<Record<keyof Ci, unknown>>): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const [field, after] of Object.entries(patch)) {
    if (after === undefined) continue;
    const before = current[field as keyof Ci];
    if (JSON.stringify(before) !== JSON.stringify(after)) changes.push({ field, before, after });
  }
  return changes;
}
