// The teardown step, in two rounds: every importer closes what it opened (close) before any
// exporter frees (free). Unlike the other steps it goes on through failures, recording each,
// so that nothing is left behind.
import type { Allocation } from '../../../binding.js';
import { ptrToHex } from '../hex.js';
import type { SessionState } from './state.js';

export function teardownClose(state: SessionState): void {
  if (!state.cuda) return;
  const cuda = state.cuda;
  if (state.capturing && state.stream !== null) {
    const stream = state.stream;
    const ended = cuda.streamEndCapture(stream);
    state.capturing = false;
    if (ended.ok && ended.value !== undefined) state.graph = ended.value;
    cuda.getLastError();
  }
  state.rec.teardownCalls('cudaIpcCloseMemHandle', 'ipcCloseMemHandle', state.registeredImports.splice(0), (ptr) => ({ ptr: ptrToHex(ptr) }), (ptr) => cuda.ipcCloseMemHandle(ptr));
  if (state.strategy) state.strategy.close(state.share.ctx);
}

export function teardownFree(state: SessionState): void {
  if (!state.cuda) return;
  const cuda = state.cuda;
  if (state.exec !== null) {
    const exec = state.exec;
    state.rec.teardownCall('cudaGraphExecDestroy', 'graphExecDestroy', { exec: ptrToHex(exec) }, () => cuda.graphExecDestroy(exec));
    state.exec = null;
  }
  if (state.graph !== null) {
    const graph = state.graph;
    state.rec.teardownCall('cudaGraphDestroy', 'graphDestroy', { graph: ptrToHex(graph) }, () => cuda.graphDestroy(graph));
    state.graph = null;
  }
  if (state.stream !== null) {
    const stream = state.stream;
    state.rec.teardownCall('cudaStreamDestroy', 'streamDestroy', { stream: ptrToHex(stream) }, () => cuda.streamDestroy(stream));
    state.stream = null;
  }
  // A graph's allocation nodes hold memory only once it ran; before that there is nothing to free.
  if (state.graphAllocations.length > 0 && !state.graphLaunched) state.rec.note(`${state.graphAllocations.length} allocation node(s) of a graph that never ran: no memory to free`);
  const graphMemory = state.graphLaunched ? state.graphAllocations : [];
  state.graphAllocations = [];
  const allocations = [...state.segments, ...graphMemory, state.outputs, state.tables, state.registered].filter((a): a is Allocation => a !== null);
  state.segments = [];
  state.outputs = state.tables = state.registered = null;
  // A free that fails records the pointer's provenance, as an export does, so that the rules can
  // say why (memory a hook mapped, freed where the hook does not take it back).
  state.rec.teardownCalls('cudaFree', 'free', allocations, (allocation) => ({ ptr: ptrToHex(allocation.ptr), kind: allocation.kind }), (allocation) => cuda.free(allocation.ptr), (allocation) => ({ ptr: allocation.ptr }));
  if (state.strategy) state.strategy.release(state.share.ctx);
}
