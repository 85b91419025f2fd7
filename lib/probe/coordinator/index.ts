// The coordinator: spawns the ranks, meets them at the rendezvous, and drives the steps in
// lock step (every rank finishes a round before any starts the next). It relays the
// all-gathers, watches for ranks that die or hang, and collects everything for the report.
// The parts, in the order a probe goes through them, are in coordinator/: startup.ts,
// messages.ts (what arrives meanwhile), rounds.ts, abort.ts, finish.ts, over the run's state
// (state.ts).
import type { ProbeReport } from '../../report/types.js';
import { crossNodeProblem } from '../../launch/nodes.js';
import { finish } from './finish.js';
import { runRounds } from './rounds.js';
import { awaitHellos, startRanks } from './startup.js';
import { CoordinatorState, type CoordinatorPlan } from './state.js';

export type { CoordinatorPlan } from './state.js';

export async function coordinate(plan: CoordinatorPlan): Promise<ProbeReport> {
  const run = new CoordinatorState(plan);
  const started = await startRanks(run);
  await awaitHellos(run, started);
  // Ranks on several nodes cannot share memory by legacy CUDA IPC: that is the verdict, not a PASS.
  const crossNode = run.abort === null ? crossNodeProblem(run.states.map((s) => s.placement)) : null;
  if (crossNode !== null) run.abort = { reason: 'cross-node', message: crossNode };
  // Known only now for ranks in Ray actors: which GPU Ray gave them (see RankLauncher.deviceFor).
  const devices = run.states.map((s) => plan.launcher.deviceFor(s.rank, s.placement));
  const noBackend = await runRounds(run, devices);
  return finish(run, started, devices, noBackend);
}
