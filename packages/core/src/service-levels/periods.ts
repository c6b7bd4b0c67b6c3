import { DateTime } from 'luxon';
import { ValidationError } from '../kernel/errors.js';
import type { SloPeriod } from './model.js';

/** A half-open span of instants `[from, to)`. */
export interface Span {
  readonly from: Date;
  readonly to: Date;
}

/**
 * The calendar period of kind `period` in `timeZone` that holds `at` (luxon's `startOf`, so days follow
 * daylight saving: a local day may last 23 or 25 hours; weeks start on Monday).
 */
export function periodHolding(period: SloPeriod, timeZone: string, at: Date): Span {
  const local = DateTime.fromJSDate(at, { zone: timeZone });
  const start = local.startOf(period);
  // The last millisecond of the period, plus one: the next period's first instant.
  return { from: start.toJSDate(), to: start.endOf(period).plus({ milliseconds: 1 }).toJSDate() };
}

/** `current`, `previous`, or the period holding a local date `YYYY-MM-DD`, as of `now`. */
export function periodOf(period: SloPeriod, timeZone: string, choice: string, now: Date): Span {
  if (choice === 'current') return periodHolding(period, timeZone, now);
  if (choice === 'previous') {
    const current = periodHolding(period, timeZone, now);
    return periodHolding(period, timeZone, new Date(current.from.getTime() - 1));
  }
  const day = DateTime.fromISO(choice, { zone: timeZone });
  if (!day.isValid)
    throw ValidationError.field('window.period', 'must be current, previous or a date YYYY-MM-DD');
  return periodHolding(period, timeZone, day.toJSDate());
}
