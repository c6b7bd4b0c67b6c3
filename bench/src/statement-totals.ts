// What the profile scripts share: each kind of statement's count and time (as the client sees it), and
// statements with their parameters written in, to replay with EXPLAIN.
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

/** `text` with its `$n` parameters written in as literals, to replay it with EXPLAIN. */
export function inlineParameters(text: string, parameters: readonly unknown[]): string {
  return text.replace(/\$(\d+)/g, (_, n) => {
    const v = parameters[Number(n) - 1];
    if (v === null || v === undefined) return 'null';
    const s = v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : JSON.stringify(v);
    return `'${s.replaceAll("'", "''")}'`;
  });
}
