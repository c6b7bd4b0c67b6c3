// Alert -> incident rule CRUD (event:admin to change, event:read to read), and their evaluation at ingest.
import { isUniqueViolation } from '../access/common.js';
import { findGroup } from '../access/groups-store.js';
import { activeIncidentsByDedupKey, incidentIdsOfAlerts, linkAlerts } from '../incidents/store.js';
import { type Actor, actorRef, assertCan, permissions, type ReadOptions } from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError, type ValidationIssue } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type AlertContext,
  type IncidentRule,
  type IncidentRuleChangeOptions,
  type IncidentRuleInput,
  type IncidentRulePatch,
  incidentRuleInput,
  incidentRuleMatches,
  incidentRulePatch,
  renderFromAlert,
  unknownPlaceholders,
} from './incident-rules.js';
import * as store from './incident-rules-store.js';
import type { Alert } from './model.js';

const nameTaken = () => ValidationError.field('name', 'another incident rule has this name');

async function check(scope: WriteScope, row: store.IncidentRuleRow, except: string | null): Promise<void> {
  const issues: ValidationIssue[] = unknownPlaceholders(row.incident.shortDescription).map((p) => ({
    path: 'incident.shortDescription',
    message: `${p} names nothing an alert has: use {{source}}, {{node}}, {{resource}}, {{type}}, {{severity}}, {{message}}, {{dedupKey}}, {{count}} or {{labels.<name>}}`,
  }));
  if (
    row.incident.assignmentGroupId &&
    !(await findGroup(scope.db, row.incident.assignmentGroupId.toLowerCase()))
  )
    issues.push({
      path: 'incident.assignmentGroupId',
      message: `no group ${row.incident.assignmentGroupId}`,
    });
  const classes = row.match.ciClasses ?? [];
  if (classes.length > 0) {
    const known = new Set(
      (await scope.db.selectFrom('ciClasses').select('name').where('name', 'in', classes).execute()).map(
        (r) => r.name,
      ),
    );
    classes.forEach((c, i) => {
      if (!known.has(c)) issues.push({ path: `match.ciClasses.${i}`, message: `unknown CI class "${c}"` });
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  const holder = await store.findIncidentRuleByName(scope.db, row.name);
  if (holder && holder.id !== except) throw nameTaken();
}

const clash = (error: unknown): never => {
  throw isUniqueViolation(error) ? nameTaken() : error;
};

export async function listIncidentRules(kernel: Kernel, { actor }: ReadOptions): Promise<IncidentRule[]> {
  if (actor) assertCan(actor, permissions.eventRead);
  return store.listIncidentRules(kernel.db);
}

export async function createIncidentRule(
  kernel: Kernel,
  input: IncidentRuleInput,
  actor: Actor,
): Promise<IncidentRule> {
  assertCan(actor, permissions.eventAdmin);
  const r = parseInput(incidentRuleInput, input);
  return kernel.write(actor, async (scope) => {
    const last = await store.lastPosition(scope.db);
    const row: store.IncidentRuleRow = {
      name: r.name,
      position: r.position ?? (last === null ? 0 : last + 10),
      enabled: r.enabled,
      match: r.match,
      incident: r.incident,
    };
    await check(scope, row, null);
    const rule = await store
      .insertIncidentRule(scope.db, crypto.randomUUID(), row, actorRef(actor), scope.now)
      .catch(clash);
    scope.emit('incident_rule.created', { type: 'incident_rule', id: rule.id }, { rule });
    return rule;
  });
}

async function existing(scope: WriteScope, id: string, version: number | undefined): Promise<IncidentRule> {
  const rule = isUuid(id) ? await store.findIncidentRule(scope.db, id.toLowerCase(), true) : undefined;
  if (!rule) throw new NotFoundError('incident rule', id, 'id');
  if (version !== undefined && version !== rule.version)
    throw ConflictError.staleVersion('incident rule', rule.id, version, rule.version);
  return rule;
}

export async function updateIncidentRule(
  kernel: Kernel,
  id: string,
  patch: IncidentRulePatch,
  { actor, version }: IncidentRuleChangeOptions,
): Promise<IncidentRule> {
  assertCan(actor, permissions.eventAdmin);
  const p = parseInput(incidentRulePatch, patch, 'patch');
  return kernel.write(actor, async (scope) => {
    const rule = await existing(scope, id, version);
    const row: store.IncidentRuleRow = {
      name: p.name ?? rule.name,
      position: p.position ?? rule.position,
      enabled: p.enabled ?? rule.enabled,
      match: p.match ?? rule.match,
      incident: p.incident ?? rule.incident,
    };
    await check(scope, row, rule.id);
    const updated = await store
      .updateIncidentRule(scope.db, rule.id, row, actorRef(actor), scope.now)
      .catch(clash);
    scope.emit('incident_rule.updated', { type: 'incident_rule', id: rule.id }, { rule: updated });
    return updated;
  });
}

export async function deleteIncidentRule(
  kernel: Kernel,
  id: string,
  { actor, version }: IncidentRuleChangeOptions,
): Promise<IncidentRule> {
  assertCan(actor, permissions.eventAdmin);
  return kernel.write(actor, async (scope) => {
    const rule = await existing(scope, id, version);
    await store.deleteIncidentRule(scope.db, rule.id);
    scope.emit('incident_rule.deleted', { type: 'incident_rule', id: rule.id }, { rule });
    return rule;
  });
}

/** Who opens incidents on a rule's behalf: recorded as the incident's opener. */
const ruleActor = (rule: IncidentRule): Actor => ({
  kind: 'system',
  id: `incident-rule:${rule.id}`,
  name: `incident rule "${rule.name}"`,
  permissions: ['*'],
});

/**
 * Incidents for the alerts an ingest opened, in the same transaction. Flapping and suppressed alerts
 * open nothing. An alert joins the active incident of its root alert, or of an earlier alert of its
 * dedup key (a re-opened duplicate); otherwise the first matching rule opens one. Returns alert id ->
 * incident id for the alerts linked.
 */
export async function incidentsForAlerts(
  scope: WriteScope,
  opened: readonly Alert[],
): Promise<Map<string, string>> {
  const linked = new Map<string, string>();
  const candidates = opened.filter((a) => !a.flapping && !a.suppressed);
  if (candidates.length === 0) return linked;
  const rules = await store.listIncidentRules(scope.db, true);
  if (rules.length === 0) return linked;
  const { db, now } = scope;

  const byRoot = await incidentIdsOfAlerts(
    db,
    candidates.flatMap((a) => (a.rootAlertId ? [a.rootAlertId] : [])),
  );
  const byKey = await activeIncidentsByDedupKey(
    db,
    candidates.map((a) => a.dedupKey),
  );
  const activeRootIncidents = new Set(
    byRoot.size === 0
      ? []
      : (
          await db
            .selectFrom('incidents')
            .select('id')
            .where('id', 'in', [...byRoot.values()])
            .where('state', 'in', ['new', 'in_progress', 'on_hold'])
            .execute()
        ).map((r) => r.id),
  );
  const rest: Alert[] = [];
  for (const a of candidates) {
    const rootIncident = a.rootAlertId ? byRoot.get(a.rootAlertId) : undefined;
    const join = rootIncident && activeRootIncidents.has(rootIncident) ? rootIncident : byKey.get(a.dedupKey);
    if (join) linked.set(a.id, join);
    else rest.push(a);
  }
  for (const [alertId, incidentId] of linked)
    await linkAlerts(db, incidentId, [alertId], now, actorRef(scope.actor));

  if (rest.length > 0) {
    const ciIds = [...new Set(rest.flatMap((a) => (a.ciId ? [a.ciId] : [])))];
    const lines = await store.classLines(db, ciIds);
    const tiers = new Map<string, number | null>();
    const needTier = rules.some((r) => r.match.serviceTierAtMost !== undefined);
    const contextOf = async (a: Alert): Promise<AlertContext> => {
      if (!a.ciId) return { classes: new Set(), bestTier: null };
      if (needTier && !tiers.has(a.ciId)) {
        const { services } = await scope.kernel.services.topology.impactOf([a.ciId]);
        const serviceTiers = services.length
          ? await db
              .selectFrom('cis')
              .select(['attributes'])
              .where(
                'id',
                'in',
                services.map((s) => s.id),
              )
              .execute()
          : [];
        const values = serviceTiers
          .map((s) => Number((s.attributes as Record<string, unknown>).tier))
          .filter((t) => Number.isInteger(t));
        tiers.set(a.ciId, values.length > 0 ? Math.min(...values) : null);
      }
      return { classes: lines.get(a.ciId) ?? new Set(), bestTier: tiers.get(a.ciId) ?? null };
    };
    // Alerts of one dedup key in one call share one incident, and so does a group whose root opened
    // one in this call: roots go first.
    const openedFor = new Map<string, string>();
    const byAlert = new Map<string, string>();
    const ordered = [...rest].sort((x, y) => Number(x.rootAlertId !== null) - Number(y.rootAlertId !== null));
    for (const a of ordered) {
      const rootIncident = a.rootAlertId ? byAlert.get(a.rootAlertId) : undefined;
      if (rootIncident) {
        await linkAlerts(db, rootIncident, [a.id], now, actorRef(scope.actor));
        linked.set(a.id, rootIncident);
        byAlert.set(a.id, rootIncident);
        continue;
      }
      const context = await contextOf(a);
      const rule = rules.find((r) => incidentRuleMatches(r, a, context));
      if (!rule) continue;
      const existingId = openedFor.get(a.dedupKey);
      if (existingId) {
        await linkAlerts(db, existingId, [a.id], now, actorRef(scope.actor));
        linked.set(a.id, existingId);
        byAlert.set(a.id, existingId);
        continue;
      }
      const t = rule.incident;
      const incident = await scope.kernel.services.incidents.create(
        {
          shortDescription: renderFromAlert(t.shortDescription, a).slice(0, 300) || a.type,
          description: a.message,
          ciId: a.ciId,
          impact: t.impact,
          urgency: t.urgency,
          category: t.category,
          assignmentGroupId: t.assignmentGroupId ?? null,
          alertIds: [a.id],
        },
        { actor: ruleActor(rule) },
      );
      openedFor.set(a.dedupKey, incident.id);
      linked.set(a.id, incident.id);
      byAlert.set(a.id, incident.id);
    }
  }
  return linked;
}
