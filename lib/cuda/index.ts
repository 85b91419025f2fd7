// The typed low-level CUDA calls, after the backend is loaded. `openCuda()` is the one way
// in: it loads the addon, picks the backend (binding/backend.ts: option, else CUIPC_BACKEND, else 'cuda'),
// loads the driver and runtime through the ordered search, and returns the binding.
import type { Backend, HotCalls, LoaderReport, NativeBinding } from '../../binding.js';
import { hotCalls } from './hot.js';
import { resolveBackend } from '../binding/backend.js';
import { driverCandidates, runtimeCandidates } from '../binding/search.js';
import { checkedSimulatedDevicePath, loadAddon } from '../binding/native.js';

export type * from '../../binding.js';

/** The packed native forms; users call the HotCalls built over them. */
type PackedForms = 'ipcGetMemHandleInto' | 'ipcGetMemHandlePacked' | 'ipcOpenMemHandlePackedAsync' | 'rangeStartPacked' | 'pointerAttributesInto' | 'describeError';

export interface Cuda extends Omit<NativeBinding, PackedForms>, HotCalls {
  readonly report: LoaderReport;
  readonly backend: Backend;
}

// Backend resolution has one home (binding/backend.ts); these stay importable from here.
export { driverLibraryPresent, resolveBackend } from '../binding/backend.js';

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
  const sim = backend === 'sim' ? [{ candidate: checkedSimulatedDevicePath(), source: 'simulated device (--backend sim)' }] : undefined;
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
export { IPC_HANDLE_BYTES } from './hot.js';
