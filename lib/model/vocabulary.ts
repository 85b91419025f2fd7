// The domain's vocabulary, shared by every layer that speaks of a probe: the steps and how
// each ended, the allocators, share strategies, capture modes and launch terms, a CUDA call as
// it is recorded (its arguments, code, last-error state), a pointer's provenance and the
// capture state, and the memory-saver region. The report's document (lib/report/types.ts), the
// probe, the trace, the explanation rules and bisect all use these words from here.
import type { AllocatorHookAbi, CaptureMode, CaptureStatus } from '../../binding.js';

export const STEPS = ['init', 'register', 'capture', 'export', 'exchange', 'import', 'replay', 'verify', 'teardown'] as const;

export type StepName = (typeof STEPS)[number];

/** How a rank's step ended. 'interrupted': the coordinator killed the rank while it ran the step. */
export type StepOutcome = 'passed' | 'failed' | 'skipped' | 'not-run' | 'crashed' | 'hung' | 'interrupted';

/**
 * --alloc: how the graph inputs are allocated. 'torch' (the default): as PyTorch's caching
 * allocator does under the rank's PYTORCH_CUDA_ALLOC_CONF, whole segments carved into tensors;
 * the others call one allocator directly ('cudaMalloc' is the binding's 'device').
 */
export type InputAllocator = 'torch' | 'cudaMalloc' | 'vmm' | 'vmm-fd' | 'pool' | 'managed' | 'host';

export const INPUT_ALLOCATORS: readonly InputAllocator[] = ['torch', 'cudaMalloc', 'vmm', 'vmm-fd', 'pool', 'managed', 'host'];

export type ShareStrategy = 'ipc' | 'copy' | 'vmm-export';

export const SHARE_STRATEGIES: readonly ShareStrategy[] = ['ipc', 'copy', 'vmm-export'];

export const CAPTURE_MODES: readonly CaptureMode[] = ['global', 'thread-local', 'relaxed'];

/** Who starts the ranks: a registered launcher's name ('plain': the coordinator itself; 'ray': Ray actors). */
export type LauncherKind = string;

/** Plain launcher: every device visible to every rank, or one per rank through CUDA_VISIBLE_DEVICES (as Ray does). */
export type DeviceVisibility = 'all' | 'per-rank';

export const DEVICE_VISIBILITIES: readonly DeviceVisibility[] = ['all', 'per-rank'];

export type PlacementStrategy = 'STRICT_PACK' | 'PACK' | 'SPREAD' | 'STRICT_SPREAD';

export const PLACEMENT_STRATEGIES: readonly PlacementStrategy[] = ['STRICT_PACK', 'PACK', 'SPREAD', 'STRICT_SPREAD'];

/** What Ray gave the actor that ran a rank, read inside the actor. */
export interface RayPlacement {
  /** ray.get_gpu_ids(): the GPUs Ray assigned, as Ray numbers them on the node. */
  gpuIds: string[];
  /** ray.get_runtime_context().get_node_id() */
  nodeId: string;
  /** The actor's CUDA_VISIBLE_DEVICES; null when Ray left it unset. */
  cudaVisibleDevices: string | null;
  /** RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES was set in the actor. */
  nosetVisibleDevices: boolean;
}

/** How a rank was placed, as the rank saw it when it started. */
export interface RankPlacement {
  /** The rank's own CUDA_VISIBLE_DEVICES; null when unset. */
  cudaVisibleDevices: string | null;
  /** Set when the rank ran in a Ray actor. */
  ray: RayPlacement | null;
  /** The host the rank ran on (os.hostname()); ranks on several nodes cannot use legacy CUDA IPC. */
  hostname?: string;
}

/** A call argument as it appears in the report: pointers and handles as hex strings. */
export type ArgumentValue = string | number | boolean | null;

export type CallArguments = Record<string, ArgumentValue>;

/** A CUDA code with its name and message, e.g. 1 cudaErrorInvalidValue "invalid argument". */
export interface ErrorCode {
  code: number;
  name: string;
  message: string;
}

/** The runtime's last-error slot around a failing call. */
export interface LastErrorState {
  /** cudaPeekAtLastError just before the call: non-zero means an earlier error was pending. */
  before: ErrorCode;
  /** cudaPeekAtLastError just after the call (does not clear). */
  afterPeek: ErrorCode;
  /** cudaGetLastError just after the call (clears the slot, so later calls start clean). */
  afterGet: ErrorCode;
}

/**
 * 'own': the call produced this error itself. 'stale': the same code was already pending in
 * the last-error slot before the call, so the call may only be reporting an earlier failure.
 */
export type ErrorOrigin = 'own' | 'stale';

export interface CallRecord {
  /** The CUDA entry point, e.g. "cudaIpcGetMemHandle". */
  call: string;
  /** The binding method that made it, e.g. "ipcGetMemHandleBatch". */
  method: string;
  args: CallArguments;
  ok: boolean;
  code: number;
  name: string;
  message: string;
  /** Consecutive successful calls of one entry point in one step are folded into one record. */
  count: number;
  lastError?: LastErrorState;
  origin?: ErrorOrigin;
}

/** What the driver says about a pointer (cuPointerGetAttribute and friends). */
export interface Provenance {
  ptr: string;
  /** 1 host, 2 device, 3 array, 4 unified; null when the driver refused the query. */
  memoryType: number | null;
  memoryTypeName: string;
  device: number | null;
  isManaged: boolean | null;
  rangeStart: string | null;
  rangeSize: number | null;
  legacyIpcCapable: boolean | null;
  allowedHandleTypes: number | null;
  allowedHandleTypeNames: string[];
  /** cuMemRetainAllocationHandle succeeded: the memory is VMM (cuMemCreate + cuMemMap). */
  vmm: boolean | null;
  /** The memory pool handle when the allocation came from a pool, else null. */
  mempool: string | null;
  /** Attribute queries that the driver refused, with their codes. */
  refused: Record<string, number>;
  /** One line: what kind of memory this is, from the attributes alone. */
  classification: 'device' | 'vmm' | 'pool' | 'managed' | 'host' | 'unknown';
}

export interface CaptureSnapshot {
  /** The capture stream, or null when the rank had none yet. */
  stream: string | null;
  mode: CaptureMode;
  status: CaptureStatus | null;
  captureId: string | null;
  /** The code of cudaStreamGetCaptureInfo itself (non-zero: the state could not be read). */
  queryCode: number;
}

/** --memory-saver-region: enter the allocator hooks' regions as SGLang would (auto), always, or never. */
export type MemorySaverMode = 'auto' | 'on' | 'off';

export const MEMORY_SAVER_MODES: readonly MemorySaverMode[] = ['auto', 'on', 'off'];

/** What a rank decided about the memory saver's region, and which hooks it found loaded. */
export interface MemorySaverRegion {
  mode: MemorySaverMode;
  /** SGLANG_MEMORY_SAVER_CUDA_GRAPH as the rank saw it; null when unset. */
  variable: string | null;
  /** Whether graph inputs were allocated and captured inside the hooks' regions. */
  entered: boolean;
  /** Why, in words: the mode and the variable. */
  reason: string;
  /** Allocator hooks with a region found loaded in the rank (by their C ABI). */
  hooks: Array<{ abi: AllocatorHookAbi; library: string | null; symbol: string; insideBefore: boolean }>;
}
