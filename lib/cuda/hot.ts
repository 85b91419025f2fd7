// The hot calls in JavaScript over the addon's packed forms: the native side writes codes and
// values into typed arrays, and results are fixed-shape literals with cached texts.
import type { CudaFailure, CudaResult, CudaStatus, HandleBatch, HotCalls, NativeBinding, PointerAttributes, PointerBatch, Ptr, RangeBatch } from '../../binding.js';

/** Bytes of a cudaIpcMemHandle_t (CUDA_IPC_HANDLE_SIZE), as binding.d.ts documents the packed forms. */
export const IPC_HANDLE_BYTES = 64;

/**
 * pointerAttributesInto's slots in order: values[i] and codes[i] answer the PointerAttributes
 * field named at i (binding.d.ts declares the fields in this order; test/cuda/hot.test.ts holds
 * the two together).
 */
export const POINTER_ATTRIBUTE_SLOTS = [
  'memoryType', 'deviceOrdinal', 'isManaged', 'rangeStart', 'rangeSize', 'mapped', 'isLegacyIpcCapable', 'allowedHandleTypes', 'mempool', 'retainAllocationHandle',
] as const satisfies ReadonlyArray<Exclude<keyof PointerAttributes, 'ptr'>>;
type Slot = (typeof POINTER_ATTRIBUTE_SLOTS)[number];

function pointerList(ptrs: unknown): BigUint64Array | Ptr[] {
  if (ptrs instanceof BigUint64Array || Array.isArray(ptrs)) return ptrs as BigUint64Array | Ptr[];
  throw new TypeError('ptrs must be a BigUint64Array or an array of BigInt addresses');
}

export function hotCalls(native: NativeBinding): HotCalls {
  // Sizes and slot positions as the addon declares them (native/memory/memory.h is their home);
  // each field is read from its slot by name, whatever the order.
  const HANDLE_BYTES = native.constants.ipcHandleBytes;
  const nativeSlots = native.constants.pointerAttributeSlots;
  const SLOT = Object.fromEntries(nativeSlots.map((name, i) => [name, i])) as Record<Slot, number>;
  const texts = new Map<number, [string, string]>();
  const textOf = (call: string, code: number): [string, string] => {
    const driver = call.startsWith('cu') && !call.startsWith('cuda');
    const key = driver ? -1 - code : code;
    let text = texts.get(key);
    if (!text) texts.set(key, (text = native.describeError(code, driver)));
    return text;
  };
  const status = (call: string, code: number): CudaStatus => {
    const [name, message] = textOf(call, code);
    return { ok: code === 0, code, name, message, call };
  };
  const failure = (call: string, code: number): CudaFailure => {
    const [name, message] = textOf(call, code);
    return { ok: false, code, name, message, call };
  };
  // Literals, not spreads: an object spread costs several times the CUDA call it wraps.
  const result = <T>(call: string, code: number, value: T): CudaResult<T> => {
    const [name, message] = textOf(call, code);
    return code === 0 ? { ok: true, code, name, message, call, value } : { ok: false, code, name, message, call };
  };
  const one = new BigUint64Array(1);
  const oneBase = new BigUint64Array(1);
  const oneCode = new Int32Array(1);
  const values = new BigUint64Array(nativeSlots.length);
  const codes = new Int32Array(nativeSlots.length);

  function attributes(ptr: Ptr): CudaResult<PointerAttributes> {
    const missing = native.pointerAttributesInto(ptr, values, codes);
    if (missing !== 0) return failure('cuPointerGetAttribute', missing);
    const answer = <T>(slot: Slot, value: (raw: bigint) => T) => (codes[SLOT[slot]] === 0 ? { code: 0, value: value(values[SLOT[slot]]) } : { code: codes[SLOT[slot]] });
    const attrs: PointerAttributes = {
      ptr,
      memoryType: answer('memoryType', Number),
      deviceOrdinal: answer('deviceOrdinal', (v) => Number(BigInt.asIntN(64, v))),
      isManaged: answer('isManaged', (v) => v !== 0n),
      rangeStart: answer('rangeStart', (v) => v),
      rangeSize: answer('rangeSize', Number),
      mapped: answer('mapped', (v) => v !== 0n),
      isLegacyIpcCapable: answer('isLegacyIpcCapable', (v) => v !== 0n),
      allowedHandleTypes: answer('allowedHandleTypes', Number),
      mempool: answer('mempool', (v) => v),
      retainAllocationHandle: { code: codes[SLOT.retainAllocationHandle], value: values[SLOT.retainAllocationHandle] !== 0n },
    };
    return result('cuPointerGetAttribute', 0, attrs);
  }

  return {
    status,
    ipcGetMemHandle(ptr: Ptr): CudaResult<Buffer> {
      const handle = Buffer.allocUnsafe(HANDLE_BYTES);
      return result('cudaIpcGetMemHandle', native.ipcGetMemHandleInto(ptr, handle), handle);
    },
    ipcGetMemHandleBatch(list: BigUint64Array | Ptr[]): HandleBatch {
      const ptrs = pointerList(list);
      // The native side writes every handle that succeeds: only a failed entry's bytes need zeroing.
      const handles = Buffer.allocUnsafe(HANDLE_BYTES * ptrs.length);
      const batchCodes = new Int32Array(ptrs.length);
      const failed = native.ipcGetMemHandlePacked(ptrs, handles, batchCodes);
      if (failed > 0) {
        for (let i = 0; i < batchCodes.length; i++) if (batchCodes[i] !== 0) handles.fill(0, i * HANDLE_BYTES, (i + 1) * HANDLE_BYTES);
      }
      return {
        call: 'cudaIpcGetMemHandle',
        count: ptrs.length,
        failed,
        codes: batchCodes,
        handles,
        status: (i) => status('cudaIpcGetMemHandle', batchCodes[i]),
        handle: (i) => (batchCodes[i] === 0 ? handles.subarray(i * HANDLE_BYTES, (i + 1) * HANDLE_BYTES) : undefined),
      };
    },
    rangeStartBatch(list: BigUint64Array | Ptr[]): RangeBatch {
      const ptrs = pointerList(list);
      const bases = new BigUint64Array(ptrs.length);
      const batchCodes = new Int32Array(ptrs.length);
      const failed = native.rangeStartPacked(ptrs, bases, batchCodes);
      return { call: 'cuPointerGetAttribute', count: ptrs.length, failed, codes: batchCodes, bases, status: (i) => status('cuPointerGetAttribute', batchCodes[i]) };
    },
    async ipcOpenMemHandleBatchAsync(handles: Uint8Array | Uint8Array[], flags: number): Promise<PointerBatch> {
      const packed = Array.isArray(handles) ? Buffer.concat(handles) : handles;
      const count = Math.floor(packed.byteLength / HANDLE_BYTES);
      const ptrs = new BigUint64Array(count);
      const batchCodes = new Int32Array(count);
      const failed = await native.ipcOpenMemHandlePackedAsync(packed, flags, ptrs, batchCodes);
      return { call: 'cudaIpcOpenMemHandle', count, failed, codes: batchCodes, ptrs, status: (i) => status('cudaIpcOpenMemHandle', batchCodes[i]) };
    },
    rangeStart(ptr: Ptr): CudaResult<{ base: Ptr; offset: number }> {
      one[0] = ptr;
      native.rangeStartPacked(one, oneBase, oneCode);
      const base = oneBase[0];
      return result('cuPointerGetAttribute', oneCode[0], { base, offset: Number(ptr - base) });
    },
    pointerAttributes: attributes,
    pointerAttributesBatch: (ptrs: Ptr[]) => (pointerList(ptrs) as Ptr[]).map(attributes),
  };
}
