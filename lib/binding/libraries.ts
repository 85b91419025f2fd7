// Where the shared libraries that ship with cuipc are on this install, found the way the
// code that uses them finds them (so `cuipc paths` never names a file the probe would not
// use). Users need these paths for LD_PRELOAD and CUDA_INJECTION64_PATH; a path that does not
// exist must be reported as missing, because the dynamic linker silently ignores a
// nonexistent LD_PRELOAD entry and the probe would then pass.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { findAddon, findShippedLibrary, packageRoot, type LibrarySearch } from './native.js';

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

/** CUIPC_TRACE_LIBRARY, else beside the addon, the prebuild folder, or the local build. */
export function findInjectionLibrary(env: Env = process.env, root: string = packageRoot): InjectionSearch {
  const found = findShippedLibrary(INJECTION_LIBRARY, { override: env.CUIPC_TRACE_LIBRARY, env, root });
  return { path: found.path === null ? null : resolve(found.path), searched: found.searched };
}

function entry(id: LibraryId, purpose: string, found: LibrarySearch, optional = false): ShippedLibrary {
  return { id, purpose, path: found.path === null ? null : resolve(found.path), exists: found.path !== null, searched: found.searched, optional };
}

/**
 * The shipped libraries on this install: the addon, the simulated device, the VMM interposer,
 * the CUPTI trace library, and the tms stand-in when the build has one. Nothing is loaded.
 */
export function shippedLibraries(env: Env = process.env, root: string = packageRoot): ShippedLibrary[] {
  const addon = findAddon(env, root);
  const beside = (file: string, override?: string): LibrarySearch => findShippedLibrary(file, { override, env, root });
  const libs: ShippedLibrary[] = [
    {
      id: 'addon',
      purpose: 'the Node-API addon',
      path: addon.path === null ? null : resolve(addon.path),
      exists: addon.path !== null && existsSync(addon.path),
      searched: addon.path ? [addon.path] : addon.searched,
      optional: false,
    },
    entry('sim', 'the simulated device (--backend sim)', beside('libcuipc_sim.so', env.CUIPC_SIM_LIBRARY)),
    entry('interposer', 'LD_PRELOAD interposer: cudaMalloc from cuMemCreate inside its region (with SGLANG_MEMORY_SAVER_CUDA_GRAPH=true, reproduces the failure)', beside('libcuipc_vmm_interposer.so')),
    entry('trace', 'CUPTI injection library (cuipc trace, CUDA_INJECTION64_PATH)', findInjectionLibrary(env, root)),
  ];
  // A test library with torch_memory_saver's preload ABI: listed only when the build made one.
  const tms = beside('libcuipc_tms_standin.so');
  if (tms.path !== null) libs.push(entry('tms-standin', "stand-in with torch_memory_saver's preload ABI (tests)", tms, true));
  return libs;
}
