// Every row of the H200 truth table, through the addon, on the backend under test.
import { beforeAll, describe, expect, test } from 'vitest';
import type { AllocationKind, CaptureMode } from '../../binding.js';
import type { Cuda } from '../../lib/cuda/index.js';
import { cudaUnderTest, fillPattern, inOtherProcess, sum32 } from './helpers/backend.js';

const MiB = 1 << 20;
let cuda: Cuda;

beforeAll(async () => {
  cuda = await cudaUnderTest();
});

describe('cudaIpcGetMemHandle by allocation kind', () => {
  const rows: Array<[AllocationKind, boolean, number, number]> = [
    // kind, IS_LEGACY_CUDA_IPC_CAPABLE, ALLOWED_HANDLE_TYPES, cudaIpcGetMemHandle
    ['device', true, 0, 0],
    ['pool', false, 0, 1],
    ['managed', false, 0, 1],
    ['host', false, 0, 1],
    ['vmm', false, 0, 1],
    ['vmm-fd', false, 1, 1],
  ];
  test.each(rows)('%s: legacy-capable %s, handle types %i, export code %i', (kind, legacy, types, code) => {
    const a = cuda.malloc(kind, MiB);
    expect(a.ok, `${a.call}: ${a.name}`).toBe(true);
    const ptr = a.value!.ptr;
    const attrs = cuda.pointerAttributes(ptr).value!;
    expect(attrs.isLegacyIpcCapable.value).toBe(legacy);
    expect(attrs.allowedHandleTypes.value).toBe(types);
    expect(attrs.retainAllocationHandle.value).toBe(kind === 'vmm' || kind === 'vmm-fd');
    const handle = cuda.ipcGetMemHandle(ptr);
    expect(handle.code).toBe(code);
    if (code === 1) {
      expect(handle.name).toBe('cudaErrorInvalidValue');
      expect(handle.message).toBe('invalid argument');
    }
    cuda.getLastError();
    expect(cuda.free(ptr).ok).toBe(true);
  });

  test('VMM memory reports device memory and a normal range, exactly like cudaMalloc', () => {
    const vmm = cuda.malloc('vmm', MiB).value!;
    const plain = cuda.malloc('device', MiB).value!;
    const v = cuda.pointerAttributes(vmm.ptr).value!;
    const p = cuda.pointerAttributes(plain.ptr).value!;
    expect(v.memoryType.value).toBe(2);
    expect(p.memoryType.value).toBe(2);
    expect(v.rangeStart.value).toBe(vmm.ptr);
    expect(p.rangeStart.value).toBe(plain.ptr);
    cuda.free(vmm.ptr);
    cuda.free(plain.ptr);
  });

  test('an interior pointer of cudaMalloc memory exports, and its range starts at the base', () => {
    const a = cuda.malloc('device', MiB).value!;
    const interior = a.ptr + 4096n;
    expect(cuda.ipcGetMemHandle(interior).code).toBe(0);
    expect(cuda.rangeStart(interior).value).toEqual({ base: a.ptr, offset: 4096 });
    const batch = cuda.rangeStartBatch(BigUint64Array.of(interior, a.ptr));
    expect([...batch.bases]).toEqual([a.ptr, a.ptr]);
    expect(batch.failed).toBe(0);
    cuda.free(a.ptr);
  });

  test.each([['null', 0n], ['0xdeadbeef000', 0xdeadbeef000n]])('%s is refused with cudaErrorInvalidValue', (_name, ptr) => {
    expect(cuda.ipcGetMemHandle(ptr).code).toBe(1);
    cuda.getLastError();
  });

  test('the batched export answers per pointer, in order', () => {
    const good = cuda.malloc('device', MiB).value!;
    const bad = cuda.malloc('vmm', MiB).value!;
    const results = cuda.ipcGetMemHandleBatch([good.ptr, bad.ptr, good.ptr + 64n]);
    expect([...results.codes]).toEqual([0, 1, 0]);
    expect(results.failed).toBe(1);
    expect(results.handle(0)!.length).toBe(64);
    expect(results.handle(1)).toBeUndefined();
    expect(results.handles.subarray(64, 128).every((b) => b === 0), 'a failed entry reads as zeros').toBe(true);
    expect(results.status(1)).toMatchObject({ ok: false, code: 1, name: 'cudaErrorInvalidValue', call: 'cudaIpcGetMemHandle' });
    // The batch gives the same handles as single calls.
    expect(results.handle(0)!.equals(cuda.ipcGetMemHandle(good.ptr).value!)).toBe(true);
    cuda.getLastError();
    cuda.free(good.ptr);
    cuda.free(bad.ptr);
  });
});

describe('the last error', () => {
  test('a failed export stays in cudaGetLastError until read; peek does not clear it', () => {
    cuda.getLastError();
    const vmm = cuda.malloc('vmm', MiB).value!;
    expect(cuda.ipcGetMemHandle(vmm.ptr).code).toBe(1);
    expect(cuda.peekAtLastError().code).toBe(1);
    expect(cuda.getLastError().code).toBe(1);
    expect(cuda.getLastError().code).toBe(0);
    cuda.free(vmm.ptr);
  });
});

describe('during stream capture', () => {
  const rows: Array<[CaptureMode, number, number, number]> = [
    // mode, cudaMalloc, cudaStreamEndCapture, cudaGetLastError afterwards
    ['global', 900, 901, 901],
    ['thread-local', 900, 901, 901],
    ['relaxed', 0, 0, 0],
  ];
  test.each(rows)('%s: cudaMalloc %i, end capture %i, last error %i; export still works', (mode, malloc, end, last) => {
    const buffer = cuda.malloc('device', MiB).value!;
    const stream = cuda.streamCreate(true).value!;
    expect(cuda.streamBeginCapture(stream, mode).ok).toBe(true);
    expect(cuda.streamIsCapturing(stream).value).toBe('active');
    const info = cuda.streamGetCaptureInfo(stream);
    expect(info.value?.status).toBe('active');
    expect(cuda.ipcGetMemHandle(buffer.ptr).code).toBe(0);
    const during = cuda.malloc('device', 4096);
    expect(during.code).toBe(malloc);
    const ended = cuda.streamEndCapture(stream);
    expect(ended.code).toBe(end);
    expect(cuda.getLastError().code).toBe(last);
    if (ended.ok && ended.value) cuda.graphDestroy(ended.value);
    if (during.ok) cuda.free(during.value!.ptr);
    cuda.streamDestroy(stream);
    cuda.free(buffer.ptr);
  });

  test('thread capture mode exchange returns the previous mode', () => {
    expect(cuda.threadExchangeStreamCaptureMode('relaxed').value).toBe('global');
    expect(cuda.threadExchangeStreamCaptureMode('global').value).toBe('relaxed');
  });
});

describe('opening handles', () => {
  test('the exporting process itself gets cudaErrorDeviceUninitialized (201)', () => {
    const a = cuda.malloc('device', MiB).value!;
    const handle = cuda.ipcGetMemHandle(a.ptr).value!;
    const own = cuda.ipcOpenMemHandle(handle, 1);
    expect(own.code).toBe(201);
    cuda.getLastError();
    cuda.free(a.ptr);
  });

  test('the batched open answers per handle: own handle 201, zeroed handle 1', async () => {
    const a = cuda.malloc('device', MiB).value!;
    const handle = cuda.ipcGetMemHandle(a.ptr).value!;
    const opened = await cuda.ipcOpenMemHandleBatchAsync([handle, Buffer.alloc(64)], 1);
    expect([...opened.codes]).toEqual([201, 1]);
    expect(opened.failed).toBe(2);
    expect(opened.status(0)).toMatchObject({ ok: false, code: 201, call: 'cudaIpcOpenMemHandle' });
    cuda.getLastError();
    cuda.free(a.ptr);
  });

  test('64 zero bytes in another process: cudaErrorInvalidValue', () => {
    const answer = inOtherProcess({ backend: cuda.backend, device: 0, kind: 'ipc', handle: '00'.repeat(64), bytes: 16 });
    expect(answer.open).toBe(1);
  });

  test('an export in one process is opened in another, which reads the bytes through memcpy and a kernel', () => {
    const count = 4096;
    const a = cuda.malloc('device', count * 4).value!;
    const stream = cuda.streamCreate(true).value!;
    const expected = fillPattern(77, count);
    if (cuda.kernelsAvailable().available) {
      expect(cuda.launchFill(a.ptr, count, 77, stream).ok).toBe(true);
      expect(cuda.streamSynchronize(stream).ok).toBe(true);
    } else {
      cuda.copyFromHost(a.ptr, new Uint8Array(expected.buffer));
    }
    const handle = cuda.ipcGetMemHandle(a.ptr).value!;
    const answer = inOtherProcess({ backend: cuda.backend, device: 0, kind: 'ipc', handle: handle.toString('hex'), bytes: count * 4 });
    expect(answer.open).toBe(0);
    expect(answer.memcpy).toBe(0);
    expect(answer.sum).toBe(sum32(expected));
    if (answer.kernel !== undefined) {
      expect(answer.kernel).toBe(0);
      expect(answer.kernelSum).toBe(sum32(expected));
    }
    expect(answer.close).toBe(0);
    cuda.streamDestroy(stream);
    cuda.free(a.ptr);
  });

  test('VMM memory with the POSIX-fd handle type is shared through its fd', () => {
    const a = cuda.malloc('vmm-fd', MiB).value!;
    const pattern = fillPattern(5, 1024);
    expect(cuda.copyFromHost(a.ptr, new Uint8Array(pattern.buffer)).ok).toBe(true);
    const fd = cuda.vmmExportFd(a.ptr);
    expect(fd.ok, `${fd.call}: ${fd.name}`).toBe(true);
    const answer = inOtherProcess({ backend: cuda.backend, device: 0, kind: 'vmm-fd', pid: process.pid, fd: fd.value, bytes: 4096 });
    expect(answer.fdOk, answer.fdMessage).toBe(true);
    expect(answer.open).toBe(0);
    expect(answer.sum).toBe(sum32(pattern));
    cuda.closeFd(fd.value!);
    cuda.free(a.ptr);
  });
});

describe('data paths', () => {
  test('memset, memcpy and copies round-trip', () => {
    const a = cuda.malloc('device', 4096).value!;
    const b = cuda.malloc('device', 4096).value!;
    expect(cuda.memset(a.ptr, 0xab, 4096).ok).toBe(true);
    expect(cuda.memcpy(b.ptr, a.ptr, 4096).ok).toBe(true);
    expect(cuda.copyToHost(b.ptr, 4096).value!.every((x) => x === 0xab)).toBe(true);
    cuda.free(a.ptr);
    cuda.free(b.ptr);
  });

  test('copyToHostInto fills exactly the target it is given, which the caller reuses', () => {
    const a = cuda.malloc('device', 4096).value!;
    expect(cuda.memset(a.ptr, 0x5a, 2048).ok).toBe(true);
    expect(cuda.memset(a.ptr + 2048n, 0xc3, 2048).ok).toBe(true);
    const host = Buffer.alloc(4096, 0x11);
    expect(cuda.copyToHostInto(a.ptr + 1024n, host.subarray(0, 2048))).toMatchObject({ ok: true, code: 0 });
    expect(host.subarray(0, 1024).every((x) => x === 0x5a)).toBe(true);
    expect(host.subarray(1024, 2048).every((x) => x === 0xc3)).toBe(true);
    expect(host.subarray(2048).every((x) => x === 0x11)).toBe(true);
    expect(cuda.copyToHostInto(a.ptr, host).ok).toBe(true);
    expect(host.equals(cuda.copyToHost(a.ptr, 4096).value!)).toBe(true);
    expect(() => cuda.copyToHostInto(a.ptr, [1, 2] as unknown as Uint8Array)).toThrow(TypeError);
    cuda.free(a.ptr);
  });

  test('batched launches write what one launch per buffer writes, and count their launches', async () => {
    if (!cuda.kernelsAvailable().available) return; // no kernels: the probe fills and checks with copies
    const count = 1024;
    const n = 6;
    const ranks = 2;
    const stream = cuda.streamCreate(true).value!;
    const buffers = Array.from({ length: n }, () => cuda.malloc('device', count * 4).value!);
    const seeds = Uint32Array.from({ length: n }, (_, i) => 100 + i);
    const filled = cuda.launchFillBatch(BigUint64Array.from(buffers.map((b) => b.ptr)), count, seeds, stream);
    expect(filled.ok, `${filled.call}: ${filled.name}`).toBe(true);
    expect(filled.launched).toBe(n);
    // Output i = buffer i + buffer (i + 1) mod n, through table i.
    const tables = cuda.malloc('device', n * ranks * 8).value!;
    const outs = cuda.malloc('device', n * count * 4).value!;
    const pointers = Buffer.alloc(n * ranks * 8);
    for (let i = 0; i < n; i++) {
      pointers.writeBigUInt64LE(buffers[i].ptr, (i * ranks) * 8);
      pointers.writeBigUInt64LE(buffers[(i + 1) % n].ptr, (i * ranks + 1) * 8);
    }
    expect(cuda.copyFromHost(tables.ptr, pointers).ok).toBe(true);
    const tableList = Array.from({ length: n }, (_, i) => tables.ptr + BigInt(i * ranks * 8));
    const outList = Array.from({ length: n }, (_, i) => outs.ptr + BigInt(i * count * 4));
    const reduced = cuda.launchAllReduceBatch(tableList, ranks, outList, count, stream);
    expect(reduced.ok, `${reduced.call}: ${reduced.name}`).toBe(true);
    expect(reduced.launched).toBe(n);
    expect((await cuda.streamSynchronizeAsync(stream)).ok).toBe(true);
    for (let i = 0; i < n; i++) {
      const got = cuda.copyToHost(buffers[i].ptr, count * 4).value!;
      expect(Buffer.from(got).equals(Buffer.from(fillPattern(seeds[i], count).buffer))).toBe(true);
      const want = fillPattern(seeds[i], count).map((v, e) => (v + fillPattern(seeds[(i + 1) % n], count)[e]) >>> 0);
      const out = cuda.copyToHost(outList[i], count * 4).value!;
      expect(Buffer.from(out).equals(Buffer.from(want.buffer)), `output ${i}`).toBe(true);
    }
    expect(() => cuda.launchAllReduceBatch(tableList, ranks, outList.slice(1), count, stream)).toThrow(RangeError);
    expect(() => cuda.launchFillBatch(BigUint64Array.from(buffers.map((b) => b.ptr)), count, new Uint32Array(n - 1), stream)).toThrow(RangeError);
    expect(() => cuda.launchFillBatch(BigUint64Array.from(buffers.map((b) => b.ptr)), count, new Int32Array(n) as unknown as Uint32Array, stream)).toThrow(TypeError);
    for (const a of [...buffers, tables, outs]) cuda.free(a.ptr);
    cuda.streamDestroy(stream);
  });

  test('a graph captured over the all-reduce kernel reads the pointer table written after capture', async () => {
    if (!cuda.kernelsAvailable().available) return; // verified with copies elsewhere; the report says so
    const count = 1024;
    const ranks = 3;
    const inputs = Array.from({ length: ranks }, () => cuda.malloc('device', count * 4).value!);
    const table = cuda.malloc('device', ranks * 8).value!;
    const out = cuda.malloc('device', count * 4).value!;
    const stream = cuda.streamCreate(true).value!;
    expect(cuda.streamBeginCapture(stream, 'global').ok).toBe(true);
    expect(cuda.launchAllReduce(table.ptr, ranks, out.ptr, count, stream).ok).toBe(true);
    const graph = cuda.streamEndCapture(stream).value!;
    const exec = cuda.graphInstantiate(graph).value!;
    const pointers = Buffer.alloc(ranks * 8);
    inputs.forEach((input, r) => pointers.writeBigUInt64LE(input.ptr, r * 8));
    cuda.copyFromHost(table.ptr, pointers);
    inputs.forEach((input, r) => cuda.launchFill(input.ptr, count, r + 1, stream));
    expect(cuda.graphLaunch(exec, stream).ok).toBe(true);
    expect((await cuda.streamSynchronizeAsync(stream)).ok).toBe(true);
    const got = new Uint32Array(cuda.copyToHost(out.ptr, count * 4).value!.buffer.slice(0));
    const want = new Uint32Array(count);
    for (let r = 0; r < ranks; r++) fillPattern(r + 1, count).forEach((v, i) => (want[i] = (want[i] + v) >>> 0));
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    cuda.graphExecDestroy(exec);
    cuda.graphDestroy(graph);
    cuda.streamDestroy(stream);
    for (const a of [...inputs, table, out]) cuda.free(a.ptr);
  });
});

describe('devices, events and peers', () => {
  test('device identity', () => {
    const info = cuda.getDeviceInfo(0).value!;
    expect(info.uuid).toMatch(/^(GPU|SIM)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(info.pciBusId).toMatch(/^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-9]$/);
    expect(info.vmmSupported).toBe(true);
    expect(cuda.getDevice().value).toBe(0);
    expect(cuda.runtimeGetVersion().value).toBeGreaterThanOrEqual(12000);
    expect(cuda.driverGetVersion().value).toBeGreaterThanOrEqual(12000);
  });

  test('an interprocess event exports a 64-byte handle', () => {
    const event = cuda.eventCreate(true).value!;
    const handle = cuda.ipcGetEventHandle(event);
    expect(handle.ok).toBe(true);
    expect(handle.value!.length).toBe(64);
    expect(cuda.eventDestroy(event).ok).toBe(true);
  });

  test('peer queries answer for every pair of devices', () => {
    const n = cuda.getDeviceCount().value!;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        expect(cuda.deviceCanAccessPeer(i, j).ok).toBe(true);
        expect(cuda.deviceGetP2PAttribute('access-supported', i, j).ok).toBe(true);
      }
    }
  });
});

describe('a graph allocation node (cudaMallocAsync on a capturing stream, as PyTorch\'s cudaMallocAsync backend makes tensors during capture)', () => {
  test('no attribute answers until the graph first runs; then pool memory that legacy IPC cannot export', () => {
    const stream = cuda.streamCreate(true).value!;
    expect(cuda.streamBeginCapture(stream, 'global').ok).toBe(true);
    const a = cuda.malloc('pool', MiB, stream);
    expect(a.ok, `${a.call}: ${a.name}`).toBe(true);
    const graph = cuda.streamEndCapture(stream);
    expect(graph.ok).toBe(true);
    const exec = cuda.graphInstantiate(graph.value!);
    expect(exec.ok).toBe(true);
    const ptr = a.value!.ptr;
    // measured (H100, docs/hardware-facts.md#graph-allocation): before the launch, 1 for every attribute
    const before = cuda.pointerAttributes(ptr).value!;
    expect(before.memoryType.code).toBe(1);
    expect(before.rangeStart.code).toBe(1);
    expect(cuda.ipcGetMemHandle(ptr).code).toBe(1);
    cuda.getLastError();
    expect(cuda.graphLaunch(exec.value!, stream).ok).toBe(true);
    expect(cuda.streamSynchronize(stream).ok).toBe(true);
    const after = cuda.pointerAttributes(ptr).value!;
    expect(after.memoryType.value).toBe(2);
    expect(after.isLegacyIpcCapable.value).toBe(false);
    expect(cuda.ipcGetMemHandle(after.rangeStart.value!).code).toBe(1);
    cuda.getLastError();
    expect(cuda.free(ptr).ok).toBe(true);
    cuda.graphExecDestroy(exec.value!);
    cuda.graphDestroy(graph.value!);
    cuda.streamDestroy(stream);
  });
});
