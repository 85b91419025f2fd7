// Finds and loads the native addon (a prebuild, else the local build), and the simulated
// device beside it. When the addon cannot be loaded at all, one error lists what was tried
// and what to do about it.
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeBinding } from '../../binding.js';

const require = createRequire(import.meta.url);

/** The package root: lib/binding/ and dist/binding/ both sit two levels below it. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export class CuipcLoadError extends Error {
  readonly tried: string[];
  constructor(message: string, tried: string[]) {
    super(message);
    this.name = 'CuipcLoadError';
    this.tried = tried;
  }
}

let cached: { binding: NativeBinding; addonPath: string } | undefined;

/**
 * Why `path` cannot be a library to load, or null: it must be a regular file (after links).
 * Loading /dev/zero or a FIFO would read without end or block.
 */
export function libraryFileProblem(path: string): string | null {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats === undefined) return 'no such file';
  return stats.isFile() ? null : `not a regular file (${stats.isDirectory() ? 'a folder' : stats.isFIFO() ? 'a FIFO' : stats.isCharacterDevice() ? 'a character device' : 'not a plain file'})`;
}

export function addonPath(): string {
  return loadAddon().addonPath;
}

export function loadAddon(): { binding: NativeBinding; addonPath: string } {
  if (cached) return cached;
  const tried: string[] = [];
  const gypBuild = require('node-gyp-build') as { path(dir: string): string };
  const explicit = process.env.CUIPC_ADDON;
  let path: string | undefined;
  if (explicit) {
    tried.push(`CUIPC_ADDON=${explicit}`);
    path = explicit;
  } else {
    try {
      path = gypBuild.path(packageRoot);
    } catch (error) {
      tried.push(`prebuilds/${process.platform}-${process.arch} and build/Release: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  const problem = path && explicit ? libraryFileProblem(path) : null;
  if (path && problem !== null) {
    tried.push(`${path}: ${problem}`);
  } else if (path) {
    try {
      // require() reads a name not ending in .node as JavaScript; dlopen loads any addon.
      const binding = path.endsWith('.node') ? (require(path) as NativeBinding) : dlopenAddon(path);
      cached = { binding, addonPath: path };
      return cached;
    } catch (error) {
      tried.push(`${path}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new CuipcLoadError(
    [
      'cuipc: the native addon could not be loaded.',
      ...tried.map((t) => `  tried ${t}`),
      'What to do: run `npm rebuild cuipc` (needs cmake and a C++17 compiler; nvcc optional, for kernels),',
      `or install a prebuild for ${process.platform}-${process.arch} (glibc). CUIPC_ADDON=/path/to/cuipc.node overrides the search.`,
    ].join('\n'),
    tried,
  );
}

function dlopenAddon(path: string): NativeBinding {
  const module = { exports: {} as NativeBinding };
  process.dlopen(module, path);
  return module.exports;
}

/**
 * libcuipc_sim.so, checked: a missing or unusable one is a CuipcLoadError naming it (and
 * CUIPC_SIM_LIBRARY when that chose it), not a driver that seems to be missing.
 */
export function checkedSimulatedDevicePath(): string {
  const path = simulatedDevicePath();
  const problem = libraryFileProblem(path);
  if (problem === null) return path;
  const chosen = process.env.CUIPC_SIM_LIBRARY
    ? `CUIPC_SIM_LIBRARY=${path}: ${problem}. It must name the simulated device library (libcuipc_sim.so); unset it to use the one this install ships.`
    : `${path}: ${problem}. Rebuild cuipc (npm rebuild cuipc), or set CUIPC_SIM_LIBRARY to a libcuipc_sim.so.`;
  throw new CuipcLoadError(`cuipc: the simulated device (--backend sim) could not be loaded: ${chosen}`, [path]);
}

/** libcuipc_sim.so: beside the addon (build/Release, or the prebuild folder). */
export function simulatedDevicePath(): string {
  if (process.env.CUIPC_SIM_LIBRARY) return process.env.CUIPC_SIM_LIBRARY;
  const beside = join(dirname(addonPath()), 'libcuipc_sim.so');
  if (existsSync(beside)) return beside;
  return join(packageRoot, 'build', 'Release', 'libcuipc_sim.so');
}

function builtLibraryPath(file: string): string {
  const beside = join(dirname(addonPath()), file);
  if (existsSync(beside)) return beside;
  return join(packageRoot, 'build', 'Release', file);
}

/** cuipc's demo interposer: cudaMalloc from cuMemCreate inside a process-wide region. */
export function vmmInterposerPath(): string {
  return builtLibraryPath('libcuipc_vmm_interposer.so');
}

/**
 * A test stand-in with torch_memory_saver's preload-hook ABI (thread-local region,
 * TMS_INIT_ENABLE), for machines where the real library cannot run; see native/interposer/tms_standin.cc.
 */
export function tmsStandinPath(): string {
  return builtLibraryPath('libcuipc_tms_standin.so');
}
