// The Ray launcher: the coordinator starts the Python driver (python/cuipc_ray) with a spec
// file, the driver places one actor per rank and each actor runs the rank program. The
// coordinator sees ranks only through the rendezvous and the driver's JSON lines on stdout
// ({"event": "ready"} once Ray placed every actor, {"event": "rank-exit", ...} as each rank ends,
// {"event": "pending" | "note", ...} to pass on to the user, {"event": "error", ...} when it
// cannot run). Ray's start-up (a local ray.init alone takes seconds) has its own budget: the
// coordinator's start-up clock runs from `ready`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OptionSpec } from '../model/option-spec.js';
import { PLACEMENT_STRATEGIES, type PlacementStrategy, type RankPlacement } from '../model/vocabulary.js';
import { LaunchUsageError, type LaunchedRanks, type LaunchSpec, type RankLauncher, type RankProgram } from './launcher.js';
import { spawnGroupLeader, type ProcessExit, type RankProcess } from './processes.js';
import { registerLauncher } from './registry.js';

export interface RaySettings {
  numGpus: number;
  placementStrategy: PlacementStrategy;
  nosetVisibleDevices: boolean;
  address: string | null;
  python: string;
  /** An existing placement group to place the ranks in (its name or hex id), not one of the driver's own. */
  placementGroup: string | null;
  /** The bundle of that group each rank goes to (default: 0..ranks-1). */
  bundleIndices: number[] | null;
  /** The Ray namespace the driver joins, where a placement group's name is looked up (null: any namespace, the name unique). */
  namespace: string | null;
}

const RAY_OPTIONS: readonly OptionSpec[] = [
  {
    path: ['ray', 'numGpus'], flag: '--num-gpus', valueName: '<n>', group: 'launcher', label: 'num GPUs', consumer: 'launcher:ray', type: 'number',
    above: 0, max: 1, default: 1, why: 'each rank has a bundle of one GPU',
    description: "ray: GPUs each rank's actor asks of its one-GPU bundle, 0 < n <= 1 (0.25 as colocated RL frameworks)",
  },
  {
    path: ['ray', 'placementStrategy'], flag: '--placement-strategy', valueName: '<strategy>', group: 'launcher', label: 'placement strategy', consumer: 'launcher:ray', type: 'choice',
    choices: PLACEMENT_STRATEGIES, default: 'STRICT_PACK', schemaDef: 'placementStrategy', description: 'ray: placement group strategy',
  },
  {
    path: ['ray', 'nosetVisibleDevices'], flag: '--noset-visible-devices', group: 'launcher', label: 'noset visible devices', consumer: 'launcher:ray', type: 'boolean',
    default: false, description: 'ray: set RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES=1 in the actors (every GPU visible; ranks use their Ray GPU id)',
  },
  {
    path: ['ray', 'address'], flag: '--ray-address', valueName: '<address>', group: 'launcher', label: 'Ray address', consumer: 'launcher:ray', type: 'string',
    description: 'ray: ray.init(address=...) (default: RAY_ADDRESS or the running cluster, else a local one)',
  },
  {
    path: ['ray', 'placementGroup'], flag: '--placement-group', valueName: '<name|id>', group: 'launcher', label: 'placement group', consumer: 'launcher:ray', type: 'string',
    description: "ray: place the ranks in this existing placement group (its name, or its hex id), as colocated RL frameworks place their engines; it is neither created nor removed",
  },
  {
    path: ['ray', 'namespace'], flag: '--ray-namespace', valueName: '<namespace>', group: 'launcher', label: 'Ray namespace', consumer: 'launcher:ray', type: 'string',
    description: "ray: the Ray namespace the driver joins, where a --placement-group name is looked up (default: the name is looked up in every namespace and must name one group)",
  },
  {
    path: ['ray', 'bundleIndices'], flag: '--bundle-indices', valueName: '<list>', group: 'launcher', label: 'bundle indices', consumer: 'launcher:ray', type: 'string',
    description: 'ray: with --placement-group, the bundle of each rank, e.g. 0,1,2,3 (default: bundles 0..ranks-1)',
  },
  {
    path: ['ray', 'python'], flag: '--python', valueName: '<program>', group: 'launcher', label: 'python', consumer: 'launcher:ray', type: 'string',
    default: 'python3', description: 'ray: the Python that runs the driver and imports ray',
  },
];

export const NOSET_ENV = 'RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES';
/** The driver cleans up actors, the placement group and a Ray it started: give it longer than a rank. */
const DRIVER_GRACE_MS = 10_000;
/** Ray's start-up budget (connect or start a local Ray, place the group, start the actors), apart from --timeout. */
export const RAY_STARTUP_TIMEOUT_S = 120;
export const STARTUP_TIMEOUT_ENV = 'CUIPC_RAY_STARTUP_TIMEOUT_S';
/** How long past its own budget the driver gets to say why it could not start, before it is stopped. */
const STARTUP_SLACK_MS = 15_000;

/** The spec python/cuipc_ray reads (see its docstring). */
export interface RayDriverSpec {
  ranks: number;
  num_gpus: number;
  strategy: string;
  env_vars: Record<string, string>;
  rank_argv: string[];
  rank_env: Record<string, string>;
  address: string | null;
  startup_timeout_s: number;
  /** --backend sim: the simulated devices a local Ray the driver starts declares as GPUs (null: a real backend). */
  sim_devices: number | null;
  /** An existing placement group (name or hex id) the ranks go into; null: the driver makes its own. */
  placement_group: string | null;
  bundle_indices: number[] | null;
  /** ray.init(namespace=...); null: Ray's own (an anonymous namespace), a group's name then looked up in every namespace. */
  namespace: string | null;
}

/** Ray's start-up budget in seconds: CUIPC_RAY_STARTUP_TIMEOUT_S when it is a positive number, else the default. */
export function rayStartupTimeoutS(env: Record<string, string | undefined> = process.env): number {
  const raw = env[STARTUP_TIMEOUT_ENV];
  if (raw === undefined || raw === '') return RAY_STARTUP_TIMEOUT_S;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${STARTUP_TIMEOUT_ENV} must be a positive number of seconds, not ${JSON.stringify(raw)}`);
  return value;
}

/** The simulated devices a local Ray declares: CUIPC_SIM_DEVICES when set (as the ranks' simulated device reads it), else one per rank. */
export function simDevicesForRay(ranks: number, env: Record<string, string | undefined> = process.env): number {
  const raw = env.CUIPC_SIM_DEVICES;
  const value = raw === undefined ? NaN : Number(raw);
  return Number.isInteger(value) && value >= 1 && value <= 64 ? value : ranks;
}

/** The directory holding the cuipc_ray package; the same relative path works from lib/launch and dist/launch. */
export function rayDriverPath(): string {
  return fileURLToPath(new URL('../../python', import.meta.url));
}

/** This process's environment with python/ first on PYTHONPATH: what the driver and the Ray session run in. */
export function rayPythonEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  env.PYTHONPATH = [rayDriverPath(), env.PYTHONPATH].filter((p) => p).join(delimiter);
  return env;
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

export function rayDriverSpec(
  options: LaunchSpec,
  launch: RaySettings,
  program: RankProgram,
  coordinatorEnv: Record<string, string>,
  startupTimeoutS: number = rayStartupTimeoutS(),
): RayDriverSpec {
  return {
    ranks: options.ranks,
    num_gpus: launch.numGpus,
    strategy: launch.placementStrategy,
    // As `ray job submit --runtime-env-json '{"env_vars": ...}'` would give them.
    env_vars: { ...options.env, ...(launch.nosetVisibleDevices ? { [NOSET_ENV]: '1' } : {}) },
    rank_argv: [program.program, ...program.args],
    rank_env: coordinatorEnv,
    address: launch.address,
    startup_timeout_s: startupTimeoutS,
    sim_devices: options.backend === 'sim' ? simDevicesForRay(options.ranks) : null,
    placement_group: launch.placementGroup,
    bundle_indices: launch.bundleIndices,
    namespace: launch.namespace,
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

function parseEvent(line: string): RankExitEvent | { event: 'error' | 'pending' | 'note'; message: string } | { event: 'ready' } | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null; // Ray's own log lines
  }
  if (typeof value !== 'object' || value === null) return null;
  const event = value as Record<string, unknown>;
  if ((event.event === 'error' || event.event === 'pending' || event.event === 'note') && typeof event.message === 'string') return { event: event.event, message: event.message };
  if (event.event === 'ready') return { event: 'ready' };
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

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

export function rayLauncher(options: LaunchSpec, program: RankProgram): RankLauncher {
  if (options.launch.kind !== 'ray') throw new TypeError('rayLauncher needs launcher ray');
  const launch = options.launch.settings as RaySettings;
  let startupTimeoutS: number;
  try {
    startupTimeoutS = rayStartupTimeoutS();
  } catch (error) {
    throw new LaunchUsageError((error as Error).message);
  }
  return {
    kind: 'ray',
    deviceFor: (_rank: number, placement: RankPlacement | null) => rayDeviceOrdinal(placement),
    start(coordinatorEnv: Record<string, string>): LaunchedRanks {
      const scratch = mkdtempSync(join(tmpdir(), 'cuipc-ray-'));
      const specPath = join(scratch, 'spec.json');
      const cleanUp = (): void => rmSync(scratch, { recursive: true, force: true });
      // The spec holds the probe's token: readable by this user only; the driver removes it
      // once read, and the folder goes when the driver ends or the probe stops, whichever is first.
      writeFileSync(specPath, JSON.stringify(rayDriverSpec(options, launch, program, coordinatorEnv, startupTimeoutS)), { mode: 0o600 });
      const driver = spawnGroupLeader(launch.python, ['-B', '-m', 'cuipc_ray', '--spec', specPath], rayPythonEnv(), 'pipe'); // -B: no .pyc written into the installed package

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
          // Only what the driver reported for this rank: the driver's own stderr is not the rank's.
          stderrTail: () => reported[rank]?.tail ?? '',
        };
        ranks.push(virtual);
      }
      const finish = (rank: number, exit: ProcessExit): void => {
        const r = ranks[rank];
        if (!r || r.exit !== null) return;
        r.exit = exit;
        resolvers[rank](exit);
      };
      let markReady: () => void = () => undefined;
      const ready = new Promise<void>((resolve) => {
        markReady = resolve;
      });
      // Should the driver neither start the ranks nor say why within its budget, it is stopped.
      let startupExpired = false;
      const startupGuard = setTimeout(() => {
        startupExpired = true;
        signalProcess(driver.pid ?? 0, 'SIGTERM');
      }, startupTimeoutS * 1000 + STARTUP_SLACK_MS);
      startupGuard.unref();
      void ready.then(() => clearTimeout(startupGuard));
      let pending = '';
      driver.child.stdout?.setEncoding('utf8');
      driver.child.stdout?.on('data', (text: string) => {
        pending += text;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const event = parseEvent(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          if (event?.event === 'error') driverError = event.message;
          // Ray cannot place the ranks yet: said every few seconds, so that a wait is never silent;
          // or what the driver chose that was not asked (bundles without a CPU under a Ray task).
          else if (event?.event === 'pending' || event?.event === 'note') process.stderr.write(`cuipc: Ray: ${event.message}\n`);
          else if (event?.event === 'ready') markReady();
          else if (event?.event === 'rank-exit') {
            reported[event.rank] = { tail: event.error ? `${event.stderr_tail}${event.error}\n` : event.stderr_tail };
            finish(event.rank, { code: event.code, signal: event.signal });
          }
        }
      });
      void driver.exited.then((exit) => {
        cleanUp();
        // Ranks the driver never reported end with it; say why when it could not run.
        const lastWords = driver.stderrTail().trim().split('\n').slice(-1)[0]?.slice(0, 300);
        const how = driver.spawnError
          ? `could not be started: ${driver.spawnError.message}`
          : driverError !== null
            ? `stopped: ${driverError}`
            : startupExpired
              ? `did not start the ranks within Ray's start-up budget of ${startupTimeoutS} s (${STARTUP_TIMEOUT_ENV})`
              : `${exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`}${lastWords ? `; its last words: ${lastWords}` : ''}`;
        for (const r of ranks) {
          if (r.exit !== null) continue;
          r.spawnError = new Error(`the Ray driver (${launch.python} -m cuipc_ray) ${how}`);
          finish(r.rank, { code: null, signal: null });
        }
        markReady();
      });
      const exitHook = (): void => cleanUp();
      process.on('exit', exitHook);
      return {
        ranks,
        ready,
        // The driver alone gets SIGTERM: it stops the ranks, removes the actors and the placement
        // group and shuts down a Ray it started (whose processes share its group). Then the group, with SIGKILL.
        stop: async () => {
          clearTimeout(startupGuard);
          if (driver.pid !== null && driver.exit === null) {
            signalProcess(driver.pid, 'SIGTERM');
            await Promise.race([driver.exited, new Promise((r) => setTimeout(r, DRIVER_GRACE_MS).unref())]);
          }
          if (driver.pid !== null) signalProcess(-driver.pid, 'SIGKILL');
          cleanUp();
          process.off('exit', exitHook);
        },
        // When the coordinator's own process exits: the driver cleans up by itself on SIGTERM
        // (it would on its parent's end too); a SIGKILL here would leave actors on a cluster behind.
        stopNow: () => {
          if (driver.pid !== null && driver.exit === null) signalProcess(driver.pid, 'SIGTERM');
          cleanUp();
        },
      };
    },
  };
}

/** "0,1,2,3" as bundle indices; only beside a placement group. */
function bundleIndicesOf(raw: string | undefined, withGroup: boolean): number[] | null {
  if (raw === undefined) return null;
  if (!withGroup) throw new LaunchUsageError('bundle indices apply to an existing placement group (--placement-group)');
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d{1,4}$/.test(p))) throw new LaunchUsageError(`bundle indices must be a comma-separated list of bundle numbers, e.g. 0,1, got '${raw}'`);
  const indices = parts.map(Number);
  if (new Set(indices).size !== indices.length) throw new LaunchUsageError(`bundle indices must differ from each other, got '${raw}'`);
  return indices;
}

/** A Ray namespace as given (non-empty: the row checks that): a name without control characters. */
function namespaceOf(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (/[\u0000-\u001f]/.test(raw)) throw new LaunchUsageError(`the Ray namespace must be a name without control characters, got ${JSON.stringify(raw)}`);
  return raw;
}

registerLauncher<RaySettings>({
  name: 'ray',
  summary: 'Ray actors on the GPU bundles of a placement group (python/cuipc_ray)',
  options: RAY_OPTIONS,
  coordinatorAssignsDevices: false,
  resolve(given, { devicesGiven }) {
    if (devicesGiven) throw new LaunchUsageError('devices applies to the plain launcher; under Ray, each actor gets the GPU of its placement group bundle');
    return {
      numGpus: given['ray.numGpus'] as number,
      placementStrategy: given['ray.placementStrategy'] as PlacementStrategy,
      nosetVisibleDevices: given['ray.nosetVisibleDevices'] as boolean,
      address: (given['ray.address'] as string | undefined) ?? null,
      python: given['ray.python'] as string,
      placementGroup: (given['ray.placementGroup'] as string | undefined) ?? null,
      bundleIndices: bundleIndicesOf(given['ray.bundleIndices'] as string | undefined, given['ray.placementGroup'] !== undefined),
      namespace: namespaceOf(given['ray.namespace'] as string | undefined),
    };
  },
  describe: ({ numGpus, placementStrategy, nosetVisibleDevices, address }) => ({ visibility: null, ray: { numGpus, placementStrategy, nosetVisibleDevices, address }, envSnapshot: null }),
  create: (spec, settings, _devices, program) => {
    if (settings.bundleIndices !== null && settings.bundleIndices.length !== spec.ranks) {
      throw new LaunchUsageError(`bundle indices name ${settings.bundleIndices.length} bundle(s) for ${spec.ranks} rank(s): one bundle per rank`);
    }
    // Ray sets each actor's CUDA_VISIBLE_DEVICES to its GPU; a runtime_env value breaks its GPU bookkeeping (IndexError in the worker).
    if (spec.env.CUDA_VISIBLE_DEVICES !== undefined) {
      throw new LaunchUsageError('CUDA_VISIBLE_DEVICES cannot be given to Ray actors: Ray assigns each actor its GPU (--noset-visible-devices leaves every GPU visible instead)');
    }
    return rayLauncher(spec, program);
  },
});
