// How PyTorch's CUDA caching allocator (c10/cuda/CUDACachingAllocator.cpp) turns tensor requests
// into driver allocations, so that the probe's graph inputs reach cudaMalloc (and any allocator
// hook preloaded in front of it) with exactly the sizes a PyTorch process asks for. A hook sees
// whole segments, never tensor sizes: torch_memory_saver 0.0.9 passes the size straight to
// cuMemCreate, which accepts only multiples of the granularity, so replaying tensor sizes would
// crash where SGLang fails at export.
//
// Reproduced: the request rounding (512-byte blocks), the segment sizes (2 MiB for requests up to
// 1 MiB, 20 MiB up to 10 MiB, larger ones rounded up to 2 MiB), the small and large pools, the
// best-fit search (smallest free block that fits, then lowest address) and the split rules.
// Not reproduced: frees and the coalescing they cause (the probe frees nothing until teardown),
// max_split_size_mb, roundup_power2_divisions, garbage collection, per-stream pools (one stream
// allocates here), and expandable segments growing one reservation in place (each segment is
// mapped on its own; every page is VMM memory either way).
// It lives beside alloc-conf.ts (PyTorch's reading of its settings), below probe and report: the
// report uses the segment sizes to say whether a PyTorch process makes an interposed call.

export const MIN_BLOCK_SIZE = 512;
/** The largest request served from the small pool. */
export const SMALL_SIZE = 1 << 20;
/** Small-pool segments. */
export const SMALL_BUFFER = 2 << 20;
/** Large-pool segments for requests below MIN_LARGE_ALLOC. */
export const LARGE_BUFFER = 20 << 20;
export const MIN_LARGE_ALLOC = 10 << 20;
/** Larger requests get a segment of their own, rounded up to this. */
export const ROUND_LARGE = 2 << 20;

export type PoolName = 'small' | 'large';

/** One driver allocation the allocator makes. */
export interface PlannedSegment {
  pool: PoolName;
  bytes: number;
}

/** One tensor: which segment it lies in and where. */
export interface PlannedBlock {
  segment: number;
  offset: number;
  /** The block's size: the request rounded, or the whole free block when it was not split. */
  bytes: number;
  requested: number;
}

export interface AllocationPlan {
  segments: PlannedSegment[];
  blocks: PlannedBlock[];
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** round_size: what a request occupies in a block. */
export function roundSize(bytes: number): number {
  return bytes < MIN_BLOCK_SIZE ? MIN_BLOCK_SIZE : roundUp(bytes, MIN_BLOCK_SIZE);
}

/** get_allocation_size: what the allocator asks the driver for when no cached block fits. */
export function segmentSize(rounded: number): number {
  if (rounded <= SMALL_SIZE) return SMALL_BUFFER;
  if (rounded < MIN_LARGE_ALLOC) return LARGE_BUFFER;
  return roundUp(rounded, ROUND_LARGE);
}

interface FreeBlock {
  segment: number;
  offset: number;
  bytes: number;
}

/**
 * The segments and blocks a fresh pool (a CUDA graph's private pool starts empty) makes for these
 * requests, in order, none freed. `expandableSegments` changes only the split rule, as in PyTorch.
 */
export function planAllocations(requests: readonly number[], options: { expandableSegments?: boolean } = {}): AllocationPlan {
  const segments: PlannedSegment[] = [];
  const blocks: PlannedBlock[] = [];
  const free: Record<PoolName, FreeBlock[]> = { small: [], large: [] };
  for (const requested of requests) {
    if (!Number.isInteger(requested) || requested <= 0) throw new RangeError(`a tensor request must be a positive integer of bytes, got ${requested}`);
    const size = roundSize(requested);
    const pool: PoolName = size <= SMALL_SIZE ? 'small' : 'large';
    const blocksOfPool = free[pool];
    // get_free_block: the pool's set is ordered by size, then address (segment, offset here).
    let best = -1;
    for (let i = 0; i < blocksOfPool.length; i += 1) {
      const b = blocksOfPool[i];
      if (b.bytes < size) continue;
      const current = best < 0 ? null : blocksOfPool[best];
      if (!current || b.bytes < current.bytes || (b.bytes === current.bytes && (b.segment < current.segment || (b.segment === current.segment && b.offset < current.offset)))) best = i;
    }
    let block: FreeBlock;
    if (best >= 0) {
      block = blocksOfPool.splice(best, 1)[0];
    } else {
      segments.push({ pool, bytes: segmentSize(size) });
      block = { segment: segments.length - 1, offset: 0, bytes: segments[segments.length - 1].bytes };
    }
    // should_split: small pool (and expandable segments) keep any remainder of a block's size;
    // the large pool only a remainder above SMALL_SIZE.
    const remaining = block.bytes - size;
    const split = pool === 'small' || options.expandableSegments ? remaining >= MIN_BLOCK_SIZE : remaining > SMALL_SIZE;
    if (split) {
      blocksOfPool.push({ segment: block.segment, offset: block.offset + size, bytes: remaining });
      blocks.push({ segment: block.segment, offset: block.offset, bytes: size, requested });
    } else {
      blocks.push({ segment: block.segment, offset: block.offset, bytes: block.bytes, requested });
    }
  }
  return { segments, blocks };
}

/** "2 MiB", "20 MiB", "4 KiB", "3456 B" */
export function formatSize(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1 << 10 && bytes % (1 << 10) === 0) return `${bytes / (1 << 10)} KiB`;
  return `${bytes} B`;
}
