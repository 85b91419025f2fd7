// A failing call of a traced process, described: its code's name and message, its pointer's
// provenance and origin, the capture state, and the explanation, given by the probe's own rules
// (report/explain.ts) from the evidence the trace holds, located by pid and thread.
import type { CaptureMode, SymbolOrigin } from '../../binding.js';
import type { Hazard } from '../env/hazards.js';
import type { Evidence } from '../report/evidence.js';
import { explainFailure } from '../report/explain.js';
import { completeProvenance } from '../report/provenance.js';
import type { Explanation } from '../report/types.js';
import type { CallArguments, CaptureSnapshot, Provenance } from '../model/vocabulary.js';
import { callCodeText } from './codes.js';
import type { HexString, ProcessTrace, TraceCallLine, TraceProvenance } from './format.js';
import { describeOrigin, findOrigin, type AllocationOrigin } from './origin.js';

/** A failing call the program made, with the traced calls made inside it that failed too. */
export interface FailingCall {
  call: TraceCallLine;
  inner: TraceCallLine[];
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

const CAPTURE_MODES: Record<number, CaptureMode> = { 0: 'global', 1: 'thread-local', 2: 'relaxed' };

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
  // Where the pointer came from matters to an export, and to any call on VMM memory (a runtime
  // free of it fails); elsewhere the line would only restate the call's own argument.
  const origin = failure.origin;
  const told = ptr !== null && (exported || origin?.how === 'vmm');
  const symbolOrigins: SymbolOrigin[] = (p?.symbols ?? [])
    .filter((s): s is typeof s & { path: string } => s.path !== null)
    .map((s) => ({ symbol: s.symbol, path: s.path, interposed: s.interposed }));
  return {
    where: { kind: 'process', pid: p?.pid ?? null, tid: call.tid, seq: call.seq },
    call: { call: call.call, args: callArguments(call), ok: false, code: call.code, name: failure.name, message: failure.message },
    pid: p?.pid ?? null,
    provenance: failure.provenance,
    pointerOrigin: told ? describeOrigin(origin, ptr) : null,
    pointerSource: told && origin
      ? { how: origin.how, library: origin.madeBy?.lib ?? null, releasedBy: origin.released ? `${origin.released.call} #${origin.released.seq}` : null }
      : null,
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

/** The call, described and explained from what the trace holds. */
export function describeFailure(trace: ProcessTrace, failing: FailingCall, hazards: Hazard[]): TraceFailure {
  const call = failing.call;
  const text = callCodeText(call);
  const provenanceSource = call.provenance ?? failing.inner.find((c) => c.provenance)?.provenance;
  const provenance = provenanceSource ? toReportProvenance(provenanceSource) : null;
  const ptr = typeof call.args.ptr === 'string' ? call.args.ptr : null;
  const base: Omit<TraceFailure, 'explanations'> = {
    call,
    name: text.name,
    message: text.message,
    inner: failing.inner,
    provenance,
    origin: ptr !== null ? findOrigin(trace.calls, ptr, call.seq) : null,
    capture: captureView(call),
  };
  return { ...base, explanations: explainFailure(traceEvidence(trace, base, hazards)) };
}
