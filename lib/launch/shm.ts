// Shared memory that ranks leave behind when they are killed: the simulated device keeps
// its IPC state in /dev/shm files, and a SIGKILLed rank cannot remove its own. Only files that
// appeared during this probe and carry one of this probe's rank pids in their name are
// removed, so that a concurrent probe's files are never touched.
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

const SHM_DIR = '/dev/shm';

export function sharedMemorySnapshot(): Set<string> {
  try {
    return new Set(readdirSync(SHM_DIR));
  } catch {
    return new Set();
  }
}

/** Names that appeared since `before` and name one of `pids` as a whole number. */
export function leftoversOf(before: Set<string>, after: Iterable<string>, pids: number[]): string[] {
  const wanted = new Set(pids.map(String));
  return [...after].filter((name) => !before.has(name) && (name.match(/\d+/g) ?? []).some((n) => wanted.has(n)));
}

export function removeSharedMemoryLeftovers(before: Set<string>, pids: number[]): string[] {
  const removed: string[] = [];
  for (const name of leftoversOf(before, sharedMemorySnapshot(), pids)) {
    try {
      unlinkSync(join(SHM_DIR, name));
      removed.push(join(SHM_DIR, name));
    } catch {
      // Someone else removed it first.
    }
  }
  return removed;
}
