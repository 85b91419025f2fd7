// Rank processes: spawned from an argument array (never a shell), each the leader of its own
// process group so that killing it takes anything it started too.
import { spawn, type ChildProcess } from 'node:child_process';

const STDERR_TAIL_BYTES = 4096;
/** How long a rank gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 1000;

export interface RankProcess {
  rank: number;
  pid: number | null;
  child: ChildProcess;
  /** Resolves when the process has exited (or could not start). */
  exited: Promise<{ code: number | null; signal: string | null }>;
  exit: { code: number | null; signal: string | null } | null;
  spawnError: Error | null;
  stderrTail(): string;
}

export function spawnRank(rank: number, program: string, args: string[], env: Record<string, string>): RankProcess {
  const child = spawn(program, args, {
    env,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    shell: false,
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    tail = (tail + text).slice(-STDERR_TAIL_BYTES);
  });
  const rankProcess: RankProcess = {
    rank,
    pid: child.pid ?? null,
    child,
    exit: null,
    spawnError: null,
    exited: new Promise((resolve) => {
      child.once('error', (error) => {
        rankProcess.spawnError = error;
        // 'close' does not follow when the process never started.
        if (child.pid === undefined) {
          rankProcess.exit = { code: null, signal: null };
          resolve(rankProcess.exit);
        }
      });
      // 'close' rather than 'exit': stderr is drained by then, so the tail is complete.
      child.once('close', (code, signal) => {
        rankProcess.exit = { code, signal };
        resolve(rankProcess.exit);
      });
    }),
    stderrTail: () => tail,
  };
  return rankProcess;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** SIGTERM to each rank's whole process group, then SIGKILL to those still there after the grace. */
export async function killRanks(ranks: RankProcess[], graceMs = KILL_GRACE_MS): Promise<void> {
  const alive = ranks.filter((r) => r.pid !== null && r.exit === null);
  for (const r of alive) signalGroup(r.pid as number, 'SIGTERM');
  await Promise.race([Promise.all(alive.map((r) => r.exited)), delay(graceMs)]);
  for (const r of alive) {
    // Also the group when the leader is gone: a grandchild may outlive it.
    signalGroup(r.pid as number, 'SIGKILL');
  }
  await Promise.race([Promise.all(alive.map((r) => r.exited)), delay(graceMs)]);
}

/** Last resort when the coordinator's own process exits: synchronous SIGKILL to every group. */
export function killRanksNow(ranks: RankProcess[]): void {
  for (const r of ranks) if (r.pid !== null && r.exit === null) signalGroup(r.pid, 'SIGKILL');
}
