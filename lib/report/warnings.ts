// What the ranks' environment holds that a run did not exercise. A PASS must never hide it:
// a torch_memory_saver hook whose region the ranks did not enter passes here and fails in a
// server that captures inside it. Each warning says the one command that would exercise it.
// Built from neutral evidence (each rank's hazards and memory-saver decision, the options),
// so any report builder can use it.
import type { Hazard } from '../env/hazards.js';
import type { ProbeWarning } from './types.js';
import type { InputAllocator, MemorySaverRegion } from '../model/vocabulary.js';

interface RankEvidence {
  rank: number;
  hazards: readonly Hazard[];
  memorySaver?: MemorySaverRegion | null;
}

type Finding = Omit<ProbeWarning, 'ranks'>;

const VMM_ALLOCATORS: readonly InputAllocator[] = ['vmm', 'vmm-fd'];

function findings(rank: RankEvidence, alloc: InputAllocator): Finding[] {
  const out: Finding[] = [];
  const region = rank.memorySaver;
  if (region && !region.entered && region.hooks.length > 0 && !region.hooks.every((h) => h.insideBefore)) {
    for (const hook of region.hooks) {
      if (hook.insideBefore) continue;
      out.push({
        id: `memory-saver.not-entered.${hook.abi}`,
        severity: 'high',
        message: `${hook.abi === 'torch_memory_saver' ? "torch_memory_saver's preload hook" : "cuipc's VMM interposer"} is loaded (${hook.library ?? 'library unknown'}), but graph inputs were not allocated inside its region (${region.reason}). A server that captures CUDA graphs inside it (SGLang with SGLANG_MEMORY_SAVER_CUDA_GRAPH=true) gets VMM graph inputs, which cudaIpcGetMemHandle cannot export.`,
        command: 'the same probe with --env SGLANG_MEMORY_SAVER_CUDA_GRAPH=true (or --memory-saver-region on)',
      });
    }
  }
  for (const hazard of rank.hazards) {
    if (hazard.id === 'ld-preload.missing' || hazard.id === 'ld-preload.unreadable') {
      out.push({
        id: hazard.id,
        severity: 'high',
        message: `LD_PRELOAD entry ${hazard.value} was not loaded (${hazard.effect}); nothing it would do was exercised.`,
        command: 'give the path of a file that exists; `cuipc paths` lists the libraries this package ships',
      });
    } else if (hazard.id.startsWith('alloc-conf.') && hazard.severity === 'high' && alloc !== 'torch' && !(hazard.id === 'alloc-conf.expandable-segments' && VMM_ALLOCATORS.includes(alloc))) {
      // --alloc torch replays PyTorch under these settings; the other allocators bypass it.
      out.push({
        id: hazard.id,
        severity: 'high',
        message: `${hazard.variable}=${hazard.value} changes how PyTorch allocates tensors, but the probe allocated graph inputs itself (--alloc ${alloc}), bypassing PyTorch.`,
        command: 'the same probe without --alloc (the default, --alloc torch, allocates as PyTorch does under these settings)',
      });
    } else if (hazard.id === 'ld-preload.allocator-interposer' || hazard.id === 'ld-preload.driver-interposer') {
      out.push({
        id: hazard.id,
        severity: 'medium',
        message: `LD_PRELOAD entry ${hazard.value} interposes CUDA allocation, with no region ABI the probe knows (tms_set_interesting_region, cuipc_interposer_set_region); where and when it serves VMM memory was not exercised.`,
        command: '`cuipc trace -- <your program>` records which allocator served each exported pointer',
      });
    }
  }
  return out;
}

/** Warnings over all ranks: one per finding, with the ranks it applies to. */
export function unexercisedWarnings(ranks: readonly RankEvidence[], alloc: InputAllocator): ProbeWarning[] {
  const byKey = new Map<string, ProbeWarning>();
  for (const rank of ranks) {
    for (const f of findings(rank, alloc)) {
      const key = `${f.id}\n${f.message}`;
      const seen = byKey.get(key);
      if (seen) seen.ranks.push(rank.rank);
      else byKey.set(key, { ...f, ranks: [rank.rank] });
    }
  }
  return [...byKey.values()];
}
