import { type Actor, assertCan, permissions, type ReadOptions, type WriteOptions } from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError, type ValidationIssue } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { pageSize } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type ClassSchema,
  type IdentityKey,
  identityKeys,
  NAME_IDENTIFIER,
  validateAttributes,
} from './attributes.js';
import {
  type CiChange,
  type CiChangeFilter,
  ciChangeEventTypes,
  type FollowCiChangesOptions,
  followCiChanges,
} from './changes.js';
import { schemaOf } from './classes.js';
import { fieldChanges, historyRow, replay, toEntry } from './history.js';
import { findClassesByName, listCis } from './listing.js';
import {
  type Ci,
  type CiClass,
  type CiFilter,
  type CiHistoryEntry,
  type CiPageRequest,
  type CiState,
  type ClassDefinitionInput,
  type CmdbSource,
  type CmdbWriteOptions,
  type CreateCiInput,
  classDefinitionInput,
  createCiInput,
  MANUAL_SOURCE,
  type Page,
  type RelateInput,
  type Relationship,
  type RelationshipType,
  type RelationshipTypeDefinition,
  relateInput,
  relationshipTypeInput,
  type SourceDefinitionInput,
  sourceDefinitionInput,
  type UpdateCiInput,
  updateCiInput,
} from './model.js';
import {
  ciFields,
  fieldSourceKey,
  type ReconcileOptions,
  type ReconcilePayload,
  type ReconcileReport,
  reconcile,
} from './reconcile.js';
import * as store from './store.js';

/** Configuration items: the CMDB's records of what exists and how it is configured. */
export class CmdbService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * The CI, or null when there is none. With an actor, cmdb:read on this CI is needed (everywhere, or
   * through a scope covering it); else ForbiddenError naming `id`, whether the CI exists or not.
   */
  async get(id: string, options: ReadOptions = {}): Promise<Ci | null> {
    this.#reach(options).assert(id);
    if (!isUuid(id)) return null;
    return (await store.findCi(this.kernel.db, id)) ?? null;
  }

  /**
   * Loads many CIs in one query, in the order of `ids` (null where missing): a DataLoader batch function.
   * With an actor, each must be readable (ForbiddenError naming `ids.<index>` of the first that is not).
   */
  async getMany(ids: readonly string[], options: ReadOptions = {}): Promise<(Ci | null)[]> {
    this.#reach(options).assertEach(ids, 'ids');
    const rows = await store.findCis(this.kernel.db, ids.filter(isUuid));
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  /**
   * A page of CIs matching `filter`, ordered by `page.orderBy` (default: name ascending), ties by id.
   * Continue with `after: page.endCursor` under the same order; a cursor of another order is refused.
   * With an actor holding cmdb:read only through scopes, only the CIs they cover are listed (filtered in
   * the query, so pages and cursors work as usual).
   */
  async list(filter: CiFilter = {}, page: CiPageRequest = {}, options: ReadOptions = {}): Promise<Page<Ci>> {
    return listCis(this.kernel.db, filter, page, this.#reach(options));
  }

  /** Loads classes by name in one query, in the order of `names` (null where unknown): a DataLoader batch. */
  async classesByName(names: readonly string[], options: ReadOptions = {}): Promise<(CiClass | null)[]> {
    this.#reach(options);
    const byName = new Map((await findClassesByName(this.kernel.db, names)).map((c) => [c.name, c]));
    return names.map((name) => byName.get(name) ?? null);
  }

  /** The seq of the newest CI change: `follow` after it to miss nothing from now on. */
  async changesHead(options: ReadOptions = {}): Promise<number> {
    this.#reach(options);
    return this.kernel.services.activity.latestSeq({ types: ciChangeEventTypes });
  }

  /**
   * Changes of CIs matching `filter` after `options.after` (default: from now on), in commit order:
   * the backlog first, then live ones. With an actor, each change is checked as it comes: only changes
   * of CIs it may read (for a relationship, both ends) are delivered, and losing cmdb:read altogether
   * ends the stream with ForbiddenError.
   */
  follow(filter: CiChangeFilter = {}, options: FollowCiChangesOptions = {}): AsyncIterableIterator<CiChange> {
    this.#reach(options);
    return followCiChanges(this.kernel, filter, options);
  }

  async classes(options: ReadOptions = {}): Promise<CiClass[]> {
    this.#reach(options);
    return store.listClasses(this.kernel.db);
  }

  /** The attributes and identifier rules of a class, its ancestors' included; null when unknown. */
  async classSchema(name: string, options: ReadOptions = {}): Promise<ClassSchema | null> {
    this.#reach(options);
    return schemaOf(await store.loadClassIndex(this.kernel.db), name);
  }

  /**
   * Defines a CI class at runtime, or changes one defined this way. A class with CIs keeps them valid:
   * attributes can be added and enums widened, nothing removed or retyped (see `checkClassDefinition`).
   */
  async defineClass(input: ClassDefinitionInput, { actor }: WriteOptions): Promise<CiClass> {
    assertCan(actor, permissions.cmdbAdmin);
    const def = parseInput(classDefinitionInput, input);
    return this.kernel.write(actor, async ({ db, emit }) => {
      // One definer at a time: two could otherwise each pass the checks against the other's old state.
      await store.lockRegistry(db, 'classes');
      const classes = await store.loadClassIndex(db);
      const existing = classes.get(def.name);
      if (existing && existing.owner !== RUNTIME_OWNER)
        throw ValidationError.field(
          'name',
          `class ${def.name} belongs to ${existing.owner} and can't be changed here`,
        );
      const issues = await store.reviewClassDefinition(db, classes, def);
      if (issues.length > 0) throw new ValidationError(issues);
      await store.upsertClasses(db, RUNTIME_OWNER, [def]);
      const ciClass = (await store.findClass(db, def.name))!;
      emit('ci.class_defined', { type: 'ci_class', id: def.name }, { ciClass, created: !existing });
      return ciClass;
    });
  }

  /** Defines a relationship type at runtime, or changes one defined this way. */
  async defineRelationshipType(
    input: RelationshipTypeDefinition,
    { actor }: WriteOptions,
  ): Promise<RelationshipType> {
    assertCan(actor, permissions.cmdbAdmin);
    const def = parseInput(relationshipTypeInput, input);
    return this.kernel.write(actor, async ({ db, emit }) => {
      const [clash] = await store.upsertRelationshipTypes(db, RUNTIME_OWNER, [def]);
      if (clash)
        throw ValidationError.field(
          'name',
          `relationship type ${def.name} belongs to ${clash.owner} and can't be changed here`,
        );
      const relationshipType = (await store.findRelationshipType(db, def.name))!;
      emit('ci.relationship_type_defined', { type: 'relationship_type', id: def.name }, { relationshipType });
      return relationshipType;
    });
  }

  /** Declares a discovery source and its precedence (see `CmdbSourceTable`), or changes it. */
  async defineSource(input: SourceDefinitionInput, { actor }: WriteOptions): Promise<CmdbSource> {
    assertCan(actor, permissions.cmdbAdmin);
    const def = parseInput(sourceDefinitionInput, input);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const source = await store.upsertSource(db, { ...def, label: def.label ?? def.name }, now);
      emit('ci.source_defined', { type: 'ci_source', id: def.name }, { source });
      return source;
    });
  }

  async sources(options: ReadOptions = {}): Promise<CmdbSource[]> {
    this.#reach(options);
    return store.listSources(this.kernel.db);
  }

  /**
   * Creates a CI. Needs cmdb:write everywhere: a scope covers CIs resolved when the actor was built, so
   * a new CI is in nobody's scope yet (the same holds for reconcile and for defining classes).
   */
  async create(input: CreateCiInput, { actor, source }: CmdbWriteOptions): Promise<Ci> {
    assertCan(actor, permissions.cmdbWrite);
    const data = parseInput(createCiInput, input);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const from = await this.#source(db, source);
      const schema = schemaOf(await store.loadClassIndex(db), data.class);
      if (!schema) throw ValidationError.field('class', `unknown CI class "${data.class}"`);
      const issues: ValidationIssue[] = [];
      const attributes = validateAttributes(schema, data.attributes, null, issues);
      if (issues.length > 0) throw new ValidationError(issues);
      const ci = await store.insertCi(db, {
        id: crypto.randomUUID(),
        class: data.class,
        name: data.name,
        status: data.status,
        environment: data.environment ?? null,
        ownerGroup: data.ownerGroup ?? null,
        attributes,
        // Which source set what, for reconciliation's precedence: the attributes and the fields given.
        attributeSources: {
          ...Object.fromEntries(Object.keys(attributes).map((k) => [k, from])),
          ...Object.fromEntries(
            ciFields
              .filter((f) => f === 'name' || (input as Record<string, unknown>)[f] != null)
              .map((f) => [fieldSourceKey(f), from]),
          ),
        },
        tags: data.tags,
        createdAt: now,
        updatedAt: now,
        retiredAt: null,
      });
      await this.#claim(db, ci, identityKeys(schema, ci.name, ci.attributes), schema, { isNew: true });
      await store.insertHistory(db, [historyRow('created', ci, actor, from, now, fieldChanges(null, ci))]);
      emit('ci.created', { type: 'ci', id: ci.id }, { ci });
      return ci;
    });
  }

  /**
   * Changes a CI if it is still at `input.version`; else `ConflictError`. `attributes` merge into the CI's
   * (`null` removes one). Needs cmdb:write on this CI (everywhere or through a scope).
   */
  async update(id: string, input: UpdateCiInput, { actor, source }: CmdbWriteOptions): Promise<Ci> {
    this.#writable(actor, id);
    const { version, attributes: attributePatch, ...patch } = parseInput(updateCiInput, input);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const from = await this.#source(db, source);
      const current = await this.#current(db, id);
      if (current.status === 'retired')
        throw ValidationError.field('id', `CI ${id} is retired and cannot change`);
      if (current.version !== version) throw ConflictError.staleVersion('CI', id, version, current.version);
      const schema = schemaOf(await store.loadClassIndex(db), current.class);
      if (!schema) throw new Error(`CI ${id} has class ${current.class}, which is not defined`);
      const issues: ValidationIssue[] = [];
      const attributes = attributePatch
        ? validateAttributes(schema, attributePatch, current.attributes, issues)
        : current.attributes;
      if (issues.length > 0) throw new ValidationError(issues);
      const next = {
        ...current,
        ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
        attributes,
      };
      const changes = fieldChanges(current, next);
      if (changes.length === 0) return current;
      const attributeSources = { ...current.attributeSources };
      for (const c of changes) {
        const key = c.field.startsWith('attributes.')
          ? c.field.slice('attributes.'.length)
          : (ciFields as readonly string[]).includes(c.field)
            ? fieldSourceKey(c.field as (typeof ciFields)[number])
            : undefined;
        if (key === undefined) continue;
        if (c.after === null) delete attributeSources[key];
        else attributeSources[key] = from;
      }
      const updated = await store.updateCiIfVersion(db, id, version, {
        ...patch,
        attributes,
        attributeSources,
        updatedAt: now,
      });
      // Between our read and our update another writer committed: report it rather than overwrite.
      if (!updated)
        throw ConflictError.staleVersion('CI', id, version, (await this.#current(db, id)).version);
      if (changes.some((c) => c.field === 'name' || c.field.startsWith('attributes.'))) {
        await this.#claim(db, updated, identityKeys(schema, updated.name, updated.attributes), schema);
      }
      await store.insertHistory(db, [historyRow('updated', updated, actor, from, now, changes)]);
      emit('ci.updated', { type: 'ci', id }, { ci: updated, changes });
      return updated;
    });
  }

  /**
   * Reconciles a discovery feed: bulk-upserts CIs and relationships from a declared `source`, in one
   * transaction.
   * - Each item is matched to an existing CI by its class's identifier rules (scope: the class declaring
   *   the rule, so a `linux_server` matches a `server` with the same hostname + domain). An item with no
   *   identifier, with identifiers pointing at several CIs, or with the identity of an earlier item is
   *   skipped and reported as a conflict; no two CIs ever get the same identifiers.
   * - A matched item merges field by field: a source may change a field (attribute, or `name`, `status`,
   *   `environment`, `ownerGroup`, `tags`) last set by a source of the same or lower priority, never a
   *   higher one; a refused change is reported (value kept, value offered, source holding it) and the
   *   rest of the item applies. A matched CI of a parent class takes the item's (more specific) class.
   * - Relationships (ends: an item's `ref`, or `{ ciId }`) are created when missing, left when present.
   * - Bad input (unknown class or type, wrong attribute, dangling ref, self-loop, missing or retired CI,
   *   a cycle in an acyclic type) is one `ValidationError` listing every issue by path; nothing is written.
   * - History and events as single writes; the same payload twice changes nothing the second time.
   */
  async reconcile(payload: ReconcilePayload, options: ReconcileOptions): Promise<ReconcileReport> {
    return reconcile(this.kernel, payload, options);
  }

  /**
   * Soft retirement: the CI and its history stay; it leaves default listings and frees its identity.
   * Needs cmdb:write on this CI.
   */
  async retire(id: string, version: number, { actor, source }: CmdbWriteOptions): Promise<Ci> {
    this.#writable(actor, id);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const from = await this.#source(db, source);
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
      // Its replacement (same serial number, same host name) must be able to take its identity.
      await store.releaseIdentities(db, id);
      await store.insertHistory(db, [
        historyRow('retired', retired, actor, from, now, fieldChanges(current, retired)),
      ]);
      emit('ci.retired', { type: 'ci', id }, { ci: retired });
      return retired;
    });
  }

  /**
   * Every recorded change of a CI and of its relationships, newest first; page with `before` (a `seq`).
   * Retired CIs keep theirs. With an actor: cmdb:read on this CI, and a relationship's entries are
   * listed only when the actor may read its other end too.
   */
  async history(
    id: string,
    page: { first?: number; before?: number } = {},
    options: ReadOptions = {},
  ): Promise<CiHistoryEntry[]> {
    const reach = this.#reach(options);
    reach.assert(id);
    if (!isUuid(id)) return [];
    const rows = await store.historyOf(this.kernel.db, id.toLowerCase(), {
      limit: pageSize(page.first),
      ...(page.before !== undefined ? { before: page.before } : {}),
      reach,
    });
    return rows.map(toEntry);
  }

  /**
   * What the CI looked like at `at` (fields, attributes, relationships); null if it did not exist yet.
   * With an actor: cmdb:read on this CI; relationships to CIs it may not read are left out.
   */
  async stateAt(id: string, at: Date, options: ReadOptions = {}): Promise<CiState | null> {
    const reach = this.#reach(options);
    reach.assert(id);
    if (!isUuid(id)) return null;
    if (Number.isNaN(at.getTime())) throw ValidationError.field('at', 'is not a valid time');
    const rows = await store.historyOf(this.kernel.db, id.toLowerCase(), { until: at, reach });
    return replay(id.toLowerCase(), at, rows);
  }

  async relationshipTypes(options: ReadOptions = {}): Promise<RelationshipType[]> {
    this.#reach(options);
    return store.listRelationshipTypes(this.kernel.db);
  }

  /**
   * Every relationship touching each of `ciIds` (either end), in one query: a DataLoader batch function.
   * With an actor: cmdb:read on each of `ciIds` (ForbiddenError naming `ciIds.<index>`), and only the
   * relationships whose both ends it may read.
   */
  async relationshipsOf(ciIds: readonly string[], options: ReadOptions = {}): Promise<Relationship[][]> {
    const reach = this.#reach(options);
    reach.assertEach(ciIds);
    const rows = await store.relationshipsOf(this.kernel.db, ciIds.filter(isUuid), reach);
    return ciIds.map((id) => rows.filter((r) => r.sourceId === id || r.targetId === id));
  }

  /**
   * Relates two live CIs: `source <type> target`, e.g. `app depends_on db`. Refuses an unknown type, a
   * missing or retired CI, a self-loop, a duplicate, and a cycle in an acyclic type (`contains`).
   * Needs cmdb:write on the source and, unless held everywhere, cmdb:read on the target.
   */
  async relate(input: RelateInput, { actor, source }: CmdbWriteOptions): Promise<Relationship> {
    const writable = CiReach.of(actor, permissions.cmdbWrite);
    const data = parseInput(relateInput, input);
    // Who may write every CI may link any two; a scoped writer must also be able to see the target.
    if (!writable.all) {
      writable.assert(data.sourceId, 'sourceId');
      CiReach.of(actor, permissions.cmdbRead).assert(data.targetId, 'targetId');
    }
    if (data.sourceId.toLowerCase() === data.targetId.toLowerCase())
      throw ValidationError.field('targetId', 'a CI cannot be related to itself');
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const from = await this.#source(db, source);
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
      const sourceCi = ends.find((c) => c.id === relationship.sourceId)!;
      await store.insertHistory(db, [historyRow('related', sourceCi, actor, from, now, [], relationship)]);
      emit('ci.related', { type: 'ci', id: data.sourceId }, { relationship });
      return relationship;
    });
  }

  /**
   * Removes a relationship; the event keeps what it was. Needs what relating it needs: cmdb:write on its
   * source and, unless held everywhere, cmdb:read on its target (ForbiddenError naming `id`).
   */
  async unrelate(id: string, { actor, source }: CmdbWriteOptions): Promise<Relationship> {
    const writable = CiReach.of(actor, permissions.cmdbWrite);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const from = await this.#source(db, source);
      if (!writable.all) {
        const found = isUuid(id) ? await store.findRelationship(db, id) : undefined;
        if (!found) throw new NotFoundError('relationship', id, 'id');
        writable.assert(found.sourceId, 'id');
        CiReach.of(actor, permissions.cmdbRead).assert(found.targetId, 'id');
      }
      const relationship = isUuid(id) ? await store.deleteRelationship(db, id) : undefined;
      if (!relationship) throw new NotFoundError('relationship', id, 'id');
      const sourceCi = await this.#current(db, relationship.sourceId);
      await store.insertHistory(db, [historyRow('unrelated', sourceCi, actor, from, now, [], relationship)]);
      emit('ci.unrelated', { type: 'ci', id: relationship.sourceId }, { relationship });
      return relationship;
    });
  }

  /** The source a write is recorded under: `manual` unless named, and a named one must be declared. */
  async #source(db: Kernel['db'], source: string | undefined): Promise<string> {
    if (source === undefined || source === MANUAL_SOURCE) return MANUAL_SOURCE;
    if (!(await store.findSource(db, source)))
      throw ValidationError.field('source', `unknown source "${source}": declare it with defineSource first`);
    return source;
  }

  /** Claims a CI's identity keys (dropping ones it no longer has); another CI holding one is refused. */
  async #claim(
    db: Kernel['db'],
    ci: Ci,
    keys: IdentityKey[],
    schema: ClassSchema,
    { isNew = false } = {},
  ): Promise<void> {
    // A new CI holds nothing yet: only a changed one has old claims to drop.
    if (!isNew) await store.releaseIdentities(db, ci.id, keys);
    const [taken] = await store.claimIdentities(db, ci.id, keys);
    if (!taken) return;
    const holder = await store.findCi(db, taken.ciId);
    const fields = schema.identifiers.find((r) => r.fields.join('+') === taken.rule)?.fields ?? [];
    const field = fields.find((f) => f !== NAME_IDENTIFIER);
    throw ValidationError.field(
      field ? `attributes.${field}` : 'name',
      `CI ${holder?.name ?? taken.ciId} (${taken.ciId}) already has this ${fields.join(' + ')}: update that CI instead`,
    );
  }

  async #current(db: Kernel['db'], id: string): Promise<Ci> {
    const ci = isUuid(id) ? await store.findCi(db, id) : undefined;
    if (!ci) throw new NotFoundError('CI', id, 'id');
    return ci;
  }

  /** Where the caller may read CIs; refused when it holds cmdb:read nowhere. No actor: everywhere. */
  #reach(options: ReadOptions): CiReach {
    return CiReach.of(options.actor, permissions.cmdbRead);
  }

  /** Refuses a write to a CI the actor may not write (ForbiddenError naming `id`). */
  #writable(actor: Actor, id: string): void {
    CiReach.of(actor, permissions.cmdbWrite).assert(id);
  }
}

/** Owner of classes and relationship types defined through the API. */
export const RUNTIME_OWNER = 'runtime';

export { isUuid };
