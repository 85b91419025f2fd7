// `cuipc probe` and `cuipc matrix`: options to ProbeOptions, the report to the terminal or a
// JSON file, and the exit status through process.exitCode. SIGINT, SIGTERM and SIGHUP stop
// the probe (every rank, every file) and print the report so far; a second one exits at once.
import { constants } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Backend, CaptureMode } from '../../binding.js';
import { runMatrix, runProbe, type MatrixOptions } from '../probe/index.js';
import { SnapshotFormatError } from '../env/read-snapshot.js';
import { DEFAULTS, MAX_RANKS, parseDeviceList, parseEnvAssignment, parseEnvFile, ProbeUsageError, type ProbeOptions, type ProbeProgress, type RayLaunchOptions } from '../probe/options.js';
import { checkOutput, FileUsageError, FileWriteError, READ_CAPS, readCappedText, writeOutputFile } from './files.js';
import { renderMatrixReport, renderProbeReport } from '../report/render.js';
import { terminalWidth } from '../report/text.js';
import { describeProgress, ProgressLine } from './progress.js';
import {
  CAPTURE_MODES,
  DEVICE_VISIBILITIES,
  INPUT_ALLOCATORS,
  LAUNCHERS,
  MEMORY_SAVER_MODES,
  PLACEMENT_STRATEGIES,
  SHARE_STRATEGIES,
  type DeviceVisibility,
  type InputAllocator,
  type LauncherKind,
  type MemorySaverMode,
  type PlacementStrategy,
  type ShareStrategy,
} from '../report/types.js';
import { readSnapshotFile } from './env.js';
import { backendOption, EXIT } from './common.js';

export interface CommonFlags {
  ranks?: number;
  inputs?: number;
  bytes?: number;
  captureMode?: CaptureMode;
  memorySaverRegion?: MemorySaverMode;
  devices?: number[];
  backend?: Backend | 'auto';
  env: string[];
  envFrom?: string;
  /** The old spelling, refused with a pointer to --env-from (Node 20 owns --env-file). */
  envFile?: string;
  timeout?: number;
  json?: string | true;
  quiet?: boolean;
  port?: number;
  socket?: string;
  launcher?: LauncherKind;
  visibility?: DeviceVisibility;
  numGpus?: number;
  placementStrategy?: PlacementStrategy;
  nosetVisibleDevices?: boolean;
  rayAddress?: string;
  python?: string;
  coordinatorHost?: string;
  envSnapshot?: string;
}

interface ProbeFlags extends CommonFlags {
  alloc?: InputAllocator;
  share?: ShareStrategy;
}

function integer(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('not an integer.');
  return Number(value);
}

function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('not a number.');
  return n;
}

function deviceList(value: string): number[] {
  try {
    return parseDeviceList(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function addCommonOptions(command: Command): Command {
  return command
    .option('--ranks <n>', `rank processes, 1..${MAX_RANKS}`, integer)
    .option('--inputs <n>', `graph inputs per rank (default ${DEFAULTS.inputs})`, integer)
    .option('--bytes <n>', `bytes per input, a multiple of 4 (default ${DEFAULTS.bytes})`, integer)
    .addOption(new Option('--capture-mode <mode>', `stream capture mode (default ${DEFAULTS.captureMode})`).choices(CAPTURE_MODES))
    .addOption(new Option('--memory-saver-region <mode>', "allocate graph inputs and capture inside the loaded allocator hooks' region (torch_memory_saver's preload hook, cuipc's interposer): auto = when the ranks' SGLANG_MEMORY_SAVER_CUDA_GRAPH is on, as SGLang decides (default auto)").choices(MEMORY_SAVER_MODES))
    .option('--devices <list>', 'device ordinal per rank, e.g. 0,0,1,1 (default: round-robin over visible devices)', deviceList)
    .addOption(backendOption())
    .option('--env <KEY=VALUE>', "a variable for the ranks' environment (repeatable)", collect, [])
    .option('--env-from <file>', "variables for the ranks' environment, one KEY=VALUE per line (formerly --env-file)")
    .addOption(new Option('--env-file <file>').hideHelp())
    .option('--timeout <ms>', `per step (default ${DEFAULTS.timeoutMs})`, integer)
    .option('--json [file]', 'write the report as JSON to the file, or to stdout without one')
    .option('--quiet', 'no text report (the exit status still tells)')
    .option('--port <port>', 'loopback TCP port for the rendezvous (default: an ephemeral port)', integer)
    .option('--socket <path>', 'rendezvous over this Unix socket instead of TCP')
    .option('--coordinator-host <address>', `where the TCP rendezvous listens and ranks connect (default ${DEFAULTS.coordinatorHost}; another address for multi-node Ray)`)
    .addOption(new Option('--launcher <kind>', 'who starts the ranks (default plain)').choices(LAUNCHERS))
    .addOption(new Option('--visibility <mode>', 'plain launcher: all devices visible to every rank (default), or per-rank: CUDA_VISIBLE_DEVICES names one device per rank, as Ray does').choices(DEVICE_VISIBILITIES))
    .option('--env-snapshot <file>', "plain launcher: start ranks in this captured environment (`cuipc env capture --json`) instead of this shell's; --env applies on top")
    .option('--num-gpus <n>', `ray: GPUs each rank's actor asks of its one-GPU bundle, 0 < n <= 1 (default ${DEFAULTS.numGpus}; 0.25 as colocated RL frameworks)`, finiteNumber)
    .addOption(new Option('--placement-strategy <strategy>', `ray: placement group strategy (default ${DEFAULTS.placementStrategy})`).choices(PLACEMENT_STRATEGIES))
    .option('--noset-visible-devices', 'ray: set RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES=1 in the actors (every GPU visible; ranks use their Ray GPU id)')
    .option('--ray-address <address>', 'ray: ray.init(address=...) (default: RAY_ADDRESS or the running cluster, else a local one)')
    .option('--python <program>', `ray: the Python that runs the driver and imports ray (default ${DEFAULTS.python})`);
}

/** Node 20 reads `--env-file` itself (it scans every argument), so cuipc calls it --env-from. */
export const ENV_FILE_RENAMED =
  '--env-file is now --env-from: Node.js 20 takes --env-file for itself (it loads the file into cuipc\'s own environment, or exits 9 when the file is missing). Use --env-from FILE.';

export function toOptions(flags: CommonFlags): Omit<ProbeOptions, 'alloc' | 'share'> {
  if (flags.envFile !== undefined) throw new ProbeUsageError(ENV_FILE_RENAMED);
  if (typeof flags.json === 'string') {
    const inputs = [{ path: flags.envFrom, label: '--env-from' }, { path: flags.envSnapshot, label: '--env-snapshot' }];
    checkOutput(flags.json, '--json', inputs.filter((i): i is { path: string; label: string } => i.path !== undefined));
  }
  const env: Record<string, string> = flags.envFrom ? parseEnvFile(readCappedText(flags.envFrom, READ_CAPS.envFile, '--env-from'), flags.envFrom) : {};
  for (const assignment of flags.env) {
    const [key, value] = parseEnvAssignment(assignment);
    env[key] = value;
  }
  const options: Omit<ProbeOptions, 'alloc' | 'share'> = { env };
  if (flags.ranks !== undefined) options.ranks = flags.ranks;
  if (flags.inputs !== undefined) options.inputs = flags.inputs;
  if (flags.bytes !== undefined) options.bytes = flags.bytes;
  if (flags.captureMode !== undefined) options.captureMode = flags.captureMode;
  if (flags.memorySaverRegion !== undefined) options.memorySaverRegion = flags.memorySaverRegion;
  if (flags.devices !== undefined) options.devices = flags.devices;
  if (flags.backend !== undefined) options.backend = flags.backend;
  if (flags.timeout !== undefined) options.timeoutMs = flags.timeout;
  if (flags.port !== undefined) options.port = flags.port;
  if (flags.socket !== undefined) options.socket = flags.socket;
  if (flags.coordinatorHost !== undefined) options.coordinatorHost = flags.coordinatorHost;
  if (flags.launcher !== undefined) options.launcher = flags.launcher;
  if (flags.visibility !== undefined) options.visibility = flags.visibility;
  if (flags.envSnapshot !== undefined) {
    try {
      options.envSnapshot = readSnapshotFile(flags.envSnapshot);
    } catch (error) {
      if (error instanceof SnapshotFormatError) throw new ProbeUsageError(`--env-snapshot: ${error.message}`);
      throw error;
    }
  }
  const ray: RayLaunchOptions = {};
  if (flags.numGpus !== undefined) ray.numGpus = flags.numGpus;
  if (flags.placementStrategy !== undefined) ray.placementStrategy = flags.placementStrategy;
  if (flags.nosetVisibleDevices !== undefined) ray.nosetVisibleDevices = flags.nosetVisibleDevices;
  if (flags.rayAddress !== undefined) ray.address = flags.rayAddress;
  if (flags.python !== undefined) ray.python = flags.python;
  if (Object.keys(ray).length > 0) options.ray = ray;
  return options;
}

/** Writes the JSON and the text as the flags ask; the text comes first, so a failed write still shows the report. */
function emit(flags: CommonFlags, document: object, text: string): void {
  const json = `${JSON.stringify(document, null, 2)}\n`;
  if (!flags.quiet && flags.json !== true) process.stdout.write(text);
  if (typeof flags.json === 'string') writeOutputFile(flags.json, json, '--json');
  else if (flags.json === true) process.stdout.write(json);
}

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
3 the probe itself could not run (no driver, a rank died or hung).`;

export function registerProbeCommands(program: Command): void {
  const probeCommand = addCommonOptions(
    program
      .command('probe')
      .description("replay a tensor-parallel server's CUDA-graph input sharing in rank processes and pinpoint the call that fails")
      .addOption(new Option('--alloc <allocator>', `how graph inputs are allocated (default ${DEFAULTS.alloc})`).choices(INPUT_ALLOCATORS))
      .addOption(new Option('--share <strategy>', `how graph inputs are shared (default ${DEFAULTS.share})`).choices(SHARE_STRATEGIES)),
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
  cuipc probe --env-from actor.env --json out.json   in a Ray actor's environment, report as JSON
  cuipc probe --backend sim --ranks 8 --inputs 4     no GPU needed (SIMULATED)
  cuipc probe --launcher ray --ranks 4               ranks in Ray actors (also: ray job submit -- npx cuipc probe --launcher ray)
  cuipc probe --env LD_PRELOAD=$TMS_HOOK --env SGLANG_MEMORY_SAVER_CUDA_GRAPH=true
                                                     a colocated SGLang scheduler's environment ($TMS_HOOK:
                                                     torch_memory_saver's preload library)
  cuipc probe --visibility per-rank                  one device per rank, as Ray gives them, without Ray
  cuipc probe --env-snapshot actor.json              ranks in an environment captured in a Ray actor
  cuipc probe --backend sim --env CUIPC_SIM_FAULT='cudaIpcOpenMemHandle@2#1=kill'`,
  );
  probeCommand.action(async (flags: ProbeFlags) => {
    await runReporting(async () => {
      const line = new ProgressLine(process.stderr, process.stderr.isTTY === true && !flags.quiet);
      const options = {
        ...toOptions(flags),
        ...(flags.alloc ? { alloc: flags.alloc } : {}),
        ...(flags.share ? { share: flags.share } : {}),
        ...(line.enabled ? { onProgress: (p: ProbeProgress) => line.update(`cuipc probe: ${describeProgress(p)}`) } : {}),
      };
      const { value: report } = await interruptible((interrupt) => runProbe(options, { interrupt })).finally(() => line.clear());
      emit(flags, report, renderProbeReport(report, { width: terminalWidth(process.stdout) }));
      return report.exitCode;
    });
  });

  const matrixCommand = addCommonOptions(
    program
      .command('matrix')
      .description('run the probe over allocators x share strategies: which cells pass here, and which remedy works'),
  );
  matrixCommand.addHelpText(
    'after',
    `
Each cell is one \`cuipc probe\` with that --alloc and --share; cells that mean nothing are not
run and say why (vmm-export needs --alloc vmm-fd). The table ends with the remedy that works
per allocator: legacy IPC, VMM export, or copying into the registered buffer.

Examples:
  cuipc matrix --ranks 2 --inputs 8
  cuipc matrix --backend sim --json matrix.json

Exit status: 0 every cell ran (pass or fail is the table's content); 2 bad usage; 3 a cell
could not run (no driver, a rank died or hung).`,
  );
  matrixCommand.action(async (flags: CommonFlags) => {
    await runReporting(async () => {
      const line = new ProgressLine(process.stderr, process.stderr.isTTY === true && !flags.quiet);
      let cellsDone = 0;
      const options: MatrixOptions = {
        ...toOptions(flags),
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
