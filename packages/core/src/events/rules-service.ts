// Event rule CRUD (event:admin to change, event:read to read); `og.events.createRule` & co. delegate here.
import { isUniqueViolation } from '../access/common.js';
import { type Actor, actorRef, assertCan, permissions, type ReadOptions } from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type EventRule,
  type EventRuleInput,
  type EventRulePatch,
  eventRuleInput,
  eventRulePatch,
  MAX_RULES,
  type RuleChangeOptions,
  templateIssues,
} from './rules.js';
import * as store from './rules-store.js';
import { matchCis } from './store.js';

/** New rules go this far after the last one, leaving room to slot others between. */
const POSITION_STEP = 10;

const nameTaken = () => ValidationError.field('name', 'another event rule has this name');

/** Problems a rule has beyond its shape: unknown template placeholders, a CI that is not live. */
async function check(scope: WriteScope, row: store.RuleRow, except: string | null): Promise<void> {
  const issues = templateIssues(row.match, row.actions);
  if (issues.length > 0) throw new ValidationError(issues);
  if (row.actions.ciId) {
    const id = row.actions.ciId.toLowerCase();
    const [match] = await matchCis(scope.db, [id], []);
    if (!match) throw ValidationError.field('actions.ciId', `no live CI ${row.actions.ciId}`);
  }
  const holder = await store.findRuleByName(scope.db, row.name);
  if (holder && holder.id !== except) throw nameTaken();
}

const clash = (error: unknown): never => {
  throw isUniqueViolation(error) ? nameTaken() : error;
};

export async function listRules(kernel: Kernel, { actor }: ReadOptions): Promise<EventRule[]> {
  if (actor) assertCan(actor, permissions.eventRead);
  return store.listRules(kernel.db);
}

export async function findRule(
  kernel: Kernel,
  id: string,
  { actor }: ReadOptions,
): Promise<EventRule | null> {
  if (actor) assertCan(actor, permissions.eventRead);
  if (!isUuid(id)) return null;
  return (await store.findRule(kernel.db, id.toLowerCase())) ?? null;
}

export async function createRule(kernel: Kernel, input: EventRuleInput, actor: Actor): Promise<EventRule> {
  assertCan(actor, permissions.eventAdmin);
  const r = parseInput(eventRuleInput, input);
  return kernel.write(actor, async (scope) => {
    const { count, lastPosition } = await store.countRules(scope.db);
    if (count >= MAX_RULES)
      throw ValidationError.field(
        'name',
        `an installation may have at most ${MAX_RULES} event rules; delete or merge some`,
      );
    const row: store.RuleRow = {
      name: r.name,
      description: r.description,
      position: r.position ?? (lastPosition === null ? 0 : lastPosition + POSITION_STEP),
      enabled: r.enabled,
      match: r.match,
      actions: r.actions,
    };
    await check(scope, row, null);
    const rule = await store
      .insertRule(scope.db, crypto.randomUUID(), row, actorRef(actor), scope.now)
      .catch(clash);
    scope.emit('event_rule.created', { type: 'event_rule', id: rule.id }, { rule });
    return rule;
  });
}

async function existing(scope: WriteScope, id: string, version: number | undefined): Promise<EventRule> {
  const rule = isUuid(id) ? await store.findRule(scope.db, id.toLowerCase(), true) : undefined;
  if (!rule) throw new NotFoundError('event rule', id, 'id');
  if (version !== undefined && version !== rule.version)
    throw ConflictError.staleVersion('event rule', rule.id, version, rule.version);
  return rule;
}

export async function updateRule(
  kernel: Kernel,
  id: string,
  patch: EventRulePatch,
  { actor, version }: RuleChangeOptions,
): Promise<EventRule> {
  assertCan(actor, permissions.eventAdmin);
  const p = parseInput(eventRulePatch, patch, 'patch');
  return kernel.write(actor, async (scope) => {
    const rule = await existing(scope, id, version);
    const row: store.RuleRow = {
      name: p.name ?? rule.name,
      description: p.description ?? rule.description,
      position: p.position ?? rule.position,
      enabled: p.enabled ?? rule.enabled,
      match: p.match ?? rule.match,
      actions: p.actions ?? rule.actions,
    };
    await check(scope, row, rule.id);
    const updated = await store.updateRule(scope.db, rule.id, row, actorRef(actor), scope.now).catch(clash);
    scope.emit('event_rule.updated', { type: 'event_rule', id: rule.id }, { rule: updated });
    return updated;
  });
}

export async function deleteRule(
  kernel: Kernel,
  id: string,
  { actor, version }: RuleChangeOptions,
): Promise<EventRule> {
  assertCan(actor, permissions.eventAdmin);
  return kernel.write(actor, async (scope) => {
    const rule = await existing(scope, id, version);
    await store.deleteRule(scope.db, rule.id);
    scope.emit('event_rule.deleted', { type: 'event_rule', id: rule.id }, { rule });
    return rule;
  });
}
