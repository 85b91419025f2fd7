// The capture step: allocate the graph inputs (as PyTorch does by default, else with the chosen
// allocator, inside the memory saver's region where the server uses one) and record the
// all-reduce over them into a CUDA graph.
import type { AllocationKind, Ptr } from '../../../binding.js';
import type { TorchAllocConf } from '../../env/alloc-conf.js';
import { ptrToHex } from '../hex.js';
import { enterRegions } from '../memory-saver.js';
import type { SessionState } from './state.js';
import { allocateTensors, CUSTOM_AR_MAX_SIZE, describeConf, rankAllocConf } from './torch-inputs.js';

/** Graph inputs share allocations, as a caching allocator's blocks do, so export de-duplicates bases. */
export const INPUTS_PER_ALLOCATION = 8;

export async function capture(state: SessionState): Promise<void> {
  const { inputs, ranks, alloc } = state.cfg;
  const cuda = state.api;
  const conf = alloc === 'torch' ? rankAllocConf(state) : null;
  if (alloc === 'torch' && !conf) return;
  // The communicator's pointer tables exist before capture, outside any region: rank_data,
  // torch.empty(max_size) in SGLang (from the default pool), a cudaMalloc otherwise.
  const tableBytes = inputs * ranks * 8;
  if (conf) {
    state.rec.note(`graph inputs allocated as PyTorch does: ${describeConf(conf)}`);
    const at = await allocateTensors(state, conf, [Math.max(CUSTOM_AR_MAX_SIZE, tableBytes)], 'default pool', () => 'rank_data (peer pointer tables)');
    if (!at) return;
    state.tablesPtr = at[0];
  } else {
    state.tables = await state.malloc('device', tableBytes, 'peer pointer tables');
    if (!state.tables) return;
    state.tablesPtr = state.tables.ptr;
  }
  // SGLang under SGLANG_MEMORY_SAVER_CUDA_GRAPH allocates graph inputs and captures inside the
  // memory saver's region (memory-saver.ts); the thread-local region is entered on this thread,
  // the one that allocates, and left as it was found.
  const region = state.memorySaver;
  const leave = region ? enterRegions(cuda, region) : () => {};
  if (region?.entered) state.rec.note(`graph inputs allocated and captured inside the region of ${region.hooks.map((h) => `${h.abi} (${h.library ?? 'unknown library'})`).join(' and ')}: ${region.reason}`);
  try {
    if (conf) await allocateAsTorchAndCapture(state, conf);
    else await allocateAndCapture(state, alloc === 'cudaMalloc' ? 'device' : (alloc as AllocationKind));
  } finally {
    leave();
  }
}

/** The graph's private pool: inputs, then the all-reduce output, allocated as the capture runs. */
async function allocateAsTorchAndCapture(state: SessionState, conf: TorchAllocConf): Promise<void> {
  const { inputs, bytes } = state.cfg;
  const requests = [...Array.from({ length: inputs }, () => bytes), inputs * bytes];
  const label = (t: number) => (t < inputs ? `input ${t}` : 'all-reduce output');
  const allocate = async (): Promise<boolean> => {
    const ptrs = await allocateTensors(state, conf, requests, 'graph pool', label);
    if (!ptrs) return false;
    state.inputs.push(...ptrs.slice(0, inputs));
    state.outputsPtr = ptrs[inputs];
    return true;
  };
  await captureAllReduce(state, allocate);
  const made = conf.backend === 'cudaMallocAsync' ? `${state.graphAllocations.length} allocation node(s) of the graph` : `${state.segments.length - 1} graph-pool segment(s)`;
  if (!state.rec.failed()) state.rec.note(`recorded ${state.inputs.length} graph inputs in ${made}`);
}

async function allocateAndCapture(state: SessionState, kind: AllocationKind): Promise<void> {
  const { inputs, bytes } = state.cfg;
  for (let first = 0; first < inputs; first += INPUTS_PER_ALLOCATION) {
    const count = Math.min(INPUTS_PER_ALLOCATION, inputs - first);
    const segment = await state.malloc(kind, count * bytes, `graph inputs ${first}..${first + count - 1}`);
    if (!segment) return;
    state.segments.push(segment);
    for (let j = 0; j < count; j += 1) state.inputs.push(segment.ptr + BigInt(j * bytes));
  }
  state.outputs = await state.malloc('device', inputs * bytes, 'all-reduce outputs');
  if (!state.outputs || state.tablesPtr === null) return;
  state.outputsPtr = state.outputs.ptr;
  await captureAllReduce(state, null);
  if (!state.rec.failed()) state.rec.note(`recorded ${state.inputs.length} graph inputs in ${state.segments.length} allocations`);
}

/** Begins the capture, runs `allocateDuring` (PyTorch's graph pool), records the all-reduces, ends it. */
async function captureAllReduce(state: SessionState, allocateDuring: (() => Promise<boolean>) | null): Promise<void> {
  const { inputs, bytes, ranks, captureMode } = state.cfg;
  const cuda = state.api;
  const stream = await state.rec.call('cudaStreamCreateWithFlags', 'streamCreate', { nonBlocking: true }, () => cuda.streamCreate(true));
  if (!stream.ok || stream.value === undefined) return;
  state.stream = stream.value;
  const s = state.stream;
  const begun = await state.rec.call('cudaStreamBeginCapture', 'streamBeginCapture', { stream: ptrToHex(s), mode: captureMode }, () => cuda.streamBeginCapture(s, captureMode));
  if (!begun.ok) return;
  state.capturing = true;
  // A failed allocation still ends the capture below, as a server's capture context manager does.
  const allocated = allocateDuring ? await allocateDuring() : true;
  if (allocated && state.kernels) {
    // One all-reduce per input, table i at i * ranks pointers and output i at i * bytes, all
    // launched by one addon call (thousands of launches a rank at the largest sizes).
    const outputs = state.outputsPtr as Ptr;
    const tables = state.tablesPtr as Ptr;
    const count = bytes / 4;
    const tableList = new BigUint64Array(inputs);
    const outList = new BigUint64Array(inputs);
    for (let i = 0; i < inputs; i += 1) {
      tableList[i] = tables + BigInt(i * ranks * 8);
      outList[i] = outputs + BigInt(i * bytes);
    }
    state.rec.batch(
      'cuLaunchKernel',
      'launchAllReduceBatch',
      { launches: inputs, tables: ptrToHex(tables), ranks, outs: ptrToHex(outputs), count, stream: ptrToHex(s) },
      () => cuda.launchAllReduceBatch(tableList, ranks, outList, count, s),
      (i) => ({ table: ptrToHex(tableList[i]), ranks, out: ptrToHex(outList[i]), count, stream: ptrToHex(s), input: ptrToHex(state.inputs[i]) }),
    );
  } else if (allocated) {
    state.rec.note('kernels unavailable: the graph is captured without the all-reduce kernel');
  }
  // End the capture even after a failed launch, as a server's capture context manager does.
  const ended = await state.rec.call('cudaStreamEndCapture', 'streamEndCapture', { stream: ptrToHex(s) }, () => cuda.streamEndCapture(s));
  state.capturing = false;
  if (ended.ok && ended.value !== undefined) state.graph = ended.value;
  if (state.rec.failed() || !ended.ok || state.graph === null) return;
  const graph = state.graph;
  const exec = await state.rec.call('cudaGraphInstantiate', 'graphInstantiate', { graph: ptrToHex(graph) }, () => cuda.graphInstantiate(graph));
  if (exec.ok && exec.value !== undefined) state.exec = exec.value;
}
