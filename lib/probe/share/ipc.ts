// --share ipc: what custom all-reduce v2's share_graph_inputs does. Each allocation base gets a
// legacy IPC handle (cudaIpcGetMemHandle), peers open them with lazy peer access in one pass
// off the JavaScript thread, and a pointer is peer base + offset. VMM, pool, managed and host
// memory fail here with cudaErrorInvalidValue: the failure this project exists for.
import type { Ptr } from '../../../binding.js';
import { IPC_MEM_LAZY_ENABLE_PEER_ACCESS } from '../../cuda/index.js';
import { bytesToHex, hexToBytes, ptrToHex } from '../hex.js';
import type { SharedBase } from '../protocol.js';
import type { ShareStrategyModule } from './strategy.js';

export function ipcStrategy(): ShareStrategyModule {
  const opened: Ptr[] = [];
  return {
    via: 'ipc',
    inputsIndexBases: true,

    async export(ctx, { bases, inputs }) {
      const { cuda, rec } = ctx;
      rec.announce('export', 'cudaIpcGetMemHandle', 'ipcGetMemHandleBatch', { count: bases.length });
      const before = cuda.peekAtLastError();
      const handles = cuda.ipcGetMemHandleBatch(bases);
      const shared: SharedBase[] = [];
      let first = true;
      for (let b = 0; b < handles.count; b += 1) {
        const args = { ptr: ptrToHex(bases[b]), baseIndex: b, of: bases.length };
        const handle = handles.handle(b);
        if (!handle) {
          const segment = ctx.segmentOf(bases[b]);
          // Every failing base is recorded; the last-error slot belongs to the first.
          rec.fail('ipcGetMemHandleBatch', segment ? { ...args, segment } : args, handles.status(b), { ptr: bases[b] }, first ? before : undefined);
          first = false;
          continue;
        }
        rec.succeeded(handles.call, 'ipcGetMemHandleBatch', args);
        shared.push({ base: ptrToHex(bases[b]), bytes: ctx.allocationBytes(bases[b]), handle: bytesToHex(handle) });
      }
      return rec.failed() ? null : { pid: process.pid, via: 'ipc', bases: shared, inputs };
    },

    async importPeer(ctx, peer, data) {
      const { cuda, rec } = ctx;
      const flags = IPC_MEM_LAZY_ENABLE_PEER_ACCESS;
      rec.announce('import', 'cudaIpcOpenMemHandle', 'ipcOpenMemHandleBatchAsync', { peer, count: data.bases.length, flags });
      const result = await cuda.ipcOpenMemHandleBatchAsync(data.bases.map((shared) => hexToBytes(shared.handle as string)), flags);
      const bases: Ptr[] = [];
      for (let b = 0; b < result.count; b += 1) {
        const shared = data.bases[b];
        const args = { handle: shared.handle as string, flags, peer, base: shared.base };
        if (result.codes[b] !== 0) {
          rec.fail('ipcOpenMemHandleBatchAsync', args, result.status(b), { peer: { rank: peer, base: shared.base, pid: data.pid, handle: shared.handle as string } });
          continue;
        }
        rec.succeeded(result.call, 'ipcOpenMemHandleBatchAsync', args);
        opened.push(result.ptrs[b]);
        bases.push(result.ptrs[b]);
      }
      if (result.failed > 0) return null;
      const { base, offset } = data.inputs;
      return (i) => bases[base[i]] + BigInt(offset[i]);
    },

    ownInputs: (ctx) => (i) => ctx.inputs[i],
    afterFill: async () => true,

    checkBase: (base) => (typeof base.handle === 'string' && /^[0-9a-f]{128}$/i.test(base.handle) ? null : `base ${base.base} has no 64-byte handle`),

    close(ctx) {
      const { cuda, rec } = ctx;
      rec.teardownCalls('cudaIpcCloseMemHandle', 'ipcCloseMemHandle', opened.splice(0), (ptr) => ({ ptr: ptrToHex(ptr) }), (ptr) => cuda.ipcCloseMemHandle(ptr));
    },
    release: () => {},
  };
}
