// How the cost grows, not just what it is at a few points: `cuipc probe` and the raw C++ replay
// (native/bench/raw_probe.cc) side by side in one run, one series against ranks (inputs fixed)
// and one against inputs (ranks fixed). Each point runs raw, then cuipc, so drift on the machine
// falls on both. A series stops growing once a point's cuipc wall passes the point budget, or
// the part's own budget is spent, so `npm run bench` stays bounded on a small machine; the
// points not run are listed with the reason (growth-report.ts renders them).
import type { Backend } from '../binding.js';
import { runRawProbe, type RawProbeRun } from './floor.js';
import { runProbe, type ProbeRun } from './probe-runs.js';

export interface GrowthPoint {
  ranks: number;
  inputs: number;
  raw: RawProbeRun;
  cuipc: ProbeRun;
}

export interface GrowthSkip {
  ranks: number;
  inputs: number;
  why: string;
}

export interface GrowthSeries {
  /** What grows: 'ranks' (inputs fixed at `fixed`) or 'inputs' (ranks fixed at `fixed`). */
  over: 'ranks' | 'inputs';
  fixed: number;
  points: GrowthPoint[];
  skipped: GrowthSkip[];
}

export interface GrowthPlan {
  ranks: number[];
  /** The inputs of the series against ranks. */
  inputsForRanks: number;
  inputs: number[];
  /** The ranks of the series against inputs. */
  ranksForInputs: number;
  /** A point whose cuipc wall passes this ends its series (the next would take longer still). */
  pointBudgetMs: number;
  /** Both series together: no point starts once this much time is spent. */
  totalBudgetMs: number;
}

export interface GrowthResult {
  plan: GrowthPlan;
  series: GrowthSeries[];
  /** Wall time of the whole part. */
  tookMs: number;
}

/** Runs one point: raw first, then cuipc. Injected in tests. */
export type PointRunner = (ranks: number, inputs: number) => Promise<GrowthPoint>;

export function pointRunner(libraryArgs: string[], backend: Backend, devices: (ranks: number) => number[]): PointRunner {
  return async (ranks, inputs) => {
    const raw = await runRawProbe(libraryArgs, ranks, inputs, devices(ranks));
    const cuipc = await runProbe(ranks, inputs, backend);
    return { ranks, inputs, raw, cuipc };
  };
}

/**
 * Both series under the plan's budgets. `now()` is the clock the budgets are spent on
 * (injected in tests, so that the stopping rule is checked without timing anything).
 */
export async function measureGrowth(
  plan: GrowthPlan,
  run: PointRunner,
  progress: (message: string) => void,
  now: () => number = () => performance.now(),
): Promise<GrowthResult> {
  const started = now();
  const series: GrowthSeries[] = [];
  const sizes: Array<{ over: 'ranks' | 'inputs'; fixed: number; points: Array<[number, number]> }> = [
    { over: 'ranks', fixed: plan.inputsForRanks, points: plan.ranks.map((r) => [r, plan.inputsForRanks]) },
    { over: 'inputs', fixed: plan.ranksForInputs, points: plan.inputs.map((i) => [plan.ranksForInputs, i]) },
  ];
  for (const size of sizes) {
    const entry: GrowthSeries = { over: size.over, fixed: size.fixed, points: [], skipped: [] };
    let stop: string | null = null;
    for (const [ranks, inputs] of size.points) {
      if (stop === null && now() - started > plan.totalBudgetMs) stop = `the growth part's budget of ${Math.round(plan.totalBudgetMs / 1000)} s was spent`;
      if (stop !== null) {
        entry.skipped.push({ ranks, inputs, why: stop });
        continue;
      }
      progress(`growth over ${size.over}: ${ranks} ranks x ${inputs} inputs, raw C++ then cuipc`);
      const point = await run(ranks, inputs);
      entry.points.push(point);
      if (point.cuipc.wallMs > plan.pointBudgetMs) {
        stop = `${point.ranks} x ${point.inputs} took ${(point.cuipc.wallMs / 1000).toFixed(1)} s, over the ${Math.round(plan.pointBudgetMs / 1000)} s a point may take here`;
      }
    }
    series.push(entry);
  }
  return { plan, series, tookMs: now() - started };
}
