// What `cuipc bisect` costs: one bisect() per distractor count, through the library as the CLI
// runs it, with GOOD = this process's environment and BAD = GOOD plus n distractor variables
// and the culprits. It records the bisect's wall against the sum of its probes' own durations
// (the difference is bisect's own overhead) and the probes it ran against ddmin's bounds for
// its input, so the performance issue's two questions are answered from one run.
import type { Backend } from '../binding.js';
import { tmsStandinPath, vmmInterposerPath } from '../dist/binding/native.js';
import { worstCaseTests } from '../dist/bisect/ddmin.js';
import { bisect, type BisectResult, type Change } from '../dist/bisect/index.js';
import { captureEnvironment, type EnvSnapshot } from '../dist/env/capture.js';
import { probe } from '../dist/probe/index.js';

/**
 * Which pair of culprits BAD carries. 'seed': torch_memory_saver's preload hook (the project's
 * stand-in) with SGLANG_MEMORY_SAVER_CUDA_GRAPH=true, the seed; both are hazard-table
 * suspects, so bisect tries them first and ddmin searches only them, whatever n is.
 * 'interposer': cuipc's VMM interposer with CUIPC_INTERPOSER_REGION=all; the hazard table names
 * only the preload entry, which alone passes, so ddmin searches every change and its cost
 * against n shows.
 */
export type BisectScenario = 'seed' | 'interposer';

export const BISECT_SCENARIOS: readonly BisectScenario[] = ['seed', 'interposer'];
export const DEFAULT_DISTRACTORS: readonly number[] = [4, 16, 64];

/** Variables the culprits use: taken out of this process's environment so GOOD passes. */
const CULPRIT_VARIABLES = ['LD_PRELOAD', 'SGLANG_MEMORY_SAVER_CUDA_GRAPH', 'CUIPC_INTERPOSER_REGION'] as const;

/** The variables BAD adds for a scenario, and the change ids bisect should answer with. */
export function culpritsOf(scenario: BisectScenario): { env: Record<string, string>; ids: string[] } {
  if (scenario === 'seed') {
    const hook = tmsStandinPath();
    return { env: { LD_PRELOAD: hook, SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' }, ids: [`LD_PRELOAD+${hook}`, 'SGLANG_MEMORY_SAVER_CUDA_GRAPH'] };
  }
  const interposer = vmmInterposerPath();
  return { env: { LD_PRELOAD: interposer, CUIPC_INTERPOSER_REGION: 'all' }, ids: [`LD_PRELOAD+${interposer}`, 'CUIPC_INTERPOSER_REGION'] };
}

/** n variables no hazard names and no rank reads; a name bisect does not hold fixed. */
export function distractorsOf(n: number): Record<string, string> {
  const width = String(Math.max(n - 1, 0)).length;
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`BISECT_BENCH_VAR_${String(i).padStart(width, '0')}`, `value-${i}`]));
}

/**
 * ddmin's worst case for n changes, Zeller and Hildebrandt, "Simplifying and Isolating
 * Failure-Inducing Input", IEEE TSE 28(2), 2002: at most (n^2 + 3n)/2 tests. A reference, not
 * a target (the library's own exact count for its ddmin, worstCaseTests, is what its progress
 * line announces and is larger).
 */
export function ddminWorstCase(n: number): number {
  return n < 1 ? 0 : (n * n + 3 * n) / 2;
}

/**
 * k culprits by repeated halving: the same paper gives at most 2 log2(n) tests for a single
 * failure-inducing change; k independent ones, each found that way, 2 * k * ceil(log2 n). A
 * reference only: culprits that interact (each alone passes, as both pairs here) are not
 * independent, and ddmin then goes to finer granularity.
 */
export function halvingBound(k: number, n: number): number {
  return n < 2 ? 0 : 2 * k * Math.ceil(Math.log2(n));
}

export interface BisectBounds {
  /** (n^2 + 3n)/2 for ddmin's input n. */
  worstCase: number;
  /** 2 * k * ceil(log2 n), k = the minimal set's size. */
  halving: number;
  /** The library's exact worst case for its ddmin over n (worstCaseTests), the "at most" `cuipc bisect` shows. */
  exact: number;
}

export interface BisectCostRow {
  scenario: BisectScenario;
  distractors: number;
  outcome: BisectResult['outcome'];
  /** Every change bisect considered (distractors + culprits when the environments are as built). */
  changes: number;
  /** What ddmin searched: the hazard table's suspects when they alone failed as BAD does, else every change. */
  ddminInput: number;
  /** The minimal set's labels (no paths), or [] when none was found. */
  minimal: string[];
  /** The minimal set is exactly the two culprits. */
  foundCulprits: boolean;
  /** Probes that ran; a test answered from an identical environment's earlier probe costs none. */
  probes: number;
  /** Of them, ddmin's (role 'search'): what the bounds are for. */
  ddminProbes: number;
  cacheHits: number;
  bounds: BisectBounds;
  /** performance.now() around the bisect() call. */
  wallMs: number;
  /** The result's own totalMs (Date.now(), from after the snapshots are read). */
  totalMs: number;
  /** Sum of the probes' durationMs (each the coordinator's clock, whole ms, launch to report). */
  probesMs: number;
  /** wallMs - probesMs: building each trial, the per-probe setup outside the coordinator, the search. */
  overheadMs: number;
  wallPerProbeMs: number;
}

export interface BisectCostError {
  scenario: BisectScenario;
  distractors: number;
  error: string;
}

export interface BisectCostResult {
  backend: Backend;
  ranks: number;
  inputs: number;
  /** Any probe ran on the simulated device. */
  simulated: boolean;
  rows: Array<BisectCostRow | BisectCostError>;
  /** Wall time of the whole part, the warm-up probe included. */
  tookMs: number;
}

export interface BisectCostOptions {
  backend: Backend;
  /** Distractor counts, one bisect each per scenario (default 4, 16, 64). */
  distractors?: readonly number[];
  scenarios?: readonly BisectScenario[];
  /** Each probe's ranks and inputs (default 2 and 2: bisect's cost is in how many probes, not their size). */
  ranks?: number;
  inputs?: number;
  progress?: (message: string) => void;
}

/** GOOD and BAD for one row: BAD is GOOD plus the distractors and the culprits. */
export function environmentsFor(scenario: BisectScenario, distractors: number, base: NodeJS.ProcessEnv = process.env): { good: EnvSnapshot; bad: EnvSnapshot; culpritIds: string[] } {
  const clean: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value !== undefined && !(CULPRIT_VARIABLES as readonly string[]).includes(key) && !key.startsWith('BISECT_BENCH_VAR_')) clean[key] = value;
  }
  const culprits = culpritsOf(scenario);
  return {
    good: captureEnvironment({ env: clean, label: 'good' }),
    bad: captureEnvironment({ env: { ...clean, ...distractorsOf(distractors), ...culprits.env }, label: `bad (${distractors} distractors)` }),
    culpritIds: culprits.ids,
  };
}

/** The figures of one bisect; pure, so tests check it on made-up results. */
export function rowOf(scenario: BisectScenario, distractors: number, result: BisectResult, culpritIds: readonly string[], wallMs: number): BisectCostRow {
  const minimal: Change[] = result.outcome === 'found' ? result.minimal : [];
  const suspects = result.probes.find((p) => p.role === 'suspects');
  const ddminInput = result.outcome !== 'found' ? 0 : suspects?.verdict === 'fails-same' ? suspects.applied.length : result.changes.length;
  const k = minimal.length;
  const probesMs = result.probes.reduce((sum, p) => sum + p.durationMs, 0);
  const ids = minimal.map((c) => c.id).sort();
  return {
    scenario,
    distractors,
    outcome: result.outcome,
    changes: result.changes.length,
    ddminInput,
    minimal: minimal.map((c) => c.label),
    foundCulprits: ids.length === culpritIds.length && [...culpritIds].sort().every((id, i) => ids[i] === id),
    probes: result.probeCount,
    ddminProbes: result.probes.filter((p) => p.role === 'search').length,
    cacheHits: result.cacheHits,
    bounds: { worstCase: ddminWorstCase(ddminInput), halving: halvingBound(k, ddminInput), exact: worstCaseTests(ddminInput) },
    wallMs,
    totalMs: result.totalMs,
    probesMs,
    overheadMs: wallMs - probesMs,
    wallPerProbeMs: result.probeCount > 0 ? wallMs / result.probeCount : Number.NaN,
  };
}

/** One bisect per scenario and distractor count, one after another. */
export async function measureBisectCost(options: BisectCostOptions): Promise<BisectCostResult> {
  const started = performance.now();
  const distractors = options.distractors ?? DEFAULT_DISTRACTORS;
  const scenarios = options.scenarios ?? BISECT_SCENARIOS;
  const ranks = options.ranks ?? 2;
  const inputs = options.inputs ?? 2;
  const progress = options.progress ?? (() => {});
  // One untimed probe first: the first row would otherwise pay loading the backend in this process.
  const warm = await probe({ backend: options.backend, ranks, inputs });
  let simulated = warm.simulated;
  const rows: BisectCostResult['rows'] = [];
  for (const scenario of scenarios) {
    for (const n of distractors) {
      progress(`bisect: ${scenario} culprits among ${n} distractors, ${ranks} ranks x ${inputs} inputs per probe`);
      try {
        const { good, bad, culpritIds } = environmentsFor(scenario, n);
        const t0 = performance.now();
        const result = await bisect({ good, bad, backend: options.backend, ranks, inputs });
        const wallMs = performance.now() - t0;
        simulated ||= result.simulated;
        rows.push(rowOf(scenario, n, result, culpritIds, wallMs));
      } catch (error) {
        rows.push({ scenario, distractors: n, error: (error as Error).message });
      }
    }
  }
  return { backend: options.backend, ranks, inputs, simulated, rows, tookMs: performance.now() - started };
}
