// Cron schedules through croner (time-zone aware; DST as Vixie cron: a fixed-time job in a spring-forward
// gap runs right after it, and once when a fall-back hour repeats), so no slot is skipped or doubled.
import { Cron } from 'croner';

const cron = (pattern: string, timeZone = 'UTC') =>
  // `paused` and no callback: evaluation only, no timer is ever started.
  new Cron(pattern, { mode: '5-part', timezone: timeZone, paused: true });

/** Why `pattern` is not a usable five-field schedule; null when it is. */
export function cronError(pattern: string): string | null {
  try {
    if (!cron(pattern).nextRun(new Date(0))) return 'never occurs';
    return null;
  } catch (error) {
    const reason = (error as Error).message.replace(/^CronPattern: /, '');
    return `must be a five-field cron expression such as "30 2 * * *" (${reason})`;
  }
}

/** The first slot strictly after `after`; null when there is none. */
export function nextSlot(pattern: string, timeZone: string, after: Date): Date | null {
  return cron(pattern, timeZone).nextRun(after);
}

/** The latest slot at or before `at`; null when there is none. */
export function slotAtOrBefore(pattern: string, timeZone: string, at: Date): Date | null {
  // croner counts a run earlier in the reference's second as before it; slots are whole minutes.
  return cron(pattern, timeZone).previousRuns(1, new Date(at.getTime() + 1))[0] ?? null;
}

/** Up to `max` slots in `[from, to]`, the latest ones, oldest first. */
export function slotsBetween(pattern: string, timeZone: string, from: Date, to: Date, max: number): Date[] {
  if (to < from) return [];
  return cron(pattern, timeZone)
    .previousRuns(max, new Date(to.getTime() + 1))
    .filter((slot) => slot >= from)
    .reverse();
}
