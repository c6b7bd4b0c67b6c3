// Identification and reconciliation: a discovery feed's CIs and relationships, matched to existing CIs by
// their classes' identifier rules and merged by per-field source precedence, in one transaction.
import { z } from 'zod';
import { pipelined } from '../db/pipelined.js';
import { type Actor, assertCan, permissions } from '../kernel/actor.js';
import { ConflictError, ValidationError, type ValidationIssue } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import {
  type AttributeValues,
  type ClassSchema,
  type IdentityKey,
  identityKeys,
  validateAttributes,
} from './attributes.js';
import { type ClassIndex, lineage, schemaOf } from './classes.js';
import { fieldChanges, historyRow } from './history.js';
import {
  type Ci,
  type CiStatus,
  type CmdbSource,
  ciStatuses,
  createCiInput,
  type FieldChange,
  type Relationship,
} from './model.js';
import * as bulk from './reconcile-store.js';
import * as store from './store.js';

/** The most CIs and relationships one reconciliation takes; split bigger feeds. */
export const MAX_RECONCILE_CIS = 100_000;
export const MAX_RECONCILE_RELATIONSHIPS = 300_000;

/**
 * The CI fields besides attributes that take part in precedence. Which source last set each is kept in
 * `cis.attribute_sources` beside the attributes, under `$<field>` (attribute names can't start with `$`),
 * and `attributePriorities` of a source can name them the same way, e.g. `{ $name: 200 }`.
 */
export const ciFields = ['name', 'status', 'environment', 'ownerGroup', 'tags'] as const;
export type CiField = (typeof ciFields)[number];
export const fieldSourceKey = (field: CiField): string => `$${field}`;

const ref = z.string().trim().min(1, 'must not be empty').max(200);
const shape = createCiInput.shape;

const itemInput = z.strictObject({
  /** Names the item inside the payload, for relationships and the report. */
  ref: ref.optional(),
  class: shape.class,
  name: shape.name,
  status: z
    .enum(ciStatuses)
    .refine((s) => s !== 'retired', 'reconciliation does not retire CIs: retire them one by one')
    .optional(),
  environment: shape.environment,
  ownerGroup: shape.ownerGroup,
  tags: shape.tags.unwrap().optional(),
  attributes: z.record(z.string(), z.unknown()).default({}),
});

const endInput = z.union(
  [ref.transform((r) => ({ ref: r })), z.strictObject({ ref }), z.strictObject({ ciId: z.uuid() })],
  'must be the ref of a CI of this payload, { ref } or { ciId }',
);

const relationshipInput = z.strictObject({
  type: z.string().min(1, 'must name a relationship type'),
  source: endInput,
  target: endInput,
});

const payloadInput = z.strictObject({
  cis: z.array(z.unknown()).max(MAX_RECONCILE_CIS, `at most ${MAX_RECONCILE_CIS} CIs at a time`),
  relationships: z
    .array(z.unknown())
    .max(MAX_RECONCILE_RELATIONSHIPS, `at most ${MAX_RECONCILE_RELATIONSHIPS} relationships at a time`)
    .default([]),
});

export type ReconcileItemInput = z.input<typeof itemInput>;
export type ReconcileEnd = string | { readonly ref: string } | { readonly ciId: string };
export interface ReconcileRelationshipInput {
  readonly type: string;
  readonly source: ReconcileEnd;
  readonly target: ReconcileEnd;
}
export interface ReconcilePayload {
  readonly cis: readonly ReconcileItemInput[];
  readonly relationships?: readonly ReconcileRelationshipInput[];
}

export interface ReconcileProgress {
  /** `validating`: checking and matching the payload; `writing`: rows written. */
  readonly phase: 'validating' | 'writing';
  /** Items (CIs then relationships) done of `total`. */
  readonly done: number;
  readonly total: number;
}

export interface ReconcileOptions {
  readonly actor: Actor;
  /** The declared source (`defineSource`) the feed comes from: precedence and history use it. */
  readonly source: string;
  readonly onProgress?: (progress: ReconcileProgress) => void;
}

export const conflictKinds = [
  /** No identifier rule of the class has all its fields in the item. */
  'unidentified',
  /** The item's identifiers point at two or more different CIs. */
  'ambiguous',
  /** An earlier item of the payload has the same identity (or matched the same CI). */
  'duplicate',
  /** The item matched a CI of a class that is neither its class nor a parent or subclass of it. */
  'class_mismatch',
  /** After merging, the CI would take an identifier another CI holds. */
  'identity_taken',
  /** A source of higher priority holds the field: its value is kept. */
  'precedence',
  /** A relationship end is an item that was skipped. */
  'unresolved_end',
] as const;
export type ReconcileConflictKind = (typeof conflictKinds)[number];

export interface ReconcileConflict {
  /** `cis` or `relationships`: the list `index` points into. */
  readonly list: 'cis' | 'relationships';
  readonly index: number;
  readonly ref: string | null;
  readonly kind: ReconcileConflictKind;
  /** The field at fault (`attributes.os`, `name`, `class`, `source`), or null for the whole item. */
  readonly field: string | null;
  readonly reason: string;
  /** The CI concerned: matched, or holding the identity; null when there is none. */
  readonly ciId: string | null;
  /** For `precedence`: the value kept, the value offered, and the source holding the field. */
  readonly kept?: unknown;
  readonly offered?: unknown;
  readonly heldBy?: string;
  /** For `ambiguous`: every CI the identifiers point at. */
  readonly candidates?: readonly string[];
}

export const itemOutcomes = ['created', 'updated', 'unchanged', 'skipped'] as const;
export type ReconcileOutcome = (typeof itemOutcomes)[number];

export interface ReconcileReport {
  readonly source: string;
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly skipped: number;
  readonly conflicts: readonly ReconcileConflict[];
  /** One per payload CI, in payload order; `ciId` null when skipped. */
  readonly items: readonly {
    readonly index: number;
    readonly ref: string | null;
    readonly ciId: string | null;
    readonly outcome: ReconcileOutcome;
  }[];
  readonly relationships: { readonly created: number; readonly unchanged: number; readonly skipped: number };
}

type ItemData = z.output<typeof itemInput>;

interface Item {
  readonly index: number;
  readonly ref: string | null;
  readonly data: ItemData;
  readonly schema: ClassSchema;
  /** Normalised attributes as offered; null asks to remove one. */
  readonly offered: Record<string, unknown>;
  readonly keys: IdentityKey[];
  /** Set when the item is skipped. */
  skipped?: boolean;
  current?: Ci;
  /** The CI's state after the merge (new CIs: as created). */
  next?: Ci;
  changes?: FieldChange[];
  /** Only `attribute_sources` changed. */
  provenanceOnly?: boolean;
  finalSchema?: ClassSchema;
}

interface Edge {
  readonly index: number;
  readonly type: string;
  readonly source: { ref?: string; ciId?: string };
  readonly target: { ref?: string; ciId?: string };
}

const keyOf = (k: IdentityKey) => `${k.scope}\u0000${k.rule}\u0000${k.value}`;

/** Equal as stored: jsonb does not keep key order, so objects compare with sorted keys. */
function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a ?? null) === canonical(b ?? null);
}
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}

/** A source's priority for one field (attribute name or `$field`); an unknown holder ranks lowest. */
function priorityOf(source: CmdbSource | undefined, field: string): number {
  if (!source) return -1;
  return source.attributePriorities[field] ?? source.priority;
}

/**
 * Reconciles a discovery feed into the CMDB. See `CmdbService.reconcile` for the semantics; this is the
 * implementation it delegates to.
 */
export async function reconcile(
  kernel: Kernel,
  payload: ReconcilePayload,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const { actor, onProgress } = options;
  assertCan(actor, permissions.cmdbWrite);
  const parsed = parseInput(payloadInput, payload);
  const total = parsed.cis.length + parsed.relationships.length;
  return kernel.write(actor, async (scope) => {
    // First statement of the transaction: whatever we read below, an earlier reconciliation has committed.
    await bulk.lockReconciliation(scope.db);
    const run = new Reconciliation(scope, options.source, total, onProgress);
    return run.execute(parsed.cis, parsed.relationships);
  });
}

class Reconciliation {
  readonly issues: ValidationIssue[] = [];
  readonly conflicts: ReconcileConflict[] = [];
  readonly items: Item[] = [];
  readonly refs = new Map<string, Item | null>();
  readonly edges: Edge[] = [];
  sources = new Map<string, CmdbSource>();
  source!: CmdbSource;
  classes!: ClassIndex;
  /** CIs named by id in relationships, with their version for history. */
  named = new Map<string, { id: string; name: string; status: string; version: number }>();
  mergedKeys = new Map<Item, IdentityKey[]>();
  /** Which CI holds each identity key looked up (absent: nobody), and which keys were looked up. */
  readonly holders = new Map<string, string>();
  readonly lookedUp = new Set<string>();

  constructor(
    private readonly scope: WriteScope,
    private readonly sourceName: string,
    private readonly total: number,
    private readonly onProgress: ReconcileOptions['onProgress'],
  ) {}

  get db() {
    return this.scope.db;
  }

  progress(phase: ReconcileProgress['phase'], done: number): void {
    this.onProgress?.({ phase, done: Math.min(done, this.total), total: this.total });
  }

  async execute(rawCis: unknown[], rawRelationships: unknown[]): Promise<ReconcileReport> {
    this.sources = new Map((await store.listSources(this.db)).map((s) => [s.name, s]));
    const source = this.sources.get(this.sourceName);
    if (!source)
      throw ValidationError.field(
        'source',
        `unknown source "${this.sourceName}": declare it with defineSource first`,
      );
    this.source = source;
    this.classes = await store.loadClassIndex(this.db);
    const types = new Map((await store.listRelationshipTypes(this.db)).map((t) => [t.name, t]));

    this.progress('validating', 0);
    this.parseItems(rawCis);
    this.progress('validating', rawCis.length / 2);
    this.parseEdges(rawRelationships, types);
    await this.match();
    this.progress('validating', rawCis.length);
    const planned = await this.planEdges(types);
    if (this.issues.length > 0) throw new ValidationError(this.issues);
    this.progress('validating', this.total);
    return this.write(planned);
  }

  /** Shape, class and attribute types of each item; normalised attributes and identity keys. */
  parseItems(raw: unknown[]): void {
    raw.forEach((value, index) => {
      if (index > 0 && index % 1000 === 0) this.progress('validating', index / 2);
      const prefix = `cis.${index}`;
      let data: ItemData;
      try {
        data = parseInput(itemInput, value, prefix);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        this.issues.push(...error.issues);
        const r = (value as { ref?: unknown } | null)?.ref;
        if (typeof r === 'string') this.refs.set(r.trim(), null);
        return;
      }
      const r = data.ref ?? null;
      if (r !== null) {
        if (this.refs.has(r)) {
          const other = this.refs.get(r);
          this.issues.push({
            path: `${prefix}.ref`,
            message: `"${r}" names ${other ? `cis.${other.index}` : 'another item'} already`,
          });
          return;
        }
      }
      const schema = this.schemaOf(data.class);
      if (!schema) {
        this.issues.push({ path: `${prefix}.class`, message: `unknown CI class "${data.class}"` });
        if (r !== null) this.refs.set(r, null);
        return;
      }
      const before = this.issues.length;
      // Every attribute counts as present, so only the offered ones are checked here; whether required
      // ones are there is known once the item is matched (or not).
      const present = this.allPresent(schema);
      const checked = validateAttributes(
        schema,
        data.attributes,
        present,
        this.issues,
        `${prefix}.attributes`,
      );
      const offered: Record<string, unknown> = {};
      for (const [name, v] of Object.entries(data.attributes)) {
        if (!schema.attributes.has(name)) continue;
        offered[name] = v === null || v === undefined ? null : checked[name];
      }
      if (this.issues.length > before) {
        if (r !== null) this.refs.set(r, null);
        return;
      }
      const present2 = Object.fromEntries(Object.entries(offered).filter(([, v]) => v !== null));
      const item: Item = {
        index,
        ref: r,
        data,
        schema,
        offered,
        keys: identityKeys(schema, data.name, present2),
      };
      this.items.push(item);
      if (r !== null) this.refs.set(r, item);
    });
  }

  parseEdges(raw: unknown[], types: ReadonlyMap<string, { acyclic: boolean }>): void {
    raw.forEach((value, index) => {
      const prefix = `relationships.${index}`;
      let data: z.output<typeof relationshipInput>;
      try {
        data = parseInput(relationshipInput, value, prefix);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        this.issues.push(...error.issues);
        return;
      }
      const before = this.issues.length;
      if (!types.has(data.type))
        this.issues.push({ path: `${prefix}.type`, message: `unknown relationship type "${data.type}"` });
      for (const end of ['source', 'target'] as const) {
        const r = 'ref' in data[end] ? (data[end] as { ref: string }).ref : undefined;
        if (r !== undefined && !this.refs.has(r))
          this.issues.push({ path: `${prefix}.${end}`, message: `no CI of this payload has ref "${r}"` });
      }
      const s = JSON.stringify(data.source);
      const t = JSON.stringify(data.target);
      if (s.toLowerCase() === t.toLowerCase())
        this.issues.push({ path: `${prefix}.target`, message: 'a CI cannot be related to itself' });
      if (this.issues.length > before) return;
      this.edges.push({ index, type: data.type, source: data.source, target: data.target });
    });
  }

  readonly #schemas = new Map<string, ClassSchema | null>();
  schemaOf(name: string): ClassSchema | null {
    if (!this.#schemas.has(name)) this.#schemas.set(name, schemaOf(this.classes, name));
    return this.#schemas.get(name)!;
  }

  readonly #present = new Map<ClassSchema, AttributeValues>();
  allPresent(schema: ClassSchema): AttributeValues {
    let present = this.#present.get(schema);
    if (!present) {
      present = Object.fromEntries([...schema.attributes.keys()].map((k) => [k, true]));
      this.#present.set(schema, present);
    }
    return present;
  }

  conflict(item: Item, c: Omit<ReconcileConflict, 'list' | 'index' | 'ref'>, skip = true): void {
    this.conflicts.push({ list: 'cis', index: item.index, ref: item.ref, ...c });
    if (skip) item.skipped = true;
  }

  /** Finds each item's CI by its identity keys, merges, and checks the result. */
  async match(): Promise<void> {
    const holders = this.holders;
    const allKeys = new Map<string, IdentityKey>();
    for (const item of this.items) for (const k of item.keys) allKeys.set(keyOf(k), k);
    for (const h of await bulk.findIdentityHolders(this.db, [...allKeys.values()]))
      holders.set(keyOf(h), h.ciId);
    for (const k of allKeys.keys()) this.lookedUp.add(k);

    const targets = new Map<Item, string | null>();
    for (const item of this.items) {
      if (item.keys.length === 0) {
        const rules = item.schema.identifiers.map((r) => r.fields.join(' + '));
        this.conflict(item, {
          kind: 'unidentified',
          field: null,
          ciId: null,
          reason: rules.length
            ? `can't identify the CI: give one of ${rules.join('; ')}`
            : `can't identify the CI: class ${item.data.class} has no identifier rule`,
        });
        continue;
      }
      const found = [...new Set(item.keys.map((k) => holders.get(keyOf(k))).filter((x) => x !== undefined))];
      if (found.length > 1) {
        this.conflict(item, {
          kind: 'ambiguous',
          field: null,
          ciId: null,
          candidates: found,
          reason: `its identifiers point at ${found.length} different CIs (${found.join(', ')}): fix or merge them first`,
        });
        continue;
      }
      targets.set(item, found[0] ?? null);
    }

    const matchedIds = [...new Set([...targets.values()].filter((x): x is string => x !== null))];
    const currentById = new Map((await bulk.findCisForUpdate(this.db, matchedIds)).map((c) => [c.id, c]));

    for (const [item, id] of targets) {
      if (id === null) {
        this.planCreate(item);
        continue;
      }
      const current = currentById.get(id);
      if (!current) throw new Error(`CI ${id} holds an identity but was not found`);
      item.current = current;
      this.planMerge(item, current);
    }

    await this.checkIdentities();
  }

  planCreate(item: Item): void {
    const issuesBefore = this.issues.length;
    const values = Object.fromEntries(Object.entries(item.offered).filter(([, v]) => v !== null));
    const attributes = validateAttributes(
      item.schema,
      values,
      null,
      this.issues,
      `cis.${item.index}.attributes`,
    );
    if (this.issues.length > issuesBefore) {
      item.skipped = true;
      return;
    }
    const { data } = item;
    const from = this.source.name;
    const sources: Record<string, string> = Object.fromEntries(Object.keys(attributes).map((k) => [k, from]));
    sources[fieldSourceKey('name')] = from;
    if (data.status !== undefined) sources[fieldSourceKey('status')] = from;
    if (data.environment != null) sources[fieldSourceKey('environment')] = from;
    if (data.ownerGroup != null) sources[fieldSourceKey('ownerGroup')] = from;
    if (data.tags !== undefined) sources[fieldSourceKey('tags')] = from;
    const now = this.scope.now;
    item.finalSchema = item.schema;
    item.next = {
      id: crypto.randomUUID(),
      class: data.class,
      name: data.name,
      status: (data.status ?? 'operational') as CiStatus,
      environment: data.environment ?? null,
      ownerGroup: data.ownerGroup ?? null,
      attributes,
      attributeSources: sources,
      tags: data.tags ? [...new Set(data.tags)] : [],
      version: 1,
      createdAt: now,
      updatedAt: now,
      retiredAt: null,
    };
    item.changes = fieldChanges(null, item.next);
  }

  planMerge(item: Item, current: Ci): void {
    // The feed may know the CI better (a linux_server found as a server) but never reclassify it sideways.
    let className = current.class;
    if (item.data.class !== current.class) {
      const refines = lineage(this.classes, item.data.class).some((c) => c.name === current.class);
      const generalises = lineage(this.classes, current.class).some((c) => c.name === item.data.class);
      if (refines) className = item.data.class;
      else if (!generalises) {
        this.conflict(item, {
          kind: 'class_mismatch',
          field: 'class',
          ciId: current.id,
          reason: `matches CI ${current.name} (${current.id}) of class ${current.class}, which is neither ${item.data.class} nor a parent or subclass of it`,
        });
        return;
      }
    }
    const schema = this.schemaOf(className);
    if (!schema) throw new Error(`CI ${current.id} has class ${className}, which is not defined`);

    const sources = { ...current.attributeSources };
    let provenance = false;
    const from = this.source;
    // Identifiers match whatever their case (feeds disagree on it): a case-only difference is no change.
    const identifying = new Set(schema.identifiers.flatMap((r) => r.fields));
    /** Decides one field: returns whether the offered value is taken. */
    const decide = (key: string, field: string, kept: unknown, offered: unknown): boolean => {
      const holderName = sources[key];
      const holder = holderName === undefined ? undefined : this.sources.get(holderName);
      const mine = priorityOf(from, key);
      const theirs = holderName === undefined ? -1 : priorityOf(holder, key);
      const plain = key.startsWith('$') ? key.slice(1) : key;
      const same =
        identifying.has(plain) && typeof kept === 'string' && typeof offered === 'string'
          ? kept.toLowerCase() === offered.toLowerCase()
          : sameValue(kept, offered);
      if (same) {
        // A more authoritative source confirming a value takes it over, so lesser ones can't change it later.
        if (offered !== null && offered !== undefined && holderName !== from.name && mine > theirs) {
          sources[key] = from.name;
          provenance = true;
        }
        return false;
      }
      if (mine >= theirs) {
        if (offered === null) delete sources[key];
        else sources[key] = from.name;
        return true;
      }
      this.conflict(
        item,
        {
          kind: 'precedence',
          field,
          ciId: current.id,
          kept: kept ?? null,
          offered,
          heldBy: holderName!,
          reason: `${holderName} (priority ${theirs}) set ${field}; ${from.name} (priority ${mine}) can't change it`,
        },
        false,
      );
      return false;
    };

    const patch: AttributeValues = {};
    for (const [name, offered] of Object.entries(item.offered)) {
      if (decide(name, `attributes.${name}`, current.attributes[name], offered)) patch[name] = offered;
    }
    const { data } = item;
    const next: Ci = { ...current, class: className, attributeSources: sources };
    if (decide(fieldSourceKey('name'), 'name', current.name, data.name)) next.name = data.name;
    if (data.status !== undefined && decide(fieldSourceKey('status'), 'status', current.status, data.status))
      next.status = data.status as CiStatus;
    if (
      data.environment !== undefined &&
      decide(fieldSourceKey('environment'), 'environment', current.environment, data.environment)
    )
      next.environment = data.environment;
    if (
      data.ownerGroup !== undefined &&
      decide(fieldSourceKey('ownerGroup'), 'ownerGroup', current.ownerGroup, data.ownerGroup)
    )
      next.ownerGroup = data.ownerGroup;
    if (data.tags !== undefined) {
      const tags = [...new Set(data.tags)];
      if (decide(fieldSourceKey('tags'), 'tags', current.tags, tags)) next.tags = tags;
    }

    const issuesBefore = this.issues.length;
    next.attributes = validateAttributes(
      schema,
      patch,
      current.attributes,
      this.issues,
      `cis.${item.index}.attributes`,
    );
    if (this.issues.length > issuesBefore) {
      item.skipped = true;
      return;
    }
    item.finalSchema = schema;
    item.next = next;
    item.changes = fieldChanges(current, next);
    item.provenanceOnly = item.changes.length === 0 && provenance;
  }

  /**
   * In payload order: a later item with an identity (or CI) an earlier one has is a duplicate; an item
   * whose merged state would take another CI's identity is skipped.
   */
  async checkIdentities(): Promise<void> {
    const live = this.items.filter((i) => !i.skipped && i.next);
    const merged = new Map<Item, IdentityKey[]>();
    const lookup = new Map<string, IdentityKey>();
    for (const item of live) {
      const keys = identityKeys(item.finalSchema!, item.next!.name, item.next!.attributes);
      merged.set(item, keys);
      for (const k of keys) if (!this.lookedUp.has(keyOf(k))) lookup.set(keyOf(k), k);
    }
    // Only keys the merge produced beyond those looked up already (new values of a matched CI).
    const holders = this.holders;
    for (const h of await bulk.findIdentityHolders(this.db, [...lookup.values()]))
      holders.set(keyOf(h), h.ciId);

    const claimedBy = new Map<string, Item>();
    const ciTaken = new Map<string, Item>();
    for (const item of live) {
      const keys = [...item.keys, ...merged.get(item)!];
      const ciId = item.next!.id;
      const earlier =
        keys.map((k) => claimedBy.get(keyOf(k))).find((x) => x !== undefined) ?? ciTaken.get(ciId);
      if (earlier) {
        this.conflict(item, {
          kind: 'duplicate',
          field: null,
          ciId: item.current ? ciId : null,
          reason: `cis.${earlier.index}${earlier.ref ? ` (ref ${earlier.ref})` : ''} of this payload has the same identity`,
        });
        continue;
      }
      const taken = merged.get(item)!.find((k) => {
        const holder = holders.get(keyOf(k));
        return holder !== undefined && holder !== ciId;
      });
      if (taken) {
        const holder = holders.get(keyOf(taken))!;
        this.conflict(item, {
          kind: 'identity_taken',
          field: fieldOfRule(taken.rule),
          ciId: holder,
          reason: `CI ${holder} already has this ${taken.rule.split('+').join(' + ')}`,
        });
        continue;
      }
      for (const k of keys) claimedBy.set(keyOf(k), item);
      ciTaken.set(ciId, item);
    }
    this.mergedKeys = merged;
  }

  /** Resolves relationship ends to CIs; checks missing, retired, self-loops and cycles; finds existing ones. */
  async planEdges(types: ReadonlyMap<string, { acyclic: boolean }>): Promise<PlannedEdges> {
    const byCiId = new Set<string>();
    for (const e of this.edges)
      for (const end of [e.source, e.target]) if (end.ciId) byCiId.add(end.ciId.toLowerCase());
    const found = new Map((await bulk.findCiStatuses(this.db, [...byCiId])).map((c) => [c.id, c]));
    this.named = found;
    const resolved: (bulk.EdgeKey & { index: number })[] = [];
    let skipped = 0;
    for (const e of this.edges) {
      const prefix = `relationships.${e.index}`;
      const ids: Partial<Record<'source' | 'target', string>> = {};
      let unresolved: string | undefined;
      for (const end of ['source', 'target'] as const) {
        const given = e[end];
        if (given.ciId) {
          const id = given.ciId.toLowerCase();
          const ci = found.get(id);
          if (!ci) this.issues.push({ path: `${prefix}.${end}`, message: `CI ${given.ciId} was not found` });
          else if (ci.status === 'retired')
            this.issues.push({ path: `${prefix}.${end}`, message: `CI ${ci.name} (${id}) is retired` });
          else ids[end] = id;
        } else {
          const item = this.refs.get(given.ref!);
          if (item && !item.skipped && item.next) ids[end] = item.next.id;
          else if (item) unresolved ??= `its ${end} (cis.${item.index}, ref ${given.ref}) was skipped`;
        }
      }
      if (unresolved) {
        skipped++;
        this.conflicts.push({
          list: 'relationships',
          index: e.index,
          ref: null,
          kind: 'unresolved_end',
          field: null,
          ciId: null,
          reason: unresolved,
        });
        continue;
      }
      if (!ids.source || !ids.target) continue;
      if (ids.source === ids.target) {
        this.issues.push({
          path: `${prefix}.target`,
          message: `relates CI ${ids.source} to itself: both ends are the same CI`,
        });
        continue;
      }
      resolved.push({ index: e.index, type: e.type, sourceId: ids.source, targetId: ids.target });
    }
    // The feed may state an edge twice: it is one relationship.
    const unique = new Map<string, bulk.EdgeKey & { index: number }>();
    for (const r of resolved) {
      const k = `${r.type}\u0000${r.sourceId}\u0000${r.targetId}`;
      if (!unique.has(k)) unique.set(k, r);
    }
    // An edge touching a CI created now can't exist yet: look up only those between existing CIs.
    const created = new Set(
      this.items.filter((i) => !i.skipped && i.next && !i.current).map((i) => i.next!.id),
    );
    const candidates = [...unique.values()].filter(
      (r) => !created.has(r.sourceId) && !created.has(r.targetId),
    );
    const existing = new Set(
      (await bulk.findRelationships(this.db, candidates)).map(
        (r) => `${r.type}\u0000${r.sourceId}\u0000${r.targetId}`,
      ),
    );
    const fresh = [...unique.entries()].filter(([k]) => !existing.has(k)).map(([, r]) => r);
    const acyclicTypes = [...new Set(fresh.map((r) => r.type))].filter((t) => types.get(t)?.acyclic);
    if (acyclicTypes.length > 0) {
      await bulk.lockRelationshipTypes(this.db, acyclicTypes);
      for (const type of acyclicTypes) {
        const closing = await bulk.closingCycles(
          this.db,
          type,
          fresh.filter((r) => r.type === type),
        );
        for (const index of closing)
          this.issues.push({ path: `relationships.${index}.target`, message: `${type} would close a cycle` });
      }
    }
    return { fresh, unchanged: resolved.length - fresh.length, skipped };
  }

  async write(planned: PlannedEdges): Promise<ReconcileReport> {
    const { scope } = this;
    const from = this.source.name;
    const created: Ci[] = [];
    const changed: Item[] = [];
    const provenance: Item[] = [];
    const nextById = new Map<string, Ci>();
    for (const item of this.items) {
      if (item.skipped || !item.next) continue;
      nextById.set(item.next.id, item.next);
      if (!item.current) created.push(item.next);
      else if (item.changes!.length > 0) changed.push(item);
      else if (item.provenanceOnly) provenance.push(item);
    }
    let done = 0;
    const advance = (n: number) => {
      done += n;
      this.progress('writing', done);
    };
    this.progress('writing', 0);

    // Who writes, for the history entries the insert statements write themselves.
    const writer: bulk.HistoryWriter = {
      actorKind: scope.actor.kind,
      actorId: scope.actor.id,
      actorName: scope.actor.name,
      source: from,
      at: scope.now,
    };
    // New CIs with their `created` history entries, one statement per chunk; the next chunk's rows
    // and events are made while the database writes the current one. (Events are appended at commit,
    // in emit order: created, updated, related, as before.)
    await pipelined(
      bulk.chunks(created),
      (chunk) => {
        for (const ci of chunk) scope.emit('ci.created', { type: 'ci', id: ci.id }, { ci });
        return { rows: bulk.newCiRows(chunk), n: chunk.length };
      },
      async ({ rows, n }) => {
        await bulk.insertCisWithHistory(this.db, rows, writer);
        advance(n);
      },
    );
    const written = new Map<string, Ci>(created.map((c) => [c.id, c]));
    const updates = [
      ...changed.map((i) => ({ ci: i.next!, bump: true })),
      ...provenance.map((i) => ({ ci: i.next!, bump: false })),
    ];
    for (const chunk of bulk.chunks(updates)) {
      const rows = await bulk.updateCis(this.db, chunk);
      // The rows are locked since we read them: a miss means something is badly wrong, not a race.
      if (rows.length !== chunk.length) throw new Error('reconcile: a locked CI changed under the write');
      for (const row of rows) written.set(row.id, row);
      advance(chunk.length);
    }
    for (const item of changed) {
      const ci = written.get(item.next!.id)!;
      scope.emit('ci.updated', { type: 'ci', id: ci.id }, { ci, changes: item.changes! });
    }

    // Identity claims: new CIs claim theirs; changed CIs drop the ones they no longer have.
    const claims: (IdentityKey & { ciId: string })[] = [];
    const stored = await bulk.identitiesOf(
      this.db,
      changed.map((i) => i.next!.id),
    );
    const storedBy = new Map<string, Set<string>>();
    for (const s of stored) {
      const set = storedBy.get(s.ciId) ?? new Set<string>();
      set.add(keyOf(s));
      storedBy.set(s.ciId, set);
    }
    const release: (IdentityKey & { ciId: string })[] = [];
    for (const item of [...this.items.filter((i) => !i.skipped && i.next && !i.current), ...changed]) {
      const ciId = item.next!.id;
      const keys = this.mergedKeys.get(item)!;
      const have = storedBy.get(ciId) ?? new Set<string>();
      const want = new Set(keys.map(keyOf));
      for (const k of keys) if (!have.has(keyOf(k))) claims.push({ ...k, ciId });
      for (const s of stored) if (s.ciId === ciId && !want.has(keyOf(s))) release.push(s);
    }
    await bulk.releaseClaims(this.db, release);
    const refused = await bulk.insertClaims(this.db, claims);
    if (refused.length > 0) {
      // Only a single write (create/update) racing with us can get here: they don't take our lock.
      const [first] = refused;
      throw new ConflictError(
        `another write claimed ${first!.rule} ${first!.value} while reconciling: nothing was written; run the reconciliation again`,
        'cis',
      );
    }

    // History of changed CIs before the relationships', as for new CIs (written with them above).
    await bulk.insertHistoryRows(
      this.db,
      changed.map((i) =>
        historyRow('updated', written.get(i.next!.id)!, scope.actor, from, scope.now, i.changes!),
      ),
    );

    // Each relationship with its `related` history entry, in one statement per chunk (the next one
    // made while the database writes the current one).
    const relationships: Relationship[] = [];
    await pipelined(
      bulk.chunks(planned.fresh),
      (chunk) =>
        bulk.newRelationships(
          chunk.map((r) => ({
            id: crypto.randomUUID(),
            type: r.type,
            sourceId: r.sourceId,
            targetId: r.targetId,
            createdAt: scope.now,
            // The source CI's version now: written here, untouched by this feed, or named by id.
            version:
              written.get(r.sourceId)?.version ??
              nextById.get(r.sourceId)?.version ??
              this.named.get(r.sourceId)!.version,
          })),
        ),
      async (fresh) => {
        const inserted = await bulk.insertRelationshipsWithHistory(this.db, fresh, writer);
        for (const r of inserted)
          scope.emit('ci.related', { type: 'ci', id: r.sourceId }, { relationship: r });
        relationships.push(...inserted);
        advance(fresh.rows.length);
      },
    );

    this.progress('writing', this.total);
    // Every item passed validation (or we threw): this.items holds them all, in payload order.
    const items = this.items.map((item) => {
      const outcome: ReconcileOutcome =
        item.skipped || !item.next
          ? 'skipped'
          : !item.current
            ? 'created'
            : item.changes!.length > 0
              ? 'updated'
              : 'unchanged';
      return {
        index: item.index,
        ref: item.ref,
        ciId: outcome === 'skipped' ? null : item.next!.id,
        outcome,
      };
    });
    const count = (o: ReconcileOutcome) => items.filter((i) => i.outcome === o).length;
    const skippedIndexes = new Set(items.filter((i) => i.outcome === 'skipped').map((i) => i.index));
    return {
      source: from,
      created: count('created'),
      updated: count('updated'),
      unchanged: count('unchanged'),
      skipped: count('skipped'),
      // A refused field of an item skipped anyway is noise: the item's own conflict says it all.
      conflicts: this.conflicts
        .filter((c) => !(c.list === 'cis' && c.kind === 'precedence' && skippedIndexes.has(c.index)))
        .sort((a, b) => (a.list === b.list ? a.index - b.index : a.list === 'cis' ? -1 : 1)),
      items,
      relationships: {
        created: relationships.length,
        unchanged: planned.unchanged + (planned.fresh.length - relationships.length),
        skipped: planned.skipped,
      },
    };
  }
}

interface PlannedEdges {
  readonly fresh: (bulk.EdgeKey & { index: number })[];
  readonly unchanged: number;
  readonly skipped: number;
}

/** The attribute named by an identifier rule (`hostname+domain` → `attributes.hostname`). */
function fieldOfRule(rule: string): string {
  const first = rule.split('+').find((f) => f !== 'name');
  return first ? `attributes.${first}` : 'name';
}
