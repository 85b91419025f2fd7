// The probe's report: one JSON document (schema/report.schema.json) that a person reads
// through render.ts and a program reads as is. Pointers and handles are hex strings here,
// because JSON has neither BigInt nor bytes.
import type { AllocationKind, AllocatorHookAbi, Backend, CaptureMode, CaptureStatus, SymbolOrigin } from '../../binding.js';
import type { DeviceIdentity } from '../env/capture.js';
import type { Hazard } from '../env/hazards.js';

export const REPORT_SCHEMA_VERSION = 1;

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
}

/** How the ranks were launched. */
export interface LaunchSettings {
  launcher: LauncherKind;
  /** Plain launcher's device visibility; null under Ray (Ray decides). */
  visibility: DeviceVisibility | null;
  ray: { numGpus: number; placementStrategy: PlacementStrategy; nosetVisibleDevices: boolean; address: string | null } | null;
  /** The snapshot the ranks' environment was replayed from (its values are not copied here). */
  envSnapshot: { label: string | null; capturedAt: string; hostname: string; pid: number } | null;
  coordinatorHost: string;
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

/** A failing call with everything the rank could find out about it at the time. */
export interface FailureRecord {
  rank: number;
  step: StepName;
  call: CallRecord;
  provenance: Provenance | null;
  capture: CaptureSnapshot | null;
  /** For a failed import: whose handle it was. */
  peer?: { rank: number; base: string; handle?: string; pid?: number; fd?: number };
  /** A failure that is not a CUDA code (e.g. verification mismatch, a malformed exchange). */
  detail?: string;
}

/** A device as a rank saw it (its one home is the environment snapshot's, env/capture.ts). */
export type { DeviceIdentity };

export interface RankLoader {
  backend: Backend;
  simulated: boolean;
  driver: string | null;
  runtime: string | null;
  /** Which objects provide the allocation entry points (an interposer shows here). */
  allocation: SymbolOrigin[];
  kernels: { available: boolean; reason: string };
}

export interface RankStep {
  outcome: StepOutcome;
  durationMs: number;
  calls: CallRecord[];
  notes: string[];
  /** The call the rank announced last when it crashed or hung in this step. */
  inFlight?: { call: string; method: string; args: CallArguments };
}

export interface VerifySummary {
  /** 'kernel': the graph's all-reduce output was checked; 'copy': peers' inputs were read with copies. */
  mode: 'kernel' | 'copy';
  inputsChecked: number;
  bytesChecked: number;
  mismatches: number;
  firstMismatch?: { input: number; element: number; expected: number; actual: number; peer?: number };
}

export interface RankReport {
  rank: number;
  pid: number | null;
  /** The ordinal the rank was told to use (within its own CUDA_VISIBLE_DEVICES). */
  requestedDevice: number;
  /** The physical device it got: compare ranks by uuid and pciBusId, not by ordinal. */
  device: DeviceIdentity | null;
  /** Null when the rank never said hello (absent in reports from before launchers). */
  placement?: RankPlacement | null;
  loader: RankLoader | null;
  hazards: Hazard[];
  /** The memory-saver region decision (absent in reports from before it). */
  memorySaver?: MemorySaverRegion | null;
  steps: Record<StepName, RankStep>;
  verify?: VerifySummary;
  exit: { code: number | null; signal: string | null } | null;
  /** The end of what the rank wrote to stderr (useful when it died). */
  stderrTail: string;
}

export interface Explanation {
  id: string;
  title: string;
  likelihood: 'high' | 'medium' | 'low';
  /** Why this explanation fits, in a sentence or two. */
  summary: string;
  evidence: string[];
  tryNext: string[];
}

export interface Pinpoint {
  rank: number;
  step: StepName;
  call: string;
  method: string;
  args: CallArguments;
  code: number;
  name: string;
  message: string;
  origin: ErrorOrigin;
  lastError: LastErrorState | null;
  provenance: Provenance | null;
  capture: CaptureSnapshot | null;
  peer?: FailureRecord['peer'];
  detail?: string;
  explanations: Explanation[];
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

/** Something in the ranks' environment that the run did not exercise, so a pass does not cover it. */
export interface ProbeWarning {
  id: string;
  severity: 'high' | 'medium';
  ranks: number[];
  message: string;
  /** A command that would exercise it. */
  command?: string;
}

/** 'interrupted': SIGINT, SIGTERM or SIGHUP reached the coordinator (exit 130, 143, 129). */
export type AbortReason = 'no-driver' | 'crashed' | 'hung' | 'spawn-failed' | 'rendezvous-failed' | 'interrupted';

/** Why the probe itself could not run to the end (exit 3). */
export interface ProbeAbort {
  reason: AbortReason;
  message: string;
  rank?: number;
  step?: StepName;
  call?: string;
  args?: CallArguments;
  signal?: string | null;
  exitCode?: number | null;
}

/** A message the coordinator refused (no or wrong token, not JSON, not a known message). */
export interface RejectedMessage {
  atMs: number;
  from: string;
  reason: string;
  sample: string;
}

export interface ReportOptions {
  ranks: number;
  inputs: number;
  bytes: number;
  alloc: InputAllocator;
  share: ShareStrategy;
  captureMode: CaptureMode;
  devices: number[];
  backend: Backend;
  /** Names of the variables given to ranks (values are not copied: they may hold secrets). */
  envKeys: string[];
  timeoutMs: number;
  rendezvous: 'tcp' | 'unix';
  /** Absent in reports from before launchers (then: plain, all devices visible). */
  launch?: LaunchSettings;
  /** Absent in reports from before it (then: the rank entered cuipc's interposer's region only). */
  memorySaverRegion?: MemorySaverMode;
}

/** What every probe report has, whatever its result. */
export interface ProbeReportCommon {
  kind: 'probe';
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  cuipcVersion: string;
  simulated: boolean;
  startedAt: string;
  durationMs: number;
  options: ReportOptions;
  kernels: { available: boolean; reason: string } | null;
  steps: StepName[];
  ranks: RankReport[];
  failures: FailureRecord[];
  /** What the environment holds that this run did not exercise; shown right under the verdict. */
  warnings: ProbeWarning[];
  rejected: RejectedMessage[];
  /** Rejections past the first ones kept in `rejected`. */
  rejectedDropped: number;
  /** Files the coordinator removed after the ranks (shared memory left by killed ranks). */
  cleanedUp: string[];
}

/** Every step passed on every rank. `warnings` still lists what the run did not exercise. */
export interface PassedProbeReport extends ProbeReportCommon {
  result: 'passed';
  exitCode: 0;
  pinpoint: null;
  abort: null;
}

/** The probe ran and found a failing call: `pinpoint` is the first one and why. */
export interface FailedProbeReport extends ProbeReportCommon {
  result: 'failed';
  exitCode: 1;
  pinpoint: Pinpoint;
  abort: null;
}

/** The probe itself could not run to the end (no driver, a rank died or hung): `abort` says why. */
export interface AbortedProbeReport extends ProbeReportCommon {
  result: 'aborted';
  /** 3, or 128 + the signal's number when interrupted (129 SIGHUP, 130 SIGINT, 143 SIGTERM). */
  exitCode: 3 | 129 | 130 | 143;
  /** A failing call seen before the abort, if any. */
  pinpoint: Pinpoint | null;
  abort: ProbeAbort;
}

/** The probe's report; narrow on `result`. */
export type ProbeReport = PassedProbeReport | FailedProbeReport | AbortedProbeReport;

export interface MatrixCell {
  alloc: InputAllocator;
  share: ShareStrategy;
  status: 'passed' | 'failed' | 'aborted' | 'skipped';
  /** Why a cell was skipped, or one line on the failure. */
  reason?: string;
  step?: StepName;
  call?: string;
  code?: number;
  name?: string;
  explanation?: string;
  durationMs?: number;
}

export interface MatrixRemedy {
  alloc: InputAllocator;
  /** The strategy that failed for this allocator ('ipc' when the v2 path breaks). */
  failing: ShareStrategy[];
  /** The strategies that passed for it, best first. */
  working: ShareStrategy[];
  advice: string;
}

export interface MatrixReport {
  kind: 'matrix';
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  cuipcVersion: string;
  simulated: boolean;
  startedAt: string;
  durationMs: number;
  exitCode: 0 | 3;
  options: Omit<ReportOptions, 'alloc' | 'share'>;
  cells: MatrixCell[];
  remedies: MatrixRemedy[];
}
