// Finds and loads the native addon (the local build or prebuild, else the installed platform
// package @cuipc/linux-x64-gnu), and finds the libraries
// shipped beside it (findShippedLibrary: the one search `cuipc paths`, the probe, the simulated
// device and `cuipc trace` all use). When the addon cannot be loaded at all, one error lists
// what was tried and what to do about it.
import { existsSync, readFileSync, statSync } from 'node:fs';
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
  else if (found.why) {
    const [release, prebuilds, ...more] = found.searched;
    tried.push(`${prebuilds} and ${release}: ${found.why}`, ...more);
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
      `What to do: ${NO_ADDON_ADVICE}`,
      '(a source build needs cmake and a C++17 compiler; nvcc is optional, for the kernels). CUIPC_ADDON=/path/to/cuipc.node overrides the search.',
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

/** cuipc's one platform package (scripts/platform.cjs names it for the scripts; a test holds the two together). */
export const PLATFORM_PACKAGE = '@cuipc/linux-x64-gnu';

/**
 * The package that carries the prebuild for this platform (an optional dependency npm installs
 * only where its os, cpu and libc fit), or null where none is made. libc is told the way
 * node-gyp-build tells it (LIBC, else musl where /etc/alpine-release exists), as it picks a
 * checkout's prebuild: a stat, where process.report would cost a rank milliseconds at start.
 */
export function platformPackageName(env: Env = process.env, platform: string = process.platform, arch: string = process.arch): string | null {
  return platform === 'linux' && arch === 'x64' && libcOf(env) === 'glibc' ? PLATFORM_PACKAGE : null;
}

function libcOf(env: Env): string {
  return env.LIBC ?? (existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
}

/** What to do when no addon fits, for load errors and for the install script's to say alike. */
export const NO_ADDON_ADVICE = `install ${PLATFORM_PACKAGE} (npm install --include=optional) or build from source: CUIPC_FORCE_BUILD=1 npm rebuild cuipc`;

/**
 * The platform package's addon as installed beside cuipc (resolved from `root`, as
 * require('@cuipc/linux-x64-gnu') would be): its package.json's `main`. `searched` names the
 * package, and says why it did not serve.
 */
export function findPlatformAddon(env: Env = process.env, root: string = packageRoot): { path: string | null; dir: string | null; searched: string } {
  const name = platformPackageName(env);
  if (name === null) return { path: null, dir: null, searched: `${PLATFORM_PACKAGE}: not for ${process.platform}-${process.arch} ${libcOf(env)} (it is for linux-x64 glibc)` };
  let manifest: string;
  try {
    manifest = require.resolve(`${name}/package.json`, { paths: [root] });
  } catch {
    return { path: null, dir: null, searched: `${name} (an optional dependency): not installed` };
  }
  const dir = dirname(manifest);
  let main = '';
  try {
    main = String((JSON.parse(readFileSync(manifest, 'utf8')) as { main?: unknown }).main ?? '');
  } catch {
    // an unreadable manifest: said below as a missing addon
  }
  const addon = main.endsWith('.node') ? join(dir, main) : null;
  if (addon !== null && existsSync(addon)) return { path: addon, dir, searched: `${name}: ${addon}` };
  return { path: null, dir, searched: `${name} at ${dir}: no addon (${main || 'package.json names none'})` };
}

/**
 * The addon: CUIPC_ADDON when set (taken as is, checked when loaded), else the one
 * node-gyp-build picks (build/Release, build/Debug, then the prebuild folder), else the
 * platform package's (findPlatformAddon). Nothing is loaded.
 */
export function findAddon(env: Env = process.env, root: string = packageRoot): LibrarySearch {
  if (env.CUIPC_ADDON) return { path: env.CUIPC_ADDON, searched: [`CUIPC_ADDON=${env.CUIPC_ADDON}`] };
  const searched = [join(root, 'build', 'Release'), join(root, 'prebuilds', `${process.platform}-${process.arch}`)];
  let why: string;
  try {
    const gypBuild = require('node-gyp-build') as { path(dir: string): string };
    return { path: gypBuild.path(root), searched };
  } catch (error) {
    why = (error as Error).message.split('\n')[0];
  }
  // Only where the checkout has no build of its own: a local build is the one made from these sources.
  const platform = findPlatformAddon(env, root);
  searched.push(platform.searched);
  return platform.path !== null ? { path: platform.path, searched } : { path: null, searched, why };
}

/**
 * Where a file cuipc's native build makes beside the addon is: `override` (an environment
 * variable's value) alone when given; else the addon's folder first (so a library always comes
 * from the same build as the addon), then the prebuild folder, the platform package's folder,
 * build/Release and build/Debug.
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
    ...platformDir(options.env ?? process.env, root),
    join(root, 'build', 'Release'),
    join(root, 'build', 'Debug'),
  ];
  const searched = [...new Set(dirs.map((d) => join(d, file)))];
  return { path: searched.find((c) => existsSync(c)) ?? null, searched };
}

/** The installed platform package's folder, when there is one. */
function platformDir(env: Env, root: string): string[] {
  const { dir } = findPlatformAddon(env, root);
  return dir === null ? [] : [dir];
}

/**
 * A library beside the loaded addon: the override when set, else where findShippedLibrary finds
 * it, else where a local build puts it (so that a message about the missing file names it).
 */
function loadedLibraryPath(file: string, override?: string): string {
  if (override) return override;
  return findShippedLibrary(file, { addonDir: dirname(addonPath()) }).path ?? join(packageRoot, 'build', 'Release', file);
}
