// How a probe that cannot go on is marked: a rank that died, hung or never started (abortWith),
// or a signal to the coordinator (interruptAt). Each names the rank and the call it was in, and
// marks every rank's record of the step, so the report shows where everything stopped.
import type { StepName } from '../../model/vocabulary.js';
import type { CoordinatorState, RankState } from './state.js';

/** How long, after the first rank of a round died, the others get to show that they died too. */
const SETTLE_MS = 300;

/** How long a dead rank's exit status and the end of its connection may take to arrive. */
const DEATH_NEWS_MS = 500;

/**
 * Waits, briefly, until each rank has exited and its connection has closed. The closed connection
 * can come a moment before the exit status, and the exit status before the rank's last lines are
 * read: a 'calling' line written just before the rank was killed names the call it died in, and
 * is read only by the time its connection closes. A rank without a connection made no call: it
 * makes none before the coordinator has welcomed its hello (rank.ts).
 */
async function settle(run: CoordinatorState, ranks: RankState[]): Promise<void> {
  const settled = (s: RankState): boolean => s.process.exit !== null && (s.connection === null || s.closed);
  await run.wakeup.until(() => ranks.every(settled), Date.now() + DEATH_NEWS_MS);
}

/** Marks the abort: the rank that died or hung, its step and call; everyone else stops. */
export async function abortWith(run: CoordinatorState, reason: 'crashed' | 'hung' | 'spawn-failed', culprits: RankState[], step: StepName, why?: string, round?: number): Promise<void> {
  const { states, options, rejected } = run;
  await settle(run, culprits);
  if (reason === 'crashed' && round !== undefined) {
    // Ranks that die in the same call die within moments of each other: every one is shown.
    const unfinished = (): RankState[] => states.filter((s) => !s.results.has(round) && !culprits.includes(s));
    await run.wakeup.until(() => unfinished().every(run.gone), Date.now() + SETTLE_MS);
    const alsoDead = unfinished().filter(run.gone);
    await settle(run, alsoDead);
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
      message += `; it never got past the rendezvous (${rejected.length + run.rejectedDropped} message(s) rejected, the first: ${rejected[0].reason})`;
    }
  }
  run.abort = {
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
}

/** How long, after a signal, ranks mid-way through a quick call of the round get to answer. */
const INTERRUPT_SETTLE_MS = 150;

/**
 * Waits, briefly, for the round's answers that are on their way: a rank that was mid-way
 * through a quick call when the signal came is then no longer in flight, and interruptAt names
 * the rank that is stuck, not one that a loaded machine had not yet run to its answer.
 */
export async function settleBeforeInterrupt(run: CoordinatorState, round: number): Promise<void> {
  await run.wakeup.until(() => run.states.every((s) => s.results.has(round) || run.gone(s)), Date.now() + INTERRUPT_SETTLE_MS);
}

/** A signal reached the coordinator: whatever runs now is interrupted, and every rank stops. */
export function interruptAt(run: CoordinatorState, step: StepName, round: number | null): void {
  const signal = run.interruptedBy() ?? 'SIGINT';
  const running = run.states.filter((s) => round === null || !s.results.has(round));
  // The rank in the oldest unanswered call: the one stuck, not one that was mid-way through a quick one.
  const inCall = running
    .filter((s) => s.inFlight && s.inFlight.step === step)
    .sort((a, b) => (a.inFlight?.since ?? 0) - (b.inFlight?.since ?? 0))[0];
  const flight = inCall?.inFlight ?? null;
  run.abort = {
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
}
