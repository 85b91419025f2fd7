// Child processes of the probe (ranks, the Ray driver): spawned from an argument array (never
// a shell), each the leader of its own process group so that killing it takes anything it
// started too.
import { spawn, type ChildProcess } from 'node:child_process';

const STDERR_TAIL_BYTES = 4096;
/** How long a process gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 1000;

export interface ProcessExit {
  code: number | null;
  signal: string | null;
}

/** What the coordinator knows of a rank: for a plain launch its own child, under Ray what the driver reports. */
export interface RankProcess {
  rank: number;
  /** Null when the coordinator did not start the rank itself (Ray) or it could not start. */
  pid: number | null;
  /** Resolves when the rank has exited (or could not start). */
  exited: Promise<ProcessExit>;
  exit: ProcessExit | null;
  spawnError: Error | null;
  stderrTail(): string;
}

export interface GroupProcess extends Omit<RankProcess, 'rank'> {
  child: ChildProcess;
}

/** A process that never started: spawn() threw before creating it (e.g. a NUL byte in a variable). */
function neverStarted(error: Error): GroupProcess {
  const exit: ProcessExit = { code: null, signal: null };
  return { pid: null, child: null as unknown as ChildProcess, exit, spawnError: error, exited: Promise.resolve(exit), stderrTail: () => '' };
}

/** Never throws: a spawn that cannot start comes back with `spawnError` set and `exit` already known. */
export function spawnGroupLeader(program: string, args: string[], env: Record<string, string>, stdout: 'ignore' | 'pipe' = 'ignore'): GroupProcess {
  let child: ChildProcess;
  try {
    child = spawn(program, args, {
      env,
      detached: true,
      stdio: ['ignore', stdout, 'pipe'],
      shell: false,
    });
  } catch (error) {
    return neverStarted(error as Error);
  }
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    tail = (tail + text).slice(-STDERR_TAIL_BYTES);
  });
  const leader: GroupProcess = {
    pid: child.pid ?? null,
    child,
    exit: null,
    spawnError: null,
    exited: new Promise((resolve) => {
      child.once('error', (error) => {
        leader.spawnError = error;
        // 'close' does not follow when the process never started.
        if (child.pid === undefined) {
          leader.exit = { code: null, signal: null };
          resolve(leader.exit);
        }
      });
      // 'close' rather than 'exit': stderr is drained by then, so the tail is complete.
      child.once('close', (code, signal) => {
        leader.exit = { code, signal };
        resolve(leader.exit);
      });
    }),
    stderrTail: () => tail,
  };
  return leader;
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

type Killable = Pick<GroupProcess, 'pid' | 'exit' | 'exited'>;

/** SIGTERM to each process group, then SIGKILL to those still there after the grace. */
export async function killGroups(leaders: Killable[], graceMs = KILL_GRACE_MS): Promise<void> {
  const alive = leaders.filter((r) => r.pid !== null && r.exit === null);
  for (const r of alive) signalGroup(r.pid as number, 'SIGTERM');
  await Promise.race([Promise.all(alive.map((r) => r.exited)), delay(graceMs)]);
  for (const r of alive) {
    // Also the group when the leader is gone: a grandchild may outlive it.
    signalGroup(r.pid as number, 'SIGKILL');
  }
  await Promise.race([Promise.all(alive.map((r) => r.exited)), delay(graceMs)]);
}

/** Last resort when the coordinator's own process exits: synchronous SIGKILL to every group. */
export function killGroupsNow(leaders: Killable[]): void {
  for (const r of leaders) if (r.pid !== null && r.exit === null) signalGroup(r.pid, 'SIGKILL');
}
