import {
  assertCan,
  CiReach,
  type Kernel,
  type KeysetOrder,
  keysetPage,
  NotFoundError,
  type Page,
  type PageRequest,
  parseInput,
  parseKeysetCursor,
  type ReadOptions,
  ValidationError,
  type WriteOptions,
} from '@opsgraph/core';
import { sql } from 'kysely';
import { assertVersion, isUniqueViolation, networkPermissions, tables } from './common.js';
import {
  type CreateFirewallRuleInput,
  type CreateZoneInput,
  createFirewallRuleInput,
  createZoneInput,
  type EvaluateFirewallInput,
  evaluateFirewallInput,
  type FirewallDecision,
  type NetworkFirewallRule,
  type NetworkZone,
} from './model.js';
import { byName, emptyPage, intKey, nameOrder, pageOf, pageSize } from './page.js';

const isId = (id: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);

// A firewall's rules in evaluation order: position (unique per firewall), then the id.
const byPosition = { field: 'position', direction: 'asc' } as const;
const ruleOrder: KeysetOrder<NetworkFirewallRule> = {
  exprs: [sql.ref('position')],
  keys: (r) => [r.position],
  params: [intKey],
};

/**
 * Security zones (named sets of CIs) and the ordered rules of each firewall: evaluated by position,
 * lowest first; the first enabled rule that matches decides, and no match denies.
 */
export class FirewallService {
  constructor(private readonly kernel: Kernel) {}

  async createZone(input: CreateZoneInput, { actor }: WriteOptions): Promise<NetworkZone> {
    assertCan(actor, networkPermissions.write);
    const data = parseInput(createZoneInput, input);
    const memberIds = [...new Set(data.memberIds.map((id) => id.toLowerCase()))];
    return this.kernel.write(actor, async ({ db, now, emit, kernel }) => {
      const taken = () => ValidationError.field('name', `a zone named ${data.name} exists`);
      if (
        await tables(db)
          .selectFrom('networkZones')
          .select('id')
          .where('name', '=', data.name)
          .executeTakeFirst()
      )
        throw taken();
      const cis = await kernel.services.cmdb.getMany(memberIds);
      const missing = memberIds.findIndex((_, i) => !cis[i]);
      if (missing >= 0) throw new NotFoundError('CI', memberIds[missing]!, `memberIds.${missing}`);
      const zone = await tables(db)
        .insertInto('networkZones')
        .values({ id: crypto.randomUUID(), name: data.name, description: data.description, createdAt: now })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? taken() : error;
        });
      if (memberIds.length > 0)
        await tables(db)
          .insertInto('networkZoneMembers')
          .values(memberIds.map((ciId) => ({ zoneId: zone.id, ciId })))
          .execute();
      emit('network.zone.created', { type: 'network_zone', id: zone.id }, { zone, memberIds });
      return zone;
    });
  }

  async zones(options: ReadOptions = {}): Promise<NetworkZone[]> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    return tables(this.kernel.db).selectFrom('networkZones').selectAll().orderBy('name').execute();
  }

  /** A keyset page of zones by name. `after` is the `endCursor` of the page before. */
  async zonePage(page: PageRequest = {}, options: ReadOptions = {}): Promise<Page<NetworkZone>> {
    if (options.actor) assertCan(options.actor, networkPermissions.read);
    const first = pageSize(page.first);
    const after = page.after ? parseKeysetCursor(page.after, byName, nameOrder, 'a zone') : undefined;
    const query = tables(this.kernel.db).selectFrom('networkZones').selectAll();
    const rows = await keysetPage(query, nameOrder.exprs, 'asc', after)
      .limit(first + 1)
      .execute();
    return pageOf(rows, first, byName, nameOrder);
  }

  async zoneMembers(zoneIds: readonly string[]): Promise<string[][]> {
    const valid = zoneIds.filter(isId);
    if (valid.length === 0) return zoneIds.map(() => []);
    const rows = await tables(this.kernel.db)
      .selectFrom('networkZoneMembers')
      .selectAll()
      .where('zoneId', 'in', valid)
      .orderBy('ciId')
      .execute();
    return zoneIds.map((id) => rows.filter((r) => r.zoneId === id.toLowerCase()).map((r) => r.ciId));
  }

  /** Adds a rule to a firewall (a CI): at `position`, or after its last rule. Needs network:write on it. */
  async createRule(input: CreateFirewallRuleInput, { actor }: WriteOptions): Promise<NetworkFirewallRule> {
    const writable = CiReach.of(actor, networkPermissions.write);
    const data = parseInput(createFirewallRuleInput, input);
    writable.assert(data.firewallId, 'firewallId');
    return this.kernel.write(actor, async ({ db, now, emit, kernel }) => {
      const [firewall, source, destination] = await kernel.services.cmdb.getMany([
        data.firewallId,
        ...(data.sourceCiId ? [data.sourceCiId] : [data.firewallId]),
        ...(data.destinationCiId ? [data.destinationCiId] : [data.firewallId]),
      ]);
      if (!firewall) throw new NotFoundError('CI', data.firewallId, 'firewallId');
      if (!source) throw new NotFoundError('CI', data.sourceCiId!, 'sourceCiId');
      if (!destination) throw new NotFoundError('CI', data.destinationCiId!, 'destinationCiId');
      for (const field of ['sourceZoneId', 'destinationZoneId'] as const) {
        const zoneId = data[field];
        if (
          zoneId &&
          !(await tables(db)
            .selectFrom('networkZones')
            .select('id')
            .where('id', '=', zoneId)
            .executeTakeFirst())
        )
          throw new NotFoundError('zone', zoneId, field);
      }
      // Rules of one firewall are numbered under a lock on the firewall's rules, so a default position
      // is never taken twice.
      await sql`select pg_advisory_xact_lock(hashtext(${`network.firewall:${firewall.id}`}))`.execute(db);
      let position = data.position;
      if (position === undefined) {
        const last = await tables(db)
          .selectFrom('networkFirewallRules')
          .select((eb) => eb.fn.max('position').as('max'))
          .where('firewallId', '=', firewall.id)
          .executeTakeFirst();
        position = Number(last?.max ?? 0) + 10;
      }
      const taken = () =>
        ValidationError.field('position', `position ${position} is taken on firewall ${firewall.name}`);
      const existing = await tables(db)
        .selectFrom('networkFirewallRules')
        .select('id')
        .where('firewallId', '=', firewall.id)
        .where('position', '=', position)
        .executeTakeFirst();
      if (existing) throw taken();
      const rule = await tables(db)
        .insertInto('networkFirewallRules')
        .values({
          id: crypto.randomUUID(),
          firewallId: firewall.id,
          position,
          action: data.action,
          protocol: data.protocol,
          sourceZoneId: data.sourceZoneId ?? null,
          sourceCiId: data.sourceCiId ?? null,
          destinationZoneId: data.destinationZoneId ?? null,
          destinationCiId: data.destinationCiId ?? null,
          ports: data.ports,
          description: data.description,
          enabled: data.enabled,
          createdAt: now,
          updatedAt: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? taken() : error;
        });
      emit('network.firewall_rule.created', { type: 'ci', id: firewall.id }, { rule });
      return rule;
    });
  }

  async deleteRule(id: string, version: number, { actor }: WriteOptions): Promise<NetworkFirewallRule> {
    const writable = CiReach.of(actor, networkPermissions.write);
    return this.kernel.write(actor, async ({ db, emit }) => {
      const rule = isId(id)
        ? await tables(db)
            .selectFrom('networkFirewallRules')
            .selectAll()
            .where('id', '=', id)
            .forUpdate()
            .executeTakeFirst()
        : undefined;
      if (!rule) throw new NotFoundError('firewall rule', id, 'id');
      writable.assert(rule.firewallId, 'id');
      assertVersion('firewall rule', id, version, rule.version);
      await tables(db).deleteFrom('networkFirewallRules').where('id', '=', rule.id).execute();
      emit('network.firewall_rule.deleted', { type: 'ci', id: rule.firewallId }, { rule });
      return rule;
    });
  }

  /** A firewall's rules in evaluation order. With an actor: network:read on the firewall. */
  async rules(firewallId: string, options: ReadOptions = {}): Promise<NetworkFirewallRule[]> {
    CiReach.of(options.actor, networkPermissions.read).assert(firewallId, 'firewallId');
    if (!isId(firewallId)) return [];
    return tables(this.kernel.db)
      .selectFrom('networkFirewallRules')
      .selectAll()
      .where('firewallId', '=', firewallId)
      .orderBy('position')
      .execute();
  }

  /** A keyset page of a firewall's rules in evaluation order. With an actor: network:read on it. */
  async rulePage(
    firewallId: string,
    page: PageRequest = {},
    options: ReadOptions = {},
  ): Promise<Page<NetworkFirewallRule>> {
    CiReach.of(options.actor, networkPermissions.read).assert(firewallId, 'firewallId');
    const first = pageSize(page.first);
    const after = page.after
      ? parseKeysetCursor(page.after, byPosition, ruleOrder, 'a firewall rule')
      : undefined;
    if (!isId(firewallId)) return emptyPage();
    const query = tables(this.kernel.db)
      .selectFrom('networkFirewallRules')
      .selectAll()
      .where('firewallId', '=', firewallId);
    const rows = await keysetPage(query, ruleOrder.exprs, 'asc', after)
      .limit(first + 1)
      .execute();
    return pageOf(rows, first, byPosition, ruleOrder);
  }

  /** What the firewall does with traffic from one CI to another: the first matching rule decides. */
  async evaluate(input: EvaluateFirewallInput, options: ReadOptions = {}): Promise<FirewallDecision> {
    const data = parseInput(evaluateFirewallInput, input);
    const rules = await this.rules(data.firewallId, options);
    const zoneIds = [
      ...new Set(rules.flatMap((r) => [r.sourceZoneId, r.destinationZoneId]).filter((z) => z !== null)),
    ];
    const members = await this.zoneMembers(zoneIds);
    const inZone = (zoneId: string, ciId: string) => members[zoneIds.indexOf(zoneId)]!.includes(ciId);
    const source = data.sourceCiId.toLowerCase();
    const destination = data.destinationCiId.toLowerCase();
    const matchesEnd = (zoneId: string | null, ciId: string | null, ci: string) =>
      zoneId ? inZone(zoneId, ci) : ciId ? ciId === ci : true;
    const matchesPort = (ports: string) =>
      ports === '' ||
      (data.port != null &&
        ports.split(',').some((range) => {
          const [lo, hi = lo] = range.split('-').map(Number) as [number, number?];
          return data.port! >= lo && data.port! <= hi!;
        }));
    const rule = rules.find(
      (r) =>
        r.enabled &&
        (r.protocol === 'any' || r.protocol === data.protocol) &&
        matchesEnd(r.sourceZoneId, r.sourceCiId, source) &&
        matchesEnd(r.destinationZoneId, r.destinationCiId, destination) &&
        matchesPort(r.ports),
    );
    return { action: rule?.action ?? 'deny', rule: rule ?? null };
  }
}
