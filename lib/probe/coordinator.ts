// The coordinator: spawns the ranks, meets them at the rendezvous, and drives the steps in
// lock step (every rank finishes a round before any starts the next). It relays the
// all-gathers, watches for ranks that die or hang, and collects everything for the report.
import { randomBytes } from 'node:crypto';
import type { LaunchedRanks, RankLauncher } from '../launch/launcher.js';
import type { RankProcess } from '../launch/processes.js';
import { defaultLimits, openRendezvous, type RankConnection, type Rendezvous } from './rendezvous.js';
import { sharedMemorySnapshot, removeSharedMemoryLeftovers } from '../launch/shm.js';
import { buildProbeReport, type ProbeRun } from '../report/build.js';
import {
  STEPS,
  type FailureRecord,
  type ProbeAbort,
  type ProbeReport,
  type RankPlacement,
  type RankReport,
  type RankStep,
  type RejectedMessage,
  type StepName,
  type StepOutcome,
} from '../report/types.js';
import { reportOptionsOf, type ProbeProgress, type ResolvedProbeOptions } from './options.js';
import {
  ADDRESS_ENV,
  LOAD_CALL,
  RANKS_ENV,
  TOKEN_ENV,
  type ExportData,
  type InitData,
  type RankConfig,
  type RankMessage,
  type RankStepResult,
  type RegisteredExport,
  type RoundInput,
  type RoundPhase,
} from './protocol.js';

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
}

/** How long, after the first rank of a round died, the others get to show that they died too. */
const SETTLE_MS = 300;

interface RankState {
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

/** A step of several rounds failed if any round failed, passed if any passed. */
function mergeOutcome(previous: StepOutcome, next: RankStepResult['outcome']): StepOutcome {
  if (previous === 'not-run') return next;
  if (previous === 'failed' || next === 'failed') return 'failed';
  if (previous === 'passed' || next === 'passed') return 'passed';
  return 'skipped';
}

function emptySteps(): Record<StepName, RankStep> {
  return Object.fromEntries(STEPS.map((s) => [s, { outcome: 'not-run', durationMs: 0, calls: [], notes: [] }])) as unknown as Record<StepName, RankStep>;
}

/** Wakes whoever waits when anything arrives (a message, an exit, a closed connection). */
class Wakeup {
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

export async function coordinate(plan: CoordinatorPlan): Promise<ProbeReport> {
  const onProgress = plan.onProgress;
  const { options, launcher } = plan;
  const startedAt = new Date();
  const started = Date.now();
  const token = randomBytes(32).toString('hex');
  const wakeup = new Wakeup();
  const rejected: RejectedMessage[] = [];
  let rejectedDropped = 0;
  const failures: FailureRecord[] = [];
  const states: RankState[] = [];
  let abort = null as ProbeAbort | null;
  let launchFailure = null as ProbeAbort | null;
  let exiting = false;
  let currentRound = -1;

  const recordRejection = (from: string, reason: string, sample: string): void => {
    if (rejected.length < MAX_REJECTED_KEPT) rejected.push({ atMs: Date.now() - started, from, reason, sample });
    else rejectedDropped += 1;
  };

  const onMessage = (connection: RankConnection, message: RankMessage): string | null => {
    const state = states[message.rank];
    if (!state) return `rank ${message.rank} is not part of this probe (${options.ranks} ranks)`;
    if (message.type === 'hello') {
      if (connection.rank !== null) return 'a second hello on one connection';
      if (state.connection !== null) return `rank ${message.rank} is already connected`;
      if (state.process.pid !== null && message.pid !== state.process.pid) {
        return `hello from pid ${message.pid}, but rank ${message.rank} is pid ${state.process.pid}`;
      }
      connection.rank = message.rank;
      state.connection = connection;
      state.pid = message.pid;
      state.placement = message.placement ?? null;
    } else if (message.type === 'calling') {
      state.inFlight = { step: message.step, call: message.call, method: message.method, args: message.args, since: Date.now() };
    } else {
      if (message.round !== currentRound) return `a result for round ${message.round} while round ${currentRound} runs`;
      if (state.results.has(message.round)) return `a second result for round ${message.round}`;
      const expected = ROUNDS[message.round];
      if (message.result.step !== expected.step || message.result.phase !== expected.phase) {
        return `a result for ${message.result.step}/${message.result.phase} in round ${expected.step}/${expected.phase}`;
      }
      state.results.set(message.round, message.result);
      state.inFlight = null;
    }
    wakeup.notify();
    reportProgress();
    return null;
  };

  // Progress: where each rank is, as a snapshot; nothing is computed when nobody listens.
  let progressStep: StepName | null = null;
  const reportProgress = (): void => {
    if (!onProgress) return;
    const stepIndex = progressStep === null ? -1 : STEPS.indexOf(progressStep);
    onProgress({
      step: progressStep,
      stepNumber: stepIndex + 1,
      steps: STEPS.length,
      connected: states.filter((s) => s.connection !== null).length,
      ranks: states.map((s) => ({
        rank: s.rank,
        done: currentRound >= 0 && s.results.has(currentRound),
        call: s.inFlight && s.inFlight.step === progressStep ? s.inFlight.call : null,
      })),
      elapsedMs: Date.now() - started,
    });
  };

  const interrupt = plan.interrupt;
  const interruptedBy = (): string | null => (interrupt?.aborted ? String(interrupt.reason ?? 'SIGINT') : null);
  const onInterrupt = (): void => wakeup.notify();
  interrupt?.addEventListener('abort', onInterrupt);
  /** Waits for `done`, the deadline, or an interrupt. */
  const waitFor = (done: () => boolean, deadline: number): Promise<boolean> => wakeup.until(() => done() || interruptedBy() !== null, deadline);

  const shmBefore = sharedMemorySnapshot();
  const rendezvous: Rendezvous = await openRendezvous(options.rendezvous, token, {
    message: onMessage,
    rejected: recordRejection,
    closed: (connection) => {
      const state = connection.rank === null ? undefined : states[connection.rank];
      if (state) state.closed = true;
      wakeup.notify();
    },
  }, defaultLimits(options.ranks));

  let launched: LaunchedRanks;
  try {
    launched = launcher.start({
      CUIPC_BACKEND: options.backend,
      [TOKEN_ENV]: token,
      [ADDRESS_ENV]: rendezvous.address,
      [RANKS_ENV]: String(options.ranks),
    });
  } catch (error) {
    // A launcher reaps what it started before it throws; the rendezvous is closed at the end below.
    launchFailure = { reason: 'spawn-failed', message: `the ranks could not be started: ${(error as Error).message}` };
    launched = { ranks: [], stop: async () => {}, stopNow: () => {} };
  }
  for (const child of launched.ranks) {
    const state: RankState = {
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
    states.push(state);
    void child.exited.then(() => wakeup.notify());
  }
  // Should this process die first, its ranks must not outlive it, nor its socket.
  const killOnExit = (): void => {
    launched.stopNow();
    rendezvous.closeNow();
    removeSharedMemoryLeftovers(shmBefore, states.map((s) => s.pid).filter((p): p is number => p !== null));
  };
  process.on('exit', killOnExit);

  const gone = (s: RankState): boolean => s.process.exit !== null || (s.closed && !exiting);

  /** Marks the abort: the rank that died or hung, its step and call; everyone else stops. */
  const abortWith = async (reason: 'crashed' | 'hung' | 'spawn-failed', culprits: RankState[], step: StepName, why?: string, round?: number): Promise<void> => {
    // A closed connection comes a moment before the exit status; wait for it briefly.
    await Promise.race([Promise.all(culprits.map((c) => c.process.exited)), new Promise((r) => setTimeout(r, 500).unref())]);
    if (reason === 'crashed' && round !== undefined) {
      // Ranks that die in the same call die within moments of each other: every one is shown.
      const unfinished = (): RankState[] => states.filter((s) => !s.results.has(round) && !culprits.includes(s));
      await wakeup.until(() => unfinished().every(gone), Date.now() + SETTLE_MS);
      const alsoDead = unfinished().filter(gone);
      await Promise.race([Promise.all(alsoDead.map((c) => c.process.exited)), new Promise((r) => setTimeout(r, 500).unref())]);
      culprits = [...culprits, ...alsoDead].sort((a, b) => a.rank - b.rank);
    }
    const first = culprits[0];
    const inFlight = first.inFlight && first.inFlight.step === step ? first.inFlight : null;
    const exit = first.process.exit;
    let message: string;
    if (reason === 'hung') {
      message = `rank ${first.rank} did not finish step ${step} within ${options.timeoutMs} ms${inFlight ? `; it was in ${inFlight.call}` : ''}`;
    } else if (reason === 'spawn-failed') {
      message = `rank ${first.rank} could not be started: ${first.process.spawnError?.message ?? 'unknown error'}`;
    } else {
      const how = exit?.signal ? `was killed by ${exit.signal}` : exit ? `exited with status ${exit.code}` : 'closed its connection';
      message = `rank ${first.rank} ${how} in step ${step}${inFlight ? ` during ${inFlight.call}` : ''}`;
      const lastLine = first.process.stderrTail().trim().split('\n').slice(-1)[0];
      if (lastLine) message += `; its last words: ${lastLine.slice(0, 300)}`;
      const others = culprits.slice(1).map((c) => c.rank);
      if (others.length > 0) message += `; rank${others.length > 1 ? 's' : ''} ${others.join(', ')} died in this step too`;
      if (first.connection === null && rejected.length > 0) {
        message += `; it never got past the rendezvous (${rejected.length + rejectedDropped} message(s) rejected, the first: ${rejected[0].reason})`;
      }
    }
    abort = {
      reason,
      message: why ?? message,
      rank: first.rank,
      step,
      ...(inFlight ? { call: inFlight.call, args: inFlight.args } : {}),
      signal: exit?.signal ?? null,
      exitCode: exit?.code ?? null,
    };
    for (const state of states) {
      const record = state.steps[step];
      if (culprits.includes(state)) {
        record.outcome = reason === 'hung' ? 'hung' : 'crashed';
        if (state.inFlight && state.inFlight.step === step) {
          record.inFlight = { call: state.inFlight.call, method: state.inFlight.method, args: state.inFlight.args };
        }
      } else if (record.outcome === 'not-run' || (round !== undefined && !state.results.has(round))) {
        // Stopped in this step (also after passing an earlier round of it).
        record.outcome = 'interrupted';
      }
    }
  };

  /** A signal reached the coordinator: whatever runs now is interrupted, and every rank stops. */
  const interruptAt = (step: StepName, round: number | null): void => {
    const signal = interruptedBy() ?? 'SIGINT';
    const running = states.filter((s) => round === null || !s.results.has(round));
    // The rank in the oldest unanswered call: the one stuck, not one that was mid-way through a quick one.
    const inCall = running
      .filter((s) => s.inFlight && s.inFlight.step === step)
      .sort((a, b) => (a.inFlight?.since ?? 0) - (b.inFlight?.since ?? 0))[0];
    const flight = inCall?.inFlight ?? null;
    abort = {
      reason: 'interrupted',
      message: `interrupted by ${signal} in step ${step}${inCall && flight ? `; rank ${inCall.rank} was in ${flight.call}` : ''}; every rank was stopped`,
      step,
      ...(inCall ? { rank: inCall.rank } : {}),
      ...(flight ? { call: flight.call, args: flight.args } : {}),
      signal,
      exitCode: null,
    };
    for (const state of running) {
      const record = state.steps[step];
      if (record.outcome !== 'failed') record.outcome = 'interrupted';
      if (state.inFlight && state.inFlight.step === step) {
        record.inFlight = { call: state.inFlight.call, method: state.inFlight.method, args: state.inFlight.args };
      }
    }
  };

  // ---- startup: every rank connects and says hello, after the launcher's own start-up (Ray
  // places actors first, on a budget of its own), or a signal, or every rank gone ----
  if (launched.ready) {
    let launcherReady = false;
    void launched.ready.then(() => {
      launcherReady = true;
      wakeup.notify();
    });
    // Ray's start-up has its own budget (the driver gives up past it and exits, which settles this).
    await waitFor(() => launcherReady || states.every(gone), Date.now() + 2 ** 30);
  }
  const startupDeadline = Date.now() + options.timeoutMs;
  if (launchFailure !== null) abort = launchFailure;
  else await waitFor(() => states.every((s) => s.connection !== null) || states.some(gone), startupDeadline);
  if (abort !== null) {
    // the launcher threw: nothing started
  } else if (interruptedBy() !== null) {
    interruptAt('init', null);
  } else if (states.some((s) => s.connection === null || gone(s))) {
    // A rank may die after its hello, in the context creation it starts while the others
    // connect (early-init.ts): that is a crash in init too, not the others' failure to connect.
    const dead = states.filter(gone);
    if (dead.length > 0) {
      await abortWith(dead[0].process.spawnError ? 'spawn-failed' : 'crashed', dead, 'init');
    } else {
      const missing = states.filter((s) => s.connection === null);
      const why = `rank(s) ${missing.map((s) => s.rank).join(', ')} did not connect to the coordinator within ${options.timeoutMs} ms`;
      await abortWith('hung', missing, 'init', why);
    }
  }

  // Known only now for ranks in Ray actors: which GPU Ray gave them (see RankLauncher.deviceFor).
  const devices = states.map((s) => launcher.deviceFor(s.rank, s.placement));

  // ---- the rounds ----
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
  for (let round = 0; round < ROUNDS.length && abort === null; round += 1) {
    const { step, phase } = ROUNDS[round];
    if (failedStep !== null && step !== 'teardown') {
      for (const state of states) if (state.steps[step].outcome === 'not-run') state.steps[step].outcome = 'skipped';
      continue;
    }
    if (round === 0 || ROUNDS[round - 1].step !== step) stepDeadline = Date.now() + options.timeoutMs;
    currentRound = round;
    progressStep = step;
    reportProgress();
    for (const state of states) {
      let input: RoundInput = { kind: 'none' };
      if (step === 'init') input = { kind: 'init', config: rankConfig(options, state.rank, devices[state.rank]) };
      else if (step === 'register' && phase === 'import') input = { kind: 'registered', peers: registered };
      else if (step === 'exchange') input = { kind: 'exchange', peers: exported };
      state.connection?.send({ type: 'run', round, step, phase, input });
    }
    const finished = await waitFor(() => states.every((s) => s.results.has(round)) || states.some(gone), stepDeadline);
    if (interruptedBy() !== null) {
      for (const state of states) absorb(state, round);
      interruptAt(step, round);
      break;
    }
    const dead = states.filter((s) => !s.results.has(round) && gone(s));
    if (dead.length > 0 || !finished) {
      if (dead.length > 0) await abortWith('crashed', dead, step, undefined, round);
      else await abortWith('hung', states.filter((s) => !s.results.has(round)), step, undefined, round);
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

  // ---- the end: ranks leave on their own after 'exit', or are killed ----
  exiting = true;
  if (abort === null) {
    for (const state of states) state.connection?.send({ type: 'exit' });
    const exited = await waitFor(() => states.every((s) => s.process.exit !== null), Date.now() + options.timeoutMs);
    if (!exited && interruptedBy() === null) {
      for (const state of states.filter((s) => s.process.exit === null)) {
        state.steps.teardown.notes.push('did not exit after teardown; killed');
      }
    }
  }
  if (noBackend !== null && abort === null) abort = noBackend;
  // Interrupted while the ranks were leaving: every round ran, so no step is marked.
  if (abort === null && interruptedBy() !== null) interruptAt('teardown', ROUNDS.length - 1);
  await launched.stop();
  process.off('exit', killOnExit);
  interrupt?.removeEventListener('abort', onInterrupt);
  await rendezvous.close();
  const cleanedUp = removeSharedMemoryLeftovers(shmBefore, states.map((s) => s.pid).filter((p): p is number => p !== null));

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
  const run: ProbeRun = {
    options: reportOptionsOf(options, devices),
    startedAt,
    durationMs: Date.now() - started,
    coordinatorSimulated: plan.coordinatorSimulated,
    ranks,
    failures,
    abort,
    rejected,
    rejectedDropped,
    cleanedUp,
  };
  return buildProbeReport(run);
}
