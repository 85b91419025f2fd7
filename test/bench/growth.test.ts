// The growth part of the bench (bench/growth.ts, bench/growth-report.ts): which points run under
// the budgets, and what the table says, from made-up runs (no process is started, nothing is timed).
import { describe, expect, it } from 'vitest';
import { measureGrowth, type GrowthPlan, type GrowthPoint, type GrowthSeries } from '../../bench/growth.js';
import { growthRow, growthSummary, growthTables } from '../../bench/growth-report.js';
import { cuipc, point, raw } from './made-up-runs.js';

const byRanks: GrowthSeries = {
  over: 'ranks',
  fixed: 72,
  points: [point(1, 72, 100, 400, 300, 10 * 1024, 60 * 1024), point(2, 72, 150, 600, 450, 12 * 1024, 66 * 1024), point(4, 72, 300, 1000, 800, 16 * 1024, 78 * 1024)],
  skipped: [{ ranks: 8, inputs: 72, why: 'the budget was spent' }],
};

describe('growth rows', () => {
  it('takes the largest rank of each side and the answer and exit times of cuipc', () => {
    const row = growthRow(byRanks, byRanks.points[1]);
    expect(row).toMatchObject({ size: 2, rawMs: 150, answerMs: 450, exitMs: 600, rawRssKiB: 12 * 1024, cuipcRssKiB: 66 * 1024, ok: true, outcome: 'both passed' });
  });

  it('a series against inputs is keyed by inputs; a failed side is named and its wall is not compared', () => {
    const series: GrowthSeries = { over: 'inputs', fixed: 4, points: [], skipped: [] };
    const failed: GrowthPoint = { ranks: 4, inputs: 1024, raw: raw(90, 4, 5000, false), cuipc: cuipc(4, 1024, 700, null, 9000, 3) };
    const row = growthRow(series, failed);
    expect(row.size).toBe(1024);
    expect(row.ok).toBe(false);
    expect(Number.isNaN(row.rawMs)).toBe(true);
    expect(Number.isNaN(row.answerMs)).toBe(true);
    expect(row.outcome).toBe('raw: exit 1; cuipc: aborted (rank 1 hung)');
  });
});

describe('growth tables', () => {
  const text = growthTables({ plan: {} as GrowthPlan, series: [byRanks], tookMs: 5000 }, ' (SIMULATED)').join('\n');
  const rows = text.split('\n').filter((l) => /^\| \d/.test(l));

  it('one row per point with cuipc / raw and the growth from the row above, then the points not run', () => {
    expect(rows).toHaveLength(4);
    const cells = (line: string): string[] => line.split('|').slice(1, -1).map((c) => c.trim());
    expect(cells(rows[0])).toEqual(['1', '100 ms', '300 ms', '400 ms', '3.00x', '4.00x', '10.0 MB', '60.0 MB', '+50.0 MB', '-', 'both passed']);
    // 2 ranks: raw 150/100, cuipc exit 600/400, cuipc RSS 66/60
    expect(cells(rows[1]).slice(4, 10)).toEqual(['3.00x', '4.00x', '12.0 MB', '66.0 MB', '+54.0 MB', '1.50x / 1.50x / 1.10x']);
    expect(cells(rows[3])[1]).toBe('not run: the budget was spent');
    expect(text).toContain('#### Against ranks (72 inputs each) (SIMULATED)');
  });

  it('the summary gives the growth over the series and the cost of each added rank', () => {
    const summary = growthSummary(byRanks) ?? '';
    expect(summary).toContain('From 1 to 4 ranks (4.00x)');
    expect(summary).toContain('raw wall 3.00x, cuipc exit 2.50x, cuipc answer 2.67x');
    // (1000 - 400) / 3 ranks = 200 ms; (300 - 100) / 3 = 66.7 ms; (78 - 60) MB / 3 = 6 MB
    expect(summary).toContain('raw 66.7 ms, cuipc exit 200.0 ms');
    expect(summary).toContain('cuipc rank RSS 6.00 MB, raw 2.00 MB');
    expect(growthSummary({ ...byRanks, points: byRanks.points.slice(0, 1) })).toBeNull();
  });
});

describe('growth budgets', () => {
  const plan: GrowthPlan = { ranks: [1, 2, 4, 8], inputsForRanks: 72, inputs: [72, 1024, 4096], ranksForInputs: 2, pointBudgetMs: 1000, totalBudgetMs: 10_000 };

  it('a point over the point budget ends its series; the other series still runs', async () => {
    let clock = 0;
    const walls: Record<string, number> = { '4x72': 1500 };
    const result = await measureGrowth(
      plan,
      async (ranks, inputs) => {
        const wall = walls[`${ranks}x${inputs}`] ?? 100;
        clock += wall;
        return point(ranks, inputs, 50, wall, wall, 1, 1);
      },
      () => {},
      () => clock,
    );
    const [ranks, inputs] = result.series;
    expect(ranks.points.map((p) => p.ranks)).toEqual([1, 2, 4]);
    expect(ranks.skipped).toEqual([{ ranks: 8, inputs: 72, why: expect.stringContaining('4 x 72 took 1.5 s') }]);
    expect(inputs.points.map((p) => p.inputs)).toEqual([72, 1024, 4096]);
    expect(result.tookMs).toBe(clock);
  });

  it('once the total budget is spent no point starts', async () => {
    let clock = 0;
    const result = await measureGrowth(
      { ...plan, pointBudgetMs: 1e9, totalBudgetMs: 250 },
      async (ranks, inputs) => {
        clock += 100;
        return point(ranks, inputs, 50, 100, 100, 1, 1);
      },
      () => {},
      () => clock,
    );
    expect(result.series[0].points.map((p) => p.ranks)).toEqual([1, 2, 4]);
    expect(result.series[0].skipped.map((s) => s.ranks)).toEqual([8]);
    expect(result.series[1].points).toEqual([]);
    expect(result.series[1].skipped.map((s) => s.inputs)).toEqual([72, 1024, 4096]);
    expect(result.series[1].skipped[0].why).toMatch(/budget of 0 s was spent/);
  });
});

describe('growth summary over failed points', () => {
  it('leaves out a point where a side failed', () => {
    const failed: GrowthPoint = { ranks: 8, inputs: 72, raw: raw(90, 8, 5000, false), cuipc: cuipc(8, 72, 700, null, 9000, 3) };
    const summary = growthSummary({ ...byRanks, points: [...byRanks.points, failed] }) ?? '';
    expect(summary).toContain('From 1 to 4 ranks');
  });
});
