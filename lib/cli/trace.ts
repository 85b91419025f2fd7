// `cuipc trace [--trace-dir DIR] -- COMMAND ARGS...` and `cuipc trace report PATH`: run a command
// under the CUPTI injection library and summarize what failed, or summarize traces again (a
// folder of them, renamed or not, or one trace file).
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { TraceFormatError } from '../trace/format.js';
import { renderTraceMarkdown } from '../trace/markdown.js';
import { renderTraceSummary } from '../trace/render.js';
import { runTraced, TraceUnavailableError, type TraceRunOptions } from '../trace/run.js';
import { summarizeTracePath, type TraceSummary } from '../trace/summary.js';
import { addFormatOption, addOutputOptions, type CommandIo, EXIT, jsonFileProblem, JSON_TAKES_NO_FILE, outputPlan, processIo, type OutputFlags } from './common.js';
import { checkOutputFolder, FileUsageError, FileWriteError, writeOutputFile } from './files.js';

export type TraceCommandIo = CommandIo;

/** --json: the summary on stdout instead of the text; -o/--out FILE: written to FILE. */
export interface TraceCommandOptions extends OutputFlags {
  /** The folder for the per-process traces. */
  traceDir?: string;
  run?: string;
  verbose?: boolean;
}

function summaryJson(summary: TraceSummary, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ kind: 'trace', ...extra, ...summary }, null, 2)}\n`;
}

/** Writes the summary as --json and --out ask (see addOutputOptions); false when FILE could not be written. */
function writeSummary(plan: ReturnType<typeof outputPlan>, json: string, io: TraceCommandIo): boolean {
  if (plan.stdoutJson) io.stdout(json);
  if (plan.file === null) return true;
  try {
    writeOutputFile(plan.file, json, '--out');
    return true;
  } catch (error) {
    if (!(error instanceof FileWriteError)) throw error;
    io.stderr(`cuipc trace: ${error.message}\n`);
    return false;
  }
}

/** Every process that used CUDA could not be traced (no CUPTI, subscriber taken). */
function nothingTraced(summary: TraceSummary): boolean {
  return summary.processes.length > 0 && summary.untraced === summary.processes.length;
}

/** Runs the command traced; returns cuipc's exit status (the command's own, 2 or 3). */
export async function runTraceCommand(command: string[], opts: TraceCommandOptions, io: TraceCommandIo = processIo, runOptions: TraceRunOptions = {}): Promise<number> {
  if (command.length === 0) {
    io.stderr('cuipc trace: no command given. Usage: cuipc trace [--trace-dir DIR] -- COMMAND ARGS...\n');
    return EXIT.usage;
  }
  if (opts.run !== undefined) {
    io.stderr('cuipc trace: --run selects a run for `cuipc trace report DIR`; a new run gets a new id\n');
    return EXIT.usage;
  }
  const plan = outputPlan(opts);
  const problem = jsonFileProblem(plan);
  if (problem !== null) {
    // --out used to name the traces' folder: say where that went.
    io.stderr(`cuipc trace: ${problem}${/folder/.test(problem) ? ' (-o/--out is the JSON summary\'s file; the traces\' folder is --trace-dir DIR)' : ''}\n`);
    return EXIT.usage;
  }
  // The trace folder is checked here, before the command starts (creating one under /proc never returns).
  const outDir = opts.traceDir ?? (runOptions.env ?? process.env).CUIPC_TRACE_DIR;
  if (outDir !== undefined) {
    try {
      checkOutputFolder(outDir, opts.traceDir !== undefined ? '--trace-dir' : 'CUIPC_TRACE_DIR');
    } catch (error) {
      if (!(error instanceof FileUsageError)) throw error;
      io.stderr(`cuipc trace: ${error.message}\n`);
      return EXIT.usage;
    }
  }
  let result;
  try {
    result = await runTraced(command, { ...runOptions, ...(opts.traceDir !== undefined ? { outDir: opts.traceDir } : {}) });
  } catch (error) {
    if (error instanceof TraceUnavailableError) {
      io.stderr(`${error.message}\n`);
      return EXIT.couldNotRun;
    }
    if (error instanceof RangeError) {
      io.stderr(`${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  }
  const { summary, exit } = result;
  if (plan.text) io.stderr(renderTraceSummary(summary, { verbose: opts.verbose === true, commandStatus: exit }));
  if (!writeSummary(plan, summaryJson(summary, { command, exit, status: result.status, library: result.library }), io)) return EXIT.couldNotRun;
  if (nothingTraced(summary)) {
    io.stderr(`cuipc trace: no process could be traced (see above); the command's own exit status was ${result.status}\n`);
    return EXIT.couldNotRun;
  }
  return result.status;
}

/**
 * Summarizes traces again: a folder (tracer-named or renamed trace files) or one trace file;
 * 0 nothing failed, 1 a traced call failed, 2 no such file or folder, 3 nothing traced.
 */
export function runTraceReport(path: string, opts: TraceCommandOptions, io: TraceCommandIo = processIo): number {
  const plan = outputPlan(opts);
  const problem = jsonFileProblem(plan, [{ path, label: 'the trace' }]);
  if (problem !== null) {
    io.stderr(`cuipc trace report: ${problem}\n`);
    return EXIT.usage;
  }
  let summary: TraceSummary;
  try {
    const stats = statSync(path, { throwIfNoEntry: false });
    if (stats !== undefined && !stats.isFile() && !stats.isDirectory()) throw new FileUsageError(`${path}: neither a trace file nor a folder of traces (not a regular file)`);
    summary = summarizeTracePath(path, opts.run !== undefined ? { run: opts.run } : {});
  } catch (error) {
    if (error instanceof TraceFormatError || error instanceof FileUsageError) {
      io.stderr(`cuipc trace report: ${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  }
  if (opts.run !== undefined && summary.processes.length === 0) {
    const runs = summary.otherRuns.map((r) => r ?? '(no run id)');
    io.stderr(`cuipc trace report: no trace of run ${opts.run} in ${path}; ${runs.length > 0 ? `the runs there: ${runs.join(', ')}` : 'it holds no traces'}\n`);
    return EXIT.usage;
  }
  if (plan.text) io.stdout(opts.format === 'markdown' ? renderTraceMarkdown(summary) : renderTraceSummary(summary, { verbose: true }));
  if (!writeSummary(plan, summaryJson(summary), io)) return EXIT.couldNotRun;
  if (summary.processes.length === 0 || nothingTraced(summary)) return EXIT.couldNotRun;
  return summary.failing > 0 ? EXIT.failureFound : EXIT.ok;
}

/** True when `report` came before any `--`: the subcommand, not a program named report. */
function isReportSubcommand(rawArgs: readonly string[], operands: readonly string[]): boolean {
  if (operands[0] !== 'report') return false;
  const traceAt = rawArgs.indexOf('trace');
  const reportAt = rawArgs.indexOf('report', traceAt + 1);
  const dashAt = rawArgs.indexOf('--', traceAt + 1);
  return reportAt >= 0 && (dashAt < 0 || reportAt < dashAt);
}

export function registerTraceCommand(program: Command): void {
  const command = program
    .command('trace')
    .description('Run a command with CUDA API tracing (CUPTI) and report which IPC call failed, on which pointer, and where that pointer came from')
    .usage('[--trace-dir DIR] [--json] [-o FILE] -- COMMAND ARGS...\n       cuipc trace report DIR|FILE [--run ID] [--json] [-o FILE]')
    .argument('[command...]', 'the command to run, after --')
    .option('--trace-dir <dir>', 'folder for the per-process traces (default: $CUIPC_TRACE_DIR, else a new temporary folder)')
    .option('--run <id>', 'with `report`: which run in the folder (default: the latest)');
  addFormatOption(addOutputOptions(command, 'the summary'))
    .option('-v, --verbose', 'print every process, and informational hazards, also when nothing failed')
    .addHelpText(
      'after',
      `
The command runs with CUDA_INJECTION64_PATH naming cuipc's CUPTI injection library: the CUDA
driver of every process that inherits the environment (children, torchrun/multiprocessing
workers, a Ray cluster started by the command) loads it, and nothing in the program changes.
Each process writes one JSON-lines file (CUDA IPC, allocation, VMM, shareable-handle and
stream-capture calls, with return codes, calling library, pointer attributes). Afterwards
cuipc prints, per process, the first failing IPC call, its pointer's provenance, the
environment hazards and the explanation; it prints nothing when nothing failed.

A Ray cluster that was already running does not inherit the variable: pass
CUDA_INJECTION64_PATH, CUIPC_TRACE_DIR and CUIPC_TRACE_RUN in runtime_env env_vars.
Only one CUPTI subscriber can exist per process: do not combine with Nsight Systems or
torch.profiler. CUIPC_LIBCUPTI names the libcupti to use; CUIPC_TRACE_LIBRARY the tracer.

Exit status: the command's own; 2 bad usage; 3 the trace could not run (no injection
library, no CUPTI, another tool holds CUPTI). \`trace report\`: 0 nothing failed, 1 a traced
call failed, 2 no such file or folder, 3 nothing was traced. Both: 4 internal error (a bug in
cuipc).

\`trace report\` reads a folder of traces (the files the tracer wrote, cuipc-trace-*.jsonl, and
any other file in it that starts like a trace, e.g. renamed rank0.jsonl) or a single trace file.

Examples:
  cuipc trace -- python serve.py --tp 4
  cuipc trace --trace-dir ./traces -- torchrun --nproc-per-node 4 train.py
  cuipc trace report ./traces
  cuipc trace report ./traces/cuipc-trace-m3k9x2-4242.jsonl
  cuipc trace report ./traces --json > trace-summary.json`,
    )
    .action(async (operands: string[], opts: TraceCommandOptions) => {
      // Commander keeps the arguments it parsed (with the `--`) in rawArgs, not in its typings.
      const rawArgs = (program as unknown as { rawArgs?: string[] }).rawArgs ?? process.argv;
      if (isReportSubcommand(rawArgs, operands)) {
        if (operands.length !== 2 || opts.traceDir !== undefined) {
          process.stderr.write('cuipc trace report: usage: cuipc trace report DIR|FILE [--run ID] [--json] [-o FILE] [--verbose]\n');
          process.exitCode = EXIT.usage;
          return;
        }
        process.exitCode = runTraceReport(operands[1], opts);
        return;
      }
      // `--json FILE` (the old form) left FILE before the `--`: refuse it rather than run FILE.
      const jsonAt = rawArgs.indexOf('--json');
      const dashAt = rawArgs.indexOf('--');
      if (jsonAt >= 0 && dashAt > jsonAt + 1 && !rawArgs[jsonAt + 1].startsWith('-')) {
        process.stderr.write(`cuipc trace: ${JSON_TAKES_NO_FILE}\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      process.exitCode = await runTraceCommand(operands, opts);
    });
}
