import type { z } from 'zod';
import { abortableIterator } from '../kernel/abortable.js';
import { currentActorOf } from '../kernel/activity.js';
import { type Actor, type ActorRef, canSomewhere, permissions, type ReadOptions } from '../kernel/actor.js';
import { ForbiddenError } from '../kernel/errors.js';
import { type AnyDomainEvent, type DomainEventType, type Jsonified, oncePerEvent } from '../kernel/events.js';
import type { Kernel } from '../kernel/kernel.js';
import { canSeeEvent } from '../kernel/reach.js';
import { parseInput } from '../kernel/validation.js';
import { type Alert, type AlertFilter, type AlertStatus, alertFilterInput } from './model.js';

/**
 * `grouped`: its topology group changed (it joined a root, or left one when the root closed);
 * `suppressed` / `unsuppressed`: a maintenance window began or stopped covering its CI.
 */
export const alertChangeKinds = [
  'opened',
  'updated',
  'acknowledged',
  'closed',
  'grouped',
  'suppressed',
  'unsuppressed',
] as const;
export type AlertChangeKind = (typeof alertChangeKinds)[number];

/** The activity types an alert stream reads. */
export const alertEventTypes: readonly DomainEventType[] = alertChangeKinds.map(
  (kind) => `alert.${kind}` as const,
);

/** A change of an alert, as `og.events.followAlerts` delivers it. */
export interface AlertChange {
  /** Position in the activity stream: resume with `after: seq`. */
  readonly seq: number;
  readonly kind: AlertChangeKind;
  /** The alert as the change left it. */
  readonly alert: Alert;
  /** For `updated`: how many repeats it folded in; null for other kinds. */
  readonly repeats: number | null;
  /** For `grouped`: the root it had before (null: it was in no group). */
  readonly previousRootAlertId: string | null;
  readonly actor: ActorRef;
  readonly occurredAt: Date;
}

export interface FollowAlertsOptions extends ReadOptions {
  /** Start after this seq (e.g. the last one you handled); default: from now on. */
  readonly after?: number;
  /**
   * Which alerts, as `alerts()` takes it. Status matches the status a change left, or the one it
   * came from: a follower of open alerts also hears when one is acknowledged or closed.
   */
  readonly filter?: AlertFilter;
  readonly signal?: AbortSignal;
}

/**
 * Alert changes over the activity stream's follow (resumable by seq, nothing missed, nothing twice),
 * narrowed to the filter and judged per event with the actor as it is then: event:read on the alert's
 * CI, or everywhere for an alert on no CI. Losing event:read altogether ends the stream (FORBIDDEN); a
 * credential that stops working ends it too (UNAUTHENTICATED). Needs no activity:read.
 */
export function followAlerts(
  kernel: Kernel,
  options: FollowAlertsOptions = {},
): AsyncIterableIterator<AlertChange> {
  const filter = parseInput(alertFilterInput, options.filter ?? {}, 'filter');
  const start = Promise.resolve(
    options.after ?? kernel.services.activity.latestSeq({ types: alertEventTypes }),
  );
  start.catch(() => {}); // reported by the first next(); unhandled until then otherwise
  const matches = matcher(filter);
  return abortableIterator(options.signal, (signal) =>
    changes(kernel, options.actor, start, matches, signal),
  );
}

async function* changes(
  kernel: Kernel,
  subscriber: Actor | undefined,
  start: Promise<number>,
  matches: (change: AlertChange) => boolean,
  signal: AbortSignal,
): AsyncGenerator<AlertChange, void, undefined> {
  const events = kernel.services.activity.follow({ after: await start, types: [...alertEventTypes], signal });
  for await (const event of events) {
    const current = subscriber && currentActorOf(kernel, subscriber);
    const actor = current instanceof Promise ? await current : current;
    if (actor && !canSomewhere(actor, permissions.eventRead))
      throw new ForbiddenError(permissions.eventRead, actor.name);
    // The event is about its alert's CI (see eventCiIds): event:read there, or everywhere without one.
    if (!canSeeEvent(actor, event)) continue;
    const change = toChange(event);
    if (change && matches(change)) yield change;
  }
}

function matcher(filter: z.output<typeof alertFilterInput>): (change: AlertChange) => boolean {
  const ciId = filter.ciId?.toLowerCase();
  const node = filter.node?.toLowerCase();
  return ({ kind, alert }) =>
    (!filter.status || filter.status.some((s) => s === alert.status || s === statusBefore(kind, alert))) &&
    (!filter.severity || filter.severity.includes(alert.severity)) &&
    (!ciId || alert.ciId === ciId) &&
    (!filter.dedupKey || alert.dedupKey === filter.dedupKey) &&
    (!filter.source || alert.source === filter.source) &&
    (!node || alert.node.toLowerCase() === node) &&
    (!filter.rootAlertId || alert.rootAlertId === filter.rootAlertId.toLowerCase()) &&
    (filter.isRoot === undefined || (alert.rootAlertId === null) === filter.isRoot) &&
    (!filter.groupKey || alert.groupKey === filter.groupKey) &&
    (filter.flapping === undefined || alert.flapping === filter.flapping) &&
    (filter.suppressed === undefined || alert.suppressed === filter.suppressed);
}

/** The status a change took the alert from: acknowledging leaves open; closing, open or acknowledged. */
function statusBefore(kind: AlertChangeKind, alert: Alert): AlertStatus | null {
  if (kind === 'acknowledged') return 'open';
  if (kind === 'closed') return alert.acknowledgedAt ? 'acknowledged' : 'open';
  return null;
}

const toChange = oncePerEvent((event: AnyDomainEvent): AlertChange | null => {
  const kind = event.type.slice('alert.'.length) as AlertChangeKind;
  if (!alertChangeKinds.includes(kind)) return null;
  // Events come back from the activity table as JSON: dates are strings there.
  const payload = event.payload as unknown as {
    alert: Jsonified<Alert>;
    repeats?: number;
    previousRootAlertId?: string | null;
  };
  return {
    seq: event.seq,
    kind,
    alert: reviveAlert(payload.alert),
    repeats: payload.repeats ?? null,
    previousRootAlertId: payload.previousRootAlertId ?? null,
    actor: event.actor,
    occurredAt: event.occurredAt,
  };
});

const date = (value: string | null) => (value === null ? null : new Date(value));

const reviveAlert = (a: Jsonified<Alert>): Alert => ({
  ...a,
  firstSeen: date(a.firstSeen)!,
  lastSeen: date(a.lastSeen)!,
  acknowledgedAt: date(a.acknowledgedAt),
  closedAt: date(a.closedAt),
  createdAt: date(a.createdAt)!,
  updatedAt: date(a.updatedAt)!,
});
