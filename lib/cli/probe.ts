// `cuipc probe` and `cuipc matrix`: options to ProbeOptions, the report to the terminal or a
// JSON file, and the exit status through process.exitCode. SIGINT, SIGTERM and SIGHUP stop
// the probe (every rank, every file) and print the report so far; a second one exits at once.
import { constants } from 'node:os';
import type { Command, Option } from 'commander';
import { option } from './commander.js';
import { runMatrix, runProbe, type MatrixOptions } from '../probe/index.js';
import { ProbeUsageError, type ProbeProgress } from '../probe/options.js';
import type { FixCheckEvent } from '../probe/fix-checks.js';
import { FileUsageError, FileWriteError, writeOutputFile } from './files.js';
import { renderMatrixReport, renderProbeReport } from '../report/render.js';
import { terminalWidth } from '../report/text.js';
import { renderMatrixMarkdown, renderProbeMarkdown } from '../report/markdown.js';
import type { MatrixReport, ProbeReport } from '../report/types.js';
import { describeProgress, ProgressLine } from './progress.js';
import { answerFirst } from './answer-first.js';
import { EXIT } from './common.js';
import { addProbeOptions, toOptions, type CommonFlags } from './probe-flags.js';

export { addProbeOptions, toOptions, ENV_FILE_RENAMED, type CommonFlags } from './probe-flags.js';

/** The matrix runs every allocator and share strategy: those two flags are the probe's alone. */
const MATRIX_EXCLUDES = ['alloc', 'share'];

/** --format markdown: the issue-ready report in place of the text. */
function markdownOf(document: ProbeReport | MatrixReport): string {
  return document.kind === 'matrix' ? renderMatrixMarkdown(document) : renderProbeMarkdown(document, process.env);
}

/** Writes the JSON and the text as the flags ask; the text comes first, so a failed write still shows the report. */
function emit(flags: CommonFlags, document: object, text: string): void {
  const json = `${JSON.stringify(document, null, 2)}\n`;
  if (!flags.quiet && flags.json !== true) process.stdout.write(flags.format === 'markdown' ? markdownOf(document as ProbeReport | MatrixReport) : text);
  if (flags.json === true) process.stdout.write(json);
  if (flags.out !== undefined) writeOutputFile(flags.out, json, '--out');
}

/** The help group of --check-fixes / --no-check-fixes. */
const FIX_GROUP = 'Fix checks:';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** 128 + the signal's number, as a shell reports a process a signal ended. */
export function signalExit(signal: string): number {
  return 128 + ((constants.signals as Record<string, number>)[signal] ?? 2);
}

/**
 * While `action` runs, SIGINT/SIGTERM/SIGHUP abort its signal (the probe stops its ranks,
 * cleans up and reports); a second signal exits at once (the coordinator's exit hook still
 * kills every rank and removes its socket).
 */
async function interruptible<T>(action: (interrupt: AbortSignal) => Promise<T>): Promise<{ value: T; signal: string | null }> {
  const controller = new AbortController();
  const handlers = STOP_SIGNALS.map((name) => {
    const handler = (): void => {
      if (controller.signal.aborted) process.exit(signalExit(name));
      process.stderr.write(`cuipc: ${name}: stopping every rank (again to exit at once)\n`);
      controller.abort(name);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  try {
    const value = await action(controller.signal);
    return { value, signal: controller.signal.aborted ? String(controller.signal.reason) : null };
  } finally {
    for (const [name, handler] of handlers) process.off(name, handler);
  }
}

async function runReporting(action: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await action();
  } catch (error) {
    if (error instanceof ProbeUsageError || error instanceof FileUsageError) {
      process.stderr.write(`cuipc: ${error.message}\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    if (error instanceof FileWriteError) {
      process.stderr.write(`cuipc: ${error.message}\n`);
      process.exitCode = EXIT.couldNotRun;
      return;
    }
    throw error;
  }
}

const STEPS_HELP = `
What each step does (every rank, in lock step: all ranks finish a step before any starts the next):
  init       load the backend, cudaSetDevice + context creation, record the device identity,
             which libraries serve cudaMalloc (an LD_PRELOAD interposer shows here) and the
             environment hazards of the rank
  register   the communicator's own buffer, as SGLang's create_shared_buffer makes it (cudaMalloc
             of meta_size + 8 MiB on libcudart's own handle): cudaIpcGetMemHandle, all-gather,
             cudaIpcOpenMemHandle(lazy peer access) of every peer's buffer
  capture    graph inputs allocated with --alloc (torch: PyTorch's segments, during the
             capture), a stream capture (--capture-mode) records an all-reduce kernel per input
             reading a table of peer pointers (filled later); as
             SGLang does under SGLANG_MEMORY_SAVER_CUDA_GRAPH, inside the region of the loaded
             allocator hook (torch_memory_saver's preload hook), see --memory-saver-region
  export     per input its allocation base (RANGE_START_ADDR) and offset, de-duplicated, then
             cudaIpcGetMemHandle on each base (--share ipc), an fd from
             cuMemExportToShareableHandle (--share vmm-export), or nothing new (--share copy:
             inputs are copied into the registered buffer)
  exchange   all-gather of (handle, offset) pairs or (pid, fd)
  import     cudaIpcOpenMemHandle per peer handle (or pidfd_getfd + cuMemImportFromShareableHandle);
             pointer table = peer base + offset
  replay     every rank fills its inputs, then launches the graph
  verify     every rank checks the all-reduce output byte for byte (or reads peers' inputs with
             copies when kernels are unavailable)
  teardown   handles closed, graph and stream destroyed, memory freed, fds closed

Exit status: 0 all steps passed; 1 the probe found a failure (see the pinpoint); 2 bad usage;
3 the probe itself could not run (no driver, a rank died or hung); 4 internal error (a bug in
cuipc).`;

export function registerProbeCommands(program: Command): void {
  const probeCommand = addProbeOptions(
    program.command('probe').description("replay a tensor-parallel server's CUDA-graph input sharing in rank processes and pinpoint the call that fails"),
  );
  probeCommand.addHelpText(
    'after',
    `${STEPS_HELP}

Allocators: torch (the default: as PyTorch's caching allocator under the ranks'
PYTORCH_CUDA_ALLOC_CONF -- 2 MiB / 20 MiB segments carved into tensors, cudaMalloc'd during the
capture so a preloaded hook sees what it sees under SGLang; expandable_segments:True maps them
with cuMemCreate, backend:cudaMallocAsync takes the pool); and, bypassing PyTorch: cudaMalloc;
vmm (cuMemCreate with no handle type, as torch_memory_saver allocates); vmm-fd (cuMemCreate with a
POSIX-fd handle type); pool (cudaMallocAsync); managed (cudaMallocManaged); host (cudaHostAlloc).

Examples:
  cuipc probe --ranks 4                              the default: inputs as PyTorch makes them, legacy IPC
  cuipc probe --env PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
                                                     what expandable segments do to the export
  cuipc probe --ranks 2 --alloc vmm                  VMM inputs, without PyTorch
  cuipc probe --alloc vmm --share copy               the upstream fix
  cuipc probe --env-from actor.env -o out.json       in a Ray actor's environment, JSON to out.json
  cuipc probe --backend sim --ranks 8 --inputs 4     no GPU needed (SIMULATED)
  cuipc probe --launcher ray --ranks 4               ranks in Ray actors (also: ray job submit -- npx cuipc probe --launcher ray)
  cuipc probe --env LD_PRELOAD=$TMS_HOOK --env SGLANG_MEMORY_SAVER_CUDA_GRAPH=true
                                                     a colocated SGLang scheduler's environment ($TMS_HOOK:
                                                     torch_memory_saver's preload library)
  cuipc probe --visibility per-rank                  one device per rank, as Ray gives them, without Ray
  cuipc probe --env-snapshot actor.json              ranks in an environment captured in a Ray actor
  cuipc probe --backend sim --env CUIPC_SIM_FAULT='cudaIpcOpenMemHandle@2#1=kill'

Fix checks: after a failure, each fix the answer names that a probe option can express (unset
a variable, drop an LD_PRELOAD entry or an allocator setting, --share copy, ...) is replayed
as a probe of its own with the same options but that change, and the Fix list marks it
"verified: passes with it", "clears this failure; later: ..." (its probe got past the step
that failed and stopped in a later one), "tried: still fails (...)" or "not checked (why)".
About one more probe's time per fix; --no-check-fixes skips them. Ctrl-C stops the replays too.`,
  );
  probeCommand
    .addOption(option('--check-fixes', 'after a failure, replay each fix as its own probe and mark which pass (the default)').helpGroup(FIX_GROUP))
    .addOption(option('--no-check-fixes', 'print the fixes without replaying them').helpGroup(FIX_GROUP));
  probeCommand.action(async (flags: CommonFlags) => {
    await runReporting(async () => {
      const line = new ProgressLine(process.stderr, process.stderr.isTTY === true && !flags.quiet);
      const render = (r: Parameters<typeof renderProbeReport>[0]): string => renderProbeReport(r, { width: terminalWidth(process.stdout), brief: flags.verbose !== true, env: process.env });
      const textOf = (r: ProbeReport): string => (flags.format === 'markdown' ? markdownOf(r) : render(r));
      const checkFixes = flags.checkFixes !== false;
      // The verdict as soon as it is known, while the ranks tear down (answer-first.ts); the JSON at the end.
      const first = answerFirst(!flags.quiet && flags.json !== true, line, textOf, (text) => process.stdout.write(text), (r) =>
        checkFixes && r.result === 'failed' ? { split: flags.format !== 'markdown' } : null);
      const options = {
        ...toOptions(flags),
        ...(line.enabled ? { onProgress: (p: ProbeProgress) => line.update(`cuipc probe: ${describeProgress(p)}`) } : {}),
        onAnswer: first.onAnswer,
        checkFixes,
        ...(line.enabled ? { onFixCheck: (e: FixCheckEvent) => (e.check ? line.clear() : line.update(`cuipc probe: replaying fix ${e.index} of ${e.total}: ${e.change}`)) } : {}),
      };
      const { value: report } = await interruptible((interrupt) => runProbe(options, { interrupt })).finally(() => line.clear());
      emit(first.answered() ? { ...flags, quiet: true } : flags, report, render(report));
      process.stdout.write(first.rest(report));
      process.stdout.write(first.afterword(report));
      // Stopped while replaying the fixes: the verdict stands (the JSON's exitCode), the process says it was stopped.
      return report.fixChecks?.interrupted ? signalExit(report.fixChecks.interrupted) : report.exitCode;
    });
  });

  const matrixCommand = addProbeOptions(
    program.command('matrix').description('run the probe over allocators x share strategies: which cells pass here, and which remedy works'),
    MATRIX_EXCLUDES,
  );
  matrixCommand.addHelpText(
    'after',
    `
Each cell is one \`cuipc probe\` with that --alloc and --share; cells that mean nothing are not
run and say why (vmm-export needs --alloc vmm-fd). The table ends with the remedy that works
per allocator: legacy IPC, VMM export, or copying into the registered buffer.

Examples:
  cuipc matrix --ranks 2 --inputs 8
  cuipc matrix --backend sim -o matrix.json

Exit status: 0 every cell ran (pass or fail is the table's content); 2 bad usage; 3 a cell
could not run (no driver, a rank died or hung); 4 internal error (a bug in cuipc).`,
  );
  matrixCommand.action(async (flags: CommonFlags) => {
    await runReporting(async () => {
      const line = new ProgressLine(process.stderr, process.stderr.isTTY === true && !flags.quiet);
      let cellsDone = 0;
      const options: MatrixOptions = {
        ...toOptions(flags, MATRIX_EXCLUDES),
        onCell: (cell, done, total) => {
          cellsDone = done;
          if (!flags.quiet && flags.json !== true) {
            line.clear();
            process.stderr.write(`  [${done}/${total}] ${cell.alloc} + ${cell.share}: ${cell.status}${cell.reason && cell.status !== 'skipped' ? ` (${cell.reason})` : ''}\n`);
          }
        },
        ...(line.enabled ? { onProgress: (p: ProbeProgress) => line.update(`cuipc matrix: cell ${cellsDone + 1}: ${describeProgress(p)}`) } : {}),
      };
      const { value: report, signal } = await interruptible((interrupt) => runMatrix(options, { interrupt })).finally(() => line.clear());
      const text = renderMatrixReport(report, { width: terminalWidth(process.stdout) });
      emit(flags, report, signal ? `${text}INTERRUPTED by ${signal}: the cells above ran; no further cell was started.\n` : text);
      return signal ? signalExit(signal) : report.exitCode;
    });
  });
}
