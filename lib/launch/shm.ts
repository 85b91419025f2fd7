// Shared memory a probe's ranks may leave behind when they are killed (a SIGKILLed rank cannot
// remove its own). Only the probe's own objects are ever removed: names that start with
// cuipc's prefix and this probe's run id (see ownSharedMemoryPrefix), that appeared during the
// probe, and that are regular files owned by this user. A file that merely holds a rank's pid
// in its name (another program's psm_<pid>, a PyTorch or NCCL segment) is never touched. The
// simulated device keeps its memory in memfds, so today a probe leaves nothing here; objects a
// rank creates in /dev/shm must be named with this prefix to be cleaned up.
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../files/random.js';

export const SHM_DIR = '/dev/shm';
/** Every /dev/shm name cuipc makes starts with this. */
export const SHM_NAME_PREFIX = 'cuipc-';

/** A new run id for a probe's shared-memory names (not secret: names are visible to everyone). */
export function newSharedMemoryRunId(): string {
  return `${process.pid.toString(36)}${randomHex(6)}`;
}

/** The prefix of every /dev/shm name of the probe run `runId`: `cuipc-<run id>-`. */
export function ownSharedMemoryPrefix(runId: string): string {
  return `${SHM_NAME_PREFIX}${runId}-`;
}

export function sharedMemorySnapshot(dir: string = SHM_DIR): Set<string> {
  try {
    return new Set(readdirSync(dir));
  } catch {
    return new Set();
  }
}

/** Names that appeared since `before` and carry `prefix` (see ownSharedMemoryPrefix). */
export function leftoversOf(before: Set<string>, after: Iterable<string>, prefix: string): string[] {
  if (!prefix.startsWith(SHM_NAME_PREFIX) || prefix.length <= SHM_NAME_PREFIX.length + 1) return []; // never a bare or foreign prefix
  return [...after].filter((name) => !before.has(name) && name.startsWith(prefix));
}

/** Removes this run's leftovers (regular files of this user only); returns the paths removed. */
export function removeSharedMemoryLeftovers(before: Set<string>, prefix: string, dir: string = SHM_DIR): string[] {
  const removed: string[] = [];
  const uid = process.getuid?.() ?? -1;
  for (const name of leftoversOf(before, sharedMemorySnapshot(dir), prefix)) {
    const path = join(dir, name);
    try {
      const stats = lstatSync(path);
      if (!stats.isFile() || stats.uid !== uid) continue;
      unlinkSync(path);
      removed.push(path);
    } catch {
      // Someone else removed it first.
    }
  }
  return removed;
}
