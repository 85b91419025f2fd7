// One Ray for many probes: a bisect with --launcher ray runs many probes, and each probe's
// driver would start (and shut down) a local Ray of its own, seconds every time. This starts
// python/cuipc_ray/session.py once: it starts the local Ray with the settings a probe's driver
// would use and holds it; every probe then joins it through its ray.address. Where a cluster
// exists already (an address, RAY_ADDRESS, a running one) nothing is started.
import type { RaySettings } from './ray.js';
import { rayPythonEnv, rayStartupTimeoutS, simDevicesForRay } from './ray.js';
import { spawnGroupLeader, type GroupProcess } from './processes.js';

export interface RaySession {
  /** Whether a local Ray was started here (false: the probes join the cluster they find). */
  started: boolean;
  /** The address the probes join (the started Ray's GCS address), or the one given (null: Ray finds it). */
  address: string | null;
  /** How long starting (or finding) Ray took. */
  startupMs: number;
  /** Shuts the local Ray down (a no-op when none was started); safe to call twice. */
  stop(): Promise<void>;
}

/** The session could not start Ray; the message says why. */
export class RaySessionError extends Error {}

const STOP_GRACE_MS = 15_000;
const STARTUP_SLACK_MS = 15_000;

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

/** Ends the session process: TERM (it shuts Ray down), then KILL to its group (its Ray's processes too). */
async function end(session: GroupProcess, graceMs: number): Promise<void> {
  if (session.pid === null) return;
  if (session.exit === null) {
    signal(session.pid, 'SIGTERM');
    await Promise.race([session.exited, new Promise((r) => setTimeout(r, graceMs).unref())]);
  }
  signal(-session.pid, 'SIGKILL');
}

/**
 * Starts or finds the Ray that every probe of a bisect will join. `backend: 'sim'` makes a
 * local Ray declare the simulated devices as GPUs, as a probe's driver would. Rejects with
 * RaySessionError when Ray cannot start within its start-up budget (CUIPC_RAY_STARTUP_TIMEOUT_S).
 */
export async function startRaySession(settings: Pick<RaySettings, 'python' | 'address'>, ranks: number, backend: string): Promise<RaySession> {
  const args = ['-B', '-m', 'cuipc_ray.session', '--ranks', String(ranks)];
  if (backend === 'sim') args.push('--sim-devices', String(simDevicesForRay(ranks)));
  if (settings.address !== null) args.push('--address', settings.address);
  const budgetMs = rayStartupTimeoutS() * 1000 + STARTUP_SLACK_MS;
  const started = Date.now();
  const session = spawnGroupLeader(settings.python, args, rayPythonEnv(), 'pipe');
  // Should this process exit without stop() (an uncaught error, process.exit), the session ends with it.
  const exitHook = (): void => {
    if (session.pid !== null && session.exit === null) signal(session.pid, 'SIGTERM');
  };
  process.on('exit', exitHook);
  const first = await new Promise<{ event: string; started?: boolean; address?: string | null; message?: string } | null>((resolve) => {
    let pending = '';
    const timer = setTimeout(() => resolve(null), budgetMs);
    timer.unref();
    session.child?.stdout?.setEncoding('utf8');
    session.child?.stdout?.on('data', (text: string) => {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          const event = JSON.parse(line) as { event?: unknown };
          if (event.event === 'cluster' || event.event === 'error') {
            clearTimeout(timer);
            resolve(event as { event: string });
          }
        } catch {
          // Ray's own log lines.
        }
      }
    });
    void session.exited.then(() => {
      clearTimeout(timer);
      resolve(null);
    });
  });
  const stop = async (): Promise<void> => {
    await end(session, STOP_GRACE_MS);
    process.off('exit', exitHook);
  };
  if (first === null || first.event !== 'cluster') {
    await end(session, 2000);
    process.off('exit', exitHook);
    const why = session.spawnError
      ? `could not be started: ${session.spawnError.message}`
      : first?.message ?? (session.exit === null
        ? `did not start Ray within its start-up budget of ${budgetMs / 1000} s`
        : `ended before Ray started; its last words: ${session.stderrTail().trim().split('\n').slice(-1)[0] ?? ''}`);
    throw new RaySessionError(`the Ray session (${settings.python} -m cuipc_ray.session) ${why}`);
  }
  return {
    started: first.started === true,
    address: typeof first.address === 'string' ? first.address : settings.address,
    startupMs: Date.now() - started,
    stop,
  };
}
