// The plain launcher: the coordinator spawns each rank itself, in this process's environment
// or in one replayed from a snapshot, with every device visible or one per rank.
import type { EnvSnapshot } from '../env/capture.js';
import { parseSnapshot, SnapshotFormatError } from '../env/read-snapshot.js';
import { environmentForReplay, replayVisibility } from '../env/replay.js';
import { isRayAssigned } from '../env/visibility.js';
import type { OptionSpec } from '../model/option-spec.js';
import { PARENT_PID_ENV, RANK_ENV, RAY_ENV } from './rank-env.js';
import { DEVICE_VISIBILITIES, type DeviceVisibility, type RankPlacement } from '../model/vocabulary.js';
import { LaunchUsageError, type LaunchedRanks, type LaunchSpec, type RankLauncher, type RankProgram } from './launcher.js';
import { killGroups, killGroupsNow, spawnGroupLeader, type GroupProcess, type RankProcess } from './processes.js';
import { registerLauncher } from './registry.js';

export interface PlainSettings {
  visibility: DeviceVisibility;
  envSnapshot: EnvSnapshot | null;
}

const PLAIN_OPTIONS: readonly OptionSpec[] = [
  {
    path: ['visibility'], flag: '--visibility', valueName: '<mode>', group: 'launcher', label: 'visibility', consumer: 'launcher:plain', type: 'choice',
    choices: DEVICE_VISIBILITIES, default: 'all', schemaDef: 'visibility',
    description: 'plain launcher: all devices visible to every rank, or per-rank: CUDA_VISIBLE_DEVICES names one device per rank, as Ray does',
  },
  {
    path: ['envSnapshot'], flag: '--env-snapshot', valueName: '<file>', group: 'launcher', label: 'environment snapshot', consumer: 'launcher:plain', type: 'custom', jsonType: 'object',
    description: "plain launcher: start ranks in this captured environment (`cuipc env capture --json`) instead of this shell's; --env applies on top",
  },
];

/** The plain launcher's settings of a resolved launch, or null under another launcher. */
export function plainSettings(launch: LaunchSpec['launch']): PlainSettings | null {
  return launch.kind === 'plain' ? (launch.settings as PlainSettings) : null;
}

/**
 * The CUDA_VISIBLE_DEVICES entry that names the device at `ordinal` of this process's view:
 * its own list's entry when it has one (ordinals count within it), else the ordinal itself.
 */
export function visibleDeviceEntry(ordinal: number, ownList: string | undefined): string {
  if (ownList === undefined) return String(ordinal);
  const entries = ownList.split(',').map((e) => e.trim());
  const entry = entries[ordinal];
  if (entry === undefined) throw new RangeError(`device ${ordinal} is not in CUDA_VISIBLE_DEVICES=${ownList}`);
  return entry;
}

/**
 * The environment whose devices the ranks choose from: a snapshot's (its CUDA_VISIBLE_DEVICES and
 * CUIPC_SIM_DEVICES), except that a Ray-assigned CUDA_VISIBLE_DEVICES gives way to this process's
 * (each rank then gets one of its devices); null without a snapshot (this process's own view).
 */
export function plainDeviceView(snapshot: EnvSnapshot | null, current: Record<string, string | undefined> = process.env): Record<string, string | undefined> | null {
  if (snapshot === null) return null;
  const view: Record<string, string | undefined> = environmentForReplay(snapshot, current);
  if (isRayAssigned(snapshot.visibility, snapshot.environment)) {
    if (current.CUDA_VISIBLE_DEVICES === undefined) delete view.CUDA_VISIBLE_DEVICES;
    else view.CUDA_VISIBLE_DEVICES = current.CUDA_VISIBLE_DEVICES;
  }
  return view;
}

/** The environment every rank starts from, before the per-rank and the coordinator's variables. */
export function plainBaseEnvironment(options: LaunchSpec, current: Record<string, string | undefined> = process.env): Record<string, string> {
  const base: Record<string, string> = {};
  const snapshot = plainSettings(options.launch)?.envSnapshot;
  if (snapshot) {
    Object.assign(base, environmentForReplay(snapshot, current));
  } else {
    for (const [key, value] of Object.entries(current)) if (value !== undefined) base[key] = value;
  }
  // A plain rank is not in a Ray actor, whatever the environment it came from says.
  for (const name of Object.values(RAY_ENV)) delete base[name];
  return Object.assign(base, options.env);
}

/**
 * `devices`: per rank, the ordinal in this process's view. With visibility 'per-rank' each rank
 * sees only its device (CUDA_VISIBLE_DEVICES) and uses ordinal 0, as under Ray.
 */
export function plainLauncher(options: LaunchSpec, devices: number[], program: RankProgram): RankLauncher {
  const settings = plainSettings(options.launch);
  const perRank = settings?.visibility === 'per-rank';
  // Ordinals count within the view the devices were assigned from (a replayed snapshot's, or this process's).
  const ownList = (plainDeviceView(settings?.envSnapshot ?? null) ?? process.env).CUDA_VISIBLE_DEVICES;
  return {
    kind: 'plain',
    deviceFor: (rank: number, _placement: RankPlacement | null) => (perRank ? 0 : devices[rank]),
    start(coordinatorEnv: Record<string, string>): LaunchedRanks {
      const base = plainBaseEnvironment(options);
      const ranks: Array<RankProcess & GroupProcess> = [];
      try {
        for (let rank = 0; rank < options.ranks; rank += 1) {
          const env = { ...base, ...(perRank ? { CUDA_VISIBLE_DEVICES: visibleDeviceEntry(devices[rank], ownList) } : {}), ...coordinatorEnv, [RANK_ENV]: String(rank), [PARENT_PID_ENV]: String(process.pid) };
          ranks.push(Object.assign(spawnGroupLeader(program.program, program.args, env), { rank }));
        }
      } catch (error) {
        // Whatever started before the throw must not outlive it (RankLauncher.start's contract).
        killGroupsNow(ranks);
        throw error;
      }
      return { ranks, stop: () => killGroups(ranks), stopNow: () => killGroupsNow(ranks) };
    },
  };
}

registerLauncher<PlainSettings>({
  name: 'plain',
  summary: "the coordinator's own children (the default)",
  options: PLAIN_OPTIONS,
  coordinatorAssignsDevices: true,
  deviceView: (settings) => plainDeviceView(settings.envSnapshot),
  resolve(given) {
    let envSnapshot: EnvSnapshot | null = null;
    if (given.envSnapshot !== undefined) {
      try {
        // Checked as a file would be: a library caller may hand over any parsed JSON.
        envSnapshot = parseSnapshot(given.envSnapshot, 'envSnapshot');
      } catch (error) {
        if (error instanceof SnapshotFormatError) throw new LaunchUsageError(error.message);
        throw error;
      }
    }
    // An actor's snapshot replays with one device per rank, as Ray gave it one.
    return { visibility: replayVisibility(envSnapshot, given.visibility as DeviceVisibility), envSnapshot };
  },
  describe: (settings) => ({
    visibility: settings.visibility,
    ray: null,
    envSnapshot: settings.envSnapshot ? { label: settings.envSnapshot.label, capturedAt: settings.envSnapshot.capturedAt, hostname: settings.envSnapshot.hostname, pid: settings.envSnapshot.pid } : null,
  }),
  create: (spec, _settings, devices, program) => plainLauncher(spec, devices, program),
});
