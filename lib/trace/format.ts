/**
 * The trace format: what native/trace/injection.cc writes, one file per process, and what
 * `cuipc trace` reads back (read.ts). Version 1.
 *
 * Files: `<CUIPC_TRACE_DIR>/cuipc-trace-<run>-<pid>.jsonl` (`cuipc-trace-<pid>.jsonl` when the
 * library was injected by hand, without CUIPC_TRACE_RUN). A process that forks and uses CUDA
 * in the child gets a second file for the child. Every line is one JSON object with a `type`:
 *
 * 1. `process` (the first line; a fixture may put `comment` lines before it): who the process
 *    is and the environment the hazard rules read.
 *    `{"type":"process","format":1,"pid":4242,"ppid":4240,"run":"m3k9x2","startedAt":"2025-01-01T00:00:00.000Z",
 *      "host":"node-1","exe":"/usr/bin/python3.12","argv":["python","serve.py"],
 *      "env":{"PYTORCH_CUDA_ALLOC_CONF":"expandable_segments:True"},"pidNamespace":"pid:[4026531836]",
 *      "shm":{"path":"/dev/shm","sizeBytes":68719476736,"freeBytes":68719476736},
 *      "symbols":[{"symbol":"cudaMalloc","path":"/x/libcuipc_vmm_interposer.so","interposed":true}],
 *      "tracer":{"library":"/x/libcuipc_trace.so","format":1}}`
 *    `env` holds only the CUDA-relevant variables (the same rule as `cuipc env capture`), never a
 *    value whose name looks like a secret. `symbols`: which loaded object the dynamic linker
 *    resolves each allocation entry point to (`interposed`: not the CUDA runtime or driver).
 *    `forkedFrom` is set in a forked child. `synthetic` marks a hand-made fixture.
 * 2. `status` (second line): whether tracing started.
 *    `{"type":"status","t":0.9,"cupti":{"path":"/x/libcupti.so.13","version":130001},"state":"tracing","notEnabled":[],"enabled":67}`
 *    `state`: `tracing`; `cupti-unavailable` (with `searched`: every candidate and its dlopen
 *    error); `subscriber-busy` (code 39, CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED: another
 *    tool holds the CUPTI subscriber); `cupti-error` (any other cuptiSubscribe code).
 * 3. `call`, one per traced API call, written when the call returns (so lines of nested calls
 *    come before their parent's; `seq` is numbered on entry and gives the true order):
 *    `{"type":"call","seq":57,"t":812.3,"tid":4242,"api":"runtime","call":"cudaIpcGetMemHandle","kind":"ipc-get",
 *      "code":1,"args":{"ptr":"0x7f3a00000000"},"caller":{"lib":"/x/libtorch_python.so","symbol":null,"offset":"0x1234"},
 *      "libs":["/x/libpython3.12.so.1.0"],"provenance":{...},"capture":{"threadMode":0,"active":[]}}`
 *    - `call`: the entry point (runtime names without CUPTI's `_vNNNN` suffix; driver names as
 *      exported, e.g. `cuMemAlloc_v2`). `code`: its return value (cudaError_t or CUresult).
 *    - `args` as passed, `out` what the call wrote (only on success). Pointers, handles and
 *      streams are `"0x..."` strings, IPC handles 128 hex digits, sizes numbers.
 *    - `memory` on allocations: `device`, `pitch`, `async`, `pool`, `managed`, `host`.
 *    - `within`: the traced runtime call (same thread) this driver call was made inside.
 *    - `caller`: the first stack frame outside CUDA, CUPTI and the tracer (an LD_PRELOAD
 *      interposer, PyTorch's allocator, the program); `libs`: the next libraries up the stack.
 *      Recorded for IPC, allocation, VMM create/reserve/map, shareable-handle and capture-begin calls.
 *    - `provenance` (IPC export calls): what the driver answers about the pointer right after
 *      the call; an attribute the driver refused is null and listed in `refused` with its code.
 *      `vmm`: cuMemRetainAllocationHandle succeeded.
 *    - `capture` (IPC calls always; allocations and VMM create/map while any capture runs):
 *      `threadMode` the calling thread's capture mode (0 global, 1 thread-local, 2 relaxed),
 *      `active` the stream captures in progress in the process.
 * 4. `end` at normal process exit: `{"type":"end","t":9000.1,"calls":812,"writeErrors":0}`.
 *    A process that crashed or was killed has no `end` line, and its last line may be cut.
 * 5. `comment` (fixtures only): `{"type":"comment","text":"..."}`, ignored by readers.
 */

/** The newest format this cuipc reads. */
export const TRACE_FORMAT_VERSION = 1;

/** A pointer, handle or stream: "0x..." (JSON numbers lose bits past 2^53). */
export type HexString = string;

interface TraceSymbol {
  symbol: string;
  path: string | null;
  interposed: boolean;
}

export interface TraceProcessLine {
  type: 'process';
  format: number;
  pid: number;
  ppid: number;
  forkedFrom?: number;
  run: string | null;
  startedAt: string;
  host: string;
  exe: string;
  argv: string[];
  env: Record<string, string>;
  pidNamespace: string | null;
  shm: { path: string; sizeBytes: number; freeBytes: number } | null;
  symbols: TraceSymbol[];
  tracer: { library: string; format: number };
  /** Present only in hand-made fixtures: why they exist and what replaces them. */
  synthetic?: string;
}

export type TraceState = 'tracing' | 'cupti-unavailable' | 'subscriber-busy' | 'cupti-error';

export interface TraceStatusLine {
  type: 'status';
  t: number;
  state: TraceState;
  cupti?: { path: string; version: number };
  code?: number;
  message?: string;
  searched?: Array<{ candidate: string; error: string }>;
  enabled?: number;
  notEnabled?: Array<{ call: string; code: number }>;
}

export type CallKind =
  | 'ipc-get' | 'ipc-open' | 'ipc-close' | 'ipc-event'
  | 'alloc' | 'free'
  | 'vmm-create' | 'vmm-release' | 'vmm-reserve' | 'vmm-unreserve' | 'vmm-map' | 'vmm-unmap'
  | 'share-export' | 'share-import'
  | 'capture-begin' | 'capture-end';

export const CALL_KINDS: readonly CallKind[] = [
  'ipc-get', 'ipc-open', 'ipc-close', 'ipc-event', 'alloc', 'free', 'vmm-create', 'vmm-release', 'vmm-reserve',
  'vmm-unreserve', 'vmm-map', 'vmm-unmap', 'share-export', 'share-import', 'capture-begin', 'capture-end',
];

type AllocationMemory = 'device' | 'pitch' | 'async' | 'pool' | 'managed' | 'host';

/** cuMemCreate's CUmemLocation. */
interface TraceLocation {
  type: number;
  id: number;
}

export type TraceArgument = HexString | number | TraceLocation;

export interface TraceCaller {
  lib: string;
  symbol: string | null;
  offset: HexString;
}

export interface TraceProvenance {
  ptr: HexString;
  memoryType?: number | null;
  device?: number | null;
  isManaged?: boolean | null;
  rangeStart?: HexString | null;
  rangeSize?: number | null;
  legacyIpcCapable?: boolean | null;
  allowedHandleTypes?: number | null;
  mempool?: HexString | null;
  retainCode?: number;
  vmm?: boolean | null;
  refused?: Record<string, number>;
  /** Why no attribute could be read (no cuPointerGetAttribute in the driver). */
  unavailable?: string;
}

interface TraceCaptureEntry {
  stream: HexString;
  mode: number;
  tid: number;
  seq: number;
  sameThread: boolean;
}

interface TraceCaptureState {
  threadMode: number | null;
  active: TraceCaptureEntry[];
}

export interface TraceCallLine {
  type: 'call';
  seq: number;
  t: number;
  tid: number;
  api: 'runtime' | 'driver';
  call: string;
  kind: CallKind;
  code: number;
  /** The code's name and message from the native error table (absent in traces written before). */
  codeName?: string;
  codeMessage?: string;
  memory?: AllocationMemory;
  args: Record<string, TraceArgument>;
  out?: Record<string, TraceArgument>;
  within?: { call: string; seq: number };
  caller?: TraceCaller;
  libs?: string[];
  provenance?: TraceProvenance;
  capture?: TraceCaptureState;
}

interface TraceEndLine {
  type: 'end';
  t: number;
  calls: number;
  writeErrors: number;
}

/** One process's trace, read back. */
export interface ProcessTrace {
  file: string;
  process: TraceProcessLine | null;
  status: TraceStatusLine | null;
  /** In `seq` order. */
  calls: TraceCallLine[];
  end: TraceEndLine | null;
  comments: string[];
  /** Lines that could not be read, each with its line number. */
  problems: string[];
}

export class TraceFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceFormatError';
  }
}
