// The chaos suite's harness: runs the real `cuipc` command as a person would (a child process
// of its own, its own temporary folder), follows the processes of that one run by their ids
// (the coordinator's pid, its children, their process groups; never by name), and checks what
// a run left behind: processes, files in its temporary folder, files in /dev/shm naming them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';

export const BIN = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));

const scratch = mkdtempSync(join(tmpdir(), 'cuipc-chaos-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let runs = 0;

/** A fresh folder under this file's scratch folder. */
export function freshDir(name: string): string {
  const dir = join(scratch, `${name}-${(runs += 1)}`);
  mkdirSync(dir);
  return dir;
}

/** The step each sampled fault lands in (rank 1's first such call there; `#IMPORT` is ranks). */
export const STEP_FAULTS: Record<string, string> = {
  init: 'cudaSetDevice@1#1',
  register: 'cudaIpcGetMemHandle@1#1',
  capture: 'cudaStreamBeginCapture@1#1',
  export: 'cudaIpcGetMemHandle@1#2',
  import: 'cudaIpcOpenMemHandle@1#IMPORT',
  replay: 'cudaGraphLaunch@1#1',
  verify: 'cudaMemcpy@1#2',
  teardown: 'cudaIpcCloseMemHandle@1#1',
};

/** The fault that hits rank 1 in `step` of a probe of `ranks` ranks (its import opens come after ranks - 1 register opens). */
export function faultAt(step: string, ranks: number, action: 'kill' | 'hang' | number): string {
  return `${STEP_FAULTS[step].replace('IMPORT', String(ranks))}=${action}`;
}

function stat(pid: number): { state: string; ppid: number; pgid: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], ppid: Number(fields[1]), pgid: Number(fields[2]) };
  } catch {
    return null;
  }
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  const s = stat(pid);
  return s !== null && s.state !== 'Z' && s.state !== 'X';
}

function allPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

/** Live processes whose parent is `pid` or whose process group is one of `groups`. */
export function descendantsOf(pid: number, groups: Set<number> = new Set()): number[] {
  return allPids().filter((p) => {
    const s = stat(p);
    return s !== null && s.state !== 'Z' && (s.ppid === pid || groups.has(s.pgid));
  });
}

/** pause()'s system call number where it has one (x86-64); elsewhere wchan alone tells. */
const PAUSE_SYSCALL = process.arch === 'x64' ? '34' : null;

/** True when some thread of `pid` is blocked in pause(): the simulated device's `hang` fault. */
export function isHung(pid: number): boolean {
  const read = (path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  try {
    return readdirSync(`/proc/${pid}/task`).some((tid) => {
      // wchan names the kernel function (blank where kernel symbols are hidden); syscall its number.
      if (read(`/proc/${pid}/task/${tid}/wchan`).includes('pause')) return true;
      return PAUSE_SYSCALL !== null && read(`/proc/${pid}/task/${tid}/syscall`).split(' ')[0] === PAUSE_SYSCALL;
    });
  } catch {
    return false;
  }
}

export interface Run {
  child: ChildProcess;
  pid: number;
  /** Every process seen as the coordinator's child (the ranks, a driver), and every member of their groups. */
  seen: Set<number>;
  tmp: string;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }>;
}

/** Starts `cuipc ARGS` with its own TMPDIR; records every process of the run while it lives. */
export function startCuipc(args: string[], env: Record<string, string> = {}): Run {
  const tmp = freshDir('tmp');
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, CUIPC_BACKEND: 'sim', TMPDIR: tmp, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid as number;
  const seen = new Set<number>();
  const watch = setInterval(() => {
    for (const p of descendantsOf(pid, seen)) seen.add(p);
  }, 20);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }>((resolve) => {
    child.once('close', (code, signal) => {
      clearInterval(watch);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  return { child, pid, seen, tmp, done };
}

/** Waits until `check` holds (polling every 20 ms); throws with `what` after `ms`. */
export async function waitUntil(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function shmNaming(pids: Iterable<number>): string[] {
  const wanted = new Set([...pids].map(String));
  try {
    return readdirSync('/dev/shm').filter((name) => (name.match(/\d+/g) ?? []).some((n) => wanted.has(n)));
  } catch {
    return [];
  }
}

/**
 * Nothing of the run is left: no process among those seen (given `graceMs` to finish dying),
 * nothing in its temporary folder, nothing in /dev/shm naming one of its pids.
 */
export async function expectNothingLeft(run: Run, graceMs = 1500): Promise<void> {
  const pids = [run.pid, ...run.seen];
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const alive = pids.filter(isAlive);
  for (const p of alive) process.kill(p, 'SIGKILL'); // do not leave them to the next test
  expect(alive, 'processes of the run still alive').toEqual([]);
  expect(readdirSync(run.tmp), 'files left in the run\'s temporary folder').toEqual([]);
  expect(shmNaming(pids), 'files left in /dev/shm naming a pid of the run').toEqual([]);
}
