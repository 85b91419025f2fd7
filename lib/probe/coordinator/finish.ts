// The end of a probe: the ranks leave on their own after 'exit', or are killed; what
// startup.ts set up is taken down, the shared-memory files the ranks left are removed, and
// what the coordinator collected becomes the report.
import { removeSharedMemoryLeftovers } from '../../launch/shm.js';
import { buildProbeReport, type ProbeRun } from '../../report/build.js';
import type { ProbeAbort, ProbeReport, RankReport } from '../../report/types.js';
import { reportOptionsOf } from '../options.js';
import { interruptAt } from './abort.js';
import { ROUNDS } from './rounds.js';
import type { StartedRanks } from './startup.js';
import type { CoordinatorState } from './state.js';

/** `devices`: each rank's device; `noBackend`: set when a rank could not load the backend (rounds.ts). */
export async function finish(run: CoordinatorState, started: StartedRanks, devices: number[], noBackend: ProbeAbort | null): Promise<ProbeReport> {
  const { options, states } = run;
  run.exiting = true;
  if (run.abort === null) {
    for (const state of states) state.connection?.send({ type: 'exit' });
    const exited = await run.waitFor(() => states.every((s) => s.process.exit !== null), Date.now() + options.timeoutMs);
    if (!exited && run.interruptedBy() === null) {
      for (const state of states.filter((s) => s.process.exit === null)) {
        state.steps.teardown.notes.push('did not exit after teardown; killed');
      }
    }
  }
  if (noBackend !== null && run.abort === null) run.abort = noBackend;
  // Interrupted while the ranks were leaving: every round ran, so no step is marked.
  if (run.abort === null && run.interruptedBy() !== null) interruptAt(run, 'teardown', ROUNDS.length - 1);
  await started.launched.stop();
  process.off('exit', started.killOnExit);
  run.plan.interrupt?.removeEventListener('abort', run.onInterrupt);
  await started.rendezvous.close();
  const cleanedUp = removeSharedMemoryLeftovers(started.shmBefore, started.shmPrefix);

  const ranks: RankReport[] = states.map((state) => ({
    rank: state.rank,
    pid: state.pid,
    requestedDevice: devices[state.rank],
    device: state.init?.device ?? null,
    placement: state.placement,
    loader: state.init?.loader ?? null,
    hazards: state.init?.hazards ?? [],
    memorySaver: state.init?.memorySaver ?? null,
    steps: state.steps,
    ...(state.verify ? { verify: state.verify } : {}),
    exit: state.process.exit,
    stderrTail: state.process.stderrTail(),
  }));
  const report: ProbeRun = {
    options: reportOptionsOf(options, devices),
    startedAt: run.startedAt,
    durationMs: Date.now() - run.started,
    coordinatorSimulated: run.plan.coordinatorSimulated,
    ranks,
    failures: run.failures,
    abort: run.abort,
    rejected: run.rejected,
    rejectedDropped: run.rejectedDropped,
    cleanedUp,
  };
  return buildProbeReport(report);
}
