// The register step: the communicator's own buffer. Each rank allocates it and exports a legacy
// IPC handle (export phase), then opens every peer's (import phase), as a custom all-reduce
// registers its buffer once, before any graph is captured.
import type { Ptr } from '../../../binding.js';
import { IPC_MEM_LAZY_ENABLE_PEER_ACCESS } from '../../cuda/index.js';
import { bytesToHex, hexToBytes, ptrToHex } from '../hex.js';
import type { RegisteredExport, RoundData } from '../protocol.js';
import type { SessionState } from './state.js';
import { CUSTOM_AR_MAX_SIZE } from './torch-inputs.js';

/**
 * SGLang's CustomAllreduce registers create_shared_buffer(meta_size() + max_size) first: one
 * cudaMalloc through ctypes on libcudart's own handle (CudaRTLibrary), so a preloaded hook
 * never serves it, whatever its region; the size is not rounded.
 * meta_size() is sizeof(Signal), 3456 bytes; max_size 8 MiB. The probe's copy strategy keeps
 * every input in it, so it grows past max_size when the inputs need more.
 */
export const CUSTOM_AR_META_SIZE = 3456;

export async function registerExport(state: SessionState): Promise<RoundData> {
  const { inputs, bytes } = state.cfg;
  const cuda = state.api;
  const size = CUSTOM_AR_META_SIZE + Math.max(CUSTOM_AR_MAX_SIZE, inputs * bytes);
  state.registered = await state.malloc('device-direct', size, 'registered buffer (create_shared_buffer(meta_size + max_size))');
  if (!state.registered) return { kind: 'none' };
  const base = state.registered.ptr;
  const handle = await state.rec.call('cudaIpcGetMemHandle', 'ipcGetMemHandle', { ptr: ptrToHex(base) }, () => cuda.ipcGetMemHandle(base), { ptr: base });
  if (!handle.ok || !handle.value) return { kind: 'none' };
  const registered: RegisteredExport = { pid: process.pid, base: ptrToHex(base), bytes: state.registered.bytes, handle: bytesToHex(handle.value) };
  return { kind: 'registered', registered };
}

export async function registerImport(state: SessionState, peers: Array<RegisteredExport | null>): Promise<void> {
  const { rank, ranks } = state.cfg;
  const cuda = state.api;
  if (!state.registered) throw new TypeError('register/import before register/export');
  state.registeredPeers = new Array<Ptr>(ranks).fill(0n);
  state.registeredPeers[rank] = state.registered.ptr;
  for (let peer = 0; peer < ranks; peer += 1) {
    if (peer === rank) continue;
    const shared = peers[peer];
    if (!shared || !/^[0-9a-f]{128}$/i.test(shared.handle)) {
      state.rec.failWith('exchange', { peer }, 'all-gather', 'MalformedExchange', `rank ${peer} sent no valid registered-buffer handle`);
      return;
    }
    const handle = hexToBytes(shared.handle);
    const opened = await state.rec.call(
      'cudaIpcOpenMemHandle',
      'ipcOpenMemHandleAsync',
      { handle: shared.handle, flags: IPC_MEM_LAZY_ENABLE_PEER_ACCESS, peer },
      () => cuda.ipcOpenMemHandleAsync(handle, IPC_MEM_LAZY_ENABLE_PEER_ACCESS),
      { peer: { rank: peer, base: shared.base, handle: shared.handle, pid: shared.pid } },
    );
    if (!opened.ok || opened.value === undefined) return;
    state.registeredImports.push(opened.value);
    state.registeredPeers[peer] = opened.value;
  }
}
