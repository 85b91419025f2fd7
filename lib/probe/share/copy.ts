// --share copy: the v1 path (SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2=0) and the upstream fix. No
// graph input is exported: at replay each rank copies its inputs into the communicator's
// registered buffer, whose handle went out in register, and the all-reduce reads peers'
// registered buffers. Works for any allocator, at the cost of a copy per input.
import { ptrToHex } from '../hex.js';
import type { ShareStrategyModule } from './strategy.js';

export function copyStrategy(): ShareStrategyModule {
  return {
    via: 'registered',
    inputsIndexBases: false,

    async export(ctx) {
      const { inputs, bytes } = ctx.cfg;
      ctx.rec.note('share copy: inputs are copied into the registered buffer, whose handle was shared in register');
      return { pid: process.pid, via: 'registered', bases: [], inputs: { base: new Array<number>(inputs).fill(-1), offset: Array.from({ length: inputs }, (_, i) => i * bytes) } };
    },

    importPeer: async (ctx, peer) => (i) => ctx.registeredPeers[peer] + BigInt(i * ctx.cfg.bytes),
    ownInputs: (ctx) => (i) => ctx.registeredPeers[ctx.cfg.rank] + BigInt(i * ctx.cfg.bytes),

    async afterFill(ctx) {
      const { cuda, rec, cfg } = ctx;
      if (ctx.registered === null) throw new TypeError('replay before register');
      for (let i = 0; i < cfg.inputs; i += 1) {
        const dst = ctx.registered + BigInt(i * cfg.bytes);
        const src = ctx.inputs[i];
        const copied = await rec.call('cudaMemcpy', 'memcpy', { dst: ptrToHex(dst), src: ptrToHex(src), bytes: cfg.bytes }, () => cuda.memcpy(dst, src, cfg.bytes), { ptr: src });
        if (!copied.ok) return false;
      }
      return true;
    },

    checkBase: () => 'the copy strategy shares no bases',
    close: () => {},
    release: () => {},
  };
}
