import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ActorRef } from '../kernel/actor.js';
import { trySweepLock as trySchedulerLock } from '../kernel/scheduler-store.js';
import type {
  IncidentWatcher,
  MajorDeclaration,
  Notification,
  NotificationContent,
  NotificationKind,
  NotificationStatus,
  ServiceSubscription,
} from './model.js';

type Db = Kysely<Database>;

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;
const date = (v: unknown) => (v ? new Date(v as string) : null);

// Major periods ----------------------------------------------------------------------------------------

function toDeclaration(row: Record<string, unknown>): MajorDeclaration {
  return {
    id: row.id as string,
    incidentId: row.incidentId as string,
    declaredAt: new Date(row.declaredAt as string),
    declaredBy: row.declaredBy as ActorRef,
    reason: row.reason as string,
    clearedAt: date(row.clearedAt),
    clearedBy: (row.clearedBy as ActorRef | null) ?? null,
    clearReason: (row.clearReason as string | null) ?? null,
  };
}

export async function openPeriod(
  db: Db,
  p: { incidentId: string; at: Date; by: ActorRef; reason: string },
): Promise<MajorDeclaration> {
  const row = await db
    .insertInto('incidentMajorPeriods')
    .values({
      id: crypto.randomUUID(),
      incidentId: p.incidentId,
      declaredAt: p.at,
      declaredBy: JSON.stringify(p.by),
      reason: p.reason,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toDeclaration(row as unknown as Record<string, unknown>);
}

/** Closes the open period; undefined when there is none. */
export async function closePeriod(
  db: Db,
  p: { incidentId: string; at: Date; by: ActorRef; reason: string },
): Promise<MajorDeclaration | undefined> {
  const row = await db
    .updateTable('incidentMajorPeriods')
    .set({ clearedAt: p.at, clearedBy: JSON.stringify(p.by), clearReason: p.reason })
    .where('incidentId', '=', p.incidentId)
    .where('clearedAt', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return row ? toDeclaration(row as unknown as Record<string, unknown>) : undefined;
}

/** The latest period of each incident (open or not). */
export async function latestPeriods(
  db: Db,
  incidentIds: readonly string[],
): Promise<Map<string, MajorDeclaration>> {
  if (incidentIds.length === 0) return new Map();
  const { rows } = await sql<Record<string, unknown>>`
    select distinct on (incident_id) *
      from incident_major_periods
     where incident_id = any(${uuids(incidentIds)})
     order by incident_id, declared_at desc, id desc`.execute(db);
  return new Map(rows.map((r) => [r.incidentId as string, toDeclaration(r)]));
}

export async function periodsOf(db: Db, incidentId: string): Promise<MajorDeclaration[]> {
  const rows = await db
    .selectFrom('incidentMajorPeriods')
    .selectAll()
    .where('incidentId', '=', incidentId)
    .orderBy('declaredAt')
    .orderBy('id')
    .execute();
  return rows.map((r) => toDeclaration(r as unknown as Record<string, unknown>));
}

// Watchers ---------------------------------------------------------------------------------------------

/** Adds a watcher; undefined when already watching. */
export async function addWatcher(
  db: Db,
  w: { incidentId: string; userId: string; at: Date; by: ActorRef },
): Promise<boolean> {
  const row = await db
    .insertInto('incidentWatchers')
    .values({ incidentId: w.incidentId, userId: w.userId, addedAt: w.at, addedBy: JSON.stringify(w.by) })
    .onConflict((oc) => oc.doNothing())
    .returning('userId')
    .executeTakeFirst();
  return row !== undefined;
}

export async function removeWatcher(db: Db, incidentId: string, userId: string): Promise<boolean> {
  const rows = await db
    .deleteFrom('incidentWatchers')
    .where('incidentId', '=', incidentId)
    .where('userId', '=', userId)
    .returning('userId')
    .execute();
  return rows.length > 0;
}

export async function watchersOf(db: Db, incidentIds: readonly string[]): Promise<IncidentWatcher[]> {
  if (incidentIds.length === 0) return [];
  const rows = await db
    .selectFrom('incidentWatchers as w')
    .innerJoin('accessUsers as u', 'u.id', 'w.userId')
    .select(['w.incidentId', 'w.userId', 'u.name as userName', 'w.addedAt', 'w.addedBy'])
    .where(sql<SqlBool>`w.incident_id = any(${uuids(incidentIds)})`)
    .orderBy('w.addedAt')
    .orderBy('w.userId')
    .execute();
  return rows.map((r) => ({ ...r, addedAt: new Date(r.addedAt) }));
}

// Service subscriptions --------------------------------------------------------------------------------

/** Whether the CI is live and of class `business_service` or a class below it; its name when so. */
export async function businessServiceName(db: Db, ciId: string): Promise<string | undefined> {
  const { rows } = await sql<{ name: string }>`
    with recursive below(name) as (
      select 'business_service'::text
      union
      select c.name from ci_classes c join below b on c.parent = b.name
    )
    select name from cis
     where id = ${ciId}::uuid and retired_at is null and class in (select name from below)`.execute(db);
  return rows[0]?.name;
}

const subscriptionColumns = [
  's.id',
  's.serviceId',
  'c.name as serviceName',
  's.userId',
  'u.name as userName',
  's.createdAt',
  's.createdBy',
] as const;

const toSubscription = (r: Record<string, unknown>): ServiceSubscription => ({
  ...(r as unknown as ServiceSubscription),
  createdAt: new Date(r.createdAt as string),
});

export async function addSubscription(
  db: Db,
  s: { serviceId: string; userId: string; at: Date; by: ActorRef },
): Promise<boolean> {
  const row = await db
    .insertInto('serviceSubscriptions')
    .values({
      id: crypto.randomUUID(),
      serviceId: s.serviceId,
      userId: s.userId,
      createdAt: s.at,
      createdBy: JSON.stringify(s.by),
    })
    .onConflict((oc) => oc.columns(['serviceId', 'userId']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export async function findSubscription(
  db: Db,
  serviceId: string,
  userId: string,
): Promise<ServiceSubscription | undefined> {
  const row = await db
    .selectFrom('serviceSubscriptions as s')
    .innerJoin('cis as c', 'c.id', 's.serviceId')
    .innerJoin('accessUsers as u', 'u.id', 's.userId')
    .select(subscriptionColumns)
    .where('s.serviceId', '=', serviceId)
    .where('s.userId', '=', userId)
    .executeTakeFirst();
  return row ? toSubscription(row as unknown as Record<string, unknown>) : undefined;
}

export async function removeSubscription(db: Db, id: string): Promise<void> {
  await db.deleteFrom('serviceSubscriptions').where('id', '=', id).execute();
}

export async function listSubscriptions(
  db: Db,
  q: { userId?: string; serviceId?: string },
): Promise<ServiceSubscription[]> {
  let query = db
    .selectFrom('serviceSubscriptions as s')
    .innerJoin('cis as c', 'c.id', 's.serviceId')
    .innerJoin('accessUsers as u', 'u.id', 's.userId')
    .select(subscriptionColumns);
  if (q.userId) query = query.where('s.userId', '=', q.userId);
  if (q.serviceId) query = query.where('s.serviceId', '=', q.serviceId);
  const rows = await query.orderBy('c.name').orderBy('u.name').orderBy('s.id').limit(5000).execute();
  return rows.map((r) => toSubscription(r as unknown as Record<string, unknown>));
}

// Recipients -------------------------------------------------------------------------------------------

/**
 * The active users watching the incident or subscribed to one of its services, each once, by name.
 */
export async function candidatesOf(
  db: Db,
  incidentId: string,
  serviceIds: readonly string[],
): Promise<{ id: string; name: string; email: string }[]> {
  const { rows } = await sql<{ id: string; name: string; email: string }>`
    select u.id, u.name, u.email from access_users u
     where u.active
       and (u.id in (select user_id from incident_watchers where incident_id = ${incidentId}::uuid)
         or u.id in (select user_id from service_subscriptions where service_id = any(${uuids(serviceIds)})))
     order by u.name, u.id`.execute(db);
  return rows;
}

export async function serviceNames(db: Db, ids: readonly string[]): Promise<{ id: string; name: string }[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('cis')
    .select(['id', 'name'])
    .where(sql<SqlBool>`id = any(${uuids(ids)})`)
    .orderBy('name')
    .execute();
  return rows;
}

// Notifications ----------------------------------------------------------------------------------------

export function toNotification(row: Record<string, unknown>): Notification {
  const content = row.content as NotificationContent;
  return {
    id: row.id as string,
    incidentId: row.incidentId as string,
    kind: row.kind as NotificationKind,
    recipientId: row.recipientId as string,
    channel: row.channel as string,
    status: row.status as NotificationStatus,
    attempts: Number(row.attempts),
    lastError: (row.lastError as string | null) ?? null,
    sentAt: date(row.sentAt),
    nextAttemptAt: date(row.nextAttemptAt),
    subject: content.subject,
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export interface NewNotification {
  readonly occasionId: string;
  readonly incidentId: string;
  readonly kind: NotificationKind;
  readonly recipientId: string;
  readonly channel: string;
  readonly content: NotificationContent;
}

export async function insertNotifications(
  db: Db,
  rows: readonly NewNotification[],
  now: Date,
): Promise<Notification[]> {
  if (rows.length === 0) return [];
  const inserted = await db
    .insertInto('notifications')
    .values(
      rows.map((r) => ({
        id: crypto.randomUUID(),
        occasionId: r.occasionId,
        incidentId: r.incidentId,
        kind: r.kind,
        recipientId: r.recipientId,
        channel: r.channel,
        status: 'pending' as const,
        nextAttemptAt: now,
        content: JSON.stringify(r.content),
        createdAt: now,
        updatedAt: now,
      })),
    )
    .onConflict((oc) => oc.constraint('notifications_once').doNothing())
    .returningAll()
    .execute();
  return inserted.map((r) => toNotification(r as unknown as Record<string, unknown>));
}

/** A claimed notification: the row, its content, and the claim that must still hold to record the outcome. */
export interface Claimed {
  readonly row: Record<string, unknown>;
  readonly claimId: string;
}

/**
 * Claims due notifications (not sent, due, not claimed by a live delivery): each gets a new claim and
 * lease and one more attempt, atomically, so two claimers never take the same row.
 */
export async function claimDue(
  db: Db,
  q: { now: Date; leaseUntil: Date; limit: number; incidentId?: string },
): Promise<Claimed[]> {
  const claimId = crypto.randomUUID();
  const { rows } = await sql<Record<string, unknown>>`
    update notifications n
       set attempts = n.attempts + 1, claim_id = ${claimId}::uuid, claimed_until = ${q.leaseUntil},
           updated_at = ${q.now}
     where n.id in (
       select id from notifications
        where status <> 'sent' and next_attempt_at is not null and next_attempt_at <= ${q.now}
          and (claimed_until is null or claimed_until <= ${q.now})
          ${q.incidentId ? sql`and incident_id = ${q.incidentId}::uuid` : sql``}
        order by next_attempt_at, id
        limit ${q.limit}
        for update skip locked)
    returning n.*`.execute(db);
  return rows.map((row) => ({ row, claimId }));
}

/** Records the outcome of an attempt, if the claim still holds; the row after, or undefined. */
export async function settle(
  db: Db,
  id: string,
  claimId: string,
  outcome:
    | { readonly sent: true; readonly at: Date }
    | { readonly sent: false; readonly at: Date; readonly error: string; readonly retryAt: Date | null },
): Promise<Notification | undefined> {
  const row = await db
    .updateTable('notifications')
    .set(
      outcome.sent
        ? {
            status: 'sent',
            sentAt: outcome.at,
            nextAttemptAt: null,
            lastError: null,
            claimId: null,
            claimedUntil: null,
            updatedAt: outcome.at,
          }
        : {
            status: 'failed',
            lastError: outcome.error.slice(0, 2000),
            nextAttemptAt: outcome.retryAt,
            claimId: null,
            claimedUntil: null,
            updatedAt: outcome.at,
          },
    )
    .where('id', '=', id)
    .where('claimId', '=', claimId)
    .returningAll()
    .executeTakeFirst();
  return row ? toNotification(row as unknown as Record<string, unknown>) : undefined;
}

export const trySweepLock = (db: Db): Promise<boolean> => trySchedulerLock(db, 'notifications');

export interface NotificationQuery {
  readonly incidentIds?: readonly string[];
  readonly recipientId?: string;
  readonly status?: readonly string[];
  readonly kind?: readonly string[];
  readonly channel?: string;
  /** On the incidents' CIs: `incidents.ci_id` in reach. */
  readonly reach: Expression<SqlBool> | null;
  readonly after?: readonly [string, string];
  readonly limit: number;
}

export async function listNotifications(db: Db, q: NotificationQuery): Promise<Notification[]> {
  let query = db
    .selectFrom('notifications as n')
    .innerJoin('incidents', 'incidents.id', 'n.incidentId')
    .selectAll('n');
  if (q.incidentIds) query = query.where(sql<SqlBool>`n.incident_id = any(${uuids(q.incidentIds)})`);
  if (q.recipientId) query = query.where('n.recipientId', '=', q.recipientId);
  if (q.status) query = query.where('n.status', 'in', q.status as NotificationStatus[]);
  if (q.kind) query = query.where('n.kind', 'in', q.kind as NotificationKind[]);
  if (q.channel) query = query.where('n.channel', '=', q.channel);
  if (q.reach) query = query.where(q.reach);
  if (q.after) {
    const [createdAt, id] = q.after;
    query = query.where(
      sql<SqlBool>`(n.created_at, n.id) < (${new Date(createdAt)}::timestamptz, ${id}::uuid)`,
    );
  }
  const rows = await query.orderBy('n.createdAt', 'desc').orderBy('n.id', 'desc').limit(q.limit).execute();
  return rows.map((r) => toNotification(r as unknown as Record<string, unknown>));
}
