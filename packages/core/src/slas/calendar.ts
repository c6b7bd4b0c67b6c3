import { DateTime } from 'luxon';

/** Working hours on one ISO weekday (1 Monday … 7 Sunday), as wall-clock `HH:MM` in the calendar's zone. */
export interface WorkingHours {
  readonly day: number;
  readonly start: string;
  /** Exclusive; `24:00` for the end of the day. */
  readonly end: string;
}

/** When SLA time counts: working hours in a time zone, minus holidays. */
export interface BusinessHours {
  /** IANA zone, e.g. `Europe/Paris`: hours and holidays are wall-clock there, daylight saving included. */
  readonly timeZone: string;
  readonly hours: readonly WorkingHours[];
  /** Local dates (`YYYY-MM-DD`) on which no time counts. */
  readonly holidays: readonly string[];
}

// How far ahead a due moment is looked for. A target the calendar's hours cannot reach by then (a long
// target on very sparse hours) is due at the end of that horizon: out of reach in practice, and never a
// failed incident write over a calendar setting.
const MAX_DAYS = 3 * 366;

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * The working stretches of the local day `day` (a luxon DateTime at its start in the zone), as UTC
 * epoch ms. Hours are set on the wall clock, so a stretch across a daylight-saving change is as long as
 * the clock says it is (08:00–12:00 on a spring-forward night at 02:00 still starts at 08:00).
 */
function stretchesOf(
  day: DateTime,
  calendar: BusinessHours,
  holidays: ReadonlySet<string>,
): [number, number][] {
  if (holidays.has(day.toISODate()!)) return [];
  return calendar.hours
    .filter((h) => h.day === day.weekday)
    .map((h): [number, number] => {
      const at = (minutes: number) =>
        minutes >= 24 * 60
          ? day.plus({ days: 1 }).startOf('day').toMillis()
          : day.set({ hour: Math.floor(minutes / 60), minute: minutes % 60 }).toMillis();
      return [at(minutesOf(h.start)), at(minutesOf(h.end))];
    })
    .sort((a, b) => a[0] - b[0]);
}

/**
 * Walks the calendar's local days from the one holding `from`, stopping when `visit` returns true;
 * false when it walked `days` days without stopping.
 */
function walk(
  from: number,
  calendar: BusinessHours,
  days: number,
  visit: (stretches: [number, number][], dayEnd: number) => boolean,
): boolean {
  const holidays = new Set(calendar.holidays);
  let day = DateTime.fromMillis(from, { zone: calendar.timeZone }).startOf('day');
  for (let i = 0; i < days; i++) {
    const next = day.plus({ days: 1 }).startOf('day');
    if (visit(stretchesOf(day, calendar, holidays), next.toMillis())) return true;
    day = next;
  }
  return false;
}

/** The moment `ms` of business time after `start` (24×7 without a calendar). */
export function addBusinessTime(start: Date, ms: number, calendar: BusinessHours | null): Date {
  if (!calendar || ms <= 0) return new Date(start.getTime() + Math.max(0, ms));
  let remaining = ms;
  let cursor = start.getTime();
  let due = cursor;
  const found = walk(cursor, calendar, MAX_DAYS, (stretches, dayEnd) => {
    for (const [s, e] of stretches) {
      const from = Math.max(s, cursor);
      if (from >= e) continue;
      // Lands exactly on a stretch's end when the time runs out there (not on the next morning).
      if (remaining <= e - from) {
        due = from + remaining;
        return true;
      }
      remaining -= e - from;
    }
    cursor = Math.max(cursor, dayEnd);
    return false;
  });
  return new Date(found ? due : cursor);
}

/** Business time between two moments, in ms (0 when `to` is not after `from`). */
export function businessTimeBetween(from: Date, to: Date, calendar: BusinessHours | null): number {
  const [a, b] = [from.getTime(), to.getTime()];
  if (b <= a) return 0;
  if (!calendar) return b - a;
  let total = 0;
  // Every local day the span touches (a day is 23 to 25 hours long): one more covers the slack.
  walk(a, calendar, Math.ceil((b - a) / 86_400_000) + 2, (stretches, dayEnd) => {
    for (const [s, e] of stretches) total += Math.max(0, Math.min(e, b) - Math.max(s, a));
    return dayEnd >= b;
  });
  return total;
}

/** Whether `timeZone` is an IANA zone this runtime knows. */
export const isTimeZone = (timeZone: string): boolean => DateTime.now().setZone(timeZone).isValid;
