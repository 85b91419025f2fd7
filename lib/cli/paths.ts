// `cuipc paths [NAME]`: where the shipped libraries are on this install, for LD_PRELOAD and
// CUDA_INJECTION64_PATH. A missing file is reported as missing (and the exit status says so):
// a nonexistent LD_PRELOAD entry is ignored by the dynamic linker, and a probe run with it
// would pass without having tested anything.
import type { Command } from 'commander';
import { LIBRARY_IDS, shippedLibraries, type ShippedLibrary } from '../binding/libraries.js';
import { addOutputOptions, type CommandIo, EXIT, processIo, toJson, type OutputFlags } from './common.js';
import { checkWritable, FileUsageError, FileWriteError, writeOutputFile } from './files.js';

export type PathsIo = CommandIo;

export function renderPaths(libraries: readonly ShippedLibrary[]): string {
  const width = Math.max(...libraries.map((l) => l.id.length));
  const lines: string[] = [];
  for (const lib of libraries) {
    lines.push(`${lib.id.padEnd(width)}  ${lib.exists ? lib.path : 'MISSING'}`);
    lines.push(`${' '.repeat(width)}  ${lib.purpose}`);
    if (!lib.exists) for (const place of lib.searched) lines.push(`${' '.repeat(width)}  looked in ${place}`);
  }
  const missing = libraries.filter((l) => !l.exists);
  if (missing.length > 0) {
    lines.push('', `${missing.map((l) => l.id).join(', ')}: not on this install. A source build makes them (npm rebuild cuipc; the trace library needs the CUPTI headers of a CUDA toolkit).`);
  }
  return lines.join('\n') + '\n';
}

/** Prints one library's path (nothing else, for $(...)) or all of them; returns the exit status. */
export function runPaths(
  name: string | undefined,
  opts: OutputFlags,
  io: PathsIo = processIo,
  libraries: readonly ShippedLibrary[] = shippedLibraries(),
): number {
  if (name !== undefined) {
    const lib = libraries.find((l) => l.id === name);
    if (!lib) {
      const known = LIBRARY_IDS.filter((id) => id !== 'tms-standin' || libraries.some((l) => l.id === id));
      io.stderr(`cuipc paths: unknown library '${name}'; expected one of ${known.join(', ')}\n`);
      return EXIT.usage;
    }
    if (!lib.exists) {
      io.stderr(`cuipc paths: ${lib.id} (${lib.purpose}) is missing; looked in:\n${lib.searched.map((s) => `  ${s}\n`).join('')}`);
      return EXIT.failureFound;
    }
    io.stdout(`${lib.path}\n`);
    return EXIT.ok;
  }
  const document = { kind: 'paths', libraries };
  if (opts.out !== undefined) {
    try {
      checkWritable(opts.out, '--out');
      writeOutputFile(opts.out, toJson(document) + '\n', '--out');
    } catch (error) {
      if (!(error instanceof FileUsageError || error instanceof FileWriteError)) throw error;
      io.stderr(`cuipc paths: ${error.message}\n`);
      return error instanceof FileUsageError ? EXIT.usage : EXIT.couldNotRun;
    }
  }
  if (opts.json === true) io.stdout(toJson(document) + '\n');
  else io.stdout(renderPaths(libraries));
  return libraries.some((l) => !l.exists) ? EXIT.failureFound : EXIT.ok;
}

export function registerPathsCommand(program: Command): void {
  addOutputOptions(
    program
      .command('paths')
      .description('where the shipped libraries are on this install (simulated device, interposer, trace library), for LD_PRELOAD and CUDA_INJECTION64_PATH')
      .argument('[name]', `print only this library's path: ${LIBRARY_IDS.join(', ')}`),
    'the list',
  )
    .addHelpText(
      'after',
      `
Libraries:
  addon        the Node-API addon cuipc loads
  sim          the simulated device (--backend sim, CUIPC_BACKEND=sim)
  interposer   an LD_PRELOAD library that serves cudaMalloc from cuMemCreate + cuMemMap, as
               torch_memory_saver's preload mode does: reproduces the export failure on purpose
  trace        the CUPTI injection library \`cuipc trace\` puts in CUDA_INJECTION64_PATH
  tms-standin  a test library with torch_memory_saver's preload ABI (listed when a build has one)

A library that is not on this install is reported as MISSING with every place looked; with
NAME, nothing is printed on stdout and the exit status is 1.

Exit status: 0 every library (or NAME) found; 1 one is missing; 2 bad usage; 4 internal
error (a bug in cuipc).

Examples:
  cuipc paths
  cuipc paths --json
  cuipc probe --ranks 4 --env LD_PRELOAD=$(cuipc paths interposer)`,
    )
    .action((name: string | undefined, opts: OutputFlags) => {
      process.exitCode = runPaths(name, opts);
    });
}
