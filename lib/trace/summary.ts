// What a trace says, per process and per run: whether the process was traced, its first
// failing call (IPC first; described in failure.ts) and the others, and its environment
// hazards, through the same rules and words as the probe's pinpoint (env/hazards.ts).
import { statSync } from 'node:fs';
import { detectHazards, type Hazard } from '../env/hazards.js';
import { describeFailure, type FailingCall, type TraceFailure } from './failure.js';
import { TraceFormatError, type CallKind, type ProcessTrace, type TraceCallLine, type TraceState } from './format.js';
import { listTraceFiles, readTraceFile } from './read.js';

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

function failingOuterCalls(calls: readonly TraceCallLine[]): FailingCall[] {
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
  const firstFailure = first ? describeFailure(trace, first, hazards) : null;
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
