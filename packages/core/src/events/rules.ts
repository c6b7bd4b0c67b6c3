// Event rules: ordered, admin-configured transformations applied to each normalised event before it
// reaches its alert. Pure functions here; storage in rules-store.ts, the service methods in service.ts.
import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';
import { type AlertSeverity, eventSeverities, type NormalizedEvent } from './model.js';

/** Most rules an installation may have: every ingest evaluates all of them. */
export const MAX_RULES = 500;
const MAX_PATTERN = 500;

/** The event fields a rule may match and a template may name. */
export const ruleFields = ['source', 'node', 'resource', 'type', 'message', 'dedupKey'] as const;
export type RuleField = (typeof ruleFields)[number];

/** A regular expression as rules take it: compiled once here, so a bad one is refused naming its field. */
export const pattern = z
  .string()
  .min(1)
  .max(MAX_PATTERN)
  .superRefine((value, ctx) => {
    try {
      new RegExp(value);
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: `is not a valid regular expression: ${(error as Error).message}`,
      });
    }
  });

/** Exactly one of: the value equals `equals`, or the whole value matches `regex` (anchored, as in Alertmanager). */
const matcher = z
  .strictObject({ equals: z.string().max(4000).optional(), regex: pattern.optional() })
  .refine((m) => (m.equals === undefined) !== (m.regex === undefined), 'give exactly one of equals or regex');

const labelName = z.string().min(1).max(200);

const labelMatcher = z
  .strictObject({
    name: labelName,
    equals: z.string().max(1000).optional(),
    regex: pattern.optional(),
    /** true: the label is set (any value); false: it is not. */
    present: z.boolean().optional(),
  })
  .refine(
    (m) => [m.equals, m.regex, m.present].filter((x) => x !== undefined).length === 1,
    'give exactly one of equals, regex or present',
  );

/** A text with placeholders `{{source}}`, `{{labels.team}}`, `{{match.host}}` (a named regex group). */
const template = z.string().max(4000);

export const ruleMatchInput = z.strictObject({
  source: matcher.optional(),
  node: matcher.optional(),
  resource: matcher.optional(),
  type: matcher.optional(),
  message: matcher.optional(),
  dedupKey: matcher.optional(),
  /** Any of these severities. */
  severity: z.array(z.enum(eventSeverities)).min(1).optional(),
  /** Every one of these label conditions. */
  labels: z.array(labelMatcher).max(50).optional(),
});
export type RuleMatch = z.output<typeof ruleMatchInput>;

export const ruleActionsInput = z
  .strictObject({
    /** Drop the event: it is not stored and changes no alert (its result says `ignored`). */
    ignore: z.literal(true).optional(),
    /** Set the severity of a triggering event (a clear stays a clear). */
    severity: z.enum(eventSeverities).exclude(['clear']).optional(),
    /** Bind to this CI, over what the sender said and over binding by node. */
    ciId: z.uuid().optional(),
    /** Bind to the live CI whose `attribute` equals the (templated) value, e.g. a serial number label. */
    bindBy: z.strictObject({ attribute: z.string().min(1).max(200), value: template.min(1) }).optional(),
    /** Set these labels (templated values), over the event's own. */
    addLabels: z
      .array(z.strictObject({ name: labelName, value: template }))
      .min(1)
      .max(50)
      .optional(),
    /** Replace the message (templated: `{{message}}` keeps the old one). */
    message: template.optional(),
    /** Group the alert with the live alerts having the same values of these labels (Alertmanager's `group_by`). */
    groupBy: z.array(labelName).min(1).max(20).optional(),
    /** Apply no later rule to a matching event. */
    stop: z.boolean().optional(),
  })
  .superRefine((a, ctx) => {
    const effects = (
      ['ignore', 'severity', 'ciId', 'bindBy', 'addLabels', 'message', 'groupBy'] as const
    ).filter((k) => a[k] !== undefined);
    if (effects.length === 0 && !a.stop)
      ctx.addIssue({
        code: 'custom',
        message: 'must do something: ignore, severity, ciId, bindBy, addLabels, message, groupBy or stop',
      });
    if (a.ignore && effects.length > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['ignore'],
        message: 'an ignored event is dropped: give no other action with it',
      });
  });
export type RuleActions = z.output<typeof ruleActionsInput>;

export const eventRuleInput = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  description: z.string().max(4000).default(''),
  /** Rules apply in ascending position (then name); default: after the last one. */
  position: z.int().min(0).max(1_000_000).optional(),
  enabled: z.boolean().default(true),
  /** Every condition given must hold; none given matches every event. */
  match: ruleMatchInput.default({}),
  actions: ruleActionsInput,
});
export type EventRuleInput = z.input<typeof eventRuleInput>;

export const eventRulePatch = z.strictObject({
  name: eventRuleInput.shape.name.optional(),
  description: z.string().max(4000).optional(),
  position: eventRuleInput.shape.position,
  enabled: z.boolean().optional(),
  match: ruleMatchInput.optional(),
  actions: ruleActionsInput.optional(),
});
export type EventRulePatch = z.input<typeof eventRulePatch>;

export interface EventRuleTable {
  id: string;
  name: string;
  description: string;
  position: number;
  enabled: boolean;
  match: ColumnType<RuleMatch, string, string>;
  actions: ColumnType<RuleActions, string, string>;
  createdBy: ColumnType<ActorRef, string, string>;
  updatedBy: ColumnType<ActorRef, string, string>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface EventRule {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly position: number;
  readonly enabled: boolean;
  readonly match: RuleMatch;
  readonly actions: RuleActions;
  readonly createdBy: ActorRef;
  readonly updatedBy: ActorRef;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Update and delete name the version read (optional: without it, no conflict check). */
export interface RuleChangeOptions extends WriteOptions {
  readonly version?: number;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'event_rule.created': { rule: EventRule };
    'event_rule.updated': { rule: EventRule };
    'event_rule.deleted': { rule: EventRule };
  }
}

// Templates -------------------------------------------------------------------------------------------

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

/** The named groups of a rule's regexes: what `{{match.<name>}}` may name. */
function namedGroups(match: RuleMatch): Set<string> {
  const names = new Set<string>();
  const regexes = [
    ...ruleFields.map((f) => match[f]?.regex),
    ...(match.labels ?? []).map((l) => l.regex),
  ].filter((r): r is string => r !== undefined);
  for (const source of regexes)
    for (const [, name] of source.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)) names.add(name!);
  return names;
}

/** Template problems of a rule, as field paths under `actions` (an unknown placeholder names itself). */
export function templateIssues(match: RuleMatch, actions: RuleActions): { path: string; message: string }[] {
  const groups = namedGroups(match);
  const check = (text: string, path: string) =>
    [...text.matchAll(PLACEHOLDER)].flatMap(([whole, name]) => {
      const [head, ...rest] = name!.split('.');
      const ok =
        (rest.length === 0 && (ruleFields.includes(head as RuleField) || head === 'severity')) ||
        (head === 'labels' && rest.length > 0) ||
        (head === 'match' && rest.length === 1 && groups.has(rest[0]!));
      return ok
        ? []
        : [
            {
              path,
              message: `${whole} names nothing: use {{source}}, {{node}}, {{resource}}, {{type}}, {{severity}}, {{message}}, {{dedupKey}}, {{labels.<name>}} or {{match.<group>}} of a named group in this rule's regexes`,
            },
          ];
    });
  return [
    ...(actions.bindBy ? check(actions.bindBy.value, 'actions.bindBy.value') : []),
    ...(actions.addLabels ?? []).flatMap((l, i) => check(l.value, `actions.addLabels.${i}.value`)),
    ...(actions.message !== undefined ? check(actions.message, 'actions.message') : []),
  ];
}

function render(text: string, event: NormalizedEvent, groups: Record<string, string>): string {
  return text.replace(PLACEHOLDER, (_, name: string) => {
    const [head, ...rest] = name.split('.');
    if (head === 'labels') return event.labels[rest.join('.')] ?? '';
    if (head === 'match') return groups[rest[0]!] ?? '';
    if (head === 'severity') return event.severity;
    return String(event[head as RuleField] ?? '');
  });
}

// Evaluation ------------------------------------------------------------------------------------------

/** A rule ready to run: its regexes compiled once per ingest. */
export interface CompiledRule {
  readonly rule: EventRule;
  readonly fields: readonly { field: RuleField; test: (value: string) => Record<string, string> | null }[];
  readonly labels: readonly {
    name: string;
    test: (value: string | undefined) => Record<string, string> | null;
  }[];
  readonly severities: ReadonlySet<string> | null;
}

const anchored = (source: string) => new RegExp(`^(?:${source})$`, 's');

function tester(m: { equals?: string | undefined; regex?: string | undefined }) {
  if (m.equals !== undefined) {
    const equals = m.equals;
    return (value: string) => (value === equals ? {} : null);
  }
  const re = anchored(m.regex!);
  return (value: string) => {
    const found = re.exec(value);
    return found ? { ...(found.groups ?? {}) } : null;
  };
}

export function compileRule(rule: EventRule): CompiledRule {
  const { match } = rule;
  return {
    rule,
    fields: ruleFields.flatMap((field) => (match[field] ? [{ field, test: tester(match[field]) }] : [])),
    labels: (match.labels ?? []).map((l) => {
      if (l.present !== undefined) {
        const present = l.present;
        return { name: l.name, test: (v: string | undefined) => ((v !== undefined) === present ? {} : null) };
      }
      const test = tester(l);
      return { name: l.name, test: (v: string | undefined) => (v === undefined ? null : test(v)) };
    }),
    severities: match.severity ? new Set(match.severity) : null,
  };
}

/** What the rules made of one event. */
export interface RuledEvent {
  readonly event: NormalizedEvent;
  /** The rule that dropped it, if one did. */
  readonly ignoredBy: string | null;
  /** A CI a rule bound it to (over the sender's and the node's). */
  readonly ciId: string | null;
  /** A lookup a rule asked for: the live CI whose attribute equals the value. */
  readonly bindBy: { readonly attribute: string; readonly value: string } | null;
  /** The label group it belongs to (`groupBy`), as a stable key; null when no rule groups it. */
  readonly groupKey: string | null;
  /** The rules that matched, in order. */
  readonly matched: readonly string[];
}

function matches(rule: CompiledRule, event: NormalizedEvent): Record<string, string> | null {
  if (rule.severities && !rule.severities.has(event.severity)) return null;
  let groups: Record<string, string> = {};
  for (const { field, test } of rule.fields) {
    const found = test(String(event[field]));
    if (!found) return null;
    groups = { ...groups, ...found };
  }
  for (const { name, test } of rule.labels) {
    const found = test(event.labels[name]);
    if (!found) return null;
    groups = { ...groups, ...found };
  }
  return groups;
}

/**
 * Runs the enabled rules, in order, over one event: each matching rule's actions apply to the event as
 * the earlier rules left it; `ignore` drops it and `stop` ends the chain.
 */
export function applyRules(rules: readonly CompiledRule[], original: NormalizedEvent): RuledEvent {
  let event = original;
  let ciId: string | null = null;
  let bindBy: RuledEvent['bindBy'] = null;
  let groupBy: readonly string[] | null = null;
  const matched: string[] = [];
  for (const compiled of rules) {
    const groups = matches(compiled, event);
    if (!groups) continue;
    const { actions, name } = compiled.rule;
    matched.push(name);
    if (actions.ignore) return { event, ignoredBy: name, ciId, bindBy, groupKey: null, matched };
    const labels = actions.addLabels
      ? {
          ...event.labels,
          ...Object.fromEntries(actions.addLabels.map((l) => [l.name, render(l.value, event, groups)])),
        }
      : event.labels;
    event = {
      ...event,
      severity:
        actions.severity && event.severity !== 'clear' ? (actions.severity as AlertSeverity) : event.severity,
      message: actions.message !== undefined ? render(actions.message, event, groups) : event.message,
      labels,
    };
    // A later rule's binding replaces an earlier one's, whichever form each takes.
    if (actions.ciId) {
      ciId = actions.ciId.toLowerCase();
      bindBy = null;
    }
    if (actions.bindBy) {
      bindBy = { attribute: actions.bindBy.attribute, value: render(actions.bindBy.value, event, groups) };
      ciId = null;
    }
    if (actions.groupBy) groupBy = actions.groupBy;
    if (actions.stop) break;
  }
  const groupKey = groupBy
    ? JSON.stringify(Object.fromEntries([...groupBy].sort().map((n) => [n, event.labels[n] ?? ''])))
    : null;
  return { event, ignoredBy: null, ciId, bindBy, groupKey, matched };
}
