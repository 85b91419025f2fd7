// `cuipc env capture` and `cuipc env diff`: snapshot a launch environment and compare two.
import type { Command } from 'commander';
import { captureEnvironment, type DeviceIdentity, type EnvSnapshot } from '../env/capture.js';
import { diffEnvironments } from '../env/diff.js';
import { parseSnapshot, SnapshotFormatError } from '../env/read-snapshot.js';
import { renderEnvDiff, renderSnapshot } from '../env/render.js';
import { addOutputOptions, type CommandIo, EXIT, jsonFileProblem, outputPlan, processIo, type OutputFlags } from './common.js';
import { FileUsageError, FileWriteError, READ_CAPS, readCappedText, writeOutputFile } from './files.js';

const EXIT_OK = EXIT.ok;
const EXIT_USAGE = EXIT.usage;

export interface EnvCommandOptions {
  /** Visible devices with UUIDs (from the addon); capture leaves `devices` out when absent or when it throws. */
  listDevices?: () => DeviceIdentity[] | undefined | Promise<DeviceIdentity[] | undefined>;
}

export type EnvCommandIo = CommandIo;

/** --json: the snapshot on stdout instead of the report; -o/--out FILE: written to FILE. */
export interface CaptureCommandOptions extends OutputFlags {
  label?: string;
  onlyCudaValues?: boolean;
}

/** Runs `env capture`; returns the exit status. */
export async function runEnvCapture(opts: CaptureCommandOptions, io: EnvCommandIo = processIo, options: EnvCommandOptions = {}): Promise<number> {
  const plan = outputPlan(opts);
  const problem = jsonFileProblem(plan);
  if (problem !== null) {
    io.stderr(`cuipc env capture: ${problem}\n`);
    return EXIT_USAGE;
  }
  const file = plan.file ?? undefined;
  const flag = '--out';
  let devices: DeviceIdentity[] | undefined;
  try {
    devices = options.listDevices ? await options.listDevices() : undefined;
  } catch {
    devices = undefined; // no driver or no GPU: the environment is still worth capturing
  }
  const snapshot = captureEnvironment({
    ...(opts.label !== undefined ? { label: opts.label } : {}),
    ...(devices !== undefined ? { devices } : {}),
    values: opts.onlyCudaValues ? 'relevant' : 'all',
  });
  const json = `${JSON.stringify(snapshot, null, 2)}\n`;
  if (file !== undefined) {
    try {
      writeOutputFile(file, json, flag);
    } catch (err) {
      if (!(err instanceof FileWriteError)) throw err;
      io.stderr(`cuipc env capture: ${err.message}\n`);
      return EXIT.couldNotRun;
    }
  }
  io.stdout(plan.stdoutJson ? json : renderSnapshot(snapshot));
  if (file !== undefined) io.stderr(`cuipc env capture: snapshot written to ${file}\n`);
  return EXIT_OK;
}

/**
 * Reads and checks a snapshot file; throws SnapshotFormatError naming the file and what was
 * expected (also for a file that cannot be read, is larger than READ_CAPS.snapshot or has a NUL byte).
 */
export function readSnapshotFile(path: string): EnvSnapshot {
  let text: string;
  try {
    text = readCappedText(path, READ_CAPS.snapshot, 'snapshot');
  } catch (err) {
    if (!(err instanceof FileUsageError)) throw err;
    throw new SnapshotFormatError(path, err.message.replace(`snapshot ${path}: `, ''));
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new SnapshotFormatError(path, `it is not JSON (${(err as Error).message})`);
  }
  return parseSnapshot(data, path);
}

/** Runs `env diff A B`; returns the exit status. */
export function runEnvDiff(fileA: string, fileB: string, opts: OutputFlags, io: EnvCommandIo = processIo): number {
  const plan = outputPlan(opts);
  const problem = jsonFileProblem(plan, [{ path: fileA, label: 'snapshot A' }, { path: fileB, label: 'snapshot B' }]);
  if (problem !== null) {
    io.stderr(`cuipc env diff: ${problem}\n`);
    return EXIT_USAGE;
  }
  let a: EnvSnapshot;
  let b: EnvSnapshot;
  try {
    a = readSnapshotFile(fileA);
    b = readSnapshotFile(fileB);
  } catch (err) {
    if (err instanceof SnapshotFormatError) {
      io.stderr(`cuipc env diff: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  const diff = diffEnvironments(a, b);
  const json = `${JSON.stringify(diff, null, 2)}\n`;
  io.stdout(plan.stdoutJson ? json : renderEnvDiff(diff, { a: a.label ?? fileA, b: b.label ?? fileB }));
  if (plan.file !== null) {
    try {
      writeOutputFile(plan.file, json, '--out');
    } catch (err) {
      if (!(err instanceof FileWriteError)) throw err;
      io.stderr(`cuipc env diff: ${err.message}\n`);
      return EXIT.couldNotRun;
    }
  }
  return EXIT_OK;
}

const CAPTURE_HELP = `
What it records: the CUDA-relevant variables (CUDA_*, NCCL_*, PYTORCH_*, TORCH_*, SGLANG_*,
VLLM_*, RAY_*, TMS_*, LD_PRELOAD, LD_LIBRARY_PATH, ...) with their values; every other
variable with its value too, redacted where the name looks secret (TOKEN, KEY, SECRET,
PASSWORD; --only-cuda-values keeps only their names); each LD_PRELOAD entry (does it replace cudaMalloc/cudaFree? is it
torch_memory_saver's hook?); the PID namespace, cgroup, /dev/shm size, user and host; and the
hazards found in all that (what each does to CUDA IPC, and the evidence).

Examples:
  # inside a Ray actor (e.g. from the actor's code: subprocess.run([...]) in its own environment)
  npx cuipc env capture -o actor.json --label actor
  # in the shell where the server works when launched by hand
  npx cuipc env capture -o shell.json --label shell
  # then compare
  npx cuipc env diff shell.json actor.json
`;

const DIFF_HELP = `
A and B are files written by \`cuipc env capture -o FILE\`. CUDA-relevant
differences come first, most severe first, each with what it does to CUDA IPC on the side
that has it (an LD_PRELOAD allocator interposer, expandable_segments:True, a different PID
namespace, ...); then the other differences.

Example:
  npx cuipc env capture -o shell.json --label shell
  # ... and inside the Ray actor:  npx cuipc env capture -o actor.json --label actor
  npx cuipc env diff shell.json actor.json

Exit status: 0 when the diff was produced (differences or not), 2 when a file is missing,
unreadable or not a snapshot, 4 internal error (a bug in cuipc).
`;

/** Adds `env capture` and `env diff` to the program. */
export function registerEnvCommand(program: Command, options: EnvCommandOptions = {}): void {
  // Commander usage errors (a missing argument, an unknown option) reach main() through the
  // program's exitOverride, which the subcommands inherit, and exit 2 there.
  const env = program
    .command('env')
    .description('capture a process\'s launch environment, or diff two captures, CUDA-relevant differences first')
    .addHelpText('after', `
Why: a multi-process GPU program that works launched by hand can fail launched from Ray
actors because the environment differs (LD_PRELOAD allocator hooks, PYTORCH_CUDA_ALLOC_CONF,
CUDA_VISIBLE_DEVICES, PID namespace, ...). Capture both, then diff them.
${CAPTURE_HELP.split('\n').filter((l) => /^\s+(#|npx)/.test(l)).join('\n')}
`);

  addOutputOptions(env.command('capture').description('snapshot this process\'s environment and report its CUDA IPC hazards'), 'the snapshot (what `cuipc env diff` reads)')
    .option('--label <name>', 'a name for this capture, shown in diffs (e.g. actor, shell)')
    .option('--only-cuda-values', 'store values only for CUDA-relevant variables; every other variable keeps its name only')
    .addHelpText('after', CAPTURE_HELP)
    .action(async (opts: CaptureCommandOptions) => {
      process.exitCode = await runEnvCapture(opts, processIo, options);
    });

  const diff = env
    .command('diff')
    .description('compare two snapshots: CUDA-relevant differences first, with what each does to IPC')
    .argument('<a>', 'snapshot file A (e.g. the shell capture)')
    .argument('<b>', 'snapshot file B (e.g. the Ray actor capture)');
  addOutputOptions(diff, 'the diff')
    .addHelpText('after', DIFF_HELP)
    .action((a: string, b: string, opts: OutputFlags) => {
      process.exitCode = runEnvDiff(a, b, opts);
    });
}
