// The Ray launcher: the coordinator starts the Python driver (python/cuipc_ray) with a spec
// file, the driver places one actor per rank and each actor runs the rank program. The
// coordinator sees ranks only through the rendezvous and the driver's JSON lines on stdout
// ({"event": "rank-exit", ...} as each rank ends, {"event": "error", ...} when it cannot run).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResolvedLaunch, ResolvedProbeOptions } from '../probe/options.js';
import type { RankPlacement } from '../report/types.js';
import type { LaunchedRanks, RankLauncher, RankProgram } from './launcher.js';
import { killGroups, killGroupsNow, spawnGroupLeader, type ProcessExit, type RankProcess } from './processes.js';

export const NOSET_ENV = 'RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES';
/** The driver cleans up actors, the placement group and a Ray it started: give it longer than a rank. */
const DRIVER_GRACE_MS = 10_000;

/** The spec python/cuipc_ray reads (see its docstring). */
export interface RayDriverSpec {
  ranks: number;
  num_gpus: number;
  strategy: string;
  env_vars: Record<string, string>;
  rank_argv: string[];
  rank_env: Record<string, string>;
  address: string | null;
  placement_timeout_s: number;
}

/** The directory holding the cuipc_ray package; the same relative path works from lib/launch and dist/launch. */
export function rayDriverPath(): string {
  return fileURLToPath(new URL('../../python', import.meta.url));
}

/**
 * The ordinal a rank in a Ray actor uses, as frameworks pick it: 0 when Ray narrowed
 * CUDA_VISIBLE_DEVICES to the actor's GPU; its Ray GPU id when NOSET left every GPU visible.
 */
export function rayDeviceOrdinal(placement: RankPlacement | null): number {
  const ray = placement?.ray;
  if (!ray || !ray.nosetVisibleDevices) return 0;
  const id = ray.gpuIds[0];
  return id !== undefined && /^\d+$/.test(id) ? Number(id) : 0;
}

export function rayDriverSpec(options: ResolvedProbeOptions, launch: Extract<ResolvedLaunch, { kind: 'ray' }>, program: RankProgram, coordinatorEnv: Record<string, string>): RayDriverSpec {
  return {
    ranks: options.ranks,
    num_gpus: launch.numGpus,
    strategy: launch.placementStrategy,
    // As `ray job submit --runtime-env-json '{"env_vars": ...}'` would give them.
    env_vars: { ...options.env, ...(launch.nosetVisibleDevices ? { [NOSET_ENV]: '1' } : {}) },
    rank_argv: [program.program, ...program.args],
    rank_env: coordinatorEnv,
    address: launch.address,
    // Half the startup timeout, so that the driver's own message comes before the coordinator gives up on the ranks.
    placement_timeout_s: options.timeoutMs / 2000,
  };
}

interface RankExitEvent {
  event: 'rank-exit';
  rank: number;
  code: number | null;
  signal: string | null;
  stderr_tail: string;
  error?: string;
}

function parseEvent(line: string): RankExitEvent | { event: 'error'; message: string } | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null; // Ray's own log lines
  }
  if (typeof value !== 'object' || value === null) return null;
  const event = value as Record<string, unknown>;
  if (event.event === 'error' && typeof event.message === 'string') return { event: 'error', message: event.message };
  if (event.event === 'rank-exit' && typeof event.rank === 'number') {
    return {
      event: 'rank-exit',
      rank: event.rank,
      code: typeof event.code === 'number' ? event.code : null,
      signal: typeof event.signal === 'string' ? event.signal : null,
      stderr_tail: typeof event.stderr_tail === 'string' ? event.stderr_tail : '',
      ...(typeof event.error === 'string' ? { error: event.error } : {}),
    };
  }
  return null;
}

export function rayLauncher(options: ResolvedProbeOptions, program: RankProgram): RankLauncher {
  const launch = options.launch;
  if (launch.kind !== 'ray') throw new TypeError('rayLauncher needs launcher ray');
  return {
    kind: 'ray',
    deviceFor: (_rank: number, placement: RankPlacement | null) => rayDeviceOrdinal(placement),
    start(coordinatorEnv: Record<string, string>): LaunchedRanks {
      const scratch = mkdtempSync(join(tmpdir(), 'cuipc-ray-'));
      const specPath = join(scratch, 'spec.json');
      // The spec holds the probe's token: readable by this user only, removed at stop.
      writeFileSync(specPath, JSON.stringify(rayDriverSpec(options, launch, program, coordinatorEnv)), { mode: 0o600 });
      const driverEnv: Record<string, string> = {};
      for (const [key, value] of Object.entries(process.env)) if (value !== undefined) driverEnv[key] = value;
      driverEnv.PYTHONPATH = [rayDriverPath(), driverEnv.PYTHONPATH].filter((p) => p).join(delimiter);
      const driver = spawnGroupLeader(launch.python, ['-B', '-m', 'cuipc_ray', '--spec', specPath], driverEnv, 'pipe'); // -B: no .pyc written into the installed package

      let driverError: string | null = null;
      const reported: Array<{ tail: string } | null> = [];
      const resolvers: Array<(exit: ProcessExit) => void> = [];
      const ranks: RankProcess[] = [];
      for (let rank = 0; rank < options.ranks; rank += 1) {
        reported.push(null);
        const virtual: RankProcess = {
          rank,
          pid: null,
          exit: null,
          spawnError: null,
          exited: new Promise((resolve) => resolvers.push(resolve)),
          stderrTail: () => reported[rank]?.tail ?? driver.stderrTail(),
        };
        ranks.push(virtual);
      }
      const finish = (rank: number, exit: ProcessExit): void => {
        const r = ranks[rank];
        if (!r || r.exit !== null) return;
        r.exit = exit;
        resolvers[rank](exit);
      };
      let pending = '';
      driver.child.stdout?.setEncoding('utf8');
      driver.child.stdout?.on('data', (text: string) => {
        pending += text;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const event = parseEvent(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          if (event?.event === 'error') driverError = event.message;
          else if (event?.event === 'rank-exit') {
            reported[event.rank] = { tail: event.error ? `${event.stderr_tail}${event.error}\n` : event.stderr_tail };
            finish(event.rank, { code: event.code, signal: event.signal });
          }
        }
      });
      void driver.exited.then((exit) => {
        // Ranks the driver never reported end with it; say why when it could not run.
        const how = driver.spawnError
          ? `could not be started: ${driver.spawnError.message}`
          : driverError !== null
            ? `stopped: ${driverError}`
            : exit.signal
              ? `was killed by ${exit.signal}`
              : `exited with status ${exit.code}`;
        for (const r of ranks) {
          if (r.exit !== null) continue;
          if (driverError !== null || driver.spawnError) r.spawnError = new Error(`the Ray driver (${launch.python} -m cuipc_ray) ${how}`);
          finish(r.rank, { code: null, signal: null });
        }
      });
      const cleanUp = (): void => rmSync(scratch, { recursive: true, force: true });
      return {
        ranks,
        stop: async () => {
          await killGroups([driver], DRIVER_GRACE_MS);
          cleanUp();
        },
        stopNow: () => {
          killGroupsNow([driver]);
          cleanUp();
        },
      };
    },
  };
}
