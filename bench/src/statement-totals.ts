// What the profile scripts share: each kind of statement's count and time (as the client sees it).
import type { OpsGraph } from '@opsgraph/core';

export type StatementTotals = Map<string, { n: number; ms: number }>;

/** Sums every statement `og` runs from now on under `kindOf(sql)`. */
export function statementTotals(
  og: Pick<OpsGraph, 'queries'>,
  kindOf: (sql: string) => string,
): StatementTotals {
  const totals: StatementTotals = new Map();
  og.queries.on((q) => {
    const kind = kindOf(q.sql);
    const t = totals.get(kind) ?? { n: 0, ms: 0 };
    t.n++;
    t.ms += q.durationMs;
    totals.set(kind, t);
  });
  return totals;
}
