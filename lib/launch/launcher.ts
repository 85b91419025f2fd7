// How ranks are started. The coordinator does not care who starts them: it gives a launcher
// the variables every rank needs to reach it, gets one RankProcess per rank back, and stops
// them through the launcher. Implementations: plain.ts (the coordinator's own children) and
// ray.ts (Ray actors, through the Python driver in python/cuipc_ray), registered by name in
// registry.ts.
import type { Backend } from '../../binding.js';
import type { RankPlacement } from '../model/vocabulary.js';
import type { RankProcess } from './processes.js';

/** How the ranks are started, checked: the launcher's name and its own settings (registry.ts). */
export interface ResolvedLaunch {
  kind: string;
  settings: object;
}

/** What a launcher needs to know of the run above it (a probe's resolved options are one). */
export interface LaunchSpec {
  ranks: number;
  /** Variables for every rank, on top of the base environment. */
  env: Readonly<Record<string, string>>;
  backend: Backend;
  launch: ResolvedLaunch;
}

/** A launch that cannot be made as asked (a bad setting): the caller turns it into its own usage error. */
export class LaunchUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LaunchUsageError';
  }
}

/** The program each rank runs (node and dist/bundle/rank.cjs for the real probe). */
export interface RankProgram {
  program: string;
  args: string[];
}

export interface LaunchedRanks {
  ranks: RankProcess[];
  /**
   * Resolves when the launcher's own start-up is over: the ranks are starting, or it gave up and
   * ended them (with spawnError). The coordinator's start-up timeout counts from then. Absent:
   * at once. The launcher bounds its own start-up (Ray: connecting, placing, starting actors).
   */
  ready?: Promise<void>;
  /** Ends whatever is still running (ranks and the launcher's own processes), gently first. */
  stop(): Promise<void>;
  /** The same, synchronously and at once: for when the coordinator's own process exits. */
  stopNow(): void;
}

export interface RankLauncher {
  readonly kind: string;
  /**
   * Starts every rank; `coordinatorEnv` (token, address, ...) goes to every rank, on top of all
   * else. A rank that cannot start comes back with `spawnError` set; should start() throw, it
   * has first ended whatever it started and removed its own files.
   */
  start(coordinatorEnv: Record<string, string>): LaunchedRanks;
  /** The device ordinal a rank is told to use, once its hello said how it was placed (null: never said). */
  deviceFor(rank: number, placement: RankPlacement | null): number;
}
