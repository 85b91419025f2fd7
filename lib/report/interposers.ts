// What to call a library that interposes CUDA's allocation entry points, in every report's words:
// by the hook ABI a rank found it exporting, else by its file name. The explanation rules (a
// failed export, a runtime free of VMM memory) and an abort inside a hook's call all name it so.
import type { AllocatorHookAbi } from '../../binding.js';

const HOOK_NAMES: Record<AllocatorHookAbi, string> = {
  torch_memory_saver: "torch_memory_saver's preload hook",
  'cuipc-interposer': "cuipc's VMM interposer",
};

/** The file name of a library path (/x/lib.so -> lib.so). */
export function fileName(path: string): string {
  return path.split('/').pop() || path;
}

/** The name of an interposer this project knows by its file name, else null. */
export function knownInterposer(path: string | null): string | null {
  const file = path === null ? '' : fileName(path);
  if (/torch_memory_saver/i.test(file)) return HOOK_NAMES.torch_memory_saver;
  if (/cuipc_vmm_interposer/i.test(file)) return "cuipc's VMM test interposer (torch_memory_saver-style)";
  return null;
}

/** "torch_memory_saver's preload hook", "an allocator interposer", ...: the hook's ABI wins over its file name. */
export function interposerName(path: string | null, abi?: AllocatorHookAbi): string {
  return abi !== undefined ? HOOK_NAMES[abi] : (knownInterposer(path) ?? 'an allocator interposer');
}
