// --alloc torch: the capture step's allocations as a PyTorch process makes them, so an allocator
// hook preloaded in the rank (torch_memory_saver) sees the calls it sees under SGLang. The graph
// inputs and the all-reduce output are tensors made during the capture, from the graph's private
// pool (torch.cuda.graph): whole segments (env/caching-allocator.ts), asked of the allocator that the
// rank's PYTORCH_CUDA_ALLOC_CONF selects, carved into blocks:
//  - native (default): cudaMalloc during the capture under the relaxed capture mode, as
//    PyTorch's cudaMallocMaybeCapturing does; an LD_PRELOAD hook serves it in its region;
//  - expandable_segments:True: cuMemCreate (POSIX-fd handle type) + cuMemMap per segment;
//  - backend:cudaMallocAsync: one cudaMallocAsync per tensor; during the capture it goes to the
//    capturing stream, so each tensor is an allocation node of the graph, whose memory exists
//    only once the graph has run (its pointers answer no attribute before: measured).
// A setting PyTorch rejects fails the step with PyTorch's message, as its first allocation raises.
import type { AllocationKind, Allocation, Ptr } from '../../../binding.js';
import { ALLOC_CONF_CALL, readTorchAllocConf, type TorchAllocConf } from '../../env/alloc-conf.js';
import { formatSize, planAllocations, type AllocationPlan } from '../../env/caching-allocator.js';
import type { SessionState } from './state.js';

/** SGLang's custom all-reduce: rank_data, the pointer tables, torch.empty(max_size) on the device. */
export const CUSTOM_AR_MAX_SIZE = 8192 * 1024;

/** The settings PyTorch would run this rank with; null (recorded as the step's failure) when it would raise. */
export function rankAllocConf(state: SessionState): TorchAllocConf | null {
  const reading = readTorchAllocConf(process.env);
  if (reading.ok) return reading.conf;
  state.rec.failWith(
    'readTorchAllocConf',
    { variable: reading.variable, value: reading.value },
    ALLOC_CONF_CALL,
    'ValueError',
    `${reading.variable}=${reading.value}: PyTorch raises "${reading.message}" at its first CUDA allocation`,
  );
  return null;
}

/** Which driver-level allocation a segment is under these settings. */
function segmentKind(conf: TorchAllocConf): AllocationKind {
  if (conf.backend === 'cudaMallocAsync') return 'pool';
  return conf.expandableSegments ? 'vmm-fd' : 'device';
}

export function describeConf(conf: TorchAllocConf): string {
  if (conf.backend === 'cudaMallocAsync') return `backend cudaMallocAsync (${conf.variable}=${conf.value}): one cudaMallocAsync per tensor`;
  if (conf.expandableSegments) return `expandable segments (${conf.variable}=${conf.value}): segments are cuMemCreate + cuMemMap with the POSIX-fd handle type`;
  return `PyTorch's native caching allocator${conf.variable ? ` (${conf.variable}=${conf.value})` : ''}: segments are cudaMalloc`;
}

/**
 * Allocates `requests` (bytes per tensor) from a fresh pool as PyTorch would; returns each
 * tensor's pointer, or null when an allocation failed (recorded). Segments go to state.segments.
 */
export async function allocateTensors(state: SessionState, conf: TorchAllocConf, requests: readonly number[], pool: string, label: (tensor: number) => string): Promise<Ptr[] | null> {
  const kind = segmentKind(conf);
  if (kind === 'pool') {
    const ptrs: Ptr[] = [];
    const stream = state.capturing && state.stream !== null ? state.stream : undefined;
    for (let t = 0; t < requests.length; t += 1) {
      const a = await state.malloc('pool', requests[t], `${pool}: ${label(t)}${stream === undefined ? '' : ' (an allocation node of the graph)'}`, stream);
      if (!a) return null;
      (stream === undefined ? state.segments : state.graphAllocations).push(a);
      ptrs.push(a.ptr);
    }
    return ptrs;
  }
  const plan = planAllocations(requests, { expandableSegments: conf.expandableSegments });
  const made: Allocation[] = [];
  for (let s = 0; s < plan.segments.length; s += 1) {
    const segment = plan.segments[s];
    const purpose = `${pool} segment ${s} (${segment.pool} pool, ${formatSize(segment.bytes)}): ${tensorsIn(plan, s, label)}`;
    const a = state.capturing && kind === 'device' ? await mallocWhileCapturing(state, segment.bytes, purpose) : await state.malloc(kind, segment.bytes, purpose);
    if (a) {
      state.segments.push(a);
      state.segmentNotes.set(a.ptr, purpose);
      made.push(a);
    }
    if (!a || state.rec.failed()) return null;
  }
  return plan.blocks.map((b) => made[b.segment].ptr + BigInt(b.offset));
}

/** "inputs 0..71" style: the tensors that lie in segment `s`. */
function tensorsIn(plan: AllocationPlan, s: number, label: (tensor: number) => string): string {
  const mine = plan.blocks.flatMap((b, t) => (b.segment === s ? [t] : []));
  if (mine.length === 0) return 'no tensor';
  const first = label(mine[0]);
  return mine.length === 1 ? first : `${first} .. ${label(mine[mine.length - 1])} (${mine.length} tensors)`;
}

/** cudaMallocMaybeCapturing: the thread's capture mode relaxed around cudaMalloc, then restored. */
async function mallocWhileCapturing(state: SessionState, bytes: number, purpose: string): Promise<Allocation | null> {
  const cuda = state.api;
  const relaxed = await state.rec.call('cudaThreadExchangeStreamCaptureMode', 'threadExchangeStreamCaptureMode', { mode: 'relaxed' }, () => cuda.threadExchangeStreamCaptureMode('relaxed'));
  if (!relaxed.ok || relaxed.value === undefined) return null;
  const previous = relaxed.value;
  const a = await state.malloc('device', bytes, purpose);
  // Restored even after a failed cudaMalloc; a failure to restore is recorded and ends the step.
  await state.rec.call('cudaThreadExchangeStreamCaptureMode', 'threadExchangeStreamCaptureMode', { mode: previous }, () => cuda.threadExchangeStreamCaptureMode(previous));
  return a;
}
