import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Level } from '../incidents/model.js';
import { visibleTo } from '../kernel/activity.js';
import { type Actor, readPermissionOf, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ForbiddenError, NotFoundError, type ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { SlaTimer } from './model.js';

const admin = systemActor('test');
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

describe.each(testBackends())('SLAs on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  let ciId: string;
  let otherCi: string;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    ciId = (await og.cmdb.create({ class: 'linux_server', name: 'web-01' }, { actor: admin })).id;
    otherCi = (await og.cmdb.create({ class: 'linux_server', name: 'web-02' }, { actor: admin })).id;
  });
  afterAll(() => og?.close());

  /** Default matrix: (1,1) P1, (1,2) P2, (1,3) P3, (2,3) P4, (3,3) P5. */
  const open = (impact: Level, urgency: Level) =>
    og.incidents.create({ shortDescription: 'Site down', ciId, impact, urgency }, { actor: admin });
  const live = async (id: string): Promise<Record<string, SlaTimer>> =>
    Object.fromEntries(
      (await og.slas.timersOf(id)).filter((t) => t.state !== 'cancelled').map((t) => [t.kind, t]),
    );
  const eventsOf = async (incidentId: string, type: 'sla.warning' | 'sla.breached') =>
    (await og.activity.list({ types: [type], limit: 1000 })).filter((e) => e.subject?.id === incidentId);
  const move = (id: string, to: 'in_progress' | 'on_hold' | 'resolved' | 'cancelled', reason?: string) =>
    og.incidents.transition(
      id,
      to === 'on_hold'
        ? { to, holdReason: 'awaiting_vendor' }
        : to === 'resolved'
          ? { to, resolutionCode: 'solved_permanently', resolutionNotes: 'Fixed.' }
          : { to, ...(reason ? { reason } : {}) },
      { actor: admin },
    );

  it('seeds ITIL defaults, one per priority', async () => {
    const slas = await og.slas.slas();
    expect(slas.map((s) => [s.priority, s.responseMinutes, s.resolutionMinutes, s.active])).toEqual([
      [1, 15, 240, true],
      [2, 30, 480, true],
      [3, 240, 4320, true],
      [4, 1440, 7200, true],
      [5, 2880, 14400, true],
    ]);
  });

  it('attaches response and resolution timers by priority on create', async () => {
    const p1 = await open(1, 1);
    const p5 = await open(3, 3);
    const t1 = await live(p1.id);
    expect(t1.response).toMatchObject({ state: 'running', targetMinutes: 15, priority: 1, warned: false });
    expect(t1.response!.dueAt).toEqual(new Date(p1.createdAt.getTime() + 15 * MIN));
    expect(t1.resolution).toMatchObject({ state: 'running', targetMinutes: 240 });
    const t5 = await live(p5.id);
    expect([t5.response!.targetMinutes, t5.resolution!.targetMinutes]).toEqual([2880, 14400]);
  });

  it('warns at 75% and breaches at 100%, each exactly once across repeated sweeps', async () => {
    const incident = await open(1, 1);
    clock.advance(11 * MIN); // 73% of 15 min
    await og.slas.sweep();
    expect(await eventsOf(incident.id, 'sla.warning')).toHaveLength(0);
    clock.advance(1 * MIN);
    const first = await og.slas.sweep();
    expect(first.warned.filter((t) => t.incidentId === incident.id).map((t) => t.kind)).toEqual(['response']);
    await og.slas.sweep();
    expect((await live(incident.id)).response).toMatchObject({ state: 'running', warned: true });
    clock.advance(4 * MIN);
    await og.slas.sweep();
    await og.slas.sweep();
    const warnings = await eventsOf(incident.id, 'sla.warning');
    const breaches = await eventsOf(incident.id, 'sla.breached');
    expect(warnings).toHaveLength(1);
    expect(breaches).toHaveLength(1);
    expect(breaches[0]!.payload).toMatchObject({
      timer: { kind: 'response', state: 'breached', targetMinutes: 15 },
      incident: { id: incident.id, number: incident.number, ciId, priority: 1 },
    });
    expect((await live(incident.id)).response).toMatchObject({ state: 'breached', dueAt: null });
    // Breached is final: working the incident does not turn it into met.
    await move(incident.id, 'in_progress');
    expect((await live(incident.id)).response!.state).toBe('breached');
  });

  it('pauses the resolution timer on hold and resumes it after', async () => {
    const incident = await open(1, 1);
    clock.advance(5 * MIN);
    await move(incident.id, 'on_hold'); // leaving new meets the response target
    let timers = await live(incident.id);
    expect(timers.response!.state).toBe('met');
    expect(timers.resolution).toMatchObject({ state: 'paused', dueAt: null, elapsedMs: 5 * MIN });
    clock.advance(10 * HOUR);
    await og.slas.sweep();
    expect(await eventsOf(incident.id, 'sla.breached')).toHaveLength(0);
    await move(incident.id, 'in_progress');
    timers = await live(incident.id);
    expect(timers.resolution).toMatchObject({ state: 'running', elapsedMs: 5 * MIN });
    expect(timers.resolution!.dueAt).toEqual(new Date(clock.now().getTime() + 235 * MIN));
    clock.advance(175 * MIN); // 180 of 240 min: exactly 75%
    await og.slas.sweep();
    expect(await eventsOf(incident.id, 'sla.warning')).toHaveLength(1);
    expect(await eventsOf(incident.id, 'sla.breached')).toHaveLength(0);
  });

  it('meets the resolution target when resolved in time, and a reopen counts on from its elapsed time', async () => {
    const incident = await open(1, 2); // P2: 30 min / 8 h
    clock.advance(10 * MIN);
    await move(incident.id, 'in_progress');
    clock.advance(50 * MIN);
    await move(incident.id, 'resolved');
    expect(await live(incident.id)).toMatchObject({
      response: { state: 'met', elapsedMs: 10 * MIN },
      resolution: { state: 'met', elapsedMs: HOUR },
    });
    clock.advance(10 * HOUR);
    await og.slas.sweep();
    expect(await eventsOf(incident.id, 'sla.breached')).toHaveLength(0);
    await move(incident.id, 'in_progress', 'Back again.');
    const resolution = (await live(incident.id)).resolution!;
    expect(resolution).toMatchObject({ state: 'running', elapsedMs: HOUR });
    expect(resolution.dueAt).toEqual(new Date(clock.now().getTime() + 7 * HOUR));
  });

  it('re-targets the timers when the priority changes, carrying elapsed time over', async () => {
    const incident = await open(3, 3); // P5
    clock.advance(HOUR);
    await og.incidents.update(incident.id, { impact: 1, urgency: 1 }, { actor: admin });
    const all = await og.slas.timersOf(incident.id);
    expect(all.filter((t) => t.state === 'cancelled').map((t) => t.priority)).toEqual([5, 5]);
    const timers = await live(incident.id);
    expect(timers.response).toMatchObject({ priority: 1, targetMinutes: 15, elapsedMs: HOUR });
    expect(timers.resolution).toMatchObject({ priority: 1, targetMinutes: 240, elapsedMs: HOUR });
    const swept = await og.slas.sweep();
    // Already past its target: breached, without a late warning.
    expect(swept.breached.filter((t) => t.incidentId === incident.id).map((t) => t.kind)).toEqual([
      'response',
    ]);
    expect(await eventsOf(incident.id, 'sla.warning')).toHaveLength(0);
    // A change that keeps the priority leaves the timers alone.
    await og.incidents.update(incident.id, { category: 'network' }, { actor: admin });
    expect(await og.slas.timersOf(incident.id)).toHaveLength(4);
  });

  it('cancels the timers of a cancelled incident', async () => {
    const incident = await open(1, 1);
    await move(incident.id, 'cancelled', 'Raised twice.');
    expect((await og.slas.timersOf(incident.id)).map((t) => t.state)).toEqual(['cancelled', 'cancelled']);
    clock.advance(DAY);
    await og.slas.sweep();
    expect(await eventsOf(incident.id, 'sla.breached')).toHaveLength(0);
  });

  it('refuses bad definitions naming the field, and needs operations:write', async () => {
    const fields = async (input: unknown) =>
      (
        (await og.slas
          .defineSla(input as Parameters<typeof og.slas.defineSla>[0], { actor: admin })
          .catch((e) => e)) as ValidationError
      ).issues.map((i) => i.path);
    expect(await fields({ name: ' ', priority: 7, responseMinutes: 0, resolutionMinutes: 1.5 })).toEqual([
      'name',
      'priority',
      'responseMinutes',
      'resolutionMinutes',
    ]);
    expect(await fields({ name: 'Fast', priority: 3, responseMinutes: 60, resolutionMinutes: 30 })).toEqual([
      'resolutionMinutes',
    ]);
    expect(
      await fields({ name: 'Gold P3', priority: 3, responseMinutes: 60, resolutionMinutes: 600 }),
    ).toEqual(['priority']);
    expect(
      await fields({
        name: 'P1 critical',
        priority: 3,
        responseMinutes: 1,
        resolutionMinutes: 2,
        active: false,
      }),
    ).toEqual(['name']);
    const reader: Actor = { kind: 'user', id: 'r', name: 'Reader', permissions: ['incident:read'] };
    await expect(
      og.slas.defineSla(
        { name: 'X', priority: 3, responseMinutes: 1, resolutionMinutes: 2 },
        { actor: reader },
      ),
    ).rejects.toBeInstanceOf(ForbiddenError);
    expect((await og.slas.slas({}, { actor: reader })).length).toBeGreaterThanOrEqual(5);
  });

  it('applies a replacement definition to incidents opened after it is activated', async () => {
    const [seeded] = await og.slas.slas({ priority: 4, active: true });
    const gold = await og.slas.defineSla(
      { name: 'Gold P4', priority: 4, responseMinutes: 60, resolutionMinutes: 600, active: false },
      { actor: admin },
    );
    const clash = await og.slas.updateSla(gold.id, { active: true }, { actor: admin }).catch((e) => e);
    expect((clash as ValidationError).field).toBe('patch.active');
    await og.slas.updateSla(seeded!.id, { active: false }, { actor: admin });
    await og.slas.updateSla(gold.id, { active: true }, { actor: admin, version: gold.version });
    const incident = await open(2, 3);
    expect((await live(incident.id)).response!.targetMinutes).toBe(60);
    await og.slas.updateSla(gold.id, { active: false }, { actor: admin });
    await og.slas.updateSla(seeded!.id, { active: true }, { actor: admin });
  });

  it('shows timers and SLA events only to who may read the incident', async () => {
    const incident = await open(1, 1);
    const scoped = await scopedTestActor(
      og,
      'elsewhere',
      [{ ciId: otherCi, mode: 'contains', permissions: ['incident:read'] }],
      ['activity:read'],
    );
    await expect(og.slas.timersOf(incident.id, { actor: scoped })).rejects.toBeInstanceOf(NotFoundError);
    clock.advance(20 * MIN);
    await og.slas.sweep();
    const [breach] = await eventsOf(incident.id, 'sla.breached');
    expect(readPermissionOf('sla.breached')).toBe('incident:read');
    expect(visibleTo(scoped, breach!)).toBe(false);
    const local = await scopedTestActor(
      og,
      'here',
      [{ ciId, mode: 'contains', permissions: ['incident:read'] }],
      ['activity:read'],
    );
    expect(visibleTo(local, breach!)).toBe(true);
    expect(await og.slas.timersOf(incident.id, { actor: local })).toHaveLength(2);
  });

  it('emits each event once when two sweeps run at once', async () => {
    const incidents = await Promise.all([open(1, 1), open(1, 1), open(1, 1)]);
    clock.advance(12 * MIN);
    const warnings = await Promise.all([og.slas.sweep(), og.slas.sweep()]);
    clock.advance(5 * MIN);
    const breaches = await Promise.all([og.slas.sweep(), og.slas.sweep(), og.slas.sweep()]);
    for (const incident of incidents) {
      expect(await eventsOf(incident.id, 'sla.warning')).toHaveLength(1);
      expect(await eventsOf(incident.id, 'sla.breached')).toHaveLength(1);
    }
    const ids = new Set(incidents.map((i) => i.id));
    const count = (results: { warned: readonly SlaTimer[]; breached: readonly SlaTimer[] }[]) =>
      results.flatMap((r) => [...r.warned, ...r.breached]).filter((t) => ids.has(t.incidentId)).length;
    expect(count(warnings)).toBe(3);
    expect(count(breaches)).toBe(3);
  });

  it('counts only business hours on a calendar, through weekends, and re-times running timers when the hours change', async () => {
    const weekdays = [1, 2, 3, 4, 5].map((day) => ({ day, start: '09:00', end: '17:00' }));
    const calendar = await og.slas.defineCalendar(
      {
        name: 'Paris office',
        timeZone: 'Europe/Paris',
        hours: weekdays,
        holidays: ['2026-06-08', '2026-06-08'],
      },
      { actor: admin },
    );
    expect(calendar).toMatchObject({ version: 1, holidays: ['2026-06-08'] });
    const [p1] = await og.slas.slas({ priority: 1, active: true });
    await og.slas.updateSla(p1!.id, { calendarId: calendar.id }, { actor: admin });
    try {
      // Friday 5 June 16:00 in Paris (UTC+2): 1 h of working time left on Friday; Monday 8 June is a holiday.
      clock.set('2026-06-05T14:00:00Z');
      const incident = await open(1, 1);
      let timers = await live(incident.id);
      expect(timers.resolution).toMatchObject({ calendarId: calendar.id, targetMinutes: 240 });
      // 240 min: 1 h on Friday, then Tuesday 09:00–12:00 local.
      expect(timers.resolution!.dueAt).toEqual(new Date('2026-06-09T10:00:00Z'));
      expect(timers.response!.dueAt).toEqual(new Date('2026-06-05T14:15:00Z'));
      // Saturday noon: only Friday's hour counted, nothing warned (75% = 180 min, Tuesday 11:00).
      clock.set('2026-06-06T10:00:00Z');
      await og.slas.sweep();
      timers = await live(incident.id);
      expect(timers.resolution).toMatchObject({ state: 'running', elapsedMs: HOUR, warned: false });
      expect(timers.response!.state).toBe('breached');
      clock.set('2026-06-09T08:59:00Z'); // Tuesday 10:59: 179 min counted
      await og.slas.sweep();
      // The response timer breached unwarned on Saturday (a sweep that finds a timer late only breaches it).
      expect(await eventsOf(incident.id, 'sla.warning')).toHaveLength(0);
      clock.set('2026-06-09T09:00:00Z');
      await og.slas.sweep();
      await og.slas.sweep();
      const warnings = (await eventsOf(incident.id, 'sla.warning')).map(
        (e) => (e.payload as unknown as { timer: SlaTimer }).timer.kind,
      );
      expect(warnings).toEqual(['resolution']);
      const warned = (await eventsOf(incident.id, 'sla.warning'))[0]!.payload as unknown as {
        timer: SlaTimer;
      };
      expect(warned.timer.elapsedMs).toBe(180 * MIN);
      expect((await live(incident.id)).resolution).toMatchObject({ state: 'running', elapsedMs: 180 * MIN });

      // A second incident on Friday; on Saturday the office starts opening at 08:00: its timer keeps the
      // hour it counted and is due by the new hours (Tuesday 08:00 + 3 h = 11:00 local).
      clock.set('2026-06-12T14:00:00Z');
      const other = await open(1, 1);
      clock.set('2026-06-13T10:00:00Z');
      const earlier = await og.slas.updateCalendar(
        calendar.id,
        {
          hours: [1, 2, 3, 4, 5].map((day) => ({ day, start: '08:00', end: '17:00' })),
          holidays: ['2026-06-15'],
        },
        { actor: admin, version: 1 },
      );
      expect(earlier.version).toBe(2);
      expect((await live(other.id)).resolution).toMatchObject({
        elapsedMs: HOUR,
        dueAt: new Date('2026-06-16T09:00:00Z'),
      });
      await expect(
        og.slas.updateCalendar(calendar.id, { name: 'late' }, { actor: admin, version: 1 }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      clock.set('2026-06-16T09:00:00Z');
      const swept = await og.slas.sweep();
      // Its response timer (15 min, due Friday 16:15) was never swept before: it breaches now too.
      const late = swept.breached.filter((t) => t.incidentId === other.id);
      expect(late.map((t) => t.kind).sort()).toEqual(['resolution', 'response']);
      expect(late.find((t) => t.kind === 'resolution')!.elapsedMs).toBe(240 * MIN);
    } finally {
      await og.slas.updateSla(p1!.id, { calendarId: null }, { actor: admin });
    }
  });

  it('refuses bad calendars naming the field', async () => {
    const bad = async (input: Parameters<typeof og.slas.defineCalendar>[0]) => {
      const error = (await og.slas
        .defineCalendar(input, { actor: admin })
        .catch((e: unknown) => e)) as ValidationError;
      expect(error.name).toBe('ValidationError');
      return error.issues.map((i) => i.path);
    };
    const hours = [{ day: 1, start: '09:00', end: '17:00' }];
    expect(await bad({ name: 'x', timeZone: 'Mars/Olympus', hours })).toEqual(['timeZone']);
    expect(await bad({ name: 'x', timeZone: 'UTC', hours: [] })).toEqual(['hours']);
    expect(
      await bad({
        name: 'x',
        timeZone: 'UTC',
        hours: [
          { day: 1, start: '09:00', end: '17:00' },
          { day: 1, start: '16:00', end: '18:00' },
          { day: 8, start: '10:00', end: '09:00' },
          { day: 2, start: '9:00', end: '25:00' },
        ],
        holidays: ['2026-02-30'],
      }),
    ).toEqual([
      'hours.2.day',
      'hours.2.end',
      'hours.3.start',
      'hours.3.end',
      'hours.3.end',
      'hours.1',
      'holidays.0',
    ]);
    await expect(
      og.slas.defineSla(
        {
          name: 'x',
          priority: 2,
          responseMinutes: 5,
          resolutionMinutes: 10,
          active: false,
          calendarId: crypto.randomUUID(),
        },
        { actor: admin },
      ),
    ).rejects.toMatchObject({ field: 'calendarId' });
    const reader: Actor = { kind: 'user', id: 'r', name: 'Reader', permissions: ['incident:read'] };
    await expect(
      og.slas.defineCalendar({ name: 'y', timeZone: 'UTC', hours }, { actor: reader }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    expect((await og.slas.calendars({ actor: reader })).map((c) => c.name)).toContain('Paris office');
  });
});
