import { describe, expect, it } from 'vitest';
import { budgetOf, type Cause, outagesOf, subtract, union, uptimePercent } from './outages.js';
import { periodHolding, periodOf } from './periods.js';

const cause = (id: string, start: number, end: number | null, ciId: string | null = null): Cause => ({
  kind: id.startsWith('i') ? 'incident' : 'alert',
  id,
  ciId,
  start,
  end,
});

describe('outage arithmetic', () => {
  it('joins overlapping and touching intervals, and subtracts holes', () => {
    expect(
      union([
        [5, 8],
        [0, 2],
        [2, 3],
        [7, 10],
        [12, 12],
      ]),
    ).toEqual([
      [0, 3],
      [5, 10],
    ]);
    expect(
      subtract(
        [0, 10],
        [
          [-5, 1],
          [3, 4],
          [9, 20],
        ],
      ),
    ).toEqual([
      [1, 3],
      [4, 9],
    ]);
    expect(subtract([0, 10], [[0, 10]])).toEqual([]);
  });

  it('cuts maintenance of the service or of the cause’s own CI only, then merges and clips', () => {
    const maintenance = new Map([
      ['svc', [[20, 30]] as const],
      ['db', [[40, 60]] as const],
    ]);
    const outages = outagesOf(
      [
        cause('i1', -10, 25, 'app'), // clipped at 0, cut at 20 by the service's window
        cause('a1', 10, 15, 'app'), // inside i1: merged
        cause('a2', 40, 50, 'db'), // wholly under db's window
        cause('a3', 45, 55, 'app'), // overlaps db's window, but comes from app: counts
        cause('i2', 90, null, 'svc'), // open: lasts to the end
      ],
      maintenance,
      'svc',
      0,
      100,
    );
    expect(
      outages.map((o) => [o.start.getTime(), o.end.getTime(), o.ongoing, o.incidentIds, o.alertIds]),
    ).toEqual([
      [0, 20, false, ['i1'], ['a1']],
      [45, 55, false, [], ['a3']],
      [90, 100, true, ['i2'], []],
    ]);
  });

  it('keeps the budget exact in parts per million', () => {
    // 99.9% of 30 days: 2,592,000 ms allowed; 99.99% of a 31-day month: 267,840 ms.
    expect(budgetOf(999_000, 2_592_000_000, 2_592_000_000, 0).allowedMs).toBe(2_592_000);
    expect(budgetOf(999_900, 2_678_400_000, 1, 0).allowedMs).toBe(267_840);
    // Down half the elapsed time against a 1% budget burns 50 times too fast.
    expect(budgetOf(990_000, 100_000, 10_000, 5_000)).toEqual({
      allowedMs: 1_000,
      consumedMs: 5_000,
      remainingMs: -4_000,
      remainingPercent: -400,
      burnRate: 50,
    });
    expect(uptimePercent(0, 0)).toBe(100);
    expect(uptimePercent(2_592_000_000, 2_592_000)).toBe(99.9);
  });

  it('finds calendar periods in a zone, across daylight saving', () => {
    // 29 March 2026: Paris moves to summer time, a 23-hour day.
    const day = periodHolding('day', 'Europe/Paris', new Date('2026-03-29T12:00:00Z'));
    expect(day.to.getTime() - day.from.getTime()).toBe(23 * 3_600_000);
    const now = new Date('2026-01-15T00:00:00Z');
    expect(periodOf('quarter', 'UTC', 'previous', now)).toEqual({
      from: new Date('2025-10-01T00:00:00Z'),
      to: new Date('2026-01-01T00:00:00Z'),
    });
  });
});
