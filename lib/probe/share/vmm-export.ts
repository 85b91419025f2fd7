// --share vmm-export: how NCCL and PyTorch share VMM memory. Each allocation base is exported
// with cuMemExportToShareableHandle as a POSIX file descriptor; a peer takes the fd from the
// exporting process (pidfd_getfd) and imports and maps it. Needs memory made with that handle
// type (--alloc vmm-fd).
import type { Ptr } from '../../../binding.js';
import { ptrToHex } from '../hex.js';
import type { SharedBase } from '../protocol.js';
import type { ShareStrategyModule } from './strategy.js';

export function vmmExportStrategy(): ShareStrategyModule {
  const exportedFds: number[] = [];
  const importedFds: number[] = [];
  const mapped: Ptr[] = [];
  return {
    via: 'vmm-fd',
    inputsIndexBases: true,

    async export(ctx, { bases, inputs }) {
      const { cuda, rec } = ctx;
      const shared: SharedBase[] = [];
      for (const base of bases) {
        const fd = await rec.call('cuMemExportToShareableHandle', 'vmmExportFd', { ptr: ptrToHex(base), handleType: 'CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR' }, () => cuda.vmmExportFd(base), { ptr: base });
        if (!fd.ok) return null;
        exportedFds.push(fd.value);
        shared.push({ base: ptrToHex(base), bytes: ctx.allocationBytes(base), fd: fd.value });
      }
      return { pid: process.pid, via: 'vmm-fd', bases: shared, inputs };
    },

    async importPeer(ctx, peer, data) {
      const { cuda, rec } = ctx;
      const bases: Ptr[] = [];
      for (const shared of data.bases) {
        const fd = shared.fd as number;
        const peerInfo = { rank: peer, base: shared.base, pid: data.pid, fd };
        const args = { pid: data.pid, fd, peer };
        rec.announce('import', 'pidfd_getfd', 'fdFromProcess', args);
        const local = cuda.fdFromProcess(data.pid, fd);
        if (!local.ok) {
          rec.failWith('fdFromProcess', { ...args, via: local.via }, local.via || 'pidfd_getfd', `errno ${local.errno}`, local.message, { peer: peerInfo, detail: `could not take fd ${fd} from pid ${data.pid}: ${local.message}` });
          return null;
        }
        rec.succeeded(local.via || 'pidfd_getfd', 'fdFromProcess', { ...args, via: local.via });
        importedFds.push(local.fd);
        const imported = await rec.call('cuMemImportFromShareableHandle', 'vmmImportFd', { fd: local.fd, bytes: shared.bytes, peer, base: shared.base }, () => cuda.vmmImportFd(local.fd, shared.bytes), { peer: peerInfo });
        if (!imported.ok) return null;
        mapped.push(imported.value);
        bases.push(imported.value);
      }
      const { base, offset } = data.inputs;
      return (i) => bases[base[i]] + BigInt(offset[i]);
    },

    ownInputs: (ctx) => (i) => ctx.inputs[i],
    afterFill: async () => true,

    checkBase: (base) => (Number.isInteger(base.fd) && (base.fd as number) >= 0 && base.bytes > 0 ? null : `base ${base.base} has no fd or size`),

    close(ctx) {
      const { cuda, rec } = ctx;
      rec.teardownCalls('cuMemUnmap', 'vmmUnmapImported', mapped.splice(0), (ptr) => ({ ptr: ptrToHex(ptr) }), (ptr) => cuda.vmmUnmapImported(ptr));
      for (const fd of importedFds.splice(0)) cuda.closeFd(fd);
    },
    release(ctx) {
      for (const fd of exportedFds.splice(0)) ctx.cuda.closeFd(fd);
    },
  };
}
