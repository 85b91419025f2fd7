// What the coordinator does with what comes through the rendezvous: a rank's hello, the call
// it announces (and, for a call made before its round, that it returned), its result for the
// round that runs; a rejected line; a closed connection. A
// message that does not fit what the coordinator knows is refused (and recorded by the
// rendezvous); everything else wakes the wait of the rounds and updates the progress line.
import type { RankMessage } from '../protocol.js';
import type { RankConnection, RendezvousHandlers } from '../rendezvous.js';
import { ROUNDS } from './rounds.js';
import type { CoordinatorState } from './state.js';

/** Returns null to accept the message, or why it is refused. */
function onMessage(run: CoordinatorState, connection: RankConnection, message: RankMessage): string | null {
  const state = run.states[message.rank];
  if (!state) return `rank ${message.rank} is not part of this probe (${run.options.ranks} ranks)`;
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
    // The rank makes no call before this (rank.ts): a call that kills it is then read as its own.
    connection.send({ type: 'welcome' });
  } else if (message.type === 'calling') {
    state.inFlight = { step: message.step, call: message.call, method: message.method, args: message.args, since: Date.now() };
  } else if (message.type === 'returned') {
    if (state.inFlight && state.inFlight.step === message.step && state.inFlight.call === message.call) state.inFlight = null;
  } else {
    if (message.round !== run.currentRound) return `a result for round ${message.round} while round ${run.currentRound} runs`;
    if (state.results.has(message.round)) return `a second result for round ${message.round}`;
    const expected = ROUNDS[message.round];
    if (message.result.step !== expected.step || message.result.phase !== expected.phase) {
      return `a result for ${message.result.step}/${message.result.phase} in round ${expected.step}/${expected.phase}`;
    }
    state.results.set(message.round, message.result);
    state.inFlight = null;
  }
  run.wakeup.notify();
  run.reportProgress();
  return null;
}

export function rendezvousHandlers(run: CoordinatorState): RendezvousHandlers {
  return {
    message: (connection, message) => onMessage(run, connection, message),
    rejected: run.recordRejection,
    closed: (connection) => {
      const state = connection.rank === null ? undefined : run.states[connection.rank];
      if (state) state.closed = true;
      run.wakeup.notify();
    },
  };
}
