// How graph inputs are shared between ranks (--share): one module per strategy, each with what
// it does in export, import, replay and teardown. The steps (../steps/) call them in the
// same places whatever the strategy, so a new one (fabric handles, say) is one new file here and
// one row in index.ts.
import type { Ptr } from '../../../binding.js';
import type { Cuda } from '../../cuda/index.js';
import type { CallRecorder } from '../call-recorder.js';
import type { ExportData, RankConfig, SharedBase } from '../protocol.js';

/** What a strategy may read of the rank: its calls go through `rec`. */
export interface ShareContext {
  readonly cuda: Cuda;
  readonly rec: CallRecorder;
  readonly cfg: RankConfig;
  /** This rank's graph inputs. */
  readonly inputs: readonly Ptr[];
  /** Per rank, its registered buffer as seen from here (this rank's own, or the opened handle). */
  readonly registeredPeers: readonly Ptr[];
  /** This rank's registered buffer. */
  readonly registered: Ptr | null;
  /** The mapped size of this rank's allocation at `base` (what an importer maps). */
  allocationBytes(base: Ptr): number;
  /** What the segment at `base` holds and how it was made (--alloc torch), or null. */
  segmentOf(base: Ptr): string | null;
}

/** This rank's inputs as allocation bases, de-duplicated, and each input as (base index, offset). */
export interface InputRanges {
  bases: Ptr[];
  inputs: ExportData['inputs'];
}

/** Where input `i` of one rank is, seen from this rank. */
export type InputLocator = (input: number) => Ptr;

export interface ShareStrategyModule {
  /** How the export data says it was shared (checked on the other side). */
  readonly via: ExportData['via'];
  /** Whether the export data's inputs index its bases (false: the registered buffer, base -1). */
  readonly inputsIndexBases: boolean;
  /** Export step: what this rank sends, or null when a call failed (recorded). */
  export(ctx: ShareContext, ranges: InputRanges): Promise<ExportData | null>;
  /** Import step, per peer: where its inputs are from here, or null when a call failed (recorded). */
  importPeer(ctx: ShareContext, peer: number, data: ExportData): Promise<InputLocator | null>;
  /** Where this rank's own inputs are for the all-reduce. */
  ownInputs(ctx: ShareContext): InputLocator;
  /** Replay, after the inputs are filled: anything the strategy must do before the graph runs; false on failure. */
  afterFill(ctx: ShareContext): Promise<boolean>;
  /** Why one base a peer shared cannot be used, or null. */
  checkBase(base: SharedBase): string | null;
  /** Teardown: close or unmap what import opened (recorded), then release what export made. */
  close(ctx: ShareContext): void;
  release(ctx: ShareContext): void;
}
