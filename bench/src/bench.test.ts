// Smoke test of the benchmark runner: it starts the targets, checks their answers and measures both sides.
// Runs are far too short to mean anything; only the shape of the result is asserted, never a timing.
import { describe, expect, it } from 'vitest';
import { formatReport, runBenchmarks } from './run.js';

describe('benchmark runner', () => {
  it('measures the hello scenario and reports a ratio', async () => {
    const report = await runBenchmarks({
      duration: 0.3,
      warmup: 0,
      rounds: 1,
      connections: 2,
      filter: ['hello'],
      log: () => {},
    });
    expect(report.scenarios.map((s) => s.name)).toEqual(['hello']);
    const [hello] = report.scenarios;
    expect(hello?.error).toBeUndefined();
    expect(hello?.baseline?.runs).toHaveLength(1);
    expect(hello?.subject?.runs).toHaveLength(1);
    const ratio = hello?.ratio?.median ?? Number.NaN;
    expect(Number.isFinite(ratio)).toBe(true);
    expect(ratio).toBeGreaterThan(0);
    expect(formatReport(report)).toContain('ratio subject/baseline');
  }, 120_000);

  it('measures the reconcile scenarios on small data (--quick) on both backends', async () => {
    const report = await runBenchmarks({
      duration: 0.1,
      warmup: 0,
      rounds: 1,
      connections: 1,
      quick: true,
      filter: ['reconcile-pglite', 'reconcile-postgres'],
      log: () => {},
    });
    expect(report.scenarios.map((s) => [s.name, s.error])).toEqual([
      ['reconcile-pglite', undefined],
      ['reconcile-postgres', undefined],
    ]);
    for (const s of report.scenarios) {
      expect(s.batch?.subject.seconds).toHaveLength(1);
      expect(Number.isFinite(s.ratio?.median) && s.ratio!.median > 0).toBe(true);
    }
    expect(formatReport(report)).toContain('ratio subject/baseline rows/s');
  }, 240_000);

  it('measures the events scenarios on small data (--quick) on both backends', async () => {
    const report = await runBenchmarks({
      duration: 0.1,
      warmup: 0,
      rounds: 1,
      connections: 1,
      quick: true,
      filter: ['events-pglite', 'events-postgres'],
      log: () => {},
    });
    expect(report.scenarios.map((s) => [s.name, s.error])).toEqual([
      ['events-pglite', undefined],
      ['events-postgres', undefined],
    ]);
    for (const s of report.scenarios) {
      expect(s.batch?.subject.seconds).toHaveLength(1);
      expect(s.batch?.goal).toBe(0.5);
      expect(Number.isFinite(s.ratio?.median) && s.ratio!.median > 0).toBe(true);
    }
    const text = formatReport(report);
    expect(text).toContain('ratio subject/baseline events/s');
    expect(text).toMatch(/goal ≥ 0\.5: (met|not met)/);
  }, 240_000);

  it('measures the incidents list view against bare Yoga and says whether the goal is met', async () => {
    const report = await runBenchmarks({
      // Long enough for a few 50-incident pages even on a crowded machine (a run with none fails).
      duration: 2,
      warmup: 0,
      rounds: 1,
      connections: 2,
      filter: ['incidents'],
      log: () => {},
    });
    const [incidents] = report.scenarios;
    expect(incidents?.error).toBeUndefined();
    expect(incidents?.goal).toBe(0.6);
    expect(Number.isFinite(incidents?.ratio?.median) && incidents!.ratio!.median > 0).toBe(true);
    expect(formatReport(report)).toMatch(/ratio subject\/baseline req\/s: .*goal ≥ 0\.6: (met|not met)/);
  }, 180_000);

  it('refuses an unknown scenario name', async () => {
    await expect(
      runBenchmarks({ duration: 0.1, warmup: 0, rounds: 1, connections: 1, filter: ['nope'], log: () => {} }),
    ).rejects.toThrow(/unknown scenario nope/);
  });
});
