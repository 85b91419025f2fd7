// The typed low-level CUDA calls, after the backend is loaded. `openCuda()` is the one way
// in: it loads the addon, picks the backend (option, else CUIPC_BACKEND, else 'cuda'),
// loads the driver and runtime through the ordered search, and returns the binding.
import { existsSync, readFileSync } from 'node:fs';
import type { Backend, HotCalls, LoaderReport, NativeBinding } from '../../binding.js';
import { hotCalls } from './hot.js';
import { driverCandidates, runtimeCandidates } from '../binding/search.js';
import { loadAddon, simulatedDevicePath } from '../binding/native.js';

export type * from '../../binding.js';

/** The packed native forms; users call the HotCalls built over them. */
type PackedForms = 'ipcGetMemHandleInto' | 'ipcGetMemHandlePacked' | 'ipcOpenMemHandlePackedAsync' | 'rangeStartPacked' | 'pointerAttributesInto' | 'describeError';

export interface Cuda extends Omit<NativeBinding, PackedForms>, HotCalls {
  readonly report: LoaderReport;
  readonly backend: Backend;
}

/** Whether a CUDA driver library is where the loader will look (without loading it). */
export function driverLibraryPresent(): boolean {
  for (const { candidate } of driverCandidates()) {
    if (candidate.includes('/')) {
      if (existsSync(candidate)) return true;
    } else {
      try {
        if (readFileSync('/etc/ld.so.cache').includes(candidate)) return true;
      } catch {
        // no linker cache: rely on the explicit paths
      }
    }
  }
  return false;
}

/**
 * 'cuda' or 'sim' from the option, else CUIPC_BACKEND, else 'cuda'. 'auto' picks 'cuda' when a
 * driver library is present and 'sim' otherwise; everything from 'sim' says SIMULATED.
 */
export function resolveBackend(explicit?: string): Backend {
  const value = explicit ?? process.env.CUIPC_BACKEND ?? 'cuda';
  if (value === 'auto') return driverLibraryPresent() ? 'cuda' : 'sim';
  if (value !== 'cuda' && value !== 'sim') {
    throw new RangeError(`backend must be 'cuda', 'sim' or 'auto' (from ${explicit ? 'the option' : 'CUIPC_BACKEND'}), got '${value}'`);
  }
  return value;
}

let opened: Cuda | undefined;

export function openCuda(options: { backend?: Backend | 'auto' } = {}): Cuda {
  const backend = resolveBackend(options.backend);
  if (opened) {
    if (opened.backend !== backend) {
      throw new RangeError(`cuipc already loaded the '${opened.backend}' backend in this process; one process holds one backend`);
    }
    return opened;
  }
  const { binding } = loadAddon();
  const sim = backend === 'sim' ? [{ candidate: simulatedDevicePath(), source: 'simulated device (--backend sim)' }] : undefined;
  const report = binding.load({
    backend,
    driverCandidates: sim ?? driverCandidates(),
    runtimeCandidates: sim ?? runtimeCandidates(),
  });
  opened = Object.assign(Object.create(binding) as NativeBinding, hotCalls(binding), { report, backend }) as Cuda;
  return opened;
}

/** cudaIpcMemLazyEnablePeerAccess, the flag every tensor-parallel server opens handles with. */
export const IPC_MEM_LAZY_ENABLE_PEER_ACCESS = 1;
export const IPC_HANDLE_BYTES = 64;
