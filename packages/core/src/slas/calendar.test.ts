import { describe, expect, it } from 'vitest';
import { addBusinessTime, type BusinessHours, businessTimeBetween, isTimeZone } from './calendar.js';

const HOUR = 3_600_000;
const weekdays = (start: string, end: string) => [1, 2, 3, 4, 5].map((day) => ({ day, start, end }));
// Paris office hours with a lunch break, closed on 1 May.
const paris: BusinessHours = {
  timeZone: 'Europe/Paris',
  hours: [...weekdays('09:00', '12:00'), ...weekdays('13:00', '17:00')],
  holidays: ['2026-05-01'],
};

describe('business time', () => {
  it('is plain time without a calendar', () => {
    const start = new Date('2026-03-06T15:00:00Z');
    expect(addBusinessTime(start, 4 * HOUR, null)).toEqual(new Date('2026-03-06T19:00:00Z'));
    expect(businessTimeBetween(start, new Date('2026-03-07T15:00:00Z'), null)).toBe(24 * HOUR);
  });

  it('counts only working hours, skipping lunch, nights and weekends', () => {
    // Friday 16:00 in Paris (UTC+1 in March): 1 h left on Friday, 3 h on Monday morning.
    const friday = new Date('2026-03-06T15:00:00Z');
    expect(addBusinessTime(friday, 4 * HOUR, paris)).toEqual(new Date('2026-03-09T11:00:00Z')); // Mon 12:00
    expect(addBusinessTime(friday, 5 * HOUR, paris)).toEqual(new Date('2026-03-09T13:00:00Z')); // Mon 14:00
    expect(businessTimeBetween(friday, new Date('2026-03-09T13:00:00Z'), paris)).toBe(5 * HOUR);
    // Started on a Saturday: nothing counts until Monday 09:00.
    const saturday = new Date('2026-03-07T10:00:00Z');
    expect(addBusinessTime(saturday, 30 * 60_000, paris)).toEqual(new Date('2026-03-09T08:30:00Z'));
    expect(businessTimeBetween(saturday, new Date('2026-03-09T08:00:00Z'), paris)).toBe(0);
  });

  it('ends exactly at a stretch end when the time runs out there', () => {
    const monday9 = new Date('2026-03-09T08:00:00Z');
    expect(addBusinessTime(monday9, 3 * HOUR, paris)).toEqual(new Date('2026-03-09T11:00:00Z')); // 12:00
    expect(addBusinessTime(monday9, 7 * HOUR, paris)).toEqual(new Date('2026-03-09T16:00:00Z')); // 17:00
  });

  it('follows daylight saving: the wall clock, not UTC, sets the hours', () => {
    // Paris moves to UTC+2 on Sunday 29 March 2026: Friday 16:00 is 15:00Z, Monday 12:00 is 10:00Z.
    const friday = new Date('2026-03-27T15:00:00Z');
    expect(addBusinessTime(friday, 4 * HOUR, paris)).toEqual(new Date('2026-03-30T10:00:00Z'));
    expect(businessTimeBetween(friday, new Date('2026-03-30T10:00:00Z'), paris)).toBe(4 * HOUR);
  });

  it('skips holidays', () => {
    // Thursday 30 April 16:00 (UTC+2): 1 h, then Friday 1 May is a holiday, then Monday 4 May.
    const thursday = new Date('2026-04-30T14:00:00Z');
    expect(addBusinessTime(thursday, 2 * HOUR, paris)).toEqual(new Date('2026-05-04T08:00:00Z')); // Mon 10:00
  });

  it('runs round the clock with 00:00–24:00 hours; a target out of a calendar’s reach is due years on', () => {
    const allWeek: BusinessHours = {
      timeZone: 'UTC',
      hours: [1, 2, 3, 4, 5, 6, 7].map((day) => ({ day, start: '00:00', end: '24:00' })),
      holidays: [],
    };
    const start = new Date('2026-03-06T15:00:00Z');
    expect(addBusinessTime(start, 50 * HOUR, allWeek)).toEqual(new Date(start.getTime() + 50 * HOUR));
    const never = addBusinessTime(start, HOUR, { timeZone: 'UTC', hours: [], holidays: [] });
    expect(never.getTime() - start.getTime()).toBeGreaterThan(3 * 365 * 24 * HOUR);
  });

  it('knows IANA zones', () => {
    expect(isTimeZone('Europe/Paris')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});
