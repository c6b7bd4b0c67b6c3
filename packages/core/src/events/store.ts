// Set-based SQL for event management. Batches travel as ONE jsonb parameter unpacked with
// jsonb_to_recordset (as in cmdb/reconcile-store.ts): any batch size, one statement, same on pg and PGlite.
import { type Expression, type Kysely, type Selectable, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import { camelRows } from '../db/json-rows.js';
import type { ActorRef } from '../kernel/actor.js';
import { keysetPage } from '../kernel/keyset.js';
import { type AlertAfter, alertCursor, alertOrders, type ParsedAlertOrder } from './alert-order.js';
import type {
  Alert,
  AlertSeverity,
  AlertStatus,
  EventOccurrence,
  EventOccurrenceTable,
  NormalizedEvent,
} from './model.js';
import { OCCURRENCES_KEPT_PER_ALERT } from './model.js';

type Db = Kysely<Database>;

const json = (value: unknown) => sql`${JSON.stringify(value)}::jsonb`;

/** A row read back from `alerts`; jsonb and timestamps arrive as the drivers give them. */
export function toAlert(row: Record<string, unknown>): Alert {
  return {
    id: row.id as string,
    dedupKey: row.dedupKey as string,
    status: row.status as AlertStatus,
    severity: row.severity as AlertSeverity,
    source: row.source as string,
    node: row.node as string,
    resource: row.resource as string,
    type: row.type as string,
    message: row.message as string,
    labels: (row.labels ?? {}) as Record<string, string>,
    ciId: (row.ciId as string | null) ?? null,
    count: Number(row.count),
    firstSeen: new Date(row.firstSeen as string),
    lastSeen: new Date(row.lastSeen as string),
    acknowledgedAt: row.acknowledgedAt ? new Date(row.acknowledgedAt as string) : null,
    acknowledgedBy: (row.acknowledgedBy as ActorRef | null) ?? null,
    closedAt: row.closedAt ? new Date(row.closedAt as string) : null,
    closedBy: (row.closedBy as ActorRef | null) ?? null,
    closeReason: (row.closeReason as Alert['closeReason']) ?? null,
    flapping: Boolean(row.flapping),
    maintenanceWindowId: (row.maintenanceWindowId as string | null) ?? null,
    suppressed: row.maintenanceWindowId != null,
    rootAlertId: (row.rootAlertId as string | null) ?? null,
    groupKey: (row.groupKey as string | null) ?? null,
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

// Binding -------------------------------------------------------------------------------------------

export interface CiMatch {
  readonly id: string;
  /** How it matched a node: 1 host name, 2 name, 3 an IP attribute (lower is stronger); 0 by id. */
  readonly rank: number;
  /** The node it matched, in lower case (null for a match by id). */
  readonly node: string | null;
}

/**
 * Whether a node (lower case) could be an IP address: an `ip` attribute only ever holds a validated
 * IPv4 or IPv6 address (cmdb/attributes.ts), so a node with a letter and no colon (a host name) can
 * never equal one and need not be compared with every CI's addresses.
 */
const couldBeIp = (node: string) => /^[0-9.]+$/.test(node) || node.includes(':');

/**
 * In one query: which of `ids` are live CIs, and which live CIs answer to each of `nodes` (lower case)
 * by `hostname` attribute, by name (both in any case), or by an `ip`-typed attribute of any class
 * equal to the node.
 */
export async function matchCis(db: Db, ids: readonly string[], nodes: readonly string[]): Promise<CiMatch[]> {
  if (ids.length === 0 && nodes.length === 0) return [];
  const ipNodes = nodes.filter(couldBeIp);
  // By IP: a join on equal jsonb values (a hash or merge join: each CI's addresses read once) rather
  // than a containment test per node and CI, which cost 0.65 s for 500 nodes on 1,000 CIs. `unnest`
  // of the array gives the planner the real number of nodes. `attributes->name = to_jsonb(node)` holds
  // exactly when `attributes @> {name: node}` does for a string node.
  const byIp =
    ipNodes.length === 0
      ? sql``
      : sql`
    union all
    select c.id, 3, n.node
      from (
        select distinct a->>'name' as name
        from ci_classes k, jsonb_array_elements(k.attributes) a
        where a->>'type' = 'ip'
      ) i
      join cis c on c.retired_at is null
      join unnest(${[...ipNodes]}::text[]) as n(node) on c.attributes->i.name = to_jsonb(n.node)`;
  const { rows } = await sql<CiMatch>`
    with nodes as (select jsonb_array_elements_text(${json(nodes)}) as node)
    select c.id, 0 as rank, null::text as node from cis c
      where c.id in (select jsonb_array_elements_text(${json(ids)})::uuid) and c.retired_at is null
    union all
    select c.id, 1, lower(c.attributes->>'hostname') from cis c
      where lower(c.attributes->>'hostname') in (select node from nodes) and c.retired_at is null
    union all
    select c.id, 2, lower(c.name) from cis c
      where lower(c.name) in (select node from nodes) and c.retired_at is null${byIp}`.execute(db);
  return rows.map((r) => ({ id: r.id, rank: Number(r.rank), node: r.node }));
}

// Ingestion -----------------------------------------------------------------------------------------

/** Trigger events of one dedup key folded into one row: a new alert, or repeats of the live one. */
export interface TriggerRow {
  readonly id: string;
  readonly dedupKey: string;
  readonly severity: AlertSeverity;
  readonly source: string;
  readonly node: string;
  readonly resource: string;
  readonly type: string;
  readonly message: string;
  readonly labels: Record<string, string>;
  readonly ciId: string | null;
  readonly count: number;
  readonly seen: string;
  /** The label group an event rule put it in; null keeps the alert's. */
  readonly groupKey: string | null;
}

/**
 * Opens an alert per row, or folds the row into the live (open or acknowledged) alert of its dedup key:
 * `count` grows by the row's count in SQL, so concurrent ingests never lose an increment. Latest
 * severity, message and labels win; a CI binding, once made, stays. Rows go in dedup-key order, so two
 * batches lock the same alerts in the same order and cannot deadlock. `opened`: the ids of the alerts
 * a row opened (the others it repeated).
 */
export async function upsertTriggers(
  db: Db,
  rows: readonly TriggerRow[],
  now: Date,
): Promise<{ alerts: Alert[]; opened: Set<string> }> {
  if (rows.length === 0) return { alerts: [], opened: new Set() };
  const sorted = [...rows].sort((a, b) => (a.dedupKey < b.dedupKey ? -1 : a.dedupKey > b.dedupKey ? 1 : 0));
  // The rows come back as one json value, not field by field: the embedded database decodes each
  // field of each row in JavaScript (a few ms less a batch of 500; see bench/README.md).
  const { rows: out } = await sql<{ rows: Record<string, unknown>[] }>`
    with up as (
    insert into alerts as a (id, dedup_key, status, severity, source, node, resource, type, message,
      labels, ci_id, count, first_seen, last_seen, group_key, version, created_at, updated_at)
    select r.id, r.dedup_key, 'open', r.severity, r.source, r.node, r.resource, r.type, r.message,
      r.labels, r.ci_id, r.count, r.seen, r.seen, r.group_key, 1, ${now}, ${now}
    from jsonb_to_recordset(${json(
      sorted.map((r) => ({
        id: r.id,
        dedup_key: r.dedupKey,
        severity: r.severity,
        source: r.source,
        node: r.node,
        resource: r.resource,
        type: r.type,
        message: r.message,
        labels: r.labels,
        ci_id: r.ciId,
        count: r.count,
        seen: r.seen,
        group_key: r.groupKey,
      })),
    )}) as r(id uuid, dedup_key text, severity text, source text, node text, resource text, type text,
      message text, labels jsonb, ci_id uuid, count integer, seen timestamptz, group_key text)
    on conflict (dedup_key) where status <> 'closed' do update set
      count = a.count + excluded.count,
      last_seen = greatest(a.last_seen, excluded.last_seen),
      severity = excluded.severity,
      message = excluded.message,
      labels = excluded.labels,
      ci_id = coalesce(a.ci_id, excluded.ci_id),
      group_key = coalesce(excluded.group_key, a.group_key),
      updated_at = excluded.updated_at
    returning a.*)
    select coalesce(json_agg(up), '[]'::json) as rows from up`.execute(db);
  // A row that opened its alert kept the id it brought; a repeat got the live alert's.
  const ours = new Set(sorted.map((r) => r.id));
  const alerts = camelRows(out[0]!.rows).map(toAlert);
  return { alerts, opened: new Set(alerts.flatMap((a) => (ours.has(a.id) ? [a.id] : []))) };
}

/** Closes the live alerts of these dedup keys (a clear/resolve event): those it closed. */
export async function closeByKeys(
  db: Db,
  keys: readonly string[],
  now: Date,
  by: ActorRef,
): Promise<Alert[]> {
  if (keys.length === 0) return [];
  const { rows } = await sql<Record<string, unknown>>`
    update alerts set status = 'closed', closed_at = ${now}, closed_by = ${json(by)},
      close_reason = 'cleared', version = version + 1, updated_at = ${now}
    where dedup_key in (select jsonb_array_elements_text(${json([...keys].sort())}))
      and status <> 'closed'
    returning *`.execute(db);
  return rows.map(toAlert);
}

/** Acknowledges the open alerts of these dedup keys (a PagerDuty acknowledge): those it acknowledged. */
export async function acknowledgeByKeys(
  db: Db,
  keys: readonly string[],
  now: Date,
  by: ActorRef,
): Promise<Alert[]> {
  if (keys.length === 0) return [];
  const { rows } = await sql<Record<string, unknown>>`
    update alerts set status = 'acknowledged', acknowledged_at = ${now}, acknowledged_by = ${json(by)},
      version = version + 1, updated_at = ${now}
    where dedup_key in (select jsonb_array_elements_text(${json([...keys].sort())}))
      and status = 'open'
    returning *`.execute(db);
  return rows.map(toAlert);
}

/** Lookups an event rule asked for (`bindBy`): the live CIs whose attribute equals the value, any case. */
export async function lookupCis(
  db: Db,
  lookups: readonly { attribute: string; value: string }[],
): Promise<{ attribute: string; value: string; id: string }[]> {
  if (lookups.length === 0) return [];
  const { rows } = await sql<{ attribute: string; value: string; id: string }>`
    select k.attribute, k.value, c.id
      from jsonb_to_recordset(${json(lookups)}) as k(attribute text, value text)
      join cis c on c.retired_at is null and (
        case when k.attribute = 'name' then lower(c.name) = lower(k.value)
             else lower(c.attributes->>k.attribute) = lower(k.value) end)`.execute(db);
  return rows;
}

/** How many alerts of each dedup key closed since `since`: the flapping measure. */
export async function closesSince(
  db: Db,
  keys: readonly string[],
  since: Date,
): Promise<Map<string, number>> {
  if (keys.length === 0) return new Map();
  const { rows } = await sql<{ dedupKey: string; n: number }>`
    select dedup_key, count(*)::int as n from alerts
     where dedup_key = any(${[...keys]}::text[]) and status = 'closed' and closed_at >= ${since}
     group by dedup_key`.execute(db);
  return new Map(rows.map((r) => [r.dedupKey, Number(r.n)]));
}

/** Sets flapping, maintenance window and root of alerts (not lifecycle: the version stays). */
export async function setAlertStates(
  db: Db,
  rows: readonly {
    id: string;
    flapping: boolean;
    maintenanceWindowId: string | null;
    rootAlertId: string | null;
  }[],
  now: Date,
): Promise<Alert[]> {
  if (rows.length === 0) return [];
  const { rows: out } = await sql<Record<string, unknown>>`
    update alerts a set flapping = r.flapping, maintenance_window_id = r.maintenance_window_id,
      root_alert_id = r.root_alert_id, updated_at = ${now}
    from jsonb_to_recordset(${json(
      [...rows]
        .sort((x, y) => (x.id < y.id ? -1 : 1))
        .map((r) => ({
          id: r.id,
          flapping: r.flapping,
          maintenance_window_id: r.maintenanceWindowId,
          root_alert_id: r.rootAlertId,
        })),
    )}) as r(id uuid, flapping boolean, maintenance_window_id uuid, root_alert_id uuid)
    where a.id = r.id
    returning a.*`.execute(db);
  return out.map(toAlert);
}

/** Detaches the live members of these roots' groups (their roots closed), with the root each had. */
export async function detachMembers(
  db: Db,
  rootIds: readonly string[],
  now: Date,
): Promise<{ alert: Alert; previousRootAlertId: string }[]> {
  if (rootIds.length === 0) return [];
  const { rows } = await sql<Record<string, unknown>>`
    update alerts a set root_alert_id = null, updated_at = ${now}
      from (select id, root_alert_id as old_root from alerts
             where root_alert_id = any(${[...rootIds]}::uuid[]) and status <> 'closed'
             order by id for update) o
     where a.id = o.id
    returning a.*, o.old_root`.execute(db);
  return rows.map((row) => ({ alert: toAlert(row), previousRootAlertId: row.oldRoot as string }));
}

/** Live alerts by id (those still live). */
export async function liveByIds(db: Db, ids: readonly string[]): Promise<Alert[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<Record<string, unknown>>`
    select * from alerts where id = any(${[...ids]}::uuid[]) and status <> 'closed'`.execute(db);
  return rows.map(toAlert);
}

/** The live members of these roots' groups. */
export async function liveMembersOf(db: Db, rootIds: readonly string[]): Promise<Alert[]> {
  if (rootIds.length === 0) return [];
  const { rows } = await sql<Record<string, unknown>>`
    select * from alerts where root_alert_id = any(${[...rootIds]}::uuid[]) and status <> 'closed'`.execute(
    db,
  );
  return rows.map(toAlert);
}

/** The live alerts of these dedup keys. */
export async function liveByKeys(db: Db, keys: readonly string[]): Promise<Alert[]> {
  if (keys.length === 0) return [];
  const { rows } = await sql<Record<string, unknown>>`
    select * from alerts
    where dedup_key in (select jsonb_array_elements_text(${json(keys)})) and status <> 'closed'`.execute(db);
  return rows.map(toAlert);
}

export interface OccurrenceRow {
  readonly alertId: string;
  readonly event: NormalizedEvent;
  readonly ciId: string | null;
}

/**
 * Stores occurrences, then removes the occurrences of the alerts in `trim` older than their latest
 * OCCURRENCES_KEPT_PER_ALERT (the caller picks the alerts: see `alertsToTrim` in service.ts).
 */
export async function storeOccurrences(
  db: Db,
  rows: readonly OccurrenceRow[],
  now: Date,
  trim: readonly string[],
): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    insert into event_occurrences (alert_id, dedup_key, source, node, resource, type, severity, action,
      message, labels, ci_id, occurred_at, received_at, raw)
    select r.alert_id, r.dedup_key, r.source, r.node, r.resource, r.type, r.severity, r.action,
      r.message, r.labels, r.ci_id, r.occurred_at, ${now}, r.raw
    from jsonb_to_recordset(${json(
      rows.map(({ alertId, event: e, ciId }) => ({
        alert_id: alertId,
        dedup_key: e.dedupKey,
        source: e.source,
        node: e.node,
        resource: e.resource,
        type: e.type,
        severity: e.severity,
        action: e.action,
        message: e.message,
        labels: e.labels,
        ci_id: ciId,
        occurred_at: e.occurredAt?.toISOString() ?? null,
        raw: e.raw ?? null,
      })),
    )}) as r(alert_id uuid, dedup_key text, source text, node text, resource text, type text,
      severity text, action text, message text, labels jsonb, ci_id uuid, occurred_at timestamptz,
      raw jsonb)`.execute(db);
  const alertIds = [...new Set(trim)];
  if (alertIds.length === 0) return;
  // Per alert, the oldest seq kept is found by walking its (alert_id, seq) index back from the newest,
  // and what is older goes by a range of that index: no heap row is read to rank it.
  await sql`
    delete from event_occurrences o
    using (
      select a.id, (
        select seq from event_occurrences
         where alert_id = a.id order by seq desc offset ${OCCURRENCES_KEPT_PER_ALERT - 1} limit 1
      ) as oldest
      from unnest(${alertIds}::uuid[]) as a(id)
    ) kept
    where o.alert_id = kept.id and o.seq < kept.oldest`.execute(db);
}

// Reads and lifecycle ---------------------------------------------------------------------------------

export async function findAlert(db: Db, id: string, forUpdate = false): Promise<Alert | undefined> {
  const { rows } = forUpdate
    ? await sql<Record<string, unknown>>`select * from alerts where id = ${id} for update`.execute(db)
    : await sql<Record<string, unknown>>`select * from alerts where id = ${id}`.execute(db);
  return rows[0] ? toAlert(rows[0]) : undefined;
}

export async function setStatus(
  db: Db,
  id: string,
  status: 'acknowledged' | 'closed',
  now: Date,
  by: ActorRef,
): Promise<Alert> {
  const { rows } =
    status === 'acknowledged'
      ? await sql<Record<string, unknown>>`
          update alerts set status = 'acknowledged', acknowledged_at = ${now}, acknowledged_by = ${json(by)},
            version = version + 1, updated_at = ${now}
          where id = ${id} returning *`.execute(db)
      : await sql<Record<string, unknown>>`
          update alerts set status = 'closed', closed_at = ${now}, closed_by = ${json(by)},
            close_reason = 'manual', version = version + 1, updated_at = ${now}
          where id = ${id} returning *`.execute(db);
  return toAlert(rows[0]!);
}

export interface AlertQuery {
  readonly status?: readonly string[];
  readonly severity?: readonly string[];
  readonly ciId?: string;
  readonly dedupKey?: string;
  readonly source?: string;
  readonly node?: string;
  readonly rootAlertId?: string;
  readonly isRoot?: boolean;
  readonly groupKey?: string;
  readonly flapping?: boolean;
  readonly suppressed?: boolean;
  /** Reach condition on `ci_id` (null: every alert). */
  readonly reach: Expression<SqlBool> | null;
  readonly order: ParsedAlertOrder;
  /** Keyset: after this row of the order. */
  readonly after?: AlertAfter;
  readonly limit: number;
}

/** A page of alerts in `q.order`, each with its cursor. */
export async function listAlerts(db: Db, q: AlertQuery): Promise<{ alert: Alert; cursor: string }[]> {
  const { exprs } = alertOrders[q.order.field];
  const direction = q.order.direction;
  let query = db
    .selectFrom('alerts')
    .selectAll()
    // The cursor keys timestamps by the database's text of them (see alert-order.ts).
    .select([
      sql<string>`last_seen::text`.as('lastSeenKey'),
      sql<string>`first_seen::text`.as('firstSeenKey'),
    ]);
  if (q.status) query = query.where('status', 'in', q.status as AlertStatus[]);
  if (q.severity) query = query.where('severity', 'in', q.severity as AlertSeverity[]);
  if (q.ciId) query = query.where('ciId', '=', q.ciId);
  if (q.dedupKey) query = query.where('dedupKey', '=', q.dedupKey);
  if (q.source) query = query.where('source', '=', q.source);
  if (q.node) query = query.where(sql<SqlBool>`lower(node) = ${q.node.toLowerCase()}`);
  if (q.rootAlertId) query = query.where('rootAlertId', '=', q.rootAlertId);
  if (q.isRoot !== undefined) query = query.where('rootAlertId', q.isRoot ? 'is' : 'is not', null);
  if (q.groupKey) query = query.where('groupKey', '=', q.groupKey);
  if (q.flapping !== undefined) query = query.where('flapping', '=', q.flapping);
  if (q.suppressed !== undefined)
    query = query.where('maintenanceWindowId', q.suppressed ? 'is not' : 'is', null);
  if (q.reach) query = query.where(q.reach);
  const rows = await keysetPage(query, exprs, direction, q.after).limit(q.limit).execute();
  return rows.map((row) => ({
    alert: toAlert(row as unknown as Record<string, unknown>),
    cursor: alertCursor(q.order, row),
  }));
}

export async function listOccurrences(db: Db, alertId: string, limit: number): Promise<EventOccurrence[]> {
  const rows = await db
    .selectFrom('eventOccurrences')
    .selectAll()
    .where('alertId', '=', alertId)
    .orderBy('seq', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toOccurrence);
}

const toOccurrence = (r: Selectable<EventOccurrenceTable>): EventOccurrence => ({
  ...r,
  seq: Number(r.seq),
  labels: r.labels ?? {},
  occurredAt: r.occurredAt ? new Date(r.occurredAt) : null,
  receivedAt: new Date(r.receivedAt),
});

/** The latest `limit` occurrences of each of these alerts, newest first, of alerts in `reach` only. */
export async function listOccurrencesOf(
  db: Db,
  alertIds: readonly string[],
  limit: number,
  reach: Expression<SqlBool> | null,
): Promise<EventOccurrence[]> {
  if (alertIds.length === 0 || limit === 0) return [];
  // Each alert's newest `limit` by a backward walk of its (alert_id, seq) index: the others are not read.
  const { rows } = await sql<Selectable<EventOccurrenceTable>>`
    select o.* from unnest(${alertIds}::uuid[]) as a(id)
      join alerts on alerts.id = a.id and ${reach ?? sql`true`}
      cross join lateral (
        select * from event_occurrences where alert_id = a.id order by seq desc limit ${limit}
      ) o
    order by o.alert_id, o.seq desc`.execute(db);
  return rows.map(toOccurrence);
}
