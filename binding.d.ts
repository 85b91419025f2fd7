/// <reference types="node" />
// The native addon's surface, exactly as native/ exports it. lib/binding loads it; lib/cuda
// re-exports it typed for users. Every CUDA call returns a CudaResult and never throws for
// a CUDA error; wrong argument types or ranges throw TypeError / RangeError.

/** A device or host address. Always a BigInt, never a Number. */
export type Ptr = bigint;

/** The outcome of one CUDA call. `code` is the CUresult / cudaError_t value. */
export interface CudaStatus {
  ok: boolean;
  code: number;
  /** e.g. "cudaErrorInvalidValue" (runtime) or "CUDA_ERROR_INVALID_VALUE" (driver). */
  name: string;
  /** e.g. "invalid argument". */
  message: string;
  /** The CUDA entry point that produced the code, e.g. "cudaIpcGetMemHandle". */
  call: string;
}

/** A CUDA call that succeeded with a value. */
export interface CudaSuccess<T> extends CudaStatus {
  ok: true;
  value: T;
}

/** A CUDA call that failed: `code`, `name` and `message` say why; there is no value. */
export interface CudaFailure extends CudaStatus {
  ok: false;
  value?: undefined;
}

/**
 * A CUDA call that also produces a value. Narrow on `ok`:
 * `const r = cuda.malloc('vmm', 1 << 20); if (r.ok) use(r.value.ptr); else report(r.name);`
 */
export type CudaResult<T> = CudaSuccess<T> | CudaFailure;

export type Backend = 'cuda' | 'sim';

export interface LibraryAttempt {
  /** What was tried: a path or a soname. */
  candidate: string;
  /** Why it was tried: "CUIPC_LIBCUDA", "already loaded", "LD_LIBRARY_PATH", ... */
  source: string;
  /** dlerror() text when it failed; absent when this candidate was loaded. */
  error?: string;
}

export interface LoadedLibrary {
  role: 'driver' | 'runtime';
  /** The file actually mapped (realpath from dladdr). */
  path: string;
  source: string;
  /** cuDriverGetVersion / cudaRuntimeGetVersion, e.g. 13000; 0 when unknown. */
  version: number;
}

export interface SymbolOrigin {
  symbol: string;
  /** The object that provides it (dladdr), e.g. an LD_PRELOAD interposer or libcudart. */
  path: string;
  /** True when it is not the runtime library loaded by cuipc (an interposer won). */
  interposed: boolean;
}

export interface LoadOptions {
  backend: Backend;
  /** Ordered candidates for the driver; each { candidate, source }. */
  driverCandidates: Array<{ candidate: string; source: string }>;
  /** Ordered candidates for the runtime. */
  runtimeCandidates: Array<{ candidate: string; source: string }>;
}

export interface LoaderReport {
  backend: Backend;
  /** True when the backend is the simulated device. Everything it produces says so. */
  simulated: boolean;
  driver: LoadedLibrary | null;
  runtime: LoadedLibrary | null;
  attempts: { driver: LibraryAttempt[]; runtime: LibraryAttempt[] };
  /** cuInit(0) on the loaded driver (null when no driver was loaded). */
  driverInit: CudaStatus | null;
  /** Driver entry points that could not be resolved (older drivers lack some). */
  missingSymbols: string[];
  allocation: SymbolOrigin[];
  kernels: { available: boolean; reason: string; architectures: string[] };
}

export interface DeviceInfo {
  ordinal: number;
  name: string;
  /** "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (the simulated device uses "SIM-..."). */
  uuid: string;
  /** "0000:18:00.0" */
  pciBusId: string;
  computeCapability: [number, number];
  unifiedAddressing: boolean;
  computeMode: number;
  vmmSupported: boolean;
  posixFdHandleSupported: boolean;
}

/**
 * 'device': cudaMalloc as the process's global scope resolves it (an LD_PRELOAD hook wins, as for
 * PyTorch); 'device-direct': cudaMalloc from the runtime library's own handle, as
 * ctypes.CDLL(libcudart).cudaMalloc calls it (SGLang's CudaRTLibrary; a preloaded hook never
 * sees it).
 */
export type AllocationKind = 'device' | 'device-direct' | 'pool' | 'managed' | 'host' | 'vmm' | 'vmm-fd';

export interface Allocation {
  ptr: Ptr;
  /** The size asked for; a VMM allocation is rounded up to the granularity (see mappedBytes). */
  bytes: number;
  mappedBytes: number;
  kind: AllocationKind;
  device: number;
}

/** One attribute query: its value when the driver answered, and the driver's code. */
export interface AttributeAnswer<T> {
  code: number;
  value?: T;
}

export interface PointerAttributes {
  ptr: Ptr;
  memoryType: AttributeAnswer<number>;
  deviceOrdinal: AttributeAnswer<number>;
  isManaged: AttributeAnswer<boolean>;
  rangeStart: AttributeAnswer<Ptr>;
  rangeSize: AttributeAnswer<number>;
  mapped: AttributeAnswer<boolean>;
  isLegacyIpcCapable: AttributeAnswer<boolean>;
  allowedHandleTypes: AttributeAnswer<number>;
  /** Non-zero handle when the allocation came from a memory pool. */
  mempool: AttributeAnswer<Ptr>;
  /** Whether cuMemRetainAllocationHandle succeeds: true only on VMM memory. */
  retainAllocationHandle: AttributeAnswer<boolean>;
}

/** The allocator-hook ABIs whose region the probe can enter (native/memory/memory.cc kRegionHooks). */
export type AllocatorHookAbi = 'torch_memory_saver' | 'cuipc-interposer';

export interface AllocatorHook {
  abi: AllocatorHookAbi;
  /** The library that exports the hook (dladdr), or null when it cannot be told. */
  library: string | null;
  /** The entry point found: tms_set_interesting_region or cuipc_interposer_set_region. */
  symbol: string;
  /** Whether the calling thread is inside the region now. */
  inside: boolean;
}

export type CaptureMode = 'global' | 'thread-local' | 'relaxed';
export type CaptureStatus = 'none' | 'active' | 'invalidated';

export interface CaptureInfo {
  status: CaptureStatus;
  id: bigint;
}

export type MemcpyDirection = 'default';

export type P2PAttribute = 'performance-rank' | 'access-supported' | 'native-atomic-supported';

/** A slot of pointerAttributesInto: the PointerAttributes field it answers. */
export type PointerAttributeSlot = Exclude<keyof PointerAttributes, 'ptr'>;

/** The numbers and orders both languages must agree with; their one home is native (frozen). */
export interface NativeConstants {
  /** Bytes of a cudaIpcMemHandle_t or cudaIpcEventHandle_t (CUDA_IPC_HANDLE_SIZE, 64). */
  readonly ipcHandleBytes: number;
  /** pointerAttributesInto's slots in order: values[i] and codes[i] answer pointerAttributeSlots[i]. */
  readonly pointerAttributeSlots: readonly PointerAttributeSlot[];
}

export interface NativeBinding {
  readonly constants: NativeConstants;
  /** Load the backend. Idempotent for the same backend; a second backend is a RangeError. */
  load(options: LoadOptions): LoaderReport;
  /** [name, message] of a cudaError_t (driver false) or CUresult (driver true) code. */
  describeError(code: number, driver: boolean): [string, string];

  // devices
  driverGetVersion(): CudaResult<number>;
  runtimeGetVersion(): CudaResult<number>;
  getDeviceCount(): CudaResult<number>;
  getDeviceInfo(ordinal: number): CudaResult<DeviceInfo>;
  setDevice(ordinal: number): CudaStatus;
  getDevice(): CudaResult<number>;
  /** cudaSetDevice + cudaFree(0): creates the primary context off the JS thread. */
  initDeviceAsync(ordinal: number): Promise<CudaStatus>;

  // memory
  /**
   * `stream` (kind 'pool' only): cudaMallocAsync on that stream, not waited for; on a capturing
   * stream the allocation is a node of the graph (its memory is mapped at the graph's first launch).
   */
  malloc(kind: AllocationKind, bytes: number, stream?: Ptr): CudaResult<Allocation>;
  /** Frees an allocation made by malloc (any kind); the kind is remembered natively. */
  free(ptr: Ptr): CudaStatus;
  /**
   * Packed form behind pointerAttributes: values[i] and codes[i] answer
   * constants.pointerAttributeSlots[i] (memory type, device ordinal, is-managed, range start,
   * range size, mapped, legacy-IPC-capable, allowed handle types, mempool, then whether
   * cuMemRetainAllocationHandle succeeds). Returns 0, or the code of a missing driver.
   */
  pointerAttributesInto(ptr: Ptr, values: BigUint64Array, codes: Int32Array): number;
  /** Packed form behind rangeStartBatch; returns how many failed. */
  rangeStartPacked(ptrs: BigUint64Array | Ptr[], bases: BigUint64Array, codes: Int32Array): number;
  memset(ptr: Ptr, byte: number, bytes: number): CudaStatus;
  memcpy(dst: Ptr, src: Ptr, bytes: number): CudaStatus;
  copyToHost(src: Ptr, bytes: number): CudaResult<Buffer>;
  /** Copies target.byteLength bytes from src into `target` (a Buffer or Uint8Array the caller reuses). */
  copyToHostInto(src: Ptr, target: Uint8Array): CudaStatus;
  copyFromHost(dst: Ptr, data: Uint8Array): CudaStatus;
  /**
   * The allocator hooks with a region that are loaded (found by their C ABI in the global
   * scope, where LD_PRELOAD libraries are): torch_memory_saver's preload hook
   * (tms_set_interesting_region, thread-local) and cuipc's own interposer
   * (cuipc_interposer_set_region, process-wide). `inside` is the calling thread's state.
   */
  allocatorHooks(): AllocatorHook[];
  /**
   * Enters (true) or leaves (false) the region of the loaded hook with that ABI, on the calling
   * thread; returns whether it was inside before, or null when no loaded library has that ABI.
   */
  setAllocatorRegion(abi: AllocatorHookAbi, inside: boolean): boolean | null;
  /**
   * Starts a thread that sends this process SIGKILL `graceMs` after its parent is no longer
   * `parentPid` (the rank program's guard against outliving its probe). False when the parent
   * differs already.
   */
  lifeline(parentPid: number, graceMs: number): boolean;
  /** This process sends itself SIGKILL `ms` from now unless it has exited by then. */
  lifelineDeadline(ms: number): void;

  // IPC
  /** Packed form behind ipcGetMemHandle: writes 64 bytes into out, returns the code. */
  ipcGetMemHandleInto(ptr: Ptr, out: Uint8Array): number;
  /** Packed form behind ipcGetMemHandleBatch: 64 bytes per pointer into out; returns how many failed. */
  ipcGetMemHandlePacked(ptrs: BigUint64Array | Ptr[], out: Uint8Array, codes: Int32Array): number;
  ipcOpenMemHandle(handle: Uint8Array, flags: number): CudaResult<Ptr>;
  ipcOpenMemHandleAsync(handle: Uint8Array, flags: number): Promise<CudaResult<Ptr>>;
  /** Packed form behind ipcOpenMemHandleBatchAsync: all opens on one worker thread; resolves to how many failed. */
  ipcOpenMemHandlePackedAsync(handles: Uint8Array, flags: number, ptrs: BigUint64Array, codes: Int32Array): Promise<number>;
  ipcCloseMemHandle(ptr: Ptr): CudaStatus;
  eventCreate(interprocess: boolean): CudaResult<Ptr>;
  eventDestroy(event: Ptr): CudaStatus;
  ipcGetEventHandle(event: Ptr): CudaResult<Buffer>;
  ipcOpenEventHandle(handle: Uint8Array): CudaResult<Ptr>;
  /** cuMemRetainAllocationHandle + cuMemExportToShareableHandle(POSIX fd). */
  vmmExportFd(ptr: Ptr): CudaResult<number>;
  /** cuMemImportFromShareableHandle + reserve + map + set access on the current device. */
  vmmImportFd(fd: number, bytes: number): CudaResult<Ptr>;
  /** Unmaps and frees an address range made by vmmImportFd. */
  vmmUnmapImported(ptr: Ptr): CudaStatus;
  /** Duplicates file descriptor `fd` of process `pid` into this process (pidfd_getfd, then /proc). */
  fdFromProcess(pid: number, fd: number): { ok: boolean; fd: number; errno: number; message: string; via: string };
  closeFd(fd: number): void;

  // capture and graphs
  streamCreate(nonBlocking: boolean): CudaResult<Ptr>;
  streamDestroy(stream: Ptr): CudaStatus;
  streamSynchronize(stream: Ptr): CudaStatus;
  streamSynchronizeAsync(stream: Ptr): Promise<CudaStatus>;
  streamBeginCapture(stream: Ptr, mode: CaptureMode): CudaStatus;
  streamEndCapture(stream: Ptr): CudaResult<Ptr>;
  streamIsCapturing(stream: Ptr): CudaResult<CaptureStatus>;
  streamGetCaptureInfo(stream: Ptr): CudaResult<CaptureInfo>;
  /** Returns the previous mode. */
  threadExchangeStreamCaptureMode(mode: CaptureMode): CudaResult<CaptureMode>;
  graphInstantiate(graph: Ptr): CudaResult<Ptr>;
  graphLaunch(exec: Ptr, stream: Ptr): CudaStatus;
  graphDestroy(graph: Ptr): CudaStatus;
  graphExecDestroy(exec: Ptr): CudaStatus;
  getLastError(): CudaStatus;
  peekAtLastError(): CudaStatus;

  // peer access
  deviceCanAccessPeer(device: number, peer: number): CudaResult<boolean>;
  deviceGetP2PAttribute(attr: P2PAttribute, src: number, dst: number): CudaResult<number>;

  // kernels (uint32 elements; launched with cuLaunchKernel so they can be captured)
  kernelsAvailable(): { available: boolean; reason: string };
  /** p[i] = seed * 2654435761 + i (mod 2^32) */
  launchFill(ptr: Ptr, count: number, seed: number, stream: Ptr): CudaStatus;
  /** out[0] = sum of p[i] (mod 2^32), out[1] = xor of p[i] */
  launchChecksum(ptr: Ptr, count: number, out: Ptr, stream: Ptr): CudaStatus;
  /** out[i] = sum over r < ranks of ((uint32*)table[r])[i]; table is a device array of ranks pointers. */
  launchAllReduce(table: Ptr, ranks: number, out: Ptr, count: number, stream: Ptr): CudaStatus;
  /** launchFill(ptrs[i], count, seeds[i], stream) for each i in order, stopping at the first failure. */
  launchFillBatch(ptrs: BigUint64Array | Ptr[], count: number, seeds: Uint32Array, stream: Ptr): BatchLaunchStatus;
  /** launchAllReduce(tables[i], ranks, outs[i], count, stream) for each i in order, stopping at the first failure. */
  launchAllReduceBatch(tables: BigUint64Array | Ptr[], ranks: number, outs: BigUint64Array | Ptr[], count: number, stream: Ptr): BatchLaunchStatus;
}

/** A batch of launches: the status of the last launch made (the failing one, if any), and how many succeeded before it. */
export type BatchLaunchStatus = CudaStatus & { launched: number };

/** Results of a batched call, packed: entry i is codes[i] (and its value where codes[i] is 0). */
export interface PackedBatch {
  /** The CUDA entry point called once per pointer. */
  call: string;
  count: number;
  failed: number;
  codes: Int32Array;
  /** The named status of entry i. */
  status(i: number): CudaStatus;
}

export interface HandleBatch extends PackedBatch {
  /** 64 bytes per entry, zero where the entry failed. */
  handles: Buffer;
  /** Entry i's handle (a view into handles), or undefined where it failed. */
  handle(i: number): Buffer | undefined;
}

export interface PointerBatch extends PackedBatch {
  /** The opened address per entry (0 where it failed). */
  ptrs: BigUint64Array;
}

export interface RangeBatch extends PackedBatch {
  /** RANGE_START_ADDR per entry (0 where it failed); the offset is ptr - base. */
  bases: BigUint64Array;
}

/**
 * The hot calls, built in JavaScript over the packed native forms above (lib/cuda): a
 * fixed-shape result literal costs a fraction of one built through Node-API.
 */
export interface HotCalls {
  ipcGetMemHandle(ptr: Ptr): CudaResult<Buffer>;
  /** One cudaIpcGetMemHandle per pointer; a BigUint64Array is read in place. */
  ipcGetMemHandleBatch(ptrs: BigUint64Array | Ptr[]): HandleBatch;
  /**
   * cudaIpcOpenMemHandle(handle, flags) for each 64-byte handle (one Buffer per handle, or
   * all of them back to back), off the JS thread and in one pass.
   */
  ipcOpenMemHandleBatchAsync(handles: Uint8Array | Uint8Array[], flags: number): Promise<PointerBatch>;
  /** RANGE_START_ADDR of one pointer: its allocation base and the offset into it. */
  rangeStart(ptr: Ptr): CudaResult<{ base: Ptr; offset: number }>;
  /** RANGE_START_ADDR per pointer, the export's base lookup. */
  rangeStartBatch(ptrs: BigUint64Array | Ptr[]): RangeBatch;
  pointerAttributes(ptr: Ptr): CudaResult<PointerAttributes>;
  pointerAttributesBatch(ptrs: Ptr[]): Array<CudaResult<PointerAttributes>>;
  /** The named status for a code returned by `call` (driver entry points start with "cu" but not "cuda"). */
  status(call: string, code: number): CudaStatus;
}

declare const binding: NativeBinding;
export default binding;
