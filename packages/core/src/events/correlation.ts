// Topology correlation: an alert whose CI depends (per relationship propagation) on the CI of another
// live alert that opened within the window is grouped under that alert's root. Groups are flat: every
// member points at the root itself. The walks are the topology engine's recursive SQL, bounded in depth.
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.js';
import { type Carrying, catalog, reachFromEach } from '../topology/store.js';

type Db = Kysely<Database>;

/** What correlation needs of an alert. */
export interface CorrelatedAlert {
  readonly id: string;
  readonly ciId: string;
  readonly firstSeen: Date;
  readonly rootAlertId: string | null;
}

export interface CorrelationSettings {
  readonly windowMs: number;
  readonly maxDepth: number;
}

async function carryingOf(db: Db): Promise<Carrying> {
  const { types } = await catalog(db);
  const carry = (p: 'to_source' | 'to_target') =>
    types.filter((t) => t.propagation === p || t.propagation === 'both').map((t) => t.name);
  return { toSource: carry('to_source'), toTarget: carry('to_target') };
}

/**
 * Which of `ciIds` have a relationship of a type that carries failure (either end): only those can
 * explain or be explained. Most new alerts in a storm sit on CIs a walk would leave at once; one
 * indexed query spares each its walk.
 */
async function connected(db: Db, ciIds: readonly string[], carrying: Carrying): Promise<string[]> {
  const types = [...new Set([...carrying.toSource, ...carrying.toTarget])];
  if (ciIds.length === 0 || types.length === 0) return [];
  const { rows } = await sql<{ id: string }>`
    select u.id from unnest(${[...ciIds]}::uuid[]) u(id)
     where exists (select 1 from relationships r where r.source_id = u.id and r.type = any(${types}::text[]))
        or exists (select 1 from relationships r where r.target_id = u.id and r.type = any(${types}::text[]))`.execute(
    db,
  );
  return rows.map((r) => r.id);
}

/** Live alerts on `ciIds` that opened within [from, to], and their current roots. */
async function liveAlertsOn(
  db: Db,
  ciIds: readonly string[],
  from: Date,
  to: Date,
): Promise<CorrelatedAlert[]> {
  if (ciIds.length === 0) return [];
  const { rows } = await sql<{
    id: string;
    ciId: string;
    firstSeen: Date | string;
    rootAlertId: string | null;
  }>`
    select id, ci_id, first_seen, root_alert_id from alerts
     where status <> 'closed' and ci_id = any(${[...ciIds]}::uuid[])
       and first_seen between ${from} and ${to}`.execute(db);
  return rows.map((r) => ({ ...r, firstSeen: new Date(r.firstSeen) }));
}

const within = (a: Date, b: Date, ms: number) => Math.abs(a.getTime() - b.getTime()) <= ms;
const span = (alerts: readonly CorrelatedAlert[], ms: number) => {
  const times = alerts.map((a) => a.firstSeen.getTime());
  return [new Date(Math.min(...times) - ms), new Date(Math.max(...times) + ms)] as const;
};
/** Earlier first, then by id: the order that decides ties and breaks cycles. */
const earlier = (a: CorrelatedAlert, b: CorrelatedAlert) =>
  a.firstSeen.getTime() - b.firstSeen.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The root of each of `subjects` (alerts whose group is to be decided; their current roots are
 * ignored): the deepest live alert their CI depends on within the window (then the earliest), or
 * rather that alert's root; null when none explains it. Subjects may explain each other; a cycle among
 * them (CIs depending on each other) is broken at its earliest alert, which stays a root.
 */
export async function rootsFor(
  db: Db,
  subjects: readonly CorrelatedAlert[],
  settings: CorrelationSettings,
  carrying?: Carrying,
): Promise<{ roots: Map<string, string | null>; carrying: Carrying }> {
  const roots = new Map<string, string | null>();
  const carried = carrying ?? (await carryingOf(db));
  if (subjects.length === 0) return { roots, carrying: carried };
  const origins = await connected(db, [...new Set(subjects.map((s) => s.ciId))], carried);
  const reached =
    origins.length === 0
      ? []
      : await reachFromEach(db, origins, {
          direction: 'downstream',
          maxDepth: settings.maxDepth,
          carrying: carried,
        });
  const depthFrom = new Map<string, Map<string, number>>();
  for (const row of reached) {
    if (row.depth === 0) continue;
    const map = depthFrom.get(row.origin) ?? new Map<string, number>();
    map.set(row.id, row.depth);
    depthFrom.set(row.origin, map);
  }
  const [from, to] = span(subjects, settings.windowMs);
  const subjectIds = new Set(subjects.map((s) => s.id));
  const live = await liveAlertsOn(
    db,
    [...new Set(reached.filter((r) => r.depth > 0).map((r) => r.id))],
    from,
    to,
  );
  // Subjects' own roots are being decided: as candidates they count as roots-to-be.
  const candidates = live.map((c) => (subjectIds.has(c.id) ? { ...c, rootAlertId: null } : c));
  const bySubject = new Map(subjects.map((s) => [s.id, s]));

  const cause = new Map<string, CorrelatedAlert | null>();
  for (const s of subjects) {
    const depths = depthFrom.get(s.ciId);
    let best: { alert: CorrelatedAlert; depth: number } | null = null;
    for (const c of candidates) {
      const depth = depths?.get(c.ciId);
      if (depth === undefined || c.id === s.id || !within(c.firstSeen, s.firstSeen, settings.windowMs))
        continue;
      if (!best || depth > best.depth || (depth === best.depth && earlier(c, best.alert) < 0))
        best = { alert: c, depth };
    }
    cause.set(s.id, best?.alert ?? null);
  }

  // Follow each subject's causes to the top; members of a chain all get that top as root.
  for (const s of subjects) {
    if (roots.has(s.id)) continue;
    const chain = [s.id];
    let top: string;
    for (let x = s.id; ; ) {
      if (roots.has(x)) {
        chain.pop();
        top = roots.get(x) ?? x;
        break;
      }
      const c = cause.get(x);
      if (!c) {
        top = x;
        break;
      }
      if (!subjectIds.has(c.id)) {
        top = c.rootAlertId ?? c.id;
        break;
      }
      const at = chain.indexOf(c.id);
      if (at >= 0) {
        // CIs depending on each other: the cycle's earliest alert is the root of the others.
        top = chain
          .slice(at)
          .map((id) => bySubject.get(id)!)
          .sort(earlier)[0]!.id;
        break;
      }
      chain.push(c.id);
      x = c.id;
    }
    for (const id of chain) roots.set(id, id === top ? null : top);
  }
  return { roots, carrying: carried };
}

/**
 * The live alerts that new root-level alerts explain: for each alert on a CI that depends on a new
 * alert's CI (opened within the window, and not in a group yet, nor new itself), the new alert it
 * should join: the one on the deepest CI (then the earliest). Returned as adopted alert id -> new alert.
 */
export async function adoptable(
  db: Db,
  tops: readonly CorrelatedAlert[],
  exclude: ReadonlySet<string>,
  settings: CorrelationSettings,
  carrying: Carrying,
): Promise<Map<string, CorrelatedAlert>> {
  const adopted = new Map<string, CorrelatedAlert>();
  if (tops.length === 0) return adopted;
  const origins = await connected(db, [...new Set(tops.map((t) => t.ciId))], carrying);
  if (origins.length === 0) return adopted;
  const reached = await reachFromEach(db, origins, {
    direction: 'upstream',
    maxDepth: settings.maxDepth,
    carrying,
  });
  const [from, to] = span(tops, settings.windowMs);
  const live = (
    await liveAlertsOn(db, [...new Set(reached.filter((r) => r.depth > 0).map((r) => r.id))], from, to)
  ).filter((a) => a.rootAlertId === null && !exclude.has(a.id));
  const depthTo = new Map<string, Map<string, number>>();
  for (const row of reached) {
    if (row.depth === 0) continue;
    const map = depthTo.get(row.id) ?? new Map<string, number>();
    map.set(row.origin, row.depth);
    depthTo.set(row.id, map);
  }
  for (const a of live) {
    let best: { top: CorrelatedAlert; depth: number } | null = null;
    for (const t of tops) {
      const depth = depthTo.get(a.ciId)?.get(t.ciId);
      if (depth === undefined || !within(a.firstSeen, t.firstSeen, settings.windowMs)) continue;
      if (!best || depth > best.depth || (depth === best.depth && earlier(t, best.top) < 0))
        best = { top: t, depth };
    }
    if (best) adopted.set(a.id, best.top);
  }
  return adopted;
}
