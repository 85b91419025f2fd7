// Finds and loads the native addon (a prebuild, else the local build), and finds the libraries
// shipped beside it (findShippedLibrary: the one search `cuipc paths`, the probe, the simulated
// device and `cuipc trace` all use). When the addon cannot be loaded at all, one error lists
// what was tried and what to do about it.
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
  const explicit = process.env.CUIPC_ADDON;
  const found = findAddon(process.env, packageRoot);
  const path = found.path ?? undefined;
  if (explicit) tried.push(`CUIPC_ADDON=${explicit}`);
  else if (found.why) tried.push(`prebuilds/${process.platform}-${process.arch} and build/Release: ${found.why}`);
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

/** libcuipc_sim.so: CUIPC_SIM_LIBRARY, else found beside the addon (findShippedLibrary). */
export function simulatedDevicePath(): string {
  return loadedLibraryPath('libcuipc_sim.so', process.env.CUIPC_SIM_LIBRARY);
}

/** cuipc's demo interposer: cudaMalloc from cuMemCreate inside a process-wide region. */
export function vmmInterposerPath(): string {
  return loadedLibraryPath('libcuipc_vmm_interposer.so');
}

/**
 * A test stand-in with torch_memory_saver's preload-hook ABI (thread-local region,
 * TMS_INIT_ENABLE), for machines where the real library cannot run; see native/interposer/tms_standin.cc.
 */
export function tmsStandinPath(): string {
  return loadedLibraryPath('libcuipc_tms_standin.so');
}

type Env = Record<string, string | undefined>;

/** Where a search looked and what it found. */
export interface LibrarySearch {
  /** The first candidate that exists, as searched (not resolved); null when none does. */
  path: string | null;
  /** Every place looked, in order. */
  searched: string[];
  /** Why nothing was found, when the search itself failed (node-gyp-build's message). */
  why?: string;
}

/**
 * The addon: CUIPC_ADDON when set (taken as is, checked when loaded), else the one
 * node-gyp-build picks (build/Release, build/Debug, then the prebuild folder). Nothing is loaded.
 */
export function findAddon(env: Env = process.env, root: string = packageRoot): LibrarySearch {
  if (env.CUIPC_ADDON) return { path: env.CUIPC_ADDON, searched: [`CUIPC_ADDON=${env.CUIPC_ADDON}`] };
  const searched = [join(root, 'build', 'Release'), join(root, 'prebuilds', `${process.platform}-${process.arch}`)];
  try {
    const gypBuild = require('node-gyp-build') as { path(dir: string): string };
    return { path: gypBuild.path(root), searched };
  } catch (error) {
    return { path: null, searched, why: (error as Error).message.split('\n')[0] };
  }
}

/**
 * Where a file cuipc's native build makes beside the addon is: `override` (an environment
 * variable's value) alone when given; else the addon's folder first (so a library always comes
 * from the same build as the addon), then the prebuild folder, build/Release and build/Debug.
 * `addonDir`: the folder of the addon already loaded; by default, that of the addon findAddon finds.
 */
export function findShippedLibrary(
  file: string,
  options: { override?: string; addonDir?: string | null; env?: Env; root?: string } = {},
): LibrarySearch {
  if (options.override) return { path: existsSync(options.override) ? options.override : null, searched: [options.override] };
  const root = options.root ?? packageRoot;
  let addonDir = options.addonDir;
  if (addonDir === undefined) {
    const addon = findAddon(options.env ?? process.env, root).path;
    addonDir = addon === null ? null : dirname(addon);
  }
  const dirs = [
    ...(addonDir === null ? [] : [addonDir]),
    join(root, 'prebuilds', `${process.platform}-${process.arch}`),
    join(root, 'build', 'Release'),
    join(root, 'build', 'Debug'),
  ];
  const searched = [...new Set(dirs.map((d) => join(d, file)))];
  return { path: searched.find((c) => existsSync(c)) ?? null, searched };
}

/**
 * A library beside the loaded addon: the override when set, else where findShippedLibrary finds
 * it, else where a local build puts it (so that a message about the missing file names it).
 */
function loadedLibraryPath(file: string, override?: string): string {
  if (override) return override;
  return findShippedLibrary(file, { addonDir: dirname(addonPath()) }).path ?? join(packageRoot, 'build', 'Release', file);
}
