// Outage arithmetic on whole milliseconds: pure functions, so the rules are testable without a database.
import type { Outage } from './model.js';

/** A cause of downtime: an incident or an alert, over `[start, end)` (end null: still going on). */
export interface Cause {
  readonly kind: 'incident' | 'alert';
  readonly id: string;
  /** The CI it comes from (the incident's CI, the alert's CI); null for an incident on no CI. */
  readonly ciId: string | null;
  readonly start: number;
  readonly end: number | null;
}

/** `[start, end)` in ms. */
export type Interval = readonly [number, number];

/** The union of intervals, sorted; touching ones are joined. */
export function union(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [s, e] of sorted) {
    const last = out.at(-1);
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** `interval` minus the (sorted, disjoint) `holes`. */
export function subtract(interval: Interval, holes: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let from = interval[0];
  for (const [s, e] of holes) {
    if (e <= from) continue;
    if (s >= interval[1]) break;
    if (s > from) out.push([from, s]);
    from = Math.max(from, e);
  }
  if (from < interval[1]) out.push([from, interval[1]]);
  return out;
}

/**
 * The outages within `[from, until)`: each cause clipped to it (one still going on lasts to `until`),
 * minus the planned maintenance covering the service or the cause's own CI (`maintenance` by CI id),
 * then the pieces of all causes merged where they overlap or touch. Each outage names the causes of its
 * pieces, sorted.
 */
export function outagesOf(
  causes: readonly Cause[],
  maintenance: ReadonlyMap<string, readonly Interval[]>,
  serviceId: string,
  from: number,
  until: number,
): Outage[] {
  const pieces: { span: Interval; cause: Cause }[] = [];
  for (const cause of causes) {
    const span: Interval = [Math.max(cause.start, from), Math.min(cause.end ?? until, until)];
    if (span[1] <= span[0]) continue;
    const holes = union([
      ...(maintenance.get(serviceId) ?? []),
      ...(cause.ciId && cause.ciId !== serviceId ? (maintenance.get(cause.ciId) ?? []) : []),
    ]);
    for (const piece of subtract(span, holes)) pieces.push({ span: piece, cause });
  }
  pieces.sort((a, b) => a.span[0] - b.span[0]);
  const merged: { start: number; end: number; causes: Cause[] }[] = [];
  for (const { span, cause } of pieces) {
    const last = merged.at(-1);
    if (last && span[0] <= last.end) {
      last.end = Math.max(last.end, span[1]);
      last.causes.push(cause);
    } else merged.push({ start: span[0], end: span[1], causes: [cause] });
  }
  const ids = (cs: readonly Cause[], kind: Cause['kind']) =>
    [...new Set(cs.filter((c) => c.kind === kind).map((c) => c.id))].sort();
  return merged.map((o) => ({
    start: new Date(o.start),
    end: new Date(o.end),
    durationMs: o.end - o.start,
    ongoing: o.end === until && o.causes.some((c) => c.end === null || c.end > until),
    incidentIds: ids(o.causes, 'incident'),
    alertIds: ids(o.causes, 'alert'),
  }));
}

const PPM = 1_000_000n;

/**
 * Exact budget arithmetic: `objectivePpm` is the objective in parts per million (99.9% -> 999000), so
 * (1 - objective/100) is (1e6 - ppm) / 1e6 with no float error. BigInt products; one rounding at most.
 */
export function budgetOf(objectivePpm: number, periodMs: number, elapsedMs: number, downtimeMs: number) {
  const spare = PPM - BigInt(objectivePpm);
  // Rounded down to whole ms: the budget is never more than the objective allows.
  const allowedMs = Number((BigInt(periodMs) * spare) / PPM);
  const remainingMs = allowedMs - downtimeMs;
  return {
    allowedMs,
    consumedMs: downtimeMs,
    remainingMs,
    remainingPercent: allowedMs === 0 ? 0 : ratio(BigInt(remainingMs) * 100n, BigInt(allowedMs)),
    // (down / elapsed) / (spare / 1e6) = down x 1e6 / (elapsed x spare).
    burnRate: elapsedMs === 0 ? 0 : ratio(BigInt(downtimeMs) * PPM, BigInt(elapsedMs) * spare),
  };
}

/** (elapsed - downtime) x 100 / elapsed; 100 when nothing elapsed. */
export const uptimePercent = (elapsedMs: number, downtimeMs: number): number =>
  elapsedMs === 0 ? 100 : ratio(BigInt(elapsedMs - downtimeMs) * 100n, BigInt(elapsedMs));

/**
 * n / d as the nearest double: exact integers divided once (both fit in 2^53 for any period up to a
 * quarter, so the one division is the only rounding).
 */
function ratio(n: bigint, d: bigint): number {
  return Number(n) / Number(d);
}
