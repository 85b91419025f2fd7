// What a trace says, per process: the first failing IPC call, where its pointer came from
// (which traced allocation made it, from which library), the process's environment hazards,
// and the explanation, through the same rules and words as the probe's pinpoint
// (report/explain.ts, report/provenance.ts, env/hazards.ts).
import { statSync } from 'node:fs';
import type { CaptureMode, SymbolOrigin } from '../../binding.js';
import { detectHazards, type Hazard } from '../env/hazards.js';
import type { Evidence } from '../report/evidence.js';
import { explainFailure } from '../report/explain.js';
import { completeProvenance, handleTypeNames } from '../report/provenance.js';
import type { CallArguments, CaptureSnapshot, Explanation, Provenance } from '../report/types.js';
import { callCodeText } from './codes.js';
import {
  TraceFormatError,
  type CallKind,
  type HexString,
  type ProcessTrace,
  type TraceArgument,
  type TraceCallLine,
  type TraceCaller,
  type TraceProvenance,
  type TraceState,
} from './format.js';
import { listTraceFiles, readTraceFile } from './read.js';

/** Where the failing call's pointer came from, as far as the trace saw. */
interface AllocationOrigin {
  /** 'allocation': cudaMalloc and friends; 'vmm': cuMemCreate + cuMemMap; 'reservation': only reserved, never mapped. */
  how: 'allocation' | 'vmm' | 'reservation';
  /** The allocating call (the outer runtime call when the driver's was made inside it), or the cuMemMap. */
  call: TraceCallLine;
  base: HexString;
  size: number | null;
  /** VMM: the cuMemCreate that made the mapped physical memory (null when the trace missed it). */
  create: TraceCallLine | null;
  /** The call that freed or unmapped the memory before the failing call, if one did. */
  released: TraceCallLine | null;
  /** The library that made the memory (the cuMemCreate's caller for VMM). */
  madeBy: TraceCaller | null;
  /** The next libraries up that call's stack. */
  via: string[];
}

interface CaptureView {
  threadMode: CaptureMode | null;
  active: Array<{ stream: HexString; mode: CaptureMode | null; tid: number; seq: number; sameThread: boolean }>;
}

export interface TraceFailure {
  call: TraceCallLine;
  name: string;
  message: string;
  /** Traced calls made inside it that failed too (the runtime's own driver call). */
  inner: TraceCallLine[];
  provenance: Provenance | null;
  origin: AllocationOrigin | null;
  capture: CaptureView | null;
  /** Most likely first, in the probe's words, with the trace's evidence added. */
  explanations: Explanation[];
}

type ProcessState = TraceState | 'no-status';

export interface ProcessSummary {
  file: string;
  pid: number | null;
  ppid: number | null;
  run: string | null;
  host: string;
  exe: string;
  argv: string[];
  startedAt: string;
  /** Set on hand-made fixtures. */
  synthetic: string | null;
  state: ProcessState;
  /** When the process was not traced: what happened and what to do. */
  stateMessage: string | null;
  calls: number;
  failedCalls: number;
  /** The process wrote its end line (it exited normally). */
  complete: boolean;
  /** 'ipc': an IPC or shareable-handle call failed; 'other': only other traced calls did. */
  failureKind: 'ipc' | 'other' | null;
  firstFailure: TraceFailure | null;
  /** The other failing calls (outer calls only), in order. */
  otherFailures: TraceCallLine[];
  hazards: Hazard[];
  problems: string[];
}

export interface TraceSummary {
  dir: string | null;
  run: string | null;
  /** Other runs whose files are in the same folder. */
  otherRuns: Array<string | null>;
  processes: ProcessSummary[];
  failing: number;
  untraced: number;
  synthetic: boolean;
}

const IPC_KINDS: ReadonlySet<CallKind> = new Set(['ipc-get', 'ipc-open', 'ipc-close', 'ipc-event', 'share-export', 'share-import']);
const CAPTURE_MODES: Record<number, CaptureMode> = { 0: 'global', 1: 'thread-local', 2: 'relaxed' };

function hexToBig(value: TraceArgument | undefined | null): bigint | null {
  return typeof value === 'string' && /^0x[0-9a-f]+$/i.test(value) ? BigInt(value) : null;
}

function numberOf(value: TraceArgument | undefined): number | null {
  return typeof value === 'number' ? value : null;
}

export function libraryName(path: string): string {
  return path.split('/').pop() || path;
}

function captureModeName(mode: number | null | undefined): CaptureMode | null {
  return mode === null || mode === undefined ? null : (CAPTURE_MODES[mode] ?? null);
}

/** The trace's pointer attributes in the report's form (named and classified the same way). */
function toReportProvenance(p: TraceProvenance): Provenance | null {
  if (p.unavailable !== undefined) return null;
  return completeProvenance({
    ptr: p.ptr,
    memoryType: p.memoryType ?? null,
    device: p.device ?? null,
    isManaged: p.isManaged ?? null,
    rangeStart: p.rangeStart ?? null,
    rangeSize: p.rangeSize ?? null,
    legacyIpcCapable: p.legacyIpcCapable ?? null,
    allowedHandleTypes: p.allowedHandleTypes ?? null,
    vmm: p.vmm ?? null,
    mempool: p.mempool ?? null,
    refused: p.refused ?? {},
  });
}

function captureView(call: TraceCallLine): CaptureView | null {
  if (!call.capture) return null;
  return {
    threadMode: captureModeName(call.capture.threadMode),
    active: call.capture.active.map((a) => ({ stream: a.stream, mode: captureModeName(a.mode), tid: a.tid, seq: a.seq, sameThread: a.sameThread })),
  };
}

// ---------------------------------------------------------------------------------------------
// Provenance from the trace itself: replay allocations and frees up to the failing call
// ---------------------------------------------------------------------------------------------

interface Region {
  start: bigint;
  end: bigint;
  call: TraceCallLine;
  create: TraceCallLine | null;
  released: TraceCallLine | null;
}

function region(start: bigint, size: number, call: TraceCallLine, create: TraceCallLine | null = null): Region {
  return { start, end: start + BigInt(Math.max(size, 1)), call, create, released: null };
}

/** Which traced allocation holds `ptr` just before call number `beforeSeq`. */
export function findOrigin(calls: readonly TraceCallLine[], ptr: HexString, beforeSeq: number): AllocationOrigin | null {
  const p = hexToBig(ptr);
  if (p === null) return null;
  const allocs: Region[] = [];
  const maps: Region[] = [];
  const reserves: Region[] = [];
  const released: Region[] = [];
  const creates = new Map<string, TraceCallLine>();
  const releaseWhere = (list: Region[], test: (r: Region) => boolean, by: TraceCallLine): void => {
    for (let i = list.length - 1; i >= 0; i--) {
      if (!test(list[i])) continue;
      released.push({ ...list[i], released: by });
      list.splice(i, 1);
    }
  };
  for (const c of calls) {
    if (c.seq >= beforeSeq) break;
    if (c.code !== 0) continue;
    switch (c.kind) {
      case 'alloc': {
        const at = hexToBig(c.out?.ptr);
        const size = numberOf(c.out?.size) ?? numberOf(c.args.size);
        if (at !== null && size !== null) allocs.push(region(at, size, c));
        break;
      }
      case 'free': {
        const at = hexToBig(c.args.ptr);
        if (at !== null && at !== 0n) releaseWhere(allocs, (r) => r.start === at, c);
        break;
      }
      case 'vmm-create': {
        const handle = c.out?.handle;
        if (typeof handle === 'string') creates.set(handle.toLowerCase(), c);
        break;
      }
      case 'vmm-map': {
        const at = hexToBig(c.args.ptr);
        const size = numberOf(c.args.size);
        const handle = c.args.handle;
        if (at !== null && size !== null) maps.push(region(at, size, c, typeof handle === 'string' ? (creates.get(handle.toLowerCase()) ?? null) : null));
        break;
      }
      case 'vmm-unmap': {
        const at = hexToBig(c.args.ptr);
        const size = numberOf(c.args.size);
        if (at !== null && size !== null) releaseWhere(maps, (r) => r.start >= at && r.end <= at + BigInt(size), c);
        break;
      }
      case 'vmm-reserve': {
        const at = hexToBig(c.out?.ptr);
        const size = numberOf(c.args.size);
        if (at !== null && size !== null) reserves.push(region(at, size, c));
        break;
      }
      case 'vmm-unreserve': {
        const at = hexToBig(c.args.ptr);
        if (at !== null) releaseWhere(reserves, (r) => r.start === at, c);
        break;
      }
      default:
        break;
    }
  }
  const holds = (r: Region): boolean => r.start <= p && p < r.end;
  const latest = (list: Region[]): Region | undefined => [...list].reverse().find(holds);

  const fromRegion = (r: Region, how: AllocationOrigin['how']): AllocationOrigin => {
    const maker = r.create ?? r.call;
    const size = Number(r.end - r.start);
    return {
      how,
      call: r.call,
      base: `0x${r.start.toString(16)}`,
      size: Number.isSafeInteger(size) ? size : null,
      create: r.create,
      released: r.released,
      madeBy: maker.caller ?? r.call.caller ?? null,
      via: maker.libs ?? r.call.libs ?? [],
    };
  };
  const map = latest(maps);
  if (map) return fromRegion(map, 'vmm');
  let alloc = latest(allocs);
  if (alloc?.call.within) {
    // The driver's allocation inside cudaMalloc: report the runtime call the program made.
    const parentSeq = alloc.call.within.seq;
    alloc = allocs.find((r) => r.call.seq === parentSeq && holds(r)) ?? alloc;
  }
  if (alloc) return fromRegion(alloc, 'allocation');
  const gone = latest(released);
  if (gone) return fromRegion(gone, gone.call.kind === 'vmm-map' ? 'vmm' : gone.call.kind === 'vmm-reserve' ? 'reservation' : 'allocation');
  const reserve = latest(reserves);
  return reserve ? fromRegion(reserve, 'reservation') : null;
}

function describeHandleTypes(call: TraceCallLine | null): string {
  const types = numberOf(call?.args.handleTypes);
  if (types === null) return 'unknown';
  const names = handleTypeNames(types);
  return names.length ? names.join(', ') : 'none';
}

function describeCaller(caller: TraceCaller | null, via: readonly string[]): string {
  if (!caller) return 'from an unknown caller';
  const chain = [caller.lib, ...via.slice(0, 3)].map(libraryName);
  return `from ${chain.join(' <- ')}${caller.symbol ? ` (${caller.symbol})` : ''}`;
}

/** One line on where the pointer came from; the same line goes into the explanation's evidence. */
export function describeOrigin(origin: AllocationOrigin | null, ptr: HexString): string {
  if (!origin) return `no traced allocation holds ${ptr}: it was made before tracing started, or by a call the tracer does not follow`;
  const c = origin.call;
  const range = `${origin.base} + ${origin.size ?? '?'} bytes`;
  let line: string;
  if (origin.how === 'vmm') {
    const create = origin.create;
    line = create
      ? `${ptr} lies in cuMemMap #${c.seq} (${range}) of the physical memory made by cuMemCreate #${create.seq} (${numberOf(create.args.size) ?? '?'} bytes, shareable handle types: ${describeHandleTypes(create)}), called ${describeCaller(origin.madeBy, origin.via)}`
      : `${ptr} lies in cuMemMap #${c.seq} (${range}), called ${describeCaller(origin.madeBy, origin.via)}; the cuMemCreate of its handle was not traced`;
  } else if (origin.how === 'reservation') {
    line = `${ptr} lies in the address range reserved by ${c.call} #${c.seq} (${range}), but no traced cuMemMap maps it`;
  } else {
    line = `${ptr} lies in ${c.call} #${c.seq} (${range}${c.memory ? `, ${c.memory} memory` : ''}), called ${describeCaller(origin.madeBy, origin.via)}`;
  }
  if (origin.released) line += `; it was released by ${origin.released.call} #${origin.released.seq} before the failing call`;
  return line;
}

// ---------------------------------------------------------------------------------------------
// The evidence for the explanation rules (report/explain.ts), located by pid and thread
// ---------------------------------------------------------------------------------------------

function callArguments(call: TraceCallLine): CallArguments {
  const args: CallArguments = {};
  for (const [k, v] of Object.entries(call.args)) args[k] = typeof v === 'object' ? `${v.type}:${v.id}` : v;
  return args;
}

function captureSnapshot(view: CaptureView | null): CaptureSnapshot | null {
  if (!view) return null;
  const mine = view.active.find((a) => a.sameThread) ?? view.active[0];
  return {
    stream: mine?.stream ?? null,
    mode: mine?.mode ?? view.threadMode ?? 'global',
    status: mine ? 'active' : 'none',
    captureId: mine ? `trace call #${mine.seq}` : null,
    queryCode: 0,
  };
}

function traceEvidence(trace: ProcessTrace, failure: Omit<TraceFailure, 'explanations'>, hazards: Hazard[]): Evidence {
  const p = trace.process;
  const call = failure.call;
  const ptr = typeof call.args.ptr === 'string' ? call.args.ptr : null;
  const exported = ptr !== null && (call.kind === 'ipc-get' || call.kind === 'share-export');
  const symbolOrigins: SymbolOrigin[] = (p?.symbols ?? [])
    .filter((s): s is typeof s & { path: string } => s.path !== null)
    .map((s) => ({ symbol: s.symbol, path: s.path, interposed: s.interposed }));
  return {
    where: { kind: 'process', pid: p?.pid ?? null, tid: call.tid, seq: call.seq },
    call: { call: call.call, args: callArguments(call), ok: false, code: call.code, name: failure.name, message: failure.message },
    pid: p?.pid ?? null,
    provenance: failure.provenance,
    pointerOrigin: exported ? describeOrigin(failure.origin, ptr) : null,
    capture: captureSnapshot(failure.capture),
    captureMode: null,
    hazards,
    symbolOrigins,
    memorySaver: null,
    allocator: null,
    share: null,
    requestedDevice: null,
    device: null,
    peer: null,
    detail: null,
  };
}

// ---------------------------------------------------------------------------------------------
// Per process, per run
// ---------------------------------------------------------------------------------------------

function stateMessage(trace: ProcessTrace): string | null {
  const s = trace.status;
  if (!s) {
    return trace.process
      ? 'NOT TRACED: the trace has no status line; the process ended while the tracer was starting'
      : 'NOT TRACED: the file has no process line; it is not a cuipc trace, or the process ended before the tracer wrote anything';
  }
  switch (s.state) {
    case 'tracing':
      return null;
    case 'cupti-unavailable': {
      const first = s.searched?.[0];
      return `NOT TRACED: CUPTI could not be loaded (${s.searched?.length ?? 0} candidate(s) tried${first ? `; ${first.candidate}: ${first.error}` : ''}). ` +
        'What to do: set CUIPC_LIBCUPTI to a libcupti.so.13 or .12 no newer than the driver (a CUDA toolkit has it in lib64 or extras/CUPTI/lib64; ' +
        'pip: the nvidia-cuda-cupti wheel, site-packages/nvidia/cuda_cupti/lib), then run again';
    }
    case 'subscriber-busy':
      return `NOT TRACED: another tool already holds the CUPTI subscriber (${s.code ?? 39} CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED): ` +
        'a profiler such as Nsight Systems or Nsight Compute, torch.profiler (Kineto), or DCGM profiling. ' +
        'What to do: run the command without the other tool (for PyTorch, without torch.profiler in this run); only one CUPTI subscriber can exist per process';
    case 'cupti-error':
      return `NOT TRACED: cuptiSubscribe returned ${s.code ?? '?'} (${s.message ?? 'no message'}). ` +
        'What to do: use a CUPTI no newer than the driver (CUIPC_LIBCUPTI picks the file), and check that the process may use CUPTI (containers may need the profiling capability)';
  }
}

function failingOuterCalls(calls: readonly TraceCallLine[]): Array<{ call: TraceCallLine; inner: TraceCallLine[] }> {
  const bySeq = new Map(calls.map((c) => [c.seq, c]));
  const outer = calls.filter((c) => c.code !== 0 && !(c.within && bySeq.has(c.within.seq)));
  return outer.map((call) => ({ call, inner: calls.filter((c) => c.code !== 0 && c.within?.seq === call.seq) }));
}

interface SummarizeOptions {
  /** PID namespaces of the other processes of the run (for the namespace hazard). */
  peerPidNamespaces?: readonly (string | null)[];
}

export function summarizeProcess(trace: ProcessTrace, options: SummarizeOptions = {}): ProcessSummary {
  const p = trace.process;
  const hazards = p
    ? detectHazards(p.env, {
        inspectFiles: false, // a recorded trace may be read on another machine: judge LD_PRELOAD by name
        pidNamespace: p.pidNamespace,
        shm: p.shm,
        peerPidNamespaces: options.peerPidNamespaces ?? [],
      })
    : [];
  const failing = failingOuterCalls(trace.calls);
  const ipc = failing.find((f) => IPC_KINDS.has(f.call.kind));
  const first = ipc ?? failing[0];
  let firstFailure: TraceFailure | null = null;
  if (first) {
    const call = first.call;
    const text = callCodeText(call);
    const provenanceSource = call.provenance ?? first.inner.find((c) => c.provenance)?.provenance;
    const provenance = provenanceSource ? toReportProvenance(provenanceSource) : null;
    const ptr = typeof call.args.ptr === 'string' ? call.args.ptr : null;
    const base: Omit<TraceFailure, 'explanations'> = {
      call,
      name: text.name,
      message: text.message,
      inner: first.inner,
      provenance,
      origin: ptr !== null ? findOrigin(trace.calls, ptr, call.seq) : null,
      capture: captureView(call),
    };
    firstFailure = { ...base, explanations: explainFailure(traceEvidence(trace, base, hazards)) };
  }
  return {
    file: trace.file,
    pid: p?.pid ?? null,
    ppid: p?.ppid ?? null,
    run: p?.run ?? null,
    host: p?.host ?? '',
    exe: p?.exe ?? '',
    argv: p?.argv ?? [],
    startedAt: p?.startedAt ?? '',
    synthetic: p?.synthetic ?? null,
    state: trace.status?.state ?? 'no-status',
    stateMessage: stateMessage(trace),
    calls: trace.calls.length,
    failedCalls: trace.calls.filter((c) => c.code !== 0).length,
    complete: trace.end !== null,
    failureKind: first ? (ipc ? 'ipc' : 'other') : null,
    firstFailure,
    otherFailures: failing.filter((f) => f !== first).map((f) => f.call),
    hazards,
    problems: trace.problems,
  };
}

/** Summarizes the processes of one run (in pid order). */
export function summarizeTraces(traces: readonly ProcessTrace[], meta: { dir?: string | null; run?: string | null; otherRuns?: Array<string | null> } = {}): TraceSummary {
  const namespaces = traces.map((t) => t.process?.pidNamespace ?? null);
  const processes = traces.map((t, i) => summarizeProcess(t, { peerPidNamespaces: namespaces.filter((_, j) => j !== i) }));
  return {
    dir: meta.dir ?? null,
    run: meta.run ?? null,
    otherRuns: meta.otherRuns ?? [],
    processes,
    failing: processes.filter((p) => p.firstFailure !== null).length,
    untraced: processes.filter((p) => p.state !== 'tracing').length,
    synthetic: processes.some((p) => p.synthetic !== null),
  };
}

/**
 * Reads a trace folder. Without `run`, the most recent run (by its earliest process start)
 * is summarized and the others are listed in `otherRuns`.
 */
export function summarizeTraceDir(dir: string, options: { run?: string | null } = {}): TraceSummary {
  const traces = listTraceFiles(dir).map((f) => readTraceFile(f.path));
  const runOf = (t: ProcessTrace): string | null => t.process?.run ?? null;
  const runs = new Map<string | null, ProcessTrace[]>();
  for (const t of traces) runs.set(runOf(t), [...(runs.get(runOf(t)) ?? []), t]);
  const started = (list: ProcessTrace[]): string => list.map((t) => t.process?.startedAt ?? '').sort()[0] ?? '';
  let run: string | null;
  if (options.run !== undefined) {
    run = options.run;
  } else {
    const ordered = [...runs.entries()].sort((a, b) => started(b[1]).localeCompare(started(a[1])));
    run = ordered[0]?.[0] ?? null;
  }
  const chosen = runs.get(run) ?? [];
  return summarizeTraces(chosen, { dir, run, otherRuns: [...runs.keys()].filter((r) => r !== run) });
}

/**
 * `cuipc trace report PATH`: a folder of traces (as the tracer named them, or renamed), or a
 * single trace file, summarized alone whatever its name.
 */
export function summarizeTracePath(path: string, options: { run?: string | null } = {}): TraceSummary {
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch (error) {
    throw new TraceFormatError(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (!isFile) return summarizeTraceDir(path, options);
  const trace = readTraceFile(path);
  const run = trace.process?.run ?? null;
  if (options.run !== undefined && options.run !== run) {
    throw new TraceFormatError(`${path} is a trace of run ${run ?? '(no run id)'}, not ${options.run}`);
  }
  return summarizeTraces([trace], { dir: path, run });
}
