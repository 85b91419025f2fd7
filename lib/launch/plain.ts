// The plain launcher: the coordinator spawns each rank itself, in this process's environment
// or in one replayed from a snapshot, with every device visible or one per rank.
import { environmentForReplay } from '../env/replay.js';
import { PARENT_PID_ENV, RANK_ENV, RAY_ENV } from './rank-env.js';
import type { RankPlacement } from '../report/types.js';
import type { LaunchedRanks, LaunchSpec, RankLauncher, RankProgram } from './launcher.js';
import { killGroups, killGroupsNow, spawnGroupLeader, type GroupProcess, type RankProcess } from './processes.js';

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

/** The environment every rank starts from, before the per-rank and the coordinator's variables. */
export function plainBaseEnvironment(options: LaunchSpec, current: Record<string, string | undefined> = process.env): Record<string, string> {
  const base: Record<string, string> = {};
  if (options.launch.kind === 'plain' && options.launch.envSnapshot) {
    Object.assign(base, environmentForReplay(options.launch.envSnapshot, current));
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
  const perRank = options.launch.kind === 'plain' && options.launch.visibility === 'per-rank';
  const ownList = process.env.CUDA_VISIBLE_DEVICES;
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
