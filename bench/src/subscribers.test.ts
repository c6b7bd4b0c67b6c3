// Smoke test of the subscribers scenario on 20 subscribers: both targets start, every subscriber gets
// every message exactly once, and the report has its figures. Nothing is asserted about speed.
import { describe, expect, it } from 'vitest';
import { formatReport, runBenchmarks } from './run.js';
import type { SideResult } from './scenarios/subscribers.js';

describe('subscribers benchmark', () => {
  it('fans alert changes out to WebSocket subscribers on both sides (--quick)', async () => {
    const report = await runBenchmarks({
      duration: 0.1,
      warmup: 0,
      rounds: 1,
      connections: 1,
      filter: ['subscribers'],
      quick: true,
      log: () => {},
    });
    const [scenario] = report.scenarios;
    expect(scenario?.error).toBeUndefined();
    const { baseline, subject } = scenario!.measurement!.data as {
      baseline: SideResult;
      subject: SideResult;
    };
    for (const side of [baseline, subject]) {
      expect(side.subscribers).toBe(20);
      expect(side.samples).toBe(20 * 5); // every paced event reached every subscriber, once
      expect(side.p99).toBeGreaterThanOrEqual(side.p50);
      expect(Number.isFinite(side.burstPerSecond)).toBe(true);
    }
    expect(formatReport(report)).toContain('goal p99 < 200 ms');
  }, 180_000);
});
