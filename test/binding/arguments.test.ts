// Every binding rejects bad arguments with TypeError or RangeError naming what was expected.
import { beforeAll, describe, expect, test } from 'vitest';
import { openCuda, type Cuda } from '../../lib/cuda/index.js';

let cuda: Cuda;
beforeAll(() => {
  cuda = openCuda();
});

type Case = [string, () => unknown, typeof TypeError | typeof RangeError, RegExp];

const cases: Case[] = [
  ['pointer as a Number', () => cuda.ipcGetMemHandle(4096 as unknown as bigint), TypeError, /ptr must be a BigInt/],
  ['pointer as a string', () => cuda.pointerAttributes('0x10' as unknown as bigint), TypeError, /ptr must be a BigInt/],
  ['negative pointer', () => cuda.ipcCloseMemHandle(-1n), RangeError, /64 unsigned bits/],
  ['handle of 63 bytes', () => cuda.ipcOpenMemHandle(Buffer.alloc(63), 1), RangeError, /exactly 64 bytes/],
  ['handle of 65 bytes', () => cuda.ipcOpenMemHandleAsync(Buffer.alloc(65), 1), RangeError, /exactly 64 bytes/],
  ['handle as a string', () => cuda.ipcOpenMemHandle('00' as unknown as Buffer, 1), TypeError, /Buffer or Uint8Array/],
  ['event handle of 10 bytes', () => cuda.ipcOpenEventHandle(Buffer.alloc(10)), RangeError, /exactly 64 bytes/],
  ['negative size', () => cuda.malloc('device', -1), RangeError, /bytes must be between 0/],
  ['fractional size', () => cuda.malloc('device', 1.5), RangeError, /bytes must be an integer/],
  ['zero size', () => cuda.malloc('device', 0), RangeError, /positive/],
  ['size as a string', () => cuda.malloc('device', '64' as unknown as number), TypeError, /integer Number/],
  ['unknown allocation kind', () => cuda.malloc('gpu' as 'device', 64), RangeError, /kind must be one of 'device', 'pool'/],
  ['unknown capture mode', () => cuda.streamBeginCapture(0n, 'loose' as 'global'), RangeError, /mode must be one of 'global'/],
  ['unknown P2P attribute', () => cuda.deviceGetP2PAttribute('speed' as 'access-supported', 0, 1), RangeError, /attr must be one of/],
  ['negative device', () => cuda.setDevice(-1), RangeError, /ordinal must be between 0/],
  ['pointer list that is not an array', () => cuda.ipcGetMemHandleBatch(1n as unknown as bigint[]), TypeError, /BigUint64Array or an array of BigInt/],
  ['pointer list with a Number', () => cuda.rangeStartBatch([1n, 2 as unknown as bigint]), TypeError, /ptrs\[1\] must be a BigInt/],
  ['missing arguments', () => (cuda.memcpy as unknown as () => unknown)(), TypeError, /expected 3 argument/],
  ['copy data that is not bytes', () => cuda.copyFromHost(0n, [1, 2] as unknown as Uint8Array), TypeError, /Buffer or Uint8Array/],
  ['memset byte out of range', () => cuda.memset(0n, 256, 4), RangeError, /byte must be between 0 and 255/],
  ['freeing a pointer cuipc did not allocate', () => cuda.free(0x1234n), RangeError, /not allocated by cuipc/],
  ['a packed output that is too short', () => (cuda as unknown as { ipcGetMemHandleInto(p: bigint, o: Uint8Array): number }).ipcGetMemHandleInto(0n, new Uint8Array(10)), RangeError, /at least 64/],
  ['fd of another process with pid 0', () => cuda.fdFromProcess(0, 3), RangeError, /pid must be between 1/],
];

describe('argument errors', () => {
  test.each(cases)('%s', (_name, call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });

  test('a CUDA failure is a result, never an exception', () => {
    const r = cuda.ipcGetMemHandle(0n);
    expect(r).toMatchObject({ ok: false, code: 1, call: 'cudaIpcGetMemHandle' });
    expect(typeof r.name).toBe('string');
    expect(typeof r.message).toBe('string');
    cuda.getLastError();
  });
});
