// The end of a probe: the answer first, then the ranks' leaving. As soon as the rounds are over
// (or the probe aborted) the verdict is known, and the report so far goes to onAnswer, so the
// caller can show it while the ranks tear down their contexts (a GPU takes 100-150 ms per
// process for that). Then the ranks leave on their own after 'exit', or are killed; what
// startup.ts set up is taken down, the shared-memory files the ranks left are removed, and what
// the coordinator collected becomes the final report.
import { removeSharedMemoryLeftovers } from '../../launch/shm.js';
import { buildProbeReport } from '../../report/build.js';
import type { ProbeAbort, ProbeReport, RankReport } from '../../report/types.js';
import { reportOptionsOf } from '../options.js';
import { interruptAt } from './abort.js';
import { ROUNDS } from './rounds.js';
import type { StartedRanks } from './startup.js';
import type { CoordinatorState } from './state.js';

/** The report of what the coordinator holds now; `abort` and `cleanedUp` as they stand. */
function reportNow(run: CoordinatorState, devices: number[], abort: ProbeAbort | null, cleanedUp: string[]): ProbeReport {
  const ranks: RankReport[] = run.states.map((state) => ({
    rank: state.rank,
    pid: state.pid,
    requestedDevice: devices[state.rank],
    device: state.init?.device ?? null,
    placement: state.placement,
    loader: state.init?.loader ?? null,
    hazards: state.init?.hazards ?? [],
    memorySaver: state.init?.memorySaver ?? null,
    // A copy: the final report may add a teardown note to what the answer already showed.
    steps: Object.fromEntries(Object.entries(state.steps).map(([step, record]) => [step, { ...record, notes: [...record.notes] }])) as RankReport['steps'],
    ...(state.verify ? { verify: state.verify } : {}),
    exit: state.process.exit,
    stderrTail: state.process.stderrTail(),
  }));
  return buildProbeReport({
    options: reportOptionsOf(run.options, devices),
    startedAt: run.startedAt,
    durationMs: Date.now() - run.started,
    coordinatorSimulated: run.plan.coordinatorSimulated,
    ranks,
    failures: run.failures,
    abort,
    rejected: [...run.rejected],
    rejectedDropped: run.rejectedDropped,
    cleanedUp,
  });
}

/** `devices`: each rank's device; `noBackend`: set when a rank could not load the backend (rounds.ts). */
export async function finish(run: CoordinatorState, started: StartedRanks, devices: number[], noBackend: ProbeAbort | null): Promise<ProbeReport> {
  const { options, states } = run;
  run.exiting = true;
  // The verdict is known: no round runs any more. Only a signal while the ranks leave changes it.
  const onAnswer = run.plan.onAnswer;
  let answerError: unknown = null;
  if (onAnswer) {
    try {
      onAnswer(reportNow(run, devices, run.abort ?? noBackend, []));
    } catch (error) {
      // Thrown after the clean-up below: nothing may be left behind because a callback failed.
      answerError = error ?? new Error('onAnswer threw');
    }
  }
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
  if (answerError !== null) throw answerError;
  return reportNow(run, devices, run.abort, cleanedUp);
}
