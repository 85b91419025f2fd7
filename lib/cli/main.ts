// The command line: each command lives in its own module; this file only wires them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { commander } from './commander.js';
import { CuipcLoadError, packageRoot } from '../binding/native.js';
import { openCuda } from '../cuda/index.js';
import type { DeviceIdentity } from '../env/capture.js';
import { fitText, joinProseLines, terminalWidth } from '../report/text.js';
import { EXIT, JSON_TAKES_NO_FILE } from './common.js';
import { FileUsageError, FileWriteError, why } from './files.js';
import { ProbeUsageError } from '../probe/options.js';
import { registerBisectCommand } from './bisect.js';
import { registerConformanceCommand } from './conformance.js';
import { registerDoctorCommand } from './doctor.js';
import { registerEnvCommand } from './env.js';
import { registerPathsCommand } from './paths.js';
import { registerProbeCommands } from './probe.js';
import { registerTraceCommand } from './trace.js';

/** The version in the package's own package.json (the installed one, not the caller's). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new (commander().Command)('cuipc')
    .description('Find out why a CUDA IPC export or import fails in a multi-process GPU program, and which call it is.')
    .version(packageVersion(), '-V, --version', 'print the version of cuipc')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Start with:
  cuipc doctor                  what this machine has, and whether legacy IPC works
  cuipc probe --ranks 4         replay share_graph_inputs in 4 rank processes; pinpoint the failing call
  cuipc matrix                  which allocator x share strategy works here (the remedy)
  cuipc env capture --json      snapshot this environment (e.g. inside a Ray actor) to diff later
  cuipc conformance --json      record what this GPU and driver answer, cell by cell
  cuipc trace -- CMD ARGS...    run your own program and pinpoint its failing IPC call (CUPTI)
  cuipc paths                   where the shipped libraries are (LD_PRELOAD=$(cuipc paths interposer))

Without a GPU, add --backend sim (or set CUIPC_BACKEND=sim): the simulated device follows
recorded H200 behaviour, and everything it produces says SIMULATED.

Exit status: 0 all passed; 1 a failure was found; 2 bad usage; 3 could not run (no driver,
a rank died or hung); 4 internal error (a bug in cuipc).`,
    );
  registerDoctorCommand(program);
  registerProbeCommands(program);
  registerEnvCommand(program, { listDevices: visibleDevices });
  registerConformanceCommand(program);
  registerTraceCommand(program);
  registerPathsCommand(program);
  registerBisectCommand(program);
  for (const command of program.commands) command.exitOverride();
  fitHelp(program);
  return program;
}

/**
 * Every --help in at most 80 columns (or the terminal's width, when narrower): commander wraps
 * option descriptions, the texts added after them are fitted here, their paragraphs rejoined
 * and wrapped at spaces and after a '/'.
 */
function fitHelp(command: Command): void {
  const width = Math.min(80, terminalWidth(process.stdout));
  command.configureHelp({ helpWidth: width });
  command.configureOutput({
    writeOut: (text) => process.stdout.write(fitText(joinProseLines(text), width)),
  });
  for (const sub of command.commands) fitHelp(sub);
}

/** The devices this process sees, for environment snapshots; undefined without a driver. */
function visibleDevices(): DeviceIdentity[] | undefined {
  const cuda = openCuda();
  const count = cuda.getDeviceCount();
  if (!count.ok || !count.value) return undefined;
  const devices: DeviceIdentity[] = [];
  for (let ordinal = 0; ordinal < count.value; ordinal++) {
    const info = cuda.getDeviceInfo(ordinal);
    if (info.ok && info.value) devices.push({ ordinal, uuid: info.value.uuid, pciBusId: info.value.pciBusId, name: info.value.name });
  }
  return devices;
}

/**
 * A reader that stops early (`cuipc probe --help | head`) is no error: leave quietly, through
 * process.exit so that the exit hooks still stop any rank that runs. Any other failure to
 * write the output (ENOSPC: stdout is a file on a full disk) is one line and exit 3.
 */
export function quietOnClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok);
      if (stream === process.stdout) {
        try {
          process.stderr.write(`cuipc: cannot write the standard output: ${why(error)}\n`);
        } catch {
          // stderr is gone too
        }
      }
      process.exit(EXIT.couldNotRun);
    });
  }
}

/** `program`: the command line to run; a test passes one with a command that has a bug. */
export async function main(argv: string[], program: Command = buildProgram()): Promise<void> {
  quietOnClosedOutput();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const { status, message } = failureOf(error);
    if (message !== '') process.stderr.write(message);
    // `--json FILE`, the old form: FILE is left over as an argument; say what to write instead.
    if (error instanceof commander().CommanderError && error.code === 'commander.excessArguments' && argv.includes('--json')) process.stderr.write(`cuipc: ${JSON_TAKES_NO_FILE}\n`);
    process.exitCode = status;
  }
}

/**
 * A bug in cuipc: what a command threw that no command means to throw. Its own status, so that
 * a script can tell it from a failure found (1), bad usage (2) or a probe that could not run (3).
 * (EXIT in common.ts has no entry for it: only failureOf maps an error to it.)
 */
export const EXIT_INTERNAL = EXIT.internal;

/**
 * The exit status and the message for what a command threw. Bad usage (a RangeError is this
 * code's convention for a bad value) is 2; what could not be done is 3; anything else is a
 * bug: 4, one line that asks for a report, then the stack; never passed off as bad usage or
 * as a probe that could not run (a TypeError included).
 */
export function failureOf(error: unknown): { status: number; message: string } {
  // --help and --version end here too, with code 0; Commander printed the message.
  if (error instanceof commander().CommanderError) return { status: error.exitCode === 0 ? EXIT.ok : EXIT.usage, message: '' };
  if (error instanceof CuipcLoadError) return { status: EXIT.couldNotRun, message: `${error.message}\n` };
  if (error instanceof FileWriteError) return { status: EXIT.couldNotRun, message: `cuipc: ${error.message}\n` };
  if (error instanceof RangeError || error instanceof FileUsageError || error instanceof ProbeUsageError) return { status: EXIT.usage, message: `cuipc: ${error.message}\n` };
  return { status: EXIT_INTERNAL, message: internalErrorMessage(error) };
}

function internalErrorMessage(error: unknown): string {
  let version = 'of unknown version';
  try {
    version = packageVersion();
  } catch {
    // a broken install: the report still goes out
  }
  const text = error instanceof Error ? error.message : String(error);
  const line = `internal error in cuipc ${version}: ${text.split('\n')[0]} -- this is a bug; please report it with the command line and the stack below`;
  const stack = error instanceof Error && error.stack ? error.stack : String(error);
  return `${line}\n${stack}\n`;
}
