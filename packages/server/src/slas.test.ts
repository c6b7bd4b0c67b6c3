import { type ManualClock, systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { startTestServer, type TestServer } from './test-support.js';

const LIST = `query ($first: Int) {
  incidents(first: $first) { edges { node { number slaTimers { kind state targetMinutes warned dueAt } } } }
}`;

describe('incident SLAs over GraphQL', () => {
  let t: TestServer;
  const reports: OperationQueries[] = [];
  const actor = systemActor('test');
  const open = () => t.og.incidents.create({ shortDescription: 'Down', impact: 1, urgency: 1 }, { actor });

  beforeAll(async () => {
    t = await startTestServer({
      scheduler: { every: { slas: 20 } },
      onOperationQueries: (report) => reports.push(report),
    });
  });
  afterAll(() => t?.close());

  it('lists the definitions and each incident’s timers, a page of incidents in constant queries', async () => {
    const slas = (
      await t.gql(
        '{ slas(priority: 1) { name responseMinutes resolutionMinutes active } }',
        {},
        t.tokens.admin,
      )
    ).body.data?.slas;
    expect(slas).toEqual([
      { name: 'P1 critical', responseMinutes: 15, resolutionMinutes: 240, active: true },
    ]);
    await open();
    const count = async (first: number) => {
      reports.length = 0;
      const body = (await t.gql(LIST, { first }, t.tokens.admin)).body;
      expect(body.errors).toBeUndefined();
      return { nodes: body.data?.incidents.edges.length, queries: reports[0]!.queries.length, body };
    };
    const one = await count(1);
    expect(one.body.data?.incidents.edges[0].node.slaTimers).toMatchObject([
      { kind: 'RESPONSE', state: 'RUNNING', targetMinutes: 15, warned: false },
      { kind: 'RESOLUTION', state: 'RUNNING', targetMinutes: 240 },
    ]);
    for (let i = 0; i < 4; i++) await open();
    const five = await count(5);
    expect(five.nodes).toBe(5);
    expect(five.queries).toBe(one.queries);
  });

  it('defines and changes SLA definitions, with typed errors and versions', async () => {
    const DEFINE = `mutation ($input: DefineSlaInput!) {
      defineSla(input: $input) {
        __typename
        ... on MutationDefineSlaSuccess { data { id name priority active version } }
        ... on ValidationError { issues { path message } }
        ... on Error { code message }
      }
    }`;
    const UPDATE = `mutation ($id: ID!, $version: Int, $input: UpdateSlaInput!) {
      updateSla(id: $id, version: $version, input: $input) {
        __typename
        ... on MutationUpdateSlaSuccess { data { name responseMinutes version } }
        ... on Error { code message }
      }
    }`;
    const input = { name: 'P1 gold', priority: 1, responseMinutes: 5, resolutionMinutes: 60, active: false };
    const defined = (await t.gql(DEFINE, { input }, t.tokens.admin)).body.data?.defineSla;
    expect(defined).toMatchObject({
      __typename: 'MutationDefineSlaSuccess',
      data: { active: false, version: 1 },
    });
    // P1 already has an active definition; a resolution target under the response one is refused.
    const clash = (
      await t.gql(DEFINE, { input: { ...input, name: 'P1 other', active: true } }, t.tokens.admin)
    ).body.data?.defineSla;
    expect(clash.issues.map((i: { path: string }) => i.path)).toEqual(['priority']);
    const short = (
      await t.gql(DEFINE, { input: { ...input, name: 'P1 short', resolutionMinutes: 1 } }, t.tokens.admin)
    ).body.data?.defineSla;
    expect(short.issues.map((i: { path: string }) => i.path)).toEqual(['resolutionMinutes']);
    const { id } = defined.data;
    const renamed = (
      await t.gql(
        UPDATE,
        { id, version: 1, input: { name: 'P1 platinum', responseMinutes: 10 } },
        t.tokens.admin,
      )
    ).body.data?.updateSla;
    expect(renamed).toMatchObject({ data: { name: 'P1 platinum', responseMinutes: 10, version: 2 } });
    const stale = (await t.gql(UPDATE, { id, version: 1, input: { name: 'late' } }, t.tokens.admin)).body.data
      ?.updateSla;
    expect(stale).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    // Reading incidents is not enough to change targets.
    const denied = await t.gql(UPDATE, { id, input: { name: 'nope' } }, t.tokens.reader);
    expect(denied.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('defines a business calendar and puts an SLA on it; null takes it off', async () => {
    const DEFINE = `mutation ($input: DefineBusinessCalendarInput!) {
      defineBusinessCalendar(input: $input) {
        __typename
        ... on MutationDefineBusinessCalendarSuccess { data { id name timeZone hours { day start end } holidays version } }
        ... on ValidationError { issues { path message } }
      }
    }`;
    const hours = [1, 2, 3, 4, 5].map((day) => ({ day, start: '09:00', end: '17:00' }));
    const bad = (await t.gql(DEFINE, { input: { name: 'NYC', timeZone: 'New York', hours } }, t.tokens.admin))
      .body.data?.defineBusinessCalendar;
    expect(bad.issues).toEqual([{ path: 'timeZone', message: expect.stringMatching(/IANA time zone/) }]);
    const calendar = (
      await t.gql(
        DEFINE,
        { input: { name: 'NYC', timeZone: 'America/New_York', hours, holidays: ['2026-07-03'] } },
        t.tokens.admin,
      )
    ).body.data?.defineBusinessCalendar.data;
    expect(calendar).toMatchObject({ timeZone: 'America/New_York', holidays: ['2026-07-03'], version: 1 });
    expect(calendar.hours[0]).toEqual({ day: 1, start: '09:00', end: '17:00' });
    const SET = `mutation ($id: ID!, $calendarId: ID) {
      updateSla(id: $id, input: { calendarId: $calendarId }) {
        ... on MutationUpdateSlaSuccess { data { calendarId calendar { name } } }
        ... on ValidationError { issues { path } }
      }
    }`;
    const p5 = (await t.og.slas.slas({ priority: 5, active: true }))[0]!;
    const on = (await t.gql(SET, { id: p5.id, calendarId: calendar.id }, t.tokens.admin)).body.data
      ?.updateSla;
    expect(on.data).toEqual({ calendarId: calendar.id, calendar: { name: 'NYC' } });
    const unknown = (await t.gql(SET, { id: p5.id, calendarId: crypto.randomUUID() }, t.tokens.admin)).body
      .data?.updateSla;
    expect(unknown.issues).toEqual([{ path: 'patch.calendarId' }]);
    // Several definitions on calendars: the calendars are read once for the whole answer.
    const p4 = (await t.og.slas.slas({ priority: 4, active: true }))[0]!;
    await t.og.slas.updateSla(p4.id, { calendarId: calendar.id }, { actor });
    reports.length = 0;
    const both = (await t.gql('{ slas { priority calendar { name } } }', {}, t.tokens.admin)).body.data?.slas;
    expect(
      both.filter((d: { calendar: unknown }) => d.calendar).map((d: { priority: number }) => d.priority),
    ).toEqual([4, 5]);
    expect(reports[0]!.queries.filter((q) => q.sql.includes('business_calendars'))).toHaveLength(1);
    await t.og.slas.updateSla(p4.id, { calendarId: null }, { actor });
    const off = (await t.gql(SET, { id: p5.id, calendarId: null }, t.tokens.admin)).body.data?.updateSla;
    expect(off.data).toEqual({ calendarId: null, calendar: null });
    const listed = (await t.gql('{ businessCalendars { name } }', {}, t.tokens.admin)).body.data;
    expect(listed?.businessCalendars).toEqual([{ name: 'NYC' }]);
  });

  it('sweeps on a timer: a due timer is breached and announced once', async () => {
    const incident = await open();
    (t.og.clock as ManualClock).advance(20 * 60_000);
    const breaches = async () =>
      (await t.og.activity.list({ types: ['sla.breached'], limit: 1000 })).filter(
        (e) => e.subject?.id === incident.id,
      );
    const deadline = Date.now() + 5000;
    while ((await breaches()).length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 25));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await breaches()).toHaveLength(1);
  });
});
