// Replays what SGLang does under its memory saver: when SGLANG_MEMORY_SAVER_CUDA_GRAPH is on,
// the graph runner captures inside torch_memory_saver's region (`memory_saver_adapter.cuda_graph`),
// so cudaMalloc of graph inputs goes to the preload hook's cuMemCreate. The rank finds every
// loaded allocator hook by its C ABI and enters its region around graph-input allocation and
// capture, on the thread that allocates (torch_memory_saver's region is thread-local), then
// restores each hook's previous state. The decision and what was entered go into the report.
import type { AllocatorHook, AllocatorHookAbi } from '../../binding.js';
import { MEMORY_SAVER_CUDA_GRAPH, readSglangBool } from '../env/sglang.js';
import type { MemorySaverMode, MemorySaverRegion } from '../model/vocabulary.js';

export interface RegionControl {
  allocatorHooks(): AllocatorHook[];
  setAllocatorRegion(abi: AllocatorHookAbi, inside: boolean): boolean | null;
}

/** Decides, as SGLang would in this environment, whether capture runs inside the hooks' regions. */
export function decideMemorySaverRegion(mode: MemorySaverMode, env: Readonly<Record<string, string | undefined>>, hooks: readonly AllocatorHook[]): MemorySaverRegion {
  const read = readSglangBool(env[MEMORY_SAVER_CUDA_GRAPH]);
  const variable = read.set ? read.value : null;
  const found = hooks.map((h) => ({ abi: h.abi, library: h.library, symbol: h.symbol, insideBefore: h.inside }));
  let enter: boolean;
  let reason: string;
  if (mode === 'off') {
    enter = false;
    reason = '--memory-saver-region off';
  } else if (mode === 'on') {
    enter = true;
    reason = '--memory-saver-region on';
  } else if (!read.set) {
    enter = false;
    reason = `auto: ${MEMORY_SAVER_CUDA_GRAPH} is not set, so SGLang captures outside the memory saver's region`;
  } else if (!read.valid) {
    enter = false;
    reason = `auto: ${MEMORY_SAVER_CUDA_GRAPH}='${read.value}' is not a value SGLang accepts (true/1/yes/y or false/0/no/n; SGLang raises on it); treated as off`;
  } else {
    enter = read.on;
    reason = `auto: ${MEMORY_SAVER_CUDA_GRAPH}=${read.value} ${read.on ? 'makes SGLang capture CUDA graphs inside the memory saver\'s region' : 'is off'}`;
  }
  const entered = enter && found.length > 0;
  if (enter && found.length === 0) reason += '; but no allocator hook with a region is loaded (none exports tms_set_interesting_region or cuipc_interposer_set_region), so there was nothing to enter';
  return { mode, variable, entered, reason, hooks: found };
}

/** Enters the decided regions; returns a function that restores each hook's previous state. */
export function enterRegions(control: RegionControl, region: MemorySaverRegion): () => void {
  if (!region.entered) return () => {};
  const restore: Array<[AllocatorHookAbi, boolean]> = [];
  for (const hook of region.hooks) {
    const before = control.setAllocatorRegion(hook.abi, true);
    if (before !== null) restore.push([hook.abi, before]);
  }
  return () => {
    for (const [abi, before] of restore.reverse()) control.setAllocatorRegion(abi, before);
  };
}
