import { describe, expect, it } from 'vitest';
import { cronError, nextSlot, slotAtOrBefore, slotsBetween } from './schedule.js';

const iso = (dates: readonly Date[]) => dates.map((d) => d.toISOString());

describe('cron schedules', () => {
  it('names what is wrong with a bad expression and refuses one that never occurs', () => {
    expect(cronError('30 2 * * *')).toBeNull();
    expect(cronError('61 * * * *')).toMatch(/must be a five-field cron expression.*minute/);
    expect(cronError('0 0 * * * *')).toMatch(/must be a five-field cron expression/);
    expect(cronError('0 0 30 2 *')).toBe('never occurs');
  });

  it('finds the slot at or before a moment, and the next one, in the time zone', () => {
    const at = new Date('2026-01-02T02:00:00.000Z');
    expect(slotAtOrBefore('0 2 * * *', 'UTC', at)?.toISOString()).toBe('2026-01-02T02:00:00.000Z');
    expect(slotAtOrBefore('0 2 * * *', 'UTC', new Date(at.getTime() - 1))?.toISOString()).toBe(
      '2026-01-01T02:00:00.000Z',
    );
    // 02:00 in New York (UTC-5 in January) is 07:00Z.
    expect(nextSlot('0 2 * * *', 'America/New_York', at)?.toISOString()).toBe('2026-01-02T07:00:00.000Z');
  });

  it('neither skips nor doubles a nightly slot across daylight-saving changes', () => {
    // Paris springs forward on 2026-03-29 (02:00 -> 03:00): 02:30 does not exist, it runs at 03:00 local.
    expect(
      iso(
        slotsBetween(
          '30 2 * * *',
          'Europe/Paris',
          new Date('2026-03-27T12:00:00Z'),
          new Date('2026-03-30T12:00:00Z'),
          50,
        ),
      ),
    ).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    // Paris falls back on 2026-10-25 (03:00 -> 02:00): 02:30 happens twice, the job runs once.
    expect(
      iso(
        slotsBetween(
          '30 2 * * *',
          'Europe/Paris',
          new Date('2026-10-24T12:00:00Z'),
          new Date('2026-10-26T12:00:00Z'),
          50,
        ),
      ),
    ).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // An hourly job has 25 slots on the fall-back day: every real hour once.
    const day = slotsBetween(
      '0 * * * *',
      'Europe/Paris',
      new Date('2026-10-24T22:00:00Z'),
      new Date('2026-10-25T22:59:00Z'),
      50,
    );
    expect(day).toHaveLength(25);
    expect(new Set(iso(day)).size).toBe(25);
  });

  it('keeps only the latest slots when asked for fewer than there are', () => {
    expect(
      iso(
        slotsBetween(
          '0 * * * *',
          'UTC',
          new Date('2026-01-01T00:00:00Z'),
          new Date('2026-01-02T00:00:00Z'),
          3,
        ),
      ),
    ).toEqual(['2026-01-01T22:00:00.000Z', '2026-01-01T23:00:00.000Z', '2026-01-02T00:00:00.000Z']);
  });
});
