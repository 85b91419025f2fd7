// Runs a command with the CUPTI injection library in its environment, so that the CUDA
// driver of every process it starts (children, Ray workers started from it) loads the
// tracer, then reads back the traces of that run.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findInjectionLibrary, INJECTION_LIBRARY, type InjectionSearch } from '../binding/libraries.js';
import { summarizeTraceDir, type TraceSummary } from './summary.js';
import { randomHex } from '../files/random.js';

export class TraceUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceUnavailableError';
  }
}

function newRunId(): string {
  return `${Date.now().toString(36)}${randomHex(3)}`;
}

export interface TraceRunOptions {
  /** Where the traces go; default a new folder in the temporary directory. */
  outDir?: string;
  env?: Record<string, string | undefined>;
  /** Where the command's output goes; default inherited. */
  stdio?: 'inherit' | 'ignore' | 'pipe';
  /** Run the command in its own process group and pass every signal on (default: when stdin is not a terminal). */
  ownGroup?: boolean;
}

/** The trace folder exists (created if needed) and is a folder; RangeError (bad usage) if not. */
function prepareOutDir(dir: string, label: string): void {
  try {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new RangeError(`cuipc trace: ${label} ${dir} is a file; name a folder for the traces`);
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    if (error instanceof RangeError) throw error;
    throw new RangeError(`cuipc trace: ${label} ${dir}: cannot create the folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

interface TraceRunResult {
  dir: string;
  run: string;
  library: string;
  exit: { code: number | null; signal: string | null };
  /** The shell's convention: the code, or 128 + the signal number. */
  status: number;
  summary: TraceSummary;
}

/** The environment the command runs in: the caller's, plus the injection. */
function traceEnvironment(base: Record<string, string | undefined>, library: string, dir: string, run: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  env.CUDA_INJECTION64_PATH = library;
  env.CUIPC_TRACE_DIR = dir;
  env.CUIPC_TRACE_RUN = run;
  return env;
}

/**
 * Checks before running: the library exists, and no other tool has claimed the driver's one
 * injection slot. Throws TraceUnavailableError with what to do.
 */
function checkTraceable(env: Record<string, string | undefined>, library: InjectionSearch): string {
  if (library.path === null) {
    throw new TraceUnavailableError(
      [
        `cuipc trace: the injection library ${INJECTION_LIBRARY} was not found, so nothing can be traced.`,
        ...library.searched.map((s) => `  looked for ${s}`),
        'What to do: build it where the CUDA toolkit (with CUPTI headers) is installed: `npx cmake-js configure --out build && cmake --build build --target cuipc_trace`',
        '(CUDA_HOME names the toolkit), or set CUIPC_TRACE_LIBRARY to its path.',
      ].join('\n'),
    );
  }
  const other = env.CUDA_INJECTION64_PATH;
  if (other && resolve(other) !== library.path) {
    throw new TraceUnavailableError(
      [
        `cuipc trace: CUDA_INJECTION64_PATH is already set to ${other}: another tool (Nsight Systems, a profiler) injects itself into CUDA,`,
        'and the driver loads only one injection library per process; that tool also holds the one CUPTI subscriber.',
        'What to do: run cuipc trace outside that tool, or unset CUDA_INJECTION64_PATH for this run.',
      ].join('\n'),
    );
  }
  return library.path;
}

export async function runTraced(command: readonly string[], options: TraceRunOptions = {}): Promise<TraceRunResult> {
  if (command.length === 0) throw new RangeError('cuipc trace: no command given (usage: cuipc trace [--out DIR] -- COMMAND ARGS...)');
  const baseEnv = options.env ?? process.env;
  const library = checkTraceable(baseEnv, findInjectionLibrary(baseEnv));
  const run = newRunId();
  const chosen = options.outDir ?? baseEnv.CUIPC_TRACE_DIR;
  if (chosen !== undefined) prepareOutDir(resolve(chosen), options.outDir !== undefined ? '--out' : 'CUIPC_TRACE_DIR');
  const dir = resolve(chosen ?? mkdtempSync(join(tmpdir(), 'cuipc-trace-')));
  const env = traceEnvironment(baseEnv, library, dir, run);

  const exit = await new Promise<{ code: number | null; signal: string | null }>((resolveExit, rejectExit) => {
    // At a terminal the command stays in cuipc's process group: Ctrl-C reaches it (and its
    // workers) from the terminal, and it keeps the terminal for input. Elsewhere (a script,
    // CI, a job runner that signals cuipc's pid) it leads a group of its own, and every
    // signal cuipc gets is passed on to that whole group, as a terminal would deliver it.
    const ownGroup = options.ownGroup ?? !process.stdin.isTTY;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(command[0], command.slice(1), { env, stdio: options.stdio ?? 'inherit', detached: ownGroup });
    } catch (error) {
      if (chosen === undefined) rmSync(dir, { recursive: true, force: true });
      rejectExit(new RangeError(`cuipc trace: cannot run ${command[0]}: ${(error as Error).message}`));
      return;
    }
    const received = new Set<string>();
    // Either way cuipc stays to summarize what was traced; a second signal of a kind kills.
    const forward = (signal: NodeJS.Signals) => () => {
      const again = received.has(signal);
      received.add(signal);
      if (!ownGroup && signal === 'SIGINT' && !again) return; // the terminal delivered it already
      const pid = child.pid;
      if (pid === undefined) return;
      try {
        process.kill(ownGroup ? -pid : pid, again ? 'SIGKILL' : signal);
      } catch {
        // gone already
      }
    };
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const done = (): void => { for (const [s, h] of handlers) process.off(s, h); };
    child.once('error', (error: NodeJS.ErrnoException) => {
      done();
      if (chosen === undefined) rmSync(dir, { recursive: true, force: true }); // our own, and empty: nothing ran
      rejectExit(error.code === 'ENOENT'
        ? new RangeError(`cuipc trace: cannot run ${command[0]}: command not found`)
        : new RangeError(`cuipc trace: cannot run ${command[0]}: ${error.message}`));
    });
    child.once('exit', (code, signal) => { done(); resolveExit({ code, signal }); });
  });
  const signalNumber = exit.signal ? (constants.signals as Record<string, number>)[exit.signal] ?? 0 : 0;
  const status = exit.code ?? 128 + signalNumber;
  return { dir, run, library, exit, status, summary: summarizeTraceDir(dir, { run }) };
}
