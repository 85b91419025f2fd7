// Where the shared libraries that ship with cuipc are on this install, found the way the
// code that uses them finds them (so `cuipc paths` never names a file the probe would not
// use). Users need these paths for LD_PRELOAD and CUDA_INJECTION64_PATH; a path that does not
// exist must be reported as missing, because the dynamic linker silently ignores a
// nonexistent LD_PRELOAD entry and the probe would then pass.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { packageRoot } from './native.js';

const require = createRequire(import.meta.url);

export const LIBRARY_IDS = ['addon', 'sim', 'interposer', 'trace', 'tms-standin'] as const;
type LibraryId = (typeof LIBRARY_IDS)[number];

export interface ShippedLibrary {
  id: LibraryId;
  /** What it is for, in a few words. */
  purpose: string;
  /** The file the code would use; null when no candidate exists. */
  path: string | null;
  exists: boolean;
  /** Every place looked, in order (an environment override first). */
  searched: string[];
  /** A library that only some builds have: listed only when found. */
  optional: boolean;
}

type Env = Record<string, string | undefined>;

export const INJECTION_LIBRARY = 'libcuipc_trace.so';

export interface InjectionSearch {
  path: string | null;
  searched: string[];
}

/** CUIPC_TRACE_LIBRARY, else the prebuild folder, else the local build. */
export function findInjectionLibrary(env: Env = process.env, root: string = packageRoot): InjectionSearch {
  const explicit = env.CUIPC_TRACE_LIBRARY;
  const candidates = explicit
    ? [explicit]
    : [
        join(root, 'prebuilds', `${process.platform}-${process.arch}`, INJECTION_LIBRARY),
        join(root, 'build', 'Release', INJECTION_LIBRARY),
        join(root, 'build', 'Debug', INJECTION_LIBRARY),
      ];
  const path = candidates.find((c) => existsSync(c)) ?? null;
  return { path: path === null ? null : resolve(path), searched: candidates };
}

/** The folder of the addon node-gyp-build would load (a prebuild, else build/Release); null when none. */
function addonFile(env: Env, root: string): { path: string | null; searched: string[] } {
  if (env.CUIPC_ADDON) return { path: env.CUIPC_ADDON, searched: [`CUIPC_ADDON=${env.CUIPC_ADDON}`] };
  const searched = [join(root, 'build', 'Release'), join(root, 'prebuilds', `${process.platform}-${process.arch}`)];
  try {
    const gypBuild = require('node-gyp-build') as { path(dir: string): string };
    return { path: gypBuild.path(root), searched };
  } catch {
    return { path: null, searched };
  }
}

function firstExisting(candidates: string[]): string | null {
  return candidates.find((c) => existsSync(c)) ?? null;
}

function entry(id: LibraryId, purpose: string, searched: string[], optional = false): ShippedLibrary {
  const found = firstExisting(searched);
  return { id, purpose, path: found === null ? null : resolve(found), exists: found !== null, searched, optional };
}

/** The tms stand-in (a test library with torch_memory_saver's preload ABI), when a build made one. */
function tmsStandIn(dirs: string[]): ShippedLibrary | null {
  for (const dir of dirs) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    const name = names.filter((n) => /^libcuipc_tms.*\.so$/.test(n)).sort()[0];
    if (name) return entry('tms-standin', "stand-in with torch_memory_saver's preload ABI (tests)", [join(dir, name)], true);
  }
  return null;
}

/**
 * The shipped libraries on this install: the addon, the simulated device, the VMM interposer,
 * the CUPTI trace library, and the tms stand-in when the build has one. Nothing is loaded.
 */
export function shippedLibraries(env: Env = process.env, root: string = packageRoot): ShippedLibrary[] {
  const addon = addonFile(env, root);
  const buildDir = join(root, 'build', 'Release');
  const beside = addon.path ? [dirname(addon.path)] : [];
  const dirs = [...new Set([...beside, buildDir])];
  const libs: ShippedLibrary[] = [
    {
      id: 'addon',
      purpose: 'the Node-API addon',
      path: addon.path === null ? null : resolve(addon.path),
      exists: addon.path !== null && existsSync(addon.path),
      searched: addon.path ? [addon.path] : addon.searched,
      optional: false,
    },
    entry(
      'sim',
      'the simulated device (--backend sim)',
      env.CUIPC_SIM_LIBRARY ? [env.CUIPC_SIM_LIBRARY] : dirs.map((d) => join(d, 'libcuipc_sim.so')),
    ),
    entry('interposer', 'LD_PRELOAD interposer: cudaMalloc from cuMemCreate inside its region (with SGLANG_MEMORY_SAVER_CUDA_GRAPH=true, reproduces the failure)', dirs.map((d) => join(d, 'libcuipc_vmm_interposer.so'))),
  ];
  const trace = findInjectionLibrary(env, root);
  libs.push({ ...entry('trace', 'CUPTI injection library (cuipc trace, CUDA_INJECTION64_PATH)', trace.searched), path: trace.path, exists: trace.path !== null });
  const tms = tmsStandIn(dirs);
  if (tms) libs.push(tms);
  return libs;
}
