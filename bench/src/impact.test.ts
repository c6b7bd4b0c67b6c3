// Smoke test of the impact scenario on its small graph: it loads, picks failures, checks impactOf against
// the bare query and reports figures on each backend. Nothing is asserted about speed.
import { describe, expect, it } from 'vitest';
import { formatReport, runBenchmarks } from './run.js';
import type { BackendResult } from './scenarios/impact.js';

describe('impact benchmark', () => {
  it('measures impactOf against one bare recursive query, on a small graph', async () => {
    const report = await runBenchmarks({
      duration: 0.1,
      warmup: 0,
      rounds: 1,
      connections: 1,
      filter: ['impact'],
      quick: true,
      log: () => {},
    });
    const [impact] = report.scenarios;
    expect(impact?.error).toBeUndefined();
    const results = impact?.measurement?.data as BackendResult[];
    expect(results.length).toBeGreaterThan(0);
    for (const result of results) {
      expect(result).toMatchObject({ cis: 2_000, relationships: 6_000 });
      expect(result.affected.min).toBeGreaterThan(1);
      expect(result.subject.samples).toBe(result.baseline.samples);
      expect(Number.isFinite(result.ratio.p50)).toBe(true);
    }
    expect(formatReport(report)).toContain('impactOf p50/p95 ms');
  }, 180_000);
});
