// The rounds, and driving them in lock step: every rank finishes a round before any starts the
// next. The coordinator sends each round with what it needs (the configuration, the
// all-gathered exports), folds the results into each rank's step records, and stops at a rank
// that dies or hangs, or at a signal. After a failed step the rest are skipped, but teardown runs.
import type { ProbeAbort } from '../../report/types.js';
import type { StepName, StepOutcome } from '../../model/vocabulary.js';
import type { ResolvedProbeOptions } from '../options.js';
import { LOAD_CALL, type ExportData, type RankConfig, type RankStepResult, type RegisteredExport, type RoundInput, type RoundPhase } from '../protocol.js';
import { abortWith, interruptAt, settleBeforeInterrupt } from './abort.js';
import type { CoordinatorState, RankState } from './state.js';

interface Round {
  step: StepName;
  phase: RoundPhase;
}

/** The rounds, in order. Steps that exchange data or must not race peers take two. */
export const ROUNDS: readonly Round[] = [
  { step: 'init', phase: 'main' },
  { step: 'register', phase: 'export' },
  { step: 'register', phase: 'import' },
  { step: 'capture', phase: 'main' },
  { step: 'export', phase: 'main' },
  { step: 'exchange', phase: 'main' },
  { step: 'import', phase: 'main' },
  // Every rank fills its inputs before any graph reads a peer's.
  { step: 'replay', phase: 'fill' },
  { step: 'replay', phase: 'launch' },
  { step: 'verify', phase: 'main' },
  // Every importer lets go before any exporter frees.
  { step: 'teardown', phase: 'close' },
  { step: 'teardown', phase: 'free' },
];

/** A step of several rounds failed if any round failed, passed if any passed. */
function mergeOutcome(previous: StepOutcome, next: RankStepResult['outcome']): StepOutcome {
  if (previous === 'not-run') return next;
  if (previous === 'failed' || next === 'failed') return 'failed';
  if (previous === 'passed' || next === 'passed') return 'passed';
  return 'skipped';
}

function rankConfig(options: ResolvedProbeOptions, rank: number, device: number): RankConfig {
  return {
    rank,
    ranks: options.ranks,
    device,
    inputs: options.inputs,
    bytes: options.bytes,
    alloc: options.alloc,
    share: options.share,
    captureMode: options.captureMode,
    backend: options.backend,
    memorySaverRegion: options.memorySaverRegion,
  };
}

/**
 * Runs the rounds until the last, an abort or a signal; `devices`: each rank's device for its
 * init. Returns why the probe could not run when a rank could not load the backend at all.
 */
export async function runRounds(run: CoordinatorState, devices: number[]): Promise<ProbeAbort | null> {
  const { states, options, failures } = run;
  let failedStep: StepName | null = null;
  let noBackend = null as ProbeAbort | null;
  const registered: Array<RegisteredExport | null> = states.map(() => null);
  const exported: Array<ExportData | null> = states.map(() => null);
  let stepDeadline = 0;
  /** Folds a rank's result for a round into its step record and the all-gathers. */
  const absorb = (state: RankState, round: number): void => {
    const result = state.results.get(round);
    if (!result) return;
    const step = ROUNDS[round].step;
    const record = state.steps[step];
    record.outcome = mergeOutcome(record.outcome, result.outcome);
    record.durationMs += result.durationMs;
    record.calls.push(...result.calls);
    record.notes.push(...result.notes);
    failures.push(...result.failures);
    const { data } = result;
    if (data.kind === 'init') state.init = data.init;
    else if (data.kind === 'registered') registered[state.rank] = data.registered;
    else if (data.kind === 'export') exported[state.rank] = data.export;
    else if (data.kind === 'verify') state.verify = data.verify;
    if (result.outcome === 'failed' && step !== 'teardown' && failedStep === null) failedStep = step;
  };
  for (let round = 0; round < ROUNDS.length && run.abort === null; round += 1) {
    const { step, phase } = ROUNDS[round];
    if (failedStep !== null && step !== 'teardown') {
      for (const state of states) if (state.steps[step].outcome === 'not-run') state.steps[step].outcome = 'skipped';
      continue;
    }
    if (round === 0 || ROUNDS[round - 1].step !== step) stepDeadline = Date.now() + options.timeoutMs;
    run.currentRound = round;
    run.progressStep = step;
    run.reportProgress();
    for (const state of states) {
      let input: RoundInput = { kind: 'none' };
      if (step === 'init') input = { kind: 'init', config: rankConfig(options, state.rank, devices[state.rank]) };
      else if (step === 'register' && phase === 'import') input = { kind: 'registered', peers: registered };
      else if (step === 'exchange') input = { kind: 'exchange', peers: exported };
      state.connection?.send({ type: 'run', round, step, phase, input });
    }
    const finished = await run.waitFor(() => states.every((s) => s.results.has(round)) || states.some(run.gone), stepDeadline);
    if (run.interruptedBy() !== null) {
      await settleBeforeInterrupt(run, round);
      for (const state of states) absorb(state, round);
      interruptAt(run, step, round);
      break;
    }
    const dead = states.filter((s) => !s.results.has(round) && run.gone(s));
    if (dead.length > 0 || !finished) {
      if (dead.length > 0) await abortWith(run, 'crashed', dead, step, undefined, round);
      else await abortWith(run, 'hung', states.filter((s) => !s.results.has(round)), step, undefined, round);
      // What the other ranks finished of this round still counts (also what came in meanwhile).
      for (const state of states) if (state.steps[step].outcome !== 'crashed' && state.steps[step].outcome !== 'hung') absorb(state, round);
      break;
    }
    for (const state of states) absorb(state, round);
    // A rank that could not load the backend at all: the probe could not run (exit 3), not a finding.
    const loadFailure = step === 'init' ? failures.find((f) => f.call.call === LOAD_CALL) : undefined;
    if (loadFailure && noBackend === null) {
      noBackend = { reason: 'no-driver', message: `rank ${loadFailure.rank} could not load the CUDA backend: ${loadFailure.call.message}`, rank: loadFailure.rank, step: 'init', call: LOAD_CALL };
    }
  }
  return noBackend;
}
