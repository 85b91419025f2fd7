// The start of a probe: the rendezvous opens, the launcher starts the ranks with the token and
// its address, and every rank connects and says hello. What is set up here (the rendezvous,
// the ranks, the exit handler, the interrupt listener) is taken down by finish.ts.
import type { LaunchedRanks } from '../../launch/launcher.js';
import { newSharedMemoryRunId, ownSharedMemoryPrefix, removeSharedMemoryLeftovers, sharedMemorySnapshot } from '../../launch/shm.js';
import type { ProbeAbort } from '../../report/types.js';
import { ADDRESS_ENV, RANKS_ENV, TOKEN_ENV } from '../protocol.js';
import { defaultLimits, openRendezvous, type Rendezvous } from '../rendezvous.js';
import { abortWith, interruptAt } from './abort.js';
import { rendezvousHandlers } from './messages.js';
import { startedRank, type CoordinatorState } from './state.js';

export interface StartedRanks {
  launched: LaunchedRanks;
  rendezvous: Rendezvous;
  /** The shared-memory files there were before the ranks, so that only theirs are removed. */
  shmBefore: Set<string>;
  /** The prefix of this probe's own /dev/shm names (launch/shm.ts): nothing else is removed. */
  shmPrefix: string;
  /** Registered for the coordinator's own exit; removed by finish.ts. */
  killOnExit: () => void;
  /** Set when the launcher threw: no rank started. */
  launchFailure: ProbeAbort | null;
}

/** Opens the rendezvous and starts the ranks; a launcher that throws is a launch failure, not a throw. */
export async function startRanks(run: CoordinatorState): Promise<StartedRanks> {
  const { options, plan, states } = run;
  plan.interrupt?.addEventListener('abort', run.onInterrupt);
  const shmBefore = sharedMemorySnapshot();
  const shmPrefix = ownSharedMemoryPrefix(newSharedMemoryRunId());
  const rendezvous = await openRendezvous(options.rendezvous, run.token, rendezvousHandlers(run), defaultLimits(options.ranks));

  let launchFailure = null as ProbeAbort | null;
  let launched: LaunchedRanks;
  try {
    launched = plan.launcher.start({
      CUIPC_BACKEND: options.backend,
      [TOKEN_ENV]: run.token,
      [ADDRESS_ENV]: rendezvous.address,
      [RANKS_ENV]: String(options.ranks),
    });
  } catch (error) {
    // A launcher reaps what it started before it throws; the rendezvous is closed at the end (finish.ts).
    launchFailure = { reason: 'spawn-failed', message: `the ranks could not be started: ${(error as Error).message}` };
    launched = { ranks: [], stop: async () => {}, stopNow: () => {} };
  }
  for (const child of launched.ranks) {
    states.push(startedRank(child));
    void child.exited.then(() => run.wakeup.notify());
  }
  // Should this process die first, its ranks must not outlive it, nor its socket.
  const killOnExit = (): void => {
    launched.stopNow();
    rendezvous.closeNow();
    removeSharedMemoryLeftovers(shmBefore, shmPrefix);
  };
  process.on('exit', killOnExit);
  return { launched, rendezvous, shmBefore, shmPrefix, killOnExit, launchFailure };
}

/**
 * Waits until every rank connected and said hello, after the launcher's own start-up (Ray
 * places actors first, on a budget of its own), or a signal, or every rank gone; marks the
 * abort when the ranks did not all make it.
 */
export async function awaitHellos(run: CoordinatorState, { launched, launchFailure }: StartedRanks): Promise<void> {
  const { options, states } = run;
  if (launched.ready) {
    let launcherReady = false;
    void launched.ready.then(() => {
      launcherReady = true;
      run.wakeup.notify();
    });
    // Ray's start-up has its own budget (the driver gives up past it and exits, which settles this).
    await run.waitFor(() => launcherReady || states.every(run.gone), Date.now() + 2 ** 30);
  }
  const startupDeadline = Date.now() + options.timeoutMs;
  if (launchFailure !== null) run.abort = launchFailure;
  else await run.waitFor(() => states.every((s) => s.connection !== null) || states.some(run.gone), startupDeadline);
  if (run.abort !== null) {
    // the launcher threw: nothing started
  } else if (run.interruptedBy() !== null) {
    interruptAt(run, 'init', null);
  } else if (states.some((s) => s.connection === null || run.gone(s))) {
    // A rank may die after its hello, in the context creation it starts while the others
    // connect (early-init.ts): that is a crash in init too, not the others' failure to connect.
    const dead = states.filter(run.gone);
    if (dead.length > 0) {
      await abortWith(run, dead[0].process.spawnError ? 'spawn-failed' : 'crashed', dead, 'init');
    } else {
      const missing = states.filter((s) => s.connection === null);
      const why = `rank(s) ${missing.map((s) => s.rank).join(', ')} did not connect to the coordinator within ${options.timeoutMs} ms`;
      await abortWith(run, 'hung', missing, 'init', why);
    }
  }
}
