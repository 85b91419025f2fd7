// What the coordinator holds while one probe runs: the plan, each rank's state as the
// rendezvous and the rounds fill it in, the rejected lines, and the abort once there is one.
// The parts of a run (startup.ts, messages.ts, rounds.ts, abort.ts, finish.ts) share it.
import type { RankLauncher } from '../../launch/launcher.js';
import type { RankProcess } from '../../launch/processes.js';
import { type FailureRecord, type ProbeAbort, type ProbeReport, type RankReport, type RankStep, type RejectedMessage } from '../../report/types.js';
import { STEPS, type RankPlacement, type StepName } from '../../model/vocabulary.js';
import type { ProbeProgress, ResolvedProbeOptions } from '../options.js';
import type { InitData, RankStepResult } from '../protocol.js';
import type { RankConnection } from '../rendezvous.js';
import { randomHex } from '../../files/random.js';

// The coordinator waits on many things at once (messages, exits, closed connections, a signal)
// with one wait: whatever arrives wakes it, and it checks again what it waits for.

/** Wakes whoever waits when anything arrives (a message, an exit, a closed connection). */
export class Wakeup {
  private waiters: Array<() => void> = [];
  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
  /** Waits until `done()` holds or the deadline passes; true when it holds. */
  async until(done: () => boolean, deadline: number): Promise<boolean> {
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }
}

const MAX_REJECTED_KEPT = 50;

export interface CoordinatorPlan {
  options: ResolvedProbeOptions;
  launcher: RankLauncher;
  /** From the coordinator's own loader; null when it did not load a backend. */
  coordinatorSimulated: boolean | null;
  /**
   * Aborted (reason: the signal's name, e.g. 'SIGINT') when the probe must stop now: every
   * rank is stopped through the launcher, files and sockets are removed, and the report so
   * far comes back with abort reason 'interrupted'. Internal: the CLI's signal handler.
   */
  interrupt?: AbortSignal;
  /** Called as ranks connect, start calls and finish rounds (for a live progress line). */
  onProgress?: (progress: ProbeProgress) => void;
  /** The report as soon as the verdict is known, before the ranks leave (finish.ts; ProbeRunControls.onAnswer). */
  onAnswer?: (report: ProbeReport) => void;
}

export interface RankState {
  rank: number;
  process: RankProcess;
  connection: RankConnection | null;
  pid: number | null;
  placement: RankPlacement | null;
  init: InitData | null;
  steps: Record<StepName, RankStep>;
  results: Map<number, RankStepResult>;
  /** The call a rank announced and has not answered yet, and since when (ms, this clock). */
  inFlight: { step: StepName; call: string; method: string; args: Record<string, string | number | boolean | null>; since: number } | null;
  verify: RankReport['verify'];
  closed: boolean;
}

function emptySteps(): Record<StepName, RankStep> {
  return Object.fromEntries(STEPS.map((s) => [s, { outcome: 'not-run', durationMs: 0, calls: [], notes: [] }])) as unknown as Record<StepName, RankStep>;
}

/** A rank the launcher started, before it said hello. */
export function startedRank(child: RankProcess): RankState {
  return {
    rank: child.rank,
    process: child,
    connection: null,
    pid: child.pid,
    placement: null,
    init: null,
    steps: emptySteps(),
    results: new Map(),
    inFlight: null,
    verify: undefined,
    closed: false,
  };
}

export class CoordinatorState {
  readonly options: ResolvedProbeOptions;
  readonly startedAt = new Date();
  readonly started = Date.now();
  readonly token = randomHex(32);
  readonly wakeup = new Wakeup();
  readonly rejected: RejectedMessage[] = [];
  rejectedDropped = 0;
  readonly failures: FailureRecord[] = [];
  readonly states: RankState[] = [];
  abort: ProbeAbort | null = null;
  /** Set once the rounds are over: a connection that closes then is a rank leaving, not dying. */
  exiting = false;
  currentRound = -1;
  /** The step the progress line shows. */
  progressStep: StepName | null = null;

  constructor(readonly plan: CoordinatorPlan) {
    this.options = plan.options;
  }

  readonly recordRejection = (from: string, reason: string, sample: string): void => {
    if (this.rejected.length < MAX_REJECTED_KEPT) this.rejected.push({ atMs: Date.now() - this.started, from, reason, sample });
    else this.rejectedDropped += 1;
  };

  /** Progress: where each rank is, as a snapshot; nothing is computed when nobody listens. */
  reportProgress(): void {
    const onProgress = this.plan.onProgress;
    if (!onProgress) return;
    const progressStep = this.progressStep;
    const stepIndex = progressStep === null ? -1 : STEPS.indexOf(progressStep);
    onProgress({
      step: progressStep,
      stepNumber: stepIndex + 1,
      steps: STEPS.length,
      connected: this.states.filter((s) => s.connection !== null).length,
      ranks: this.states.map((s) => ({
        rank: s.rank,
        done: this.currentRound >= 0 && s.results.has(this.currentRound),
        call: s.inFlight && s.inFlight.step === progressStep ? s.inFlight.call : null,
      })),
      elapsedMs: Date.now() - this.started,
    });
  }

  /** The signal that interrupted the probe, or null. */
  interruptedBy(): string | null {
    const interrupt = this.plan.interrupt;
    return interrupt?.aborted ? String(interrupt.reason ?? 'SIGINT') : null;
  }

  readonly onInterrupt = (): void => this.wakeup.notify();

  /** Waits for `done`, the deadline, or an interrupt. */
  waitFor(done: () => boolean, deadline: number): Promise<boolean> {
    return this.wakeup.until(() => done() || this.interruptedBy() !== null, deadline);
  }

  readonly gone = (s: RankState): boolean => s.process.exit !== null || (s.closed && !this.exiting);
}
