// `cuipc conformance`: the matrix of what matters to IPC, run on this machine's driver (or
// the simulated device) and recorded cell by cell. The H200 recording is kept as a fixture;
// the simulated device is held to it by a test.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AllocationKind, Backend, CaptureMode, CudaStatus } from '../../binding.js';
import { openCuda, type Cuda } from '../cuda/index.js';

export const CONFORMANCE_SCHEMA_VERSION = 1;

export type Observed = Record<string, number | boolean | string | null>;

export interface Cell {
  id: string;
  group: 'allocation' | 'invalid-pointer' | 'capture' | 'open' | 'vmm-export' | 'last-error' | 'peer';
  title: string;
  observed: Observed;
}

export interface ConformanceRecording {
  schemaVersion: number;
  simulated: boolean;
  recordedAt: string;
  machine: {
    driverVersion: number | null;
    runtimeVersion: number | null;
    driverPath: string | null;
    runtimePath: string | null;
    devices: Array<{ ordinal: number; name: string; uuid: string; pciBusId: string; computeCapability: [number, number] }>;
  };
  cells: Cell[];
}

export type ChildRequest =
  | { backend: Backend; device: number; kind: 'ipc'; handle: string; times: number; readBytes: number }
  | { backend: Backend; device: number; kind: 'vmm-fd'; pid: number; fd: number; bytes: number; readBytes: number };

export interface ChildAnswer {
  init: number;
  opens: Array<{ code: number; name: string; legacyIpcCapable?: boolean; samePointerAsFirst?: boolean; readCode?: number; readHex?: string }>;
  closeCodes?: number[];
  fdVia?: string;
  fdError?: string;
  error?: string;
}

const BYTES = 1 << 20;
const PATTERN = 0x5a;
const PATTERN_HEX = '5a'.repeat(16);
const KINDS: AllocationKind[] = ['device', 'pool', 'managed', 'host', 'vmm', 'vmm-fd'];
const MODES: CaptureMode[] = ['global', 'thread-local', 'relaxed'];

function runChild(request: ChildRequest): ChildAnswer {
  const child = fileURLToPath(new URL('../../dist/bundle/conformance-child.js', import.meta.url));
  const result = spawnSync(process.execPath, [child, JSON.stringify(request)], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, CUIPC_BACKEND: request.backend },
  });
  const line = (result.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ChildAnswer;
  } catch {
    return { init: -1, opens: [], error: `child process gave no answer (status ${result.status}, signal ${result.signal}): ${(result.stderr ?? '').slice(0, 300)}` };
  }
}

function attributesObserved(cuda: Cuda, ptr: bigint, base: bigint): Observed {
  const a = cuda.pointerAttributes(ptr);
  if (!a.ok || !a.value) return { attributesCode: a.code };
  const v = a.value;
  return {
    memoryType: v.memoryType.value ?? null,
    memoryTypeCode: v.memoryType.code,
    deviceOrdinal: v.deviceOrdinal.value ?? null,
    isManaged: v.isManaged.value ?? null,
    isLegacyIpcCapable: v.isLegacyIpcCapable.value ?? null,
    isLegacyIpcCapableCode: v.isLegacyIpcCapable.code,
    allowedHandleTypes: v.allowedHandleTypes.value ?? null,
    rangeStartIsBase: v.rangeStart.value === undefined ? null : v.rangeStart.value === base,
    rangeStartCode: v.rangeStart.code,
    mempoolNonZero: v.mempool.value === undefined ? null : v.mempool.value !== 0n,
    retainAllocationHandle: v.retainAllocationHandle.value ?? false,
  };
}

function code(s: CudaStatus): number {
  return s.code;
}

async function allocationCells(cuda: Cuda): Promise<Cell[]> {
  const cells: Cell[] = [];
  let interiorCell: Cell | undefined;
  for (const kind of KINDS) {
    const a = cuda.malloc(kind, BYTES);
    const observed: Observed = { mallocCode: a.code };
    if (a.ok && a.value) {
      Object.assign(observed, attributesObserved(cuda, a.value.ptr, a.value.ptr));
      observed.ipcGetMemHandle = cuda.ipcGetMemHandle(a.value.ptr).code;
      cuda.getLastError(); // do not let this cell's error leak into the next
      if (kind === 'device') {
        const interior = a.value.ptr + 4096n;
        const interiorAttrs = attributesObserved(cuda, interior, a.value.ptr);
        const interiorHandle = cuda.ipcGetMemHandle(interior);
        interiorCell = {
          id: 'allocation/device-interior',
          group: 'allocation',
          title: 'cudaMalloc, interior pointer (base + 4096)',
          observed: {
            isLegacyIpcCapable: interiorAttrs.isLegacyIpcCapable ?? null,
            rangeStartIsBase: interiorAttrs.rangeStartIsBase ?? null,
            ipcGetMemHandle: interiorHandle.code,
          },
        };
      }
      cuda.free(a.value.ptr);
    }
    cells.push({ id: `allocation/${kind}`, group: 'allocation', title: `${kind} allocation: attributes and cudaIpcGetMemHandle`, observed });
  }
  if (interiorCell) cells.push(interiorCell);
  return cells;
}

function invalidPointerCells(cuda: Cuda): Cell[] {
  const cases: Array<[string, bigint]> = [
    ['null', 0n],
    ['0xdeadbeef000', 0xdeadbeef000n],
  ];
  return cases.map(([name, ptr]) => {
    const handle = cuda.ipcGetMemHandle(ptr);
    cuda.getLastError();
    const attrs = cuda.pointerAttributes(ptr);
    return {
      id: `invalid-pointer/${name}`,
      group: 'invalid-pointer' as const,
      title: `cudaIpcGetMemHandle on ${name}`,
      observed: { ipcGetMemHandle: handle.code, memoryTypeCode: attrs.value?.memoryType.code ?? attrs.code },
    };
  });
}

function captureCells(cuda: Cuda): Cell[] {
  const cells: Cell[] = [];
  const buffer = cuda.malloc('device', BYTES);
  if (!buffer.ok || !buffer.value) return cells;
  const kernels = cuda.kernelsAvailable().available;
  for (const mode of MODES) {
    const stream = cuda.streamCreate(true);
    if (!stream.ok || stream.value === undefined) continue;
    const s = stream.value;
    const observed: Observed = { beginCapture: code(cuda.streamBeginCapture(s, mode)) };
    if (kernels) observed.kernelLaunch = code(cuda.launchFill(buffer.value.ptr, 256, 7, s));
    const capturing = cuda.streamIsCapturing(s);
    observed.isCapturing = capturing.value ?? null;
    observed.ipcGetMemHandle = code(cuda.ipcGetMemHandle(buffer.value.ptr));
    const during = cuda.malloc('device', 4096);
    observed.cudaMalloc = during.code;
    const end = cuda.streamEndCapture(s);
    observed.endCapture = end.code;
    observed.lastErrorAfter = code(cuda.getLastError());
    if (end.ok && end.value) cuda.graphDestroy(end.value);
    if (during.ok && during.value) cuda.free(during.value.ptr);
    cuda.streamDestroy(s);
    cuda.getLastError();
    cells.push({ id: `capture/${mode}`, group: 'capture', title: `calls while a stream captures (${mode} mode)`, observed });
  }
  cuda.free(buffer.value.ptr);
  return cells;
}

function openCells(cuda: Cuda, backend: Backend, device: number): Cell[] {
  const cells: Cell[] = [];
  const buffer = cuda.malloc('device', BYTES);
  if (!buffer.ok || !buffer.value) return cells;
  cuda.memset(buffer.value.ptr, PATTERN, BYTES);
  const handle = cuda.ipcGetMemHandle(buffer.value.ptr);
  if (handle.ok && handle.value) {
    const hex = handle.value.toString('hex');
    const other = runChild({ backend, device, kind: 'ipc', handle: hex, times: 1, readBytes: 16 });
    const first = other.opens[0];
    cells.push({
      id: 'open/other-process',
      group: 'open',
      title: 'valid handle, another process, same device',
      observed: {
        open: first?.code ?? null,
        importedLegacyIpcCapable: first?.legacyIpcCapable ?? null,
        readsExporterBytes: first ? first.readHex === PATTERN_HEX : null,
        close: other.closeCodes?.[0] ?? null,
        ...(other.error ? { childError: other.error } : {}),
      },
    });
    const own = cuda.ipcOpenMemHandle(handle.value, 1);
    cuda.getLastError();
    if (own.ok && own.value !== undefined) cuda.ipcCloseMemHandle(own.value);
    cells.push({ id: 'open/own-process', group: 'open', title: 'valid handle, the exporting process itself', observed: { open: own.code } });
    const twice = runChild({ backend, device, kind: 'ipc', handle: hex, times: 2, readBytes: 0 });
    cells.push({
      id: 'open/twice-in-one-process',
      group: 'open',
      title: 'the same handle opened twice in another process',
      observed: {
        firstOpen: twice.opens[0]?.code ?? null,
        secondOpen: twice.opens[1]?.code ?? null,
        secondIsSamePointer: twice.opens[1]?.samePointerAsFirst ?? null,
      },
    });
  }
  const zero = runChild({ backend, device, kind: 'ipc', handle: '00'.repeat(64), times: 1, readBytes: 0 });
  cells.push({ id: 'open/zero-handle', group: 'open', title: '64 zero bytes, another process', observed: { open: zero.opens[0]?.code ?? null } });
  const doomed = cuda.malloc('device', BYTES);
  if (doomed.ok && doomed.value) {
    const h = cuda.ipcGetMemHandle(doomed.value.ptr);
    cuda.free(doomed.value.ptr);
    if (h.ok && h.value) {
      const freed = runChild({ backend, device, kind: 'ipc', handle: h.value.toString('hex'), times: 1, readBytes: 0 });
      cells.push({ id: 'open/freed-before-open', group: 'open', title: 'handle taken before the exporter freed the memory, opened after', observed: { open: freed.opens[0]?.code ?? null } });
    }
  }
  cuda.free(buffer.value.ptr);
  return cells;
}

function vmmExportCells(cuda: Cuda, backend: Backend, device: number): Cell[] {
  const cells: Cell[] = [];
  const withFd = cuda.malloc('vmm-fd', BYTES);
  if (withFd.ok && withFd.value) {
    cuda.memset(withFd.value.ptr, PATTERN, BYTES);
    const fd = cuda.vmmExportFd(withFd.value.ptr);
    const observed: Observed = { exportFd: fd.code };
    if (fd.ok && fd.value !== undefined) {
      const child = runChild({ backend, device, kind: 'vmm-fd', pid: process.pid, fd: fd.value, bytes: withFd.value.mappedBytes, readBytes: 16 });
      observed.fdTransfer = child.fdError ? 'failed' : 'ok';
      observed.importAndMap = child.opens[0]?.code ?? null;
      observed.readsExporterBytes = child.opens[0] ? child.opens[0].readHex === PATTERN_HEX : null;
      cuda.closeFd(fd.value);
    }
    cells.push({ id: 'vmm-export/posix-fd', group: 'vmm-export', title: 'VMM with the POSIX-fd handle type: export, pass the fd, import, map', observed });
    cuda.free(withFd.value.ptr);
  }
  const plain = cuda.malloc('vmm', BYTES);
  if (plain.ok && plain.value) {
    const fd = cuda.vmmExportFd(plain.value.ptr);
    if (fd.ok && fd.value !== undefined) cuda.closeFd(fd.value);
    cells.push({ id: 'vmm-export/no-handle-type', group: 'vmm-export', title: 'VMM created with no handle type: export to a POSIX fd', observed: { exportFd: fd.code } });
    cuda.free(plain.value.ptr);
  }
  return cells;
}

function lastErrorCells(cuda: Cuda): Cell[] {
  const vmm = cuda.malloc('vmm', BYTES);
  if (!vmm.ok || !vmm.value) return [];
  cuda.getLastError();
  const failed = cuda.ipcGetMemHandle(vmm.value.ptr);
  const observed: Observed = {
    ipcGetMemHandle: failed.code,
    peekAfter: cuda.peekAtLastError().code,
    getLastErrorAfter: cuda.getLastError().code,
    getLastErrorAgain: cuda.getLastError().code,
  };
  cuda.free(vmm.value.ptr);
  return [{ id: 'last-error/after-failed-export', group: 'last-error', title: 'the runtime last error after a failed cudaIpcGetMemHandle', observed }];
}

function peerCells(cuda: Cuda, count: number): Cell[] {
  const cells: Cell[] = [];
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < count; j++) {
      if (i === j) continue;
      const can = cuda.deviceCanAccessPeer(i, j);
      const rank = cuda.deviceGetP2PAttribute('performance-rank', i, j);
      const atomics = cuda.deviceGetP2PAttribute('native-atomic-supported', i, j);
      cells.push({
        id: `peer/${i}-${j}`,
        group: 'peer',
        title: `peer access from device ${i} to ${j}`,
        observed: { canAccessPeer: can.value ?? null, canAccessPeerCode: can.code, performanceRank: rank.value ?? null, nativeAtomics: atomics.value ?? null },
      });
    }
  }
  return cells;
}

export async function runConformance(options: { backend?: Backend | 'auto'; device?: number } = {}): Promise<ConformanceRecording> {
  const cuda = openCuda({ backend: options.backend });
  const device = options.device ?? 0;
  const count = cuda.getDeviceCount();
  const recording: ConformanceRecording = {
    schemaVersion: CONFORMANCE_SCHEMA_VERSION,
    simulated: cuda.report.simulated,
    recordedAt: new Date().toISOString(),
    machine: {
      driverVersion: cuda.driverGetVersion().value ?? null,
      runtimeVersion: cuda.runtimeGetVersion().value ?? null,
      driverPath: cuda.report.driver?.path ?? null,
      runtimePath: cuda.report.runtime?.path ?? null,
      devices: [],
    },
    cells: [],
  };
  if (!count.ok || !count.value) return recording;
  // A device that does not exist is the caller's mistake (exit 2), not a machine that cannot record (exit 3).
  if (!Number.isInteger(device) || device < 0 || device >= count.value) {
    throw new RangeError(`--device ${device}: this machine has ${count.value} visible device(s), ordinals 0 to ${count.value - 1}`);
  }
  for (let d = 0; d < count.value; d++) {
    const info = cuda.getDeviceInfo(d);
    if (info.ok && info.value) {
      const { ordinal, name, uuid, pciBusId, computeCapability } = info.value;
      recording.machine.devices.push({ ordinal, name, uuid, pciBusId, computeCapability });
    }
  }
  const init = await cuda.initDeviceAsync(device);
  if (!init.ok) return recording;
  recording.cells.push(
    ...(await allocationCells(cuda)),
    ...invalidPointerCells(cuda),
    ...captureCells(cuda),
    ...openCells(cuda, cuda.backend, device),
    ...vmmExportCells(cuda, cuda.backend, device),
    ...lastErrorCells(cuda),
    ...peerCells(cuda, count.value),
  );
  return recording;
}
