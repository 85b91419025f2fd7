// The capture step: allocate the graph inputs as a caching allocator would (several to an
// allocation, inside the memory saver's region where the server uses one) and record the
// all-reduce over them into a CUDA graph.
import type { AllocationKind } from '../../../binding.js';
import { ptrToHex } from '../hex.js';
import { enterRegions } from '../memory-saver.js';
import type { SessionState } from './state.js';

/** Graph inputs share allocations, as a caching allocator's blocks do, so export de-duplicates bases. */
export const INPUTS_PER_ALLOCATION = 8;

export async function capture(state: SessionState): Promise<void> {
  const { inputs, ranks, alloc } = state.cfg;
  const cuda = state.api;
  const kind: AllocationKind = alloc === 'cudaMalloc' ? 'device' : alloc;
  // The communicator's pointer tables exist before capture, outside any region (as rank_data does).
  state.tables = await state.malloc('device', inputs * ranks * 8, 'peer pointer tables');
  if (!state.tables) return;
  // SGLang under SGLANG_MEMORY_SAVER_CUDA_GRAPH allocates graph inputs and captures inside the
  // memory saver's region (memory-saver.ts); the thread-local region is entered on this thread,
  // the one that allocates, and left as it was found.
  const region = state.memorySaver;
  const leave = region ? enterRegions(cuda, region) : () => {};
  if (region?.entered) state.rec.note(`graph inputs allocated and captured inside the region of ${region.hooks.map((h) => `${h.abi} (${h.library ?? 'unknown library'})`).join(' and ')}: ${region.reason}`);
  try {
    await allocateAndCapture(state, kind);
  } finally {
    leave();
  }
}

async function allocateAndCapture(state: SessionState, kind: AllocationKind): Promise<void> {
  const { inputs, bytes, ranks, captureMode } = state.cfg;
  const cuda = state.api;
  for (let first = 0; first < inputs; first += INPUTS_PER_ALLOCATION) {
    const count = Math.min(INPUTS_PER_ALLOCATION, inputs - first);
    const segment = await state.malloc(kind, count * bytes, `graph inputs ${first}..${first + count - 1}`);
    if (!segment) return;
    state.segments.push(segment);
    for (let j = 0; j < count; j += 1) state.inputs.push(segment.ptr + BigInt(j * bytes));
  }
  state.outputs = await state.malloc('device', inputs * bytes, 'all-reduce outputs');
  if (!state.outputs || !state.tables) return;

  const stream = await state.rec.call('cudaStreamCreateWithFlags', 'streamCreate', { nonBlocking: true }, () => cuda.streamCreate(true));
  if (!stream.ok || stream.value === undefined) return;
  state.stream = stream.value;
  const s = state.stream;
  const begun = await state.rec.call('cudaStreamBeginCapture', 'streamBeginCapture', { stream: ptrToHex(s), mode: captureMode }, () => cuda.streamBeginCapture(s, captureMode));
  if (!begun.ok) return;
  state.capturing = true;
  if (state.kernels) {
    // One all-reduce per input, table i at i * ranks pointers and output i at i * bytes, all
    // launched by one addon call (thousands of launches a rank at the largest sizes).
    const outputs = state.outputs.ptr;
    const tables = state.tables.ptr;
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
  } else {
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
  state.rec.note(`recorded ${state.inputs.length} graph inputs in ${state.segments.length} allocations`);
}
