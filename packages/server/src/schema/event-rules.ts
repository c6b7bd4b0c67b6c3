import {
  type EventRule,
  type EventRuleInput,
  type EventRulePatch,
  type IncidentRule,
  type IncidentRuleInput,
  type IncidentRulePatch,
  permissions,
  type RuleActions,
  type RuleMatch,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addAlerts } from './alerts.js';
import { mutationErrors } from './errors.js';

type Refs = Pick<ReturnType<typeof addAlerts>, 'ActorRef' | 'Severity' | 'EventSeverity'>;

const read = { permission: permissions.eventRead };
const admin = { permission: permissions.eventAdmin };

/** GraphQL sends null for omitted input fields, at every depth; the SDK's rule inputs want them left out. */
function clean<T>(value: T): T {
  if (Array.isArray(value)) return value.map(clean) as T;
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [k, clean(v)]),
  ) as T;
}
const idOf = (v: string | number | null | undefined) => (v == null ? undefined : String(v));
// Casts below: GraphQL carries the shapes, the SDK validates them and names the field at fault.

/** Event rules and alert -> incident rules: read with event:read, changed with event:admin. */
export function addEventRules(builder: OpsGraphBuilder, { ActorRef, Severity, EventSeverity }: Refs) {
  type Matcher = NonNullable<RuleMatch['source']>;
  type LabelMatcher = NonNullable<RuleMatch['labels']>[number];

  const MatcherRef = builder.objectRef<Matcher>('RuleMatcher').implement({
    description: 'Exactly one: the value equals `equals`, or the whole value matches `regex` (anchored).',
    authScopes: read,
    fields: (t) => ({
      equals: t.exposeString('equals', { nullable: true }),
      regex: t.exposeString('regex', { nullable: true }),
    }),
  });
  const LabelMatcherRef = builder.objectRef<LabelMatcher>('RuleLabelMatcher').implement({
    authScopes: read,
    fields: (t) => ({
      name: t.exposeString('name'),
      equals: t.exposeString('equals', { nullable: true }),
      regex: t.exposeString('regex', { nullable: true }),
      present: t.exposeBoolean('present', { nullable: true }),
    }),
  });
  const MatchRef = builder.objectRef<RuleMatch>('EventRuleMatch').implement({
    description: 'Every condition given must hold.',
    authScopes: read,
    fields: (t) => ({
      source: t.field({ type: MatcherRef, nullable: true, resolve: (m) => m.source }),
      node: t.field({ type: MatcherRef, nullable: true, resolve: (m) => m.node }),
      resource: t.field({ type: MatcherRef, nullable: true, resolve: (m) => m.resource }),
      type: t.field({ type: MatcherRef, nullable: true, resolve: (m) => m.type }),
      message: t.field({ type: MatcherRef, nullable: true, resolve: (m) => m.message }),
      dedupKey: t.field({ type: MatcherRef, nullable: true, resolve: (m) => m.dedupKey }),
      severity: t.field({ type: [EventSeverity], nullable: true, resolve: (m) => m.severity ?? null }),
      labels: t.field({ type: [LabelMatcherRef], nullable: true, resolve: (m) => m.labels ?? null }),
    }),
  });
  const Label = builder.objectRef<{ name: string; value: string }>('RuleLabel').implement({
    authScopes: read,
    fields: (t) => ({ name: t.exposeString('name'), value: t.exposeString('value') }),
  });
  const BindBy = builder.objectRef<{ attribute: string; value: string }>('RuleBindBy').implement({
    description: 'Bind to the live CI whose attribute equals the (templated) value.',
    authScopes: read,
    fields: (t) => ({ attribute: t.exposeString('attribute'), value: t.exposeString('value') }),
  });
  const ActionsRef = builder.objectRef<RuleActions>('EventRuleActions').implement({
    authScopes: read,
    fields: (t) => ({
      ignore: t.boolean({ nullable: true, resolve: (a) => a.ignore ?? null }),
      severity: t.field({ type: Severity, nullable: true, resolve: (a) => a.severity ?? null }),
      ciId: t.exposeID('ciId', { nullable: true }),
      bindBy: t.field({ type: BindBy, nullable: true, resolve: (a) => a.bindBy }),
      addLabels: t.field({ type: [Label], nullable: true, resolve: (a) => a.addLabels ?? null }),
      message: t.exposeString('message', { nullable: true }),
      groupBy: t.exposeStringList('groupBy', { nullable: true }),
      stop: t.exposeBoolean('stop', { nullable: true }),
    }),
  });
  const Rule = builder.objectRef<EventRule>('EventRule').implement({
    description:
      'Applied to every ingested event, in ascending position (then name), before it reaches its alert.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      description: t.exposeString('description'),
      position: t.exposeInt('position'),
      enabled: t.exposeBoolean('enabled'),
      match: t.field({ type: MatchRef, resolve: (r) => r.match }),
      actions: t.field({ type: ActionsRef, resolve: (r) => r.actions }),
      createdBy: t.field({ type: ActorRef, resolve: (r) => r.createdBy }),
      updatedBy: t.field({ type: ActorRef, resolve: (r) => r.updatedBy }),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updatedAt }),
    }),
  });

  const MatcherInput = builder.inputType('RuleMatcherInput', {
    fields: (t) => ({ equals: t.string(), regex: t.string() }),
  });
  const LabelMatcherInput = builder.inputType('RuleLabelMatcherInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      equals: t.string(),
      regex: t.string(),
      present: t.boolean(),
    }),
  });
  const MatchInput = builder.inputType('EventRuleMatchInput', {
    fields: (t) => ({
      source: t.field({ type: MatcherInput }),
      node: t.field({ type: MatcherInput }),
      resource: t.field({ type: MatcherInput }),
      type: t.field({ type: MatcherInput }),
      message: t.field({ type: MatcherInput }),
      dedupKey: t.field({ type: MatcherInput }),
      severity: t.field({ type: [EventSeverity] }),
      labels: t.field({ type: [LabelMatcherInput] }),
    }),
  });
  const LabelInput = builder.inputType('RuleLabelInput', {
    fields: (t) => ({ name: t.string({ required: true }), value: t.string({ required: true }) }),
  });
  const BindByInput = builder.inputType('RuleBindByInput', {
    fields: (t) => ({ attribute: t.string({ required: true }), value: t.string({ required: true }) }),
  });
  const ActionsInput = builder.inputType('EventRuleActionsInput', {
    fields: (t) => ({
      ignore: t.boolean(),
      severity: t.field({ type: Severity }),
      ciId: t.id(),
      bindBy: t.field({ type: BindByInput }),
      addLabels: t.field({ type: [LabelInput] }),
      message: t.string(),
      groupBy: t.stringList(),
      stop: t.boolean(),
    }),
  });
  const RuleInput = builder.inputType('EventRuleInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      description: t.string(),
      position: t.int(),
      enabled: t.boolean(),
      match: t.field({ type: MatchInput }),
      actions: t.field({ type: ActionsInput, required: true }),
    }),
  });
  const RulePatchInput = builder.inputType('EventRulePatchInput', {
    description: 'The fields given replace the rule’s.',
    fields: (t) => ({
      name: t.string(),
      description: t.string(),
      position: t.int(),
      enabled: t.boolean(),
      match: t.field({ type: MatchInput }),
      actions: t.field({ type: ActionsInput }),
    }),
  });

  const IncidentMatch = builder.objectRef<IncidentRule['match']>('IncidentRuleMatch').implement({
    authScopes: read,
    fields: (t) => ({
      severity: t.field({ type: [Severity], resolve: (m) => m.severity }),
      source: t.exposeString('source', { nullable: true, description: 'An anchored regex.' }),
      ciClasses: t.exposeStringList('ciClasses', { nullable: true }),
      serviceTierAtMost: t.exposeInt('serviceTierAtMost', { nullable: true }),
      labels: t.field({ type: 'JSON', nullable: true, resolve: (m) => m.labels ?? null }),
    }),
  });
  const IncidentTemplate = builder.objectRef<IncidentRule['incident']>('IncidentTemplate').implement({
    authScopes: read,
    fields: (t) => ({
      impact: t.exposeInt('impact'),
      urgency: t.exposeInt('urgency'),
      category: t.exposeString('category'),
      assignmentGroupId: t.exposeID('assignmentGroupId', { nullable: true }),
      shortDescription: t.exposeString('shortDescription'),
    }),
  });
  const IncidentRuleRef = builder.objectRef<IncidentRule>('IncidentRule').implement({
    description:
      'Which new alerts open an incident: the first matching rule (by position) opens one, unless the alert flaps, is suppressed, or joins an active incident.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      position: t.exposeInt('position'),
      enabled: t.exposeBoolean('enabled'),
      match: t.field({ type: IncidentMatch, resolve: (r) => r.match }),
      incident: t.field({ type: IncidentTemplate, resolve: (r) => r.incident }),
      createdBy: t.field({ type: ActorRef, resolve: (r) => r.createdBy }),
      updatedBy: t.field({ type: ActorRef, resolve: (r) => r.updatedBy }),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updatedAt }),
    }),
  });
  const IncidentMatchInput = builder.inputType('IncidentRuleMatchInput', {
    fields: (t) => ({
      severity: t.field({ type: [Severity], required: true }),
      source: t.string(),
      ciClasses: t.stringList(),
      serviceTierAtMost: t.int(),
      labels: t.field({ type: 'JSON', description: 'Label names to the values they must have.' }),
    }),
  });
  const IncidentTemplateInput = builder.inputType('IncidentTemplateInput', {
    fields: (t) => ({
      impact: t.int({ required: true }),
      urgency: t.int({ required: true }),
      category: t.string(),
      assignmentGroupId: t.id(),
      shortDescription: t.string({
        description: 'Templated: `{{type}} on {{node}}`, `{{labels.alertname}}`.',
      }),
    }),
  });
  const IncidentRuleInput = builder.inputType('IncidentRuleInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      position: t.int(),
      enabled: t.boolean(),
      match: t.field({ type: IncidentMatchInput, required: true }),
      incident: t.field({ type: IncidentTemplateInput, required: true }),
    }),
  });
  const IncidentRulePatchInput = builder.inputType('IncidentRulePatchInput', {
    fields: (t) => ({
      name: t.string(),
      position: t.int(),
      enabled: t.boolean(),
      match: t.field({ type: IncidentMatchInput }),
      incident: t.field({ type: IncidentTemplateInput }),
    }),
  });

  builder.queryFields((t) => ({
    eventRules: t.field({
      type: [Rule],
      description: 'Every event rule, in the order they apply.',
      authScopes: read,
      resolve: (_root, _args, { og, actor }) => og.events.rules({ actor }),
    }),
    incidentRules: t.field({
      type: [IncidentRuleRef],
      description: 'Every alert -> incident rule, in the order they apply.',
      authScopes: read,
      resolve: (_root, _args, { og, actor }) => og.events.incidentRules({ actor }),
    }),
  }));

  const versioned = (version: number | null | undefined) => (version != null ? { version } : {});
  builder.mutationFields((t) => ({
    createEventRule: t.field({
      type: Rule,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { input: t.arg({ type: RuleInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.events.createRule(
          clean({
            ...input,
            actions: { ...input.actions, ciId: idOf(input.actions.ciId) },
          }) as EventRuleInput,
          {
            actor,
          },
        ),
    }),
    updateEventRule: t.field({
      type: Rule,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: RulePatchInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.events.updateRule(
          String(id),
          clean({
            ...input,
            actions: input.actions ? { ...input.actions, ciId: idOf(input.actions.ciId) } : undefined,
          }) as EventRulePatch,
          { actor, ...versioned(version) },
        ),
    }),
    deleteEventRule: t.field({
      type: Rule,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { id: t.arg.id({ required: true }), version: t.arg.int() },
      resolve: (_root, { id, version }, { og, actor }) =>
        og.events.deleteRule(String(id), { actor, ...versioned(version) }),
    }),
    createIncidentRule: t.field({
      type: IncidentRuleRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { input: t.arg({ type: IncidentRuleInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.events.createIncidentRule(
          clean({
            ...input,
            incident: { ...input.incident, assignmentGroupId: idOf(input.incident.assignmentGroupId) },
          }) as IncidentRuleInput,
          { actor },
        ),
    }),
    updateIncidentRule: t.field({
      type: IncidentRuleRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: IncidentRulePatchInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.events.updateIncidentRule(
          String(id),
          clean({
            ...input,
            incident: input.incident
              ? { ...input.incident, assignmentGroupId: idOf(input.incident.assignmentGroupId) }
              : undefined,
          }) as IncidentRulePatch,
          { actor, ...versioned(version) },
        ),
    }),
    deleteIncidentRule: t.field({
      type: IncidentRuleRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { id: t.arg.id({ required: true }), version: t.arg.int() },
      resolve: (_root, { id, version }, { og, actor }) =>
        og.events.deleteIncidentRule(String(id), { actor, ...versioned(version) }),
    }),
  }));
}
