import { type Expression, type SqlBool, sql } from 'kysely';
import { type Actor, can, canOn, canSomewhere, reachOf, readPermissionOf } from './actor.js';
import { ForbiddenError } from './errors.js';

/**
 * Scoped authorization of records that belong to CIs: the one place services ask "may this actor do
 * this to that CI?". An actor holds a permission everywhere (`can`) or only on the CIs its scopes
 * cover (`canOn`); a service resolves a `CiReach` once per call and then:
 *
 * - refuses a by-id read or write outside it (`assert`: ForbiddenError naming the permission, the CI
 *   and the input field);
 * - filters a list in SQL (`where`, an `= any($1::uuid[])` condition), so pages, order and cursors stay
 *   right, or in memory (`has`, `hasAll`) for what it already loaded.
 *
 * No actor means trusted embedding code: it reaches every CI, as before scopes existed. A later
 * process (incidents, alerts) follows the same pattern with the CI its records hang on.
 */
export class CiReach {
  #ids: string[] | undefined;

  private constructor(
    /** Null for trusted code (no actor): every CI. */
    readonly actor: Actor | null,
    readonly permission: string,
    /** The actor holds the permission everywhere (or there is no actor). */
    readonly all: boolean,
  ) {}

  /**
   * Where `actor` holds `permission`. Refused outright (ForbiddenError, no field) when it holds it
   * nowhere, so a caller without the permission learns nothing about which CIs exist.
   */
  static of(actor: Actor | undefined, permission: string): CiReach {
    if (!actor) return new CiReach(null, permission, true);
    if (!canSomewhere(actor, permission)) throw new ForbiddenError(permission, actor.name);
    return new CiReach(actor, permission, can(actor, permission));
  }

  /** Whether the CI is in reach. Ids are compared in lower case, as the database returns them. */
  has(ciId: string): boolean {
    return this.all || onCi(this.actor!, this.permission, ciId);
  }

  /** Whether every one of `ciIds` is in reach (a relationship's two ends, a path). */
  hasAll(ciIds: Iterable<string>): boolean {
    if (this.all) return true;
    for (const id of ciIds) if (!this.has(id)) return false;
    return true;
  }

  /**
   * Refuses a CI outside reach: ForbiddenError naming the permission, the CI and `field`. Asked before
   * the CI is looked up, so a scoped caller cannot tell a CI it may not see from one that does not exist.
   */
  assert(ciId: string, field = 'id'): void {
    if (!this.has(ciId))
      throw new ForbiddenError(this.permission, this.actor!.name, field, { on: `CI ${ciId}` });
  }

  /** `assert` for each of a list, naming the first outside reach as `<field>.<index>`. */
  assertEach(ciIds: readonly string[], field = 'ciIds'): void {
    if (this.all) return;
    ciIds.forEach((id, i) => {
      this.assert(id, `${field}.${i}`);
    });
  }

  /** The CIs in reach, in lower case; null when all are. Resolved once, on first use. */
  ids(): readonly string[] | null {
    if (this.all) return null;
    if (!this.#ids) {
      const reach = reachOf(this.actor!, this.permission);
      this.#ids = reach === 'all' ? [] : [...new Set([...reach].map((id) => id.toLowerCase()))];
    }
    return this.#ids;
  }

  /**
   * An SQL condition: the uuid `column` (e.g. `cis.id`) is in reach; null when every CI is, so the
   * query stays as it was. An empty reach matches nothing.
   */
  where(column: string): Expression<SqlBool> | null {
    const ids = this.ids();
    return ids ? sql<SqlBool>`${sql.ref(column)} = any(${ids}::uuid[])` : null;
  }
}

/** A domain event as visibility rules see it. */
export interface VisibleEvent {
  readonly type: string;
  readonly subject: { readonly type: string; readonly id: string } | null;
  readonly payload: unknown;
}

/**
 * The CIs an event is about: its subject when that is a CI, both ends of a relationship it
 * carries (`payload.relationship`), and the CI of an alert it carries (`payload.alert.ciId`), so a relationship event is seen only by who may read both ends.
 */
export function eventCiIds(event: VisibleEvent): string[] {
  const ids: string[] = [];
  if (event.subject?.type === 'ci') ids.push(event.subject.id);
  const relationship = (event.payload as { relationship?: { sourceId?: unknown; targetId?: unknown } } | null)
    ?.relationship;
  for (const end of [relationship?.sourceId, relationship?.targetId])
    if (typeof end === 'string' && !ids.includes(end)) ids.push(end);
  // An alert event is about the CI its alert is bound to.
  const alertCi = (event.payload as { alert?: { ciId?: unknown } } | null)?.alert?.ciId;
  if (typeof alertCi === 'string' && !ids.includes(alertCi)) ids.push(alertCi);
  const incidentCi = (event.payload as { incident?: { ciId?: unknown } } | null)?.incident?.ciId;
  if (typeof incidentCi === 'string' && !ids.includes(incidentCi)) ids.push(incidentCi);
  // A problem or known-error event is about the problem's CI.
  const problemCi = (event.payload as { problem?: { ciId?: unknown } } | null)?.problem?.ciId;
  if (typeof problemCi === 'string' && !ids.includes(problemCi)) ids.push(problemCi);
  // A maintenance window event is about every CI the window names.
  const windowCis = (event.payload as { window?: { ciIds?: unknown } } | null)?.window?.ciIds;
  if (Array.isArray(windowCis))
    for (const id of windowCis) if (typeof id === 'string' && !ids.includes(id)) ids.push(id);
  // A change request event is about every CI the change affects.
  const changeCis = (event.payload as { change?: { ciIds?: unknown } } | null)?.change?.ciIds;
  if (Array.isArray(changeCis))
    for (const id of changeCis) if (typeof id === 'string' && !ids.includes(id)) ids.push(id);
  return ids;
}

/**
 * Whether `actor` may see `event`: `permission` (default: the event's read permission, e.g. `cmdb:read`
 * for `ci.*`) on every CI the event is about, or everywhere when it is about no CI. No actor sees all.
 */
export function canSeeEvent(
  actor: Actor | undefined,
  event: VisibleEvent,
  permission: string = readPermissionOf(event.type),
): boolean {
  if (!actor) return true;
  const ciIds = eventCiIds(event);
  if (ciIds.length === 0) return can(actor, permission);
  return canOnEach(actor, permission, ciIds);
}

/** `canOn`, for an id as given (a client may send upper case) or as the database spells it. */
const onCi = (actor: Actor, permission: string, ciId: string): boolean =>
  canOn(actor, permission, ciId) || canOn(actor, permission, ciId.toLowerCase());

/**
 * Whether `actor` holds `permission` on each of `ciIds` (everywhere, or through scopes covering them):
 * the check of one record that hangs on CIs, e.g. a relationship's two ends. Ids in any case.
 */
export function canOnEach(actor: Actor, permission: string, ciIds: Iterable<string>): boolean {
  for (const id of ciIds) if (!onCi(actor, permission, id)) return false;
  return true;
}
