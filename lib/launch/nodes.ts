// Which node each rank ran on. Legacy CUDA IPC (cudaIpcGetMemHandle / cudaIpcOpenMemHandle)
// opens another process's memory on the same node only: ranks placed on several nodes cannot
// share graph inputs that way at all, so a probe across nodes must never say PASS (issue 21).
import type { RankPlacement } from '../model/vocabulary.js';

/** A rank's node: Ray's node id where Ray placed it, else its host name; null when it never said. */
export function nodeOf(placement: RankPlacement | null): string | null {
  return placement?.ray?.nodeId ?? placement?.hostname ?? null;
}

/**
 * Why these ranks cannot share memory with legacy CUDA IPC, when they span several nodes (the
 * placement that keeps them together included); null when they are on one node (or did not say).
 */
export function crossNodeProblem(placements: readonly (RankPlacement | null)[]): string | null {
  const groups = new Map<string, number[]>();
  placements.forEach((p, rank) => {
    const node = nodeOf(p);
    if (node !== null) groups.set(node, [...(groups.get(node) ?? []), rank]);
  });
  if (groups.size < 2) return null;
  const where = [...groups].map(([node, ranks]) => {
    const host = placements[ranks[0] as number]?.hostname;
    return `rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')} on node ${node.slice(0, 12)}${host && host !== node ? ` (${host})` : ''}`;
  });
  const underRay = placements.some((p) => p?.ray != null);
  const keep = underRay
    ? `keep the ranks on one node: --placement-strategy STRICT_PACK (one placement group on one node with ${placements.length} GPUs), as a tensor-parallel engine's workers are placed`
    : 'start every rank on one node';
  return `the ranks are on ${groups.size} nodes (${where.join('; ')}): legacy CUDA IPC cannot open a handle exported on another node, so the probe cannot pass across nodes; ${keep}`;
}
