import type { ColumnType, Generated, Selectable } from 'kysely';
import { z } from 'zod';

export const ciStatuses = ['planned', 'installed', 'operational', 'maintenance', 'retired'] as const;
export type CiStatus = (typeof ciStatuses)[number];

export interface CiClassTable {
  name: string;
  label: string;
  parent: string | null;
  owner: string;
}

export interface CiTable {
  id: string;
  class: string;
  name: string;
  status: CiStatus;
  environment: string | null;
  attributes: ColumnType<Record<string, unknown>, string, string>;
  tags: string[];
  version: ColumnType<number, number | undefined, number>;
  createdAt: Date;
  updatedAt: Date;
  retiredAt: Date | null;
}

/** A configuration item, as read. */
export type Ci = Selectable<CiTable>;
export type CiClass = Selectable<CiClassTable>;

/** A CI class a plugin brings (`ciClasses`); `parent` is a core class, a dependency's, or an earlier one of its own. */
export interface CiClassDefinition {
  readonly name: string;
  readonly label: string;
  readonly parent?: string;
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
