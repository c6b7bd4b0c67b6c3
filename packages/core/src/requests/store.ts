import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ActorRef } from '../kernel/actor.js';
import type {
  CatalogItem,
  RequestOrderField,
  RequestPlan,
  RequestState,
  RequestTask,
  ServiceRequest,
  TaskAction,
  TaskState,
} from './model.js';

type Db = Kysely<Database>;

const date = (v: unknown) => (v ? new Date(v as string) : null);

// Catalog items -----------------------------------------------------------------------------------------

function toItem(row: Record<string, unknown>): CatalogItem {
  return {
    ...(row as unknown as CatalogItem),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export type NewItem = Omit<CatalogItem, 'version' | 'updatedAt'>;

export async function insertItem(db: Db, i: NewItem): Promise<CatalogItem> {
  const row = await db
    .insertInto('catalogItems')
    .values({
      id: i.id,
      name: i.name,
      category: i.category,
      description: i.description,
      active: i.active,
      form: JSON.stringify(i.form),
      approvalSteps: JSON.stringify(i.approvalSteps),
      tasks: JSON.stringify(i.tasks),
      createdBy: JSON.stringify(i.createdBy),
      createdAt: i.createdAt,
      updatedAt: i.createdAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toItem(row as unknown as Record<string, unknown>);
}

export async function findItem(db: Db, id: string, forUpdate = false): Promise<CatalogItem | undefined> {
  let q = db.selectFrom('catalogItems').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toItem(row as unknown as Record<string, unknown>) : undefined;
}

export async function findItems(db: Db, ids: readonly string[]): Promise<CatalogItem[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('catalogItems')
    .selectAll()
    .where(sql<SqlBool>`id = any(${[...ids]}::uuid[])`)
    .execute();
  return rows.map((r) => toItem(r as unknown as Record<string, unknown>));
}

/** The item with this name, case-insensitively. */
export async function findItemByName(db: Db, name: string): Promise<CatalogItem | undefined> {
  const row = await db
    .selectFrom('catalogItems')
    .selectAll()
    .where(sql<SqlBool>`lower(name) = lower(${name})`)
    .executeTakeFirst();
  return row ? toItem(row as unknown as Record<string, unknown>) : undefined;
}

export async function updateItem(
  db: Db,
  id: string,
  change: Record<string, unknown>,
  now: Date,
): Promise<CatalogItem> {
  const set: Record<string, unknown> = { ...change };
  for (const key of ['form', 'approvalSteps', 'tasks'])
    if (set[key] !== undefined) set[key] = JSON.stringify(set[key]);
  const row = await db
    .updateTable('catalogItems')
    .set({ ...(set as object), updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toItem(row as unknown as Record<string, unknown>);
}

export interface ItemQuery {
  readonly category?: string;
  readonly active?: boolean;
  readonly search?: string;
  /** Keyset: after (name, id) ascending. */
  readonly after?: readonly [string, string];
  readonly limit: number;
}

export async function listItems(db: Db, q: ItemQuery): Promise<CatalogItem[]> {
  let query = db.selectFrom('catalogItems').selectAll();
  if (q.category !== undefined) query = query.where('category', '=', q.category);
  if (q.active !== undefined) query = query.where('active', '=', q.active);
  if (q.search) query = query.where(sql<SqlBool>`name ilike ${`%${q.search.replace(/[\\%_]/g, '\\$&')}%`}`);
  if (q.after) {
    const [name, id] = q.after;
    query = query.where(sql<SqlBool>`(name, id) > (${name}, ${id}::uuid)`);
  }
  const rows = await query.orderBy('name').orderBy('id').limit(q.limit).execute();
  return rows.map((r) => toItem(r as unknown as Record<string, unknown>));
}

// Requests ------------------------------------------------------------------------------------------------

function toRequest(row: Record<string, unknown>): ServiceRequest {
  const { plan, ...rest } = row as unknown as Omit<ServiceRequest, 'itemName'> & { plan: RequestPlan };
  return {
    ...rest,
    itemName: plan.itemName,
    requestedById: rest.requestedById ?? null,
    stage: Number(rest.stage),
    approvedAt: date(row.approvedAt),
    rejectedAt: date(row.rejectedAt),
    fulfilledAt: date(row.fulfilledAt),
    closedAt: date(row.closedAt),
    cancelledAt: date(row.cancelledAt),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export interface NewRequest {
  readonly id: string;
  readonly itemId: string;
  readonly plan: RequestPlan;
  readonly answers: Record<string, unknown>;
  readonly justification: string;
  readonly requestedById: string | null;
  readonly requestedForId: string;
  readonly submittedBy: ActorRef;
  readonly createdAt: Date;
}

export async function insertRequest(db: Db, r: NewRequest): Promise<ServiceRequest> {
  const row = await db
    .insertInto('requests')
    .values({
      id: r.id,
      number: sql<string>`'REQ' || lpad(nextval('request_number_seq')::text, 7, '0')`,
      itemId: r.itemId,
      plan: JSON.stringify(r.plan),
      answers: JSON.stringify(r.answers),
      justification: r.justification,
      requestedById: r.requestedById,
      requestedForId: r.requestedForId,
      state: 'submitted',
      cancelReason: null,
      submittedBy: JSON.stringify(r.submittedBy),
      approvedAt: null,
      rejectedAt: null,
      fulfilledAt: null,
      closedAt: null,
      cancelledAt: null,
      createdAt: r.createdAt,
      updatedAt: r.createdAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRequest(row as unknown as Record<string, unknown>);
}

/** The request and the plan it was submitted against. */
export async function findRequest(
  db: Db,
  key: { id: string } | { number: string },
  forUpdate = false,
): Promise<{ request: ServiceRequest; plan: RequestPlan } | undefined> {
  let q = db.selectFrom('requests').selectAll();
  q = 'id' in key ? q.where('id', '=', key.id) : q.where('number', '=', key.number);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row
    ? { request: toRequest(row as unknown as Record<string, unknown>), plan: row.plan as RequestPlan }
    : undefined;
}

export async function findRequests(db: Db, ids: readonly string[]): Promise<ServiceRequest[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('requests')
    .selectAll()
    .where(sql<SqlBool>`id = any(${[...ids]}::uuid[])`)
    .execute();
  return rows.map((r) => toRequest(r as unknown as Record<string, unknown>));
}

export async function updateRequest(
  db: Db,
  id: string,
  change: Record<string, unknown>,
  now: Date,
): Promise<ServiceRequest> {
  const row = await db
    .updateTable('requests')
    .set({ ...(change as object), updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRequest(row as unknown as Record<string, unknown>);
}

/** Who a reader that does not see every request may see: its own, those for it, those for its reports. */
export const visibleTo = (userId: string | null): Expression<SqlBool> =>
  userId
    ? sql<SqlBool>`(requested_by_id = ${userId}::uuid or requested_for_id = ${userId}::uuid
        or requested_for_id in (select id from access_users where manager_id = ${userId}::uuid))`
    : sql<SqlBool>`false`;

export interface RequestQuery {
  readonly state?: readonly RequestState[];
  readonly itemId?: string;
  readonly requestedForId?: string;
  readonly requestedById?: string;
  readonly visible: Expression<SqlBool> | null;
  readonly orderBy: RequestOrderField;
  readonly direction: 'asc' | 'desc';
  /** Keyset: after (value of the order field, id). */
  readonly after?: readonly [string, string];
  readonly limit: number;
}

const orderColumns: Record<RequestOrderField, string> = {
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  number: 'number',
};

export async function listRequests(db: Db, q: RequestQuery): Promise<ServiceRequest[]> {
  let query = db.selectFrom('requests').selectAll();
  if (q.state) query = query.where('state', 'in', [...q.state]);
  if (q.itemId) query = query.where('itemId', '=', q.itemId);
  if (q.requestedForId) query = query.where('requestedForId', '=', q.requestedForId);
  if (q.requestedById) query = query.where('requestedById', '=', q.requestedById);
  if (q.visible) query = query.where(q.visible);
  const column = sql.ref(orderColumns[q.orderBy]);
  if (q.after) {
    const [value, id] = q.after;
    const typed = q.orderBy === 'number' ? sql`${value}::text` : sql`${new Date(value)}::timestamptz`;
    query = query.where(
      q.direction === 'desc'
        ? sql<SqlBool>`(${column}, id) < (${typed}, ${id}::uuid)`
        : sql<SqlBool>`(${column}, id) > (${typed}, ${id}::uuid)`,
    );
  }
  const rows = await query.orderBy(column, q.direction).orderBy('id', q.direction).limit(q.limit).execute();
  return rows.map((r) => toRequest(r as unknown as Record<string, unknown>));
}

// Tasks -----------------------------------------------------------------------------------------------

function toTask(row: Record<string, unknown>): RequestTask {
  return {
    ...(row as unknown as RequestTask),
    stage: Number(row.stage),
    position: Number(row.position),
    action: (row.action as TaskAction | null) ?? null,
    doneAt: date(row.doneAt),
    doneBy: (row.doneBy as ActorRef | null) ?? null,
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export interface NewTask {
  readonly id: string;
  readonly requestId: string;
  readonly stage: number;
  readonly position: number;
  readonly title: string;
  readonly description: string;
  readonly assignmentGroupId: string | null;
  readonly action: TaskAction | null;
  readonly createdAt: Date;
}

export async function insertTasks(db: Db, tasks: readonly NewTask[]): Promise<RequestTask[]> {
  const created: RequestTask[] = [];
  // One at a time, so numbers follow positions.
  for (const t of tasks) {
    const row = await db
      .insertInto('requestTasks')
      .values({
        id: t.id,
        number: sql<string>`'TASK' || lpad(nextval('request_task_number_seq')::text, 7, '0')`,
        requestId: t.requestId,
        stage: t.stage,
        position: t.position,
        title: t.title,
        description: t.description,
        assignmentGroupId: t.assignmentGroupId,
        assigneeId: null,
        action: t.action ? JSON.stringify(t.action) : null,
        state: 'open',
        notes: null,
        deviceCiId: null,
        doneAt: null,
        doneBy: null,
        createdAt: t.createdAt,
        updatedAt: t.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    created.push(toTask(row as unknown as Record<string, unknown>));
  }
  return created;
}

export async function findTask(
  db: Db,
  key: { id: string } | { number: string },
  forUpdate = false,
): Promise<RequestTask | undefined> {
  let q = db.selectFrom('requestTasks').selectAll();
  q = 'id' in key ? q.where('id', '=', key.id) : q.where('number', '=', key.number);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toTask(row as unknown as Record<string, unknown>) : undefined;
}

export async function updateTask(
  db: Db,
  id: string,
  change: Record<string, unknown>,
  now: Date,
): Promise<RequestTask> {
  const row = await db
    .updateTable('requestTasks')
    .set({ ...(change as object), updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toTask(row as unknown as Record<string, unknown>);
}

/** The tasks of each request, in position order (one query for many requests). */
export async function tasksOfRequests(
  db: Db,
  requestIds: readonly string[],
): Promise<Map<string, RequestTask[]>> {
  const result = new Map<string, RequestTask[]>(requestIds.map((id) => [id, []]));
  if (requestIds.length === 0) return result;
  const rows = await db
    .selectFrom('requestTasks')
    .selectAll()
    .where(sql<SqlBool>`request_id = any(${[...requestIds]}::uuid[])`)
    .orderBy('requestId')
    .orderBy('position')
    .execute();
  for (const row of rows) {
    const task = toTask(row as unknown as Record<string, unknown>);
    result.get(task.requestId)?.push(task);
  }
  return result;
}

export interface TaskQuery {
  readonly state?: readonly TaskState[];
  readonly requestId?: string;
  readonly assignmentGroupId?: string;
  readonly assigneeId?: string;
  /** Keyset: after (createdAt, id) in descending order. */
  readonly after?: readonly [string, string];
  readonly limit: number;
}

export async function listTasks(db: Db, q: TaskQuery): Promise<RequestTask[]> {
  let query = db.selectFrom('requestTasks').selectAll();
  if (q.state) query = query.where('state', 'in', [...q.state]);
  if (q.requestId) query = query.where('requestId', '=', q.requestId);
  if (q.assignmentGroupId) query = query.where('assignmentGroupId', '=', q.assignmentGroupId);
  if (q.assigneeId) query = query.where('assigneeId', '=', q.assigneeId);
  if (q.after) {
    const [createdAt, id] = q.after;
    query = query.where(sql<SqlBool>`(created_at, id) < (${new Date(createdAt)}::timestamptz, ${id}::uuid)`);
  }
  const rows = await query.orderBy('createdAt', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
  return rows.map((r) => toTask(r as unknown as Record<string, unknown>));
}

// Devices ---------------------------------------------------------------------------------------------

/**
 * A free device of `classes` (live, assigned to nobody), the longest in stock first (then by name), locked so two
 * fulfilments at once do not hand out the same one.
 */
export async function freeDevice(db: Db, classes: readonly string[]): Promise<string | undefined> {
  const { rows } = await sql<{ id: string }>`
    select id from cis
     where class = any(${[...classes]}::text[]) and retired_at is null
       and not (attributes ? 'assigned_to')
     order by created_at, name, id
     limit 1
     for update skip locked`.execute(db);
  return rows[0]?.id;
}

/** Locks a CI row for the rest of the transaction (an assignment checks, then writes it). */
export async function lockCi(db: Db, id: string): Promise<void> {
  await sql`select id from cis where id = ${id}::uuid for update`.execute(db);
}
