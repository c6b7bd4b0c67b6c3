// Alert -> incident rules: which new alerts open an incident, with what priority and assignment. Rules
// apply in position order; the first that matches decides. Flapping and suppressed alerts open nothing;
// an alert whose root alert, or an earlier alert of its dedup key, has an active incident joins it.
import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import { levelInput as level } from '../incidents/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';
import { type Alert, eventSeverities } from './model.js';
import { pattern } from './rules.js';

export const incidentRuleMatchInput = z.strictObject({
  /** Any of these severities (required: opening incidents on every info alert is never meant). */
  severity: z.array(z.enum(eventSeverities).exclude(['clear'])).min(1),
  /** The alert's source matches this anchored regex. */
  source: pattern.optional(),
  /** The alert's CI is of one of these classes (or a subclass). */
  ciClasses: z.array(z.string().min(1)).min(1).max(50).optional(),
  /** A business service the alert's CI affects (impact analysis) has a `tier` of at most this. */
  serviceTierAtMost: z.int().min(1).max(10).optional(),
  /** Every one of these labels has this value. */
  labels: z.record(z.string().min(1).max(200), z.string().max(1000)).optional(),
});
export type IncidentRuleMatch = z.output<typeof incidentRuleMatchInput>;

export const incidentTemplateInput = z.strictObject({
  impact: level,
  urgency: level,
  category: z.string().trim().max(100).default(''),
  assignmentGroupId: z.uuid().nullish(),
  /** Templated like event rules: `{{type}} on {{node}}`, `{{labels.alertname}}`, `{{message}}`. */
  shortDescription: z.string().trim().min(1).max(300).default('{{type}} on {{node}}: {{message}}'),
});
export type IncidentTemplate = z.output<typeof incidentTemplateInput>;

export const incidentRuleInput = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  position: z.int().min(0).max(1_000_000).optional(),
  enabled: z.boolean().default(true),
  match: incidentRuleMatchInput,
  incident: incidentTemplateInput,
});
export type IncidentRuleInput = z.input<typeof incidentRuleInput>;

export const incidentRulePatch = z.strictObject({
  name: incidentRuleInput.shape.name.optional(),
  position: incidentRuleInput.shape.position,
  enabled: z.boolean().optional(),
  match: incidentRuleMatchInput.optional(),
  incident: incidentTemplateInput.optional(),
});
export type IncidentRulePatch = z.input<typeof incidentRulePatch>;

export interface IncidentRuleTable {
  id: string;
  name: string;
  position: number;
  enabled: boolean;
  match: ColumnType<IncidentRuleMatch, string, string>;
  incident: ColumnType<IncidentTemplate, string, string>;
  createdBy: ColumnType<ActorRef, string, string>;
  updatedBy: ColumnType<ActorRef, string, string>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface IncidentRule {
  readonly id: string;
  readonly name: string;
  readonly position: number;
  readonly enabled: boolean;
  readonly match: IncidentRuleMatch;
  readonly incident: IncidentTemplate;
  readonly createdBy: ActorRef;
  readonly updatedBy: ActorRef;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface IncidentRuleChangeOptions extends WriteOptions {
  readonly version?: number;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'incident_rule.created': { rule: IncidentRule };
    'incident_rule.updated': { rule: IncidentRule };
    'incident_rule.deleted': { rule: IncidentRule };
  }
}

/** What a rule needs to know of an alert's CI. */
export interface AlertContext {
  /** The class of the alert's CI and its ancestors; empty without a CI. */
  readonly classes: ReadonlySet<string>;
  /** The lowest `tier` among the business services the CI affects; null when none has one. */
  readonly bestTier: number | null;
}

/** Whether `rule` matches `alert` in `context`. */
export function incidentRuleMatches(rule: IncidentRule, alert: Alert, context: AlertContext): boolean {
  const m = rule.match;
  if (!m.severity.includes(alert.severity)) return false;
  if (m.source && !new RegExp(`^(?:${m.source})$`, 's').test(alert.source)) return false;
  if (m.labels && Object.entries(m.labels).some(([k, v]) => alert.labels[k] !== v)) return false;
  if (m.ciClasses && !m.ciClasses.some((c) => context.classes.has(c))) return false;
  if (
    m.serviceTierAtMost !== undefined &&
    (context.bestTier === null || context.bestTier > m.serviceTierAtMost)
  )
    return false;
  return true;
}

/** Fills `{{field}}` and `{{labels.x}}` placeholders from an alert. */
export function renderFromAlert(text: string, alert: Alert): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (_, name: string) => {
    const [head, ...rest] = name.split('.');
    if (head === 'labels') return alert.labels[rest.join('.')] ?? '';
    const value = (alert as unknown as Record<string, unknown>)[head!];
    return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  });
}

/** Placeholders of a template that name nothing an alert has. */
export function unknownPlaceholders(text: string): string[] {
  const known = new Set(['source', 'node', 'resource', 'type', 'severity', 'message', 'dedupKey', 'count']);
  return [...text.matchAll(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g)]
    .map(([whole, name]) => [whole!, name!] as const)
    .filter(([, name]) => !(known.has(name) || (name.startsWith('labels.') && name.length > 7)))
    .map(([whole]) => whole);
}
