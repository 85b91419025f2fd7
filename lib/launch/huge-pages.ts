// Ranks start without transparent huge pages. Where the host sets THP to "always", a Node
// process's sparse heap and thread arenas fault in 2 MiB pages for 4 KiB of use, and a rank's
// RSS then says more about the host than about what the rank holds. The flag (prctl
// PR_SET_THP_DISABLE, native/process/memory_policy.cc) is kept across fork and execve, and
// spawn() returns once the child has exec'd, so setting it around the spawns starts every rank
// with it from its first page; this process's own flag is put back as it was right after.
// Host memory only: the device memory the probe allocates, exports and opens is not paged by
// the kernel, so no verdict depends on it. (The server a probe replays keeps the host's THP
// setting; this is one way a rank differs from it, docs/benchmarks.md measures what it saves.)
import { loadAddon } from '../binding/native.js';

/**
 * Runs `start`, which starts processes synchronously, with this process's no-huge-pages flag
 * set, then puts the flag back. Runs `start` as it is where the addon cannot load (the ranks
 * then report why in init) or the kernel has no such flag.
 */
export function startingWithoutHugePages<T>(start: () => T): T {
  let setHugePagesDisabled: (disabled: boolean) => boolean | null;
  try {
    const { binding } = loadAddon();
    setHugePagesDisabled = (disabled) => binding.setHugePagesDisabled(disabled);
  } catch {
    return start();
  }
  const was = setHugePagesDisabled(true);
  try {
    return start();
  } finally {
    if (was === false) setHugePagesDisabled(false);
  }
}
