// What the explanation rules (explain.ts) judge: one failing call and what was known about it,
// whoever collected it. The probe's report builder (build.ts) fills one from a rank's failure
// record, the trace summary (trace/failure.ts) from a traced process; the rules read nothing
// else, so both get the same explanations in the same words.
import type { CaptureMode, SymbolOrigin } from '../../binding.js';
import type { Hazard } from '../env/hazards.js';
import type { DeviceIdentity } from './types.js';
import type { CallRecord, CaptureSnapshot, InputAllocator, MemorySaverRegion, Provenance, ShareStrategy, StepName } from '../model/vocabulary.js';

/** Where the call failed: a probe rank in one of its steps, or a traced process's thread. */
type EvidenceWhere =
  | { kind: 'rank'; rank: number; step: StepName }
  | { kind: 'process'; pid: number | null; tid: number; seq: number };

/** The failing call: the entry point as it was called (a trace keeps ABI suffixes such as _v2). */
type EvidenceCall = Pick<CallRecord, 'call' | 'args' | 'ok' | 'code' | 'name' | 'message' | 'lastError' | 'origin'>;

/** For a failed import: the rank whose handle it was, and what is known of it. */
interface EvidencePeer {
  rank: number;
  base: string;
  handle?: string;
  pid?: number;
  device: DeviceIdentity | null;
  exit: { code: number | null; signal: string | null } | null;
}

/** How the failing call's pointer was made, as a trace replayed it (trace/origin.ts). */
interface EvidenceSource {
  /** 'vmm': cuMemCreate + cuMemMap; 'allocation': cudaMalloc and friends; 'reservation': reserved, never mapped. */
  how: 'allocation' | 'vmm' | 'reservation';
  /** The library that made it (for VMM, the one that called cuMemCreate); null when the trace has no caller. */
  library: string | null;
  /** The call that released it before the failing call ("cuMemUnmap #12"), or null. */
  releasedBy: string | null;
}

export interface Evidence {
  where: EvidenceWhere;
  call: EvidenceCall;
  /** The failing process's pid, when known. */
  pid: number | null;
  /** The pointer's attributes as the driver answered them (null: not asked, or not a pointer call). */
  provenance: Provenance | null;
  /** Which traced allocation made the pointer, in one line (only a trace knows this). */
  pointerOrigin: string | null;
  /** The same, for the rules to judge: how the memory was made and by which library (a trace only). */
  pointerSource: EvidenceSource | null;
  capture: CaptureSnapshot | null;
  /** The capture mode the probe was told to use; null where nobody chose one (a trace). */
  captureMode: CaptureMode | null;
  hazards: Hazard[];
  /** Which objects provide the allocation entry points (an interposer shows here). */
  symbolOrigins: SymbolOrigin[];
  /** The memory-saver region the rank entered or not; null where unknown. */
  memorySaver: MemorySaverRegion | null;
  /** The probe's --alloc and --share; null where the program chose (a trace). */
  allocator: InputAllocator | null;
  share: ShareStrategy | null;
  /** The device ordinal the process was told to use, and the device it got. */
  requestedDevice: number | null;
  device: DeviceIdentity | null;
  peer: EvidencePeer | null;
  /** A failure that is not a CUDA code (e.g. a verification mismatch). */
  detail: string | null;
}

/** "rank 1" or "pid 4242": who the evidence is about. */
export function whoFailed(where: EvidenceWhere): string {
  return where.kind === 'rank' ? `rank ${where.rank}` : `pid ${where.pid ?? '?'}`;
}

/** Where the call failed, in words: "on rank 1 in step export", "in pid 4242, thread 4242 (traced call #8)". */
export function whereFailed(where: EvidenceWhere): string {
  return where.kind === 'rank'
    ? `on rank ${where.rank} in step ${where.step}`
    : `in pid ${where.pid ?? '?'}, thread ${where.tid} (traced call #${where.seq})`;
}
