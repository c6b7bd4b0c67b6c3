import type { ColumnType, Generated, GeneratedAlways, Selectable } from 'kysely';
import { z } from 'zod';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';
import { type AttributeDefinition, attributeDefinition, NAME_IDENTIFIER } from './attributes.js';

export const ciStatuses = ['planned', 'installed', 'operational', 'maintenance', 'retired'] as const;
export type CiStatus = (typeof ciStatuses)[number];

export interface CiClassTable {
  name: string;
  label: string;
  parent: string | null;
  owner: string;
  description: Generated<string | null>;
  /** The class's own attributes; a subclass inherits its ancestors'. */
  attributes: ColumnType<AttributeDefinition[], string | undefined, string>;
  /** The class's own identifier rules, each a list of attribute names (or `name`). */
  identifiers: ColumnType<string[][], string | undefined, string>;
}

export interface CiTable {
  id: string;
  class: string;
  name: string;
  status: CiStatus;
  environment: string | null;
  /** The group answerable for the CI (an assignment group). */
  ownerGroup: Generated<string | null>;
  attributes: ColumnType<Record<string, unknown>, string, string>;
  /** Which source last set each attribute: reconciliation's precedence reads it. */
  attributeSources: ColumnType<Record<string, string>, string | undefined, string>;
  tags: string[];
  version: ColumnType<number, number | undefined, number>;
  createdAt: Date;
  updatedAt: Date;
  retiredAt: Date | null;
}

/** A configuration item, as read. */
export type Ci = Selectable<CiTable>;
export type CiClass = Selectable<CiClassTable>;

/**
 * A CI class a plugin brings (`ciClasses`) or an operator defines (`cmdb.defineClass`); `parent` is a core
 * class, a dependency's, or an earlier one of its own.
 */
export interface CiClassDefinition {
  readonly name: string;
  readonly label: string;
  readonly parent?: string;
  readonly description?: string;
  readonly attributes?: readonly AttributeDefinition[];
  /** Which attribute sets identify a CI, e.g. `[['serial_number'], ['hostname', 'domain']]`. */
  readonly identifiers?: readonly (readonly string[])[];
}

const className = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be snake_case: a lower-case letter, then letters, digits or _');

export const classDefinitionInput = z.strictObject({
  name: className,
  label: z.string().trim().min(1, 'must not be empty').max(200),
  parent: className.optional(),
  description: z.string().max(2000).optional(),
  attributes: z.array(attributeDefinition).max(200).default([]),
  identifiers: z
    .array(
      z
        .array(z.string().min(1))
        .min(1, 'an identifier names at least one attribute')
        .max(5)
        .refine((f) => new Set(f).size === f.length, 'names an attribute twice'),
    )
    .max(10)
    .default([]),
});
export type ClassDefinitionInput = z.input<typeof classDefinitionInput>;
export { NAME_IDENTIFIER };

/** An identity claim: `value` of identifier `rule` (declared by class `scope`) belongs to one CI. */
export interface CiIdentityTable {
  scope: string;
  rule: string;
  value: string;
  ciId: string;
}

/**
 * A discovery source feeding reconciliation. A source may overwrite an attribute last set by a source of
 * the same or a lower priority, never one set by a higher; `attributePriorities` overrides the priority
 * for single attributes (e.g. the asset register is the authority on `serial_number` only).
 */
export interface CmdbSourceTable {
  name: string;
  label: string;
  priority: number;
  attributePriorities: ColumnType<Record<string, number>, string | undefined, string>;
  createdAt: Date;
}
export type CmdbSource = Selectable<CmdbSourceTable>;

/** Changes made through the API without a source are `manual`. */
export const MANUAL_SOURCE = 'manual';

export const sourceDefinitionInput = z.strictObject({
  name: className,
  label: z.string().trim().min(1).max(200).optional(),
  priority: z.int().min(0).max(1000),
  attributePriorities: z.record(z.string().min(1), z.int().min(0).max(1000)).default({}),
});
export type SourceDefinitionInput = z.input<typeof sourceDefinitionInput>;

/** CMDB writes may say which source (`manual` when not) makes them: history records it. */
export interface CmdbWriteOptions extends WriteOptions {
  readonly source?: string;
}

export const historyKinds = ['created', 'updated', 'retired', 'related', 'unrelated'] as const;
export type HistoryKind = (typeof historyKinds)[number];

export interface CiHistoryTable {
  seq: GeneratedAlways<number>;
  ciId: string;
  /** For relationship entries: the CI at the other end (the entry shows in both CIs' history). */
  relatedCiId: string | null;
  relationshipId: string | null;
  kind: HistoryKind;
  /** The CI's version after the change. */
  version: number;
  actorKind: string;
  actorId: string;
  actorName: string;
  source: string | null;
  at: Date;
  changes: ColumnType<FieldChange[], string, string>;
}

/** One recorded change of a CI, or of a relationship at one of its ends. */
export interface CiHistoryEntry {
  readonly seq: number;
  readonly ciId: string;
  readonly kind: HistoryKind;
  readonly version: number;
  readonly actor: ActorRef;
  readonly source: string | null;
  readonly at: Date;
  /** Per field (`attributes.<name>` for attributes) before and after; for relationships, the relationship. */
  readonly changes: readonly FieldChange[];
  readonly relationship: Pick<Relationship, 'id' | 'type' | 'sourceId' | 'targetId'> | null;
}

/** What a CI looked like at a moment: its fields and the relationships it had then. */
export interface CiState {
  readonly id: string;
  readonly at: Date;
  readonly version: number;
  readonly class: string;
  readonly name: string;
  readonly status: CiStatus;
  readonly environment: string | null;
  readonly ownerGroup: string | null;
  readonly tags: readonly string[];
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly relationships: readonly Pick<Relationship, 'id' | 'type' | 'sourceId' | 'targetId'>[];
}

export const propagations = ['to_source', 'to_target', 'both', 'none'] as const;
export type Propagation = (typeof propagations)[number];

export interface RelationshipTypeTable {
  name: string;
  label: string;
  inverseLabel: string;
  /** Which end a failure reaches: for `a depends_on b`, b failing hurts a (`to_source`). */
  propagation: Propagation;
  /** Refuses a relationship that would close a cycle of this type (e.g. `contains`). */
  acyclic: Generated<boolean>;
  owner: Generated<string>;
}
export type RelationshipType = Selectable<RelationshipTypeTable>;

/** A relationship type a plugin brings (`relationshipTypes`). */
export interface RelationshipTypeDefinition {
  readonly name: string;
  readonly label: string;
  readonly inverseLabel?: string;
  readonly propagation: Propagation;
  readonly acyclic?: boolean;
}

export const relationshipTypeInput = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be snake_case: a lower-case letter, then letters, digits or _'),
  label: z.string().trim().min(1, 'must not be empty').max(200),
  inverseLabel: z.string().trim().min(1).max(200).optional(),
  propagation: z.enum(propagations),
  acyclic: z.boolean().optional(),
});

export interface RelationshipTable {
  id: string;
  type: string;
  sourceId: string;
  targetId: string;
  createdAt: Date;
}
export type Relationship = Selectable<RelationshipTable>;

export const relateInput = z.strictObject({
  type: z.string().min(1, 'must name a relationship type'),
  sourceId: z.uuid('must be a CI id'),
  targetId: z.uuid('must be a CI id'),
});
export type RelateInput = z.input<typeof relateInput>;

/** One field of a change, for history and `ci.updated` events. */
export interface FieldChange {
  readonly field: string;
  readonly before: unknown;
  readonly after: unknown;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'ci.created': { ci: Ci };
    'ci.updated': { ci: Ci; changes: FieldChange[] };
    'ci.retired': { ci: Ci };
    'ci.related': { relationship: Relationship };
    'ci.unrelated': { relationship: Relationship };
    /** The CMDB's own model changed at runtime: audited like data. */
    'ci.class_defined': { ciClass: CiClass; created: boolean };
    'ci.relationship_type_defined': { relationshipType: RelationshipType };
    'ci.source_defined': { source: CmdbSource };
  }
}

const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const tag = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[\w.:/-]+$/, 'may hold letters, digits and . _ : / - only');

export const createCiInput = z.strictObject({
  class: z.string().min(1, 'must name a CI class'),
  name,
  status: z
    .enum(ciStatuses)
    .refine((s) => s !== 'retired', 'a new CI cannot be retired')
    .default('operational'),
  environment: z.string().trim().min(1).max(64).nullish(),
  ownerGroup: z.string().trim().min(1).max(200).nullish(),
  attributes: z.record(z.string(), z.unknown()).default({}),
  tags: z.array(tag).max(50).default([]),
});
export type CreateCiInput = z.input<typeof createCiInput>;

export const updateCiInput = z.strictObject({
  /** The version this change was based on. */
  version: z.number().int().positive(),
  name: name.optional(),
  status: z
    .enum(ciStatuses)
    .refine((s) => s !== 'retired', 'use retire to retire a CI: it keeps its history')
    .optional(),
  environment: z.string().trim().min(1).max(64).nullish(),
  ownerGroup: z.string().trim().min(1).max(200).nullish(),
  /** Merged into the CI's attributes; `null` removes one. */
  attributes: z.record(z.string(), z.unknown()).optional(),
  tags: z.array(tag).max(50).optional(),
});
export type UpdateCiInput = z.input<typeof updateCiInput>;

/** The CI's attribute `name` equals `value` (JSON equality; `null` matches an attribute set to null). */
export interface AttributeFilter {
  readonly name: string;
  readonly value: unknown;
}

export interface CiFilter {
  /** The class or any class below it (`server` lists `linux_server` CIs); unknown: `ValidationError` on `filter.class`. */
  readonly class?: string;
  readonly status?: CiStatus;
  readonly tag?: string;
  /** Every one must hold. */
  readonly attributes?: readonly AttributeFilter[];
  /** Case-insensitive substring of the name. */
  readonly search?: string;
  /** Retired CIs are left out unless asked for (or `status: 'retired'` is). */
  readonly includeRetired?: boolean;
}

const filterText = z.string().max(200, 'must be at most 200 characters');
export const ciFilterInput = z.strictObject({
  class: filterText.min(1, 'must name a CI class').optional(),
  status: z.enum(ciStatuses).optional(),
  tag: filterText.min(1, 'must not be empty').optional(),
  attributes: z
    .array(
      z.strictObject({
        name: filterText.min(1, 'must name an attribute'),
        // A missing value would turn into `{}`, which every CI contains: refuse it rather than match all.
        value: z
          .unknown()
          .refine((v) => v !== undefined, 'must be given (null matches an attribute set to null)'),
      }),
    )
    .max(20, 'at most 20 attribute filters')
    .optional(),
  search: filterText.optional(),
  includeRetired: z.boolean().optional(),
});

/** What a CI list can be ordered by; ties are broken by id, in the same direction. */
export const ciOrderFields = ['name', 'createdAt', 'updatedAt', 'class', 'status'] as const;
export type CiOrderField = (typeof ciOrderFields)[number];
export const orderDirections = ['asc', 'desc'] as const;
export type OrderDirection = (typeof orderDirections)[number];

export interface CiOrder {
  readonly field: CiOrderField;
  /** Default `asc`. `status` orders by lifecycle: planned, installed, operational, maintenance, retired. */
  readonly direction?: OrderDirection;
}

export interface PageRequest {
  readonly first?: number;
  readonly after?: string | null;
}

/** A page of CIs; a cursor only continues the order it was made under. Default order: name ascending. */
export interface CiPageRequest extends PageRequest {
  readonly orderBy?: CiOrder;
}

/** A page of a keyset-paginated list; every edge carries the cursor to continue after it. */
export interface Page<T> {
  readonly edges: { readonly cursor: string; readonly node: T }[];
  readonly hasNextPage: boolean;
  readonly endCursor: string | null;
}
