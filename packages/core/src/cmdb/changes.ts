import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import { abortableIterator } from '../kernel/abortable.js';
import { currentActorOf } from '../kernel/activity.js';
import { type ActorRef, canSomewhere, permissions, type ReadOptions } from '../kernel/actor.js';
import { ForbiddenError, ValidationError } from '../kernel/errors.js';
import type { AnyDomainEvent, DomainEventType, Jsonified } from '../kernel/events.js';
import type { Kernel } from '../kernel/kernel.js';
import { canSeeEvent } from '../kernel/reach.js';
import { parseInput } from '../kernel/validation.js';
import type { Ci, FieldChange, Relationship } from './model.js';
import { findCis } from './store.js';

export const ciChangeKinds = ['created', 'updated', 'retired', 'related', 'unrelated'] as const;
export type CiChangeKind = (typeof ciChangeKinds)[number];

/** The activity types a CI change stream reads. */
export const ciChangeEventTypes = ciChangeKinds.map((kind) => `ci.${kind}`) as DomainEventType[];

/** Which CIs to follow; every given part must hold. */
export interface CiChangeFilter {
  readonly ids?: readonly string[];
  /** The class or any class below it. */
  readonly class?: string;
  readonly tag?: string;
}

export interface FollowCiChangesOptions extends ReadOptions {
  /** Start after this seq (e.g. the last one you handled); default: from now on. */
  readonly after?: number;
  readonly signal?: AbortSignal;
}

/** One change of a CI, as `og.cmdb.follow()` yields it. */
export interface CiChange {
  /** Position in the activity stream: resume with `after: seq`. */
  readonly seq: number;
  readonly kind: CiChangeKind;
  /**
   * The CI as the event recorded it (created, updated, retired); for a relationship, the end that
   * matched the filter (the source when both do), as it is now.
   */
  readonly ci: Ci;
  /** What an update changed, field by field; null for other kinds. */
  readonly changes: readonly FieldChange[] | null;
  /** The relationship made or removed; null for other kinds. */
  readonly relationship: Relationship | null;
  readonly actor: ActorRef;
  readonly occurredAt: Date;
}

const filterInput = z.strictObject({
  ids: z.array(z.uuid('must be CI ids')).max(500, 'at most 500 ids').optional(),
  class: z.string().min(1, 'must name a CI class').max(200).optional(),
  tag: z.string().min(1, 'must not be empty').max(64).optional(),
});

/**
 * A CI change stream over the activity stream's follow: the same resume-by-seq guarantee (nothing
 * missed, nothing twice), narrowed to CI events that match the filter and that the actor may read.
 * The head and the filter's class are looked up at once, so "from now on" means from this call.
 */
export function followCiChanges(
  kernel: Kernel,
  filterIn: CiChangeFilter,
  options: FollowCiChangesOptions,
): AsyncIterableIterator<CiChange> {
  const filter = parseInput(filterInput, filterIn, 'filter');
  const start = Promise.all([
    options.after ?? kernel.services.cmdb.changesHead(),
    filter.class ? ClassTree.load(kernel.db, filter.class) : null,
  ]);
  start.catch(() => {}); // reported by the first next(); unhandled until then otherwise
  return abortableIterator(options.signal, (signal) => changes(kernel, filter, options, start, signal));
}

async function* changes(
  kernel: Kernel,
  filter: z.output<typeof filterInput>,
  options: FollowCiChangesOptions,
  start: Promise<[number, ClassTree | null]>,
  signal: AbortSignal,
): AsyncGenerator<CiChange, void, undefined> {
  const [after, classes] = await start;
  const ids = filter.ids ? new Set(filter.ids.map((id) => id.toLowerCase())) : null;
  const matches = async (ci: Pick<Ci, 'id' | 'class' | 'tags'>, tagsBefore?: readonly string[]) =>
    (!ids || ids.has(ci.id)) &&
    (!filter.tag || ci.tags.includes(filter.tag) || Boolean(tagsBefore?.includes(filter.tag))) &&
    (!classes || (await classes.includes(ci.class)));

  const events = kernel.services.activity.follow({ after, types: ciChangeEventTypes, signal });
  for await (const event of events) {
    // Checked on every event, not once, with the subscriber's permissions as they are now: one whose
    // permission goes stops receiving, and one holding it through scopes receives only the changes of
    // CIs they cover (a relationship: both ends).
    const actor = options.actor && (await currentActorOf(kernel, options.actor));
    if (actor && !canSomewhere(actor, permissions.cmdbRead))
      throw new ForbiddenError(permissions.cmdbRead, actor.name);
    if (!canSeeEvent(actor, event)) continue;
    const change = await toChange(kernel.db, event, matches);
    if (change) yield change;
  }
}

type Matches = (ci: Pick<Ci, 'id' | 'class' | 'tags'>, tagsBefore?: readonly string[]) => Promise<boolean>;

async function toChange(
  db: Kysely<Database>,
  event: AnyDomainEvent,
  matches: Matches,
): Promise<CiChange | null> {
  const base = { seq: event.seq, actor: event.actor, occurredAt: event.occurredAt };
  switch (event.type) {
    case 'ci.created':
    case 'ci.retired': {
      const ci = reviveCi(event.payload.ci);
      if (!(await matches(ci))) return null;
      return {
        ...base,
        kind: event.type === 'ci.created' ? 'created' : 'retired',
        ci,
        changes: null,
        relationship: null,
      };
    }
    case 'ci.updated': {
      const ci = reviveCi(event.payload.ci);
      const changes = event.payload.changes as FieldChange[];
      // An update that takes a CI out of the filter (e.g. removes the tag) is still news to its followers.
      const tagsBefore = changes.find((c) => c.field === 'tags')?.before as string[] | undefined;
      if (!(await matches(ci, tagsBefore))) return null;
      return { ...base, kind: 'updated', ci, changes, relationship: null };
    }
    case 'ci.related':
    case 'ci.unrelated': {
      const relationship = reviveRelationship(event.payload.relationship);
      const ends = await findCis(db, [relationship.sourceId, relationship.targetId]);
      for (const id of [relationship.sourceId, relationship.targetId]) {
        const ci = ends.find((c) => c.id === id);
        if (ci && (await matches(ci))) {
          return {
            ...base,
            kind: event.type === 'ci.related' ? 'related' : 'unrelated',
            ci,
            changes: null,
            relationship,
          };
        }
      }
      return null;
    }
    default:
      return null;
  }
}

/** Events carry JSON (dates as strings); a change hands out the same shapes as the rest of the SDK. */
const date = (value: string | null): Date | null => (value === null ? null : new Date(value));

function reviveCi(ci: Jsonified<Ci>): Ci {
  return {
    ...ci,
    createdAt: date(ci.createdAt)!,
    updatedAt: date(ci.updatedAt)!,
    retiredAt: date(ci.retiredAt),
  } as Ci;
}

function reviveRelationship(relationship: Jsonified<Relationship>): Relationship {
  return { ...relationship, createdAt: date(relationship.createdAt)! };
}

/**
 * The class hierarchy below one class, for per-event class checks without a query per event. A class
 * it has not seen (created since it loaded) makes it load again once.
 */
class ClassTree {
  #parents = new Map<string, string | null>();

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly root: string,
  ) {}

  static async load(db: Kysely<Database>, root: string): Promise<ClassTree> {
    const tree = new ClassTree(db, root);
    await tree.#load();
    if (!tree.#parents.has(root)) throw ValidationError.field('filter.class', `unknown CI class "${root}"`);
    return tree;
  }

  async includes(name: string): Promise<boolean> {
    if (!this.#parents.has(name)) await this.#load();
    // Bounded: a cycle in the parents (never made by core) must not hang the stream.
    let current: string | null | undefined = name;
    for (let hops = 0; current && hops <= this.#parents.size; hops++) {
      if (current === this.root) return true;
      current = this.#parents.get(current);
    }
    return false;
  }

  async #load(): Promise<void> {
    const rows = await this.db.selectFrom('ciClasses').select(['name', 'parent']).execute();
    this.#parents = new Map(rows.map((row) => [row.name, row.parent]));
  }
}
