// The wire between the coordinator and its ranks: newline-delimited JSON, one message per
// line, every rank message carrying the per-probe token. Pointers and handles travel as hex
// strings (hex.ts); JSON.stringify throws on a BigInt, which catches a forgotten conversion.
// What arrives is read and checked by decode.ts.
import { hostname } from 'node:os';
import type { Hazard } from '../env/hazards.js';
import type { DeviceIdentity, FailureRecord, RankLoader, VerifySummary } from '../report/types.js';
import type { CallArguments, CallRecord, InputAllocator, MemorySaverMode, MemorySaverRegion, RankPlacement, ShareStrategy, StepName } from '../model/vocabulary.js';
import type { Backend, CaptureMode } from '../../binding.js';
import { RAY_ENV } from '../launch/rank-env.js';

export const TOKEN_ENV = 'CUIPC_PROBE_TOKEN';
export const ADDRESS_ENV = 'CUIPC_PROBE_ADDRESS';
export const RANKS_ENV = 'CUIPC_RANKS';
export { PARENT_PID_ENV, RANK_ENV, RAY_ENV } from '../launch/rank-env.js';
/** The pseudo-call a rank records when the backend could not be loaded at all. */
export const LOAD_CALL = 'cuipc.load';
/** A rank's line may carry an all-gathered exchange; anything longer is not ours. */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;
/**
 * Before a connection's hello is accepted: its longest line (a hello is under 1 KiB), how
 * long it may take to send one, and how many such connections may be open at once beyond
 * the probe's own ranks. Together they bound what anyone without the token can make the
 * coordinator hold: (ranks + 16) x 64 KiB of pending lines.
 */
export const HELLO_LINE_BYTES = 64 * 1024;
export const HELLO_DEADLINE_MS = 10_000;
export const SPARE_UNAUTHENTICATED = 16;

/** What a rank needs to know about the probe, sent with the init round. */
export interface RankConfig {
  rank: number;
  ranks: number;
  device: number;
  inputs: number;
  bytes: number;
  alloc: InputAllocator;
  share: ShareStrategy;
  captureMode: CaptureMode;
  backend: Backend;
  memorySaverRegion: MemorySaverMode;
}

/** The communicator's registered buffer as one rank exported it. */
export interface RegisteredExport {
  pid: number;
  base: string;
  bytes: number;
  handle: string;
}

/** One exported allocation base: an IPC handle, or a VMM fd to be fetched from `pid`. */
export interface SharedBase {
  base: string;
  bytes: number;
  handle?: string;
  fd?: number;
}

/** What one rank shares for its graph inputs. */
export interface ExportData {
  pid: number;
  /** 'registered': inputs are copied into the registered buffer, shared in the register step. */
  via: 'ipc' | 'vmm-fd' | 'registered';
  bases: SharedBase[];
  /**
   * Per input, in two arrays as long as the inputs: the index into bases (-1 for 'registered')
   * and the byte offset. Numbers, not an object per input: at 8 ranks x 4096 inputs every rank
   * receives 32768 of them, and objects were most of the exchange's memory in each rank.
   */
  inputs: { base: number[]; offset: number[] };
}

export interface InitData {
  pid: number;
  device: DeviceIdentity | null;
  loader: RankLoader | null;
  hazards: Hazard[];
  /** Null when the backend did not load. */
  memorySaver: MemorySaverRegion | null;
}

export type RoundPhase = 'main' | 'export' | 'import' | 'fill' | 'launch' | 'close' | 'free';

export type RoundInput =
  | { kind: 'init'; config: RankConfig }
  | { kind: 'registered'; peers: Array<RegisteredExport | null> }
  | { kind: 'exchange'; peers: Array<ExportData | null> }
  | { kind: 'none' };

export type RoundData =
  | { kind: 'init'; init: InitData }
  | { kind: 'registered'; registered: RegisteredExport }
  | { kind: 'export'; export: ExportData }
  | { kind: 'verify'; verify: VerifySummary }
  | { kind: 'none' };

export interface RankStepResult {
  step: StepName;
  phase: RoundPhase;
  outcome: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  calls: CallRecord[];
  failures: FailureRecord[];
  notes: string[];
  data: RoundData;
}

export type RankMessage =
  | { type: 'hello'; token: string; rank: number; pid: number; placement?: RankPlacement }
  | { type: 'calling'; token: string; rank: number; step: StepName; call: string; method: string; args: CallArguments }
  /** A call made before its round (announced with 'calling') returned; call-recorder.ts Returned. */
  | { type: 'returned'; token: string; rank: number; step: StepName; call: string }
  | { type: 'result'; token: string; rank: number; round: number; result: RankStepResult };

export type CoordinatorMessage =
  /** The hello was accepted: from now on the coordinator ties this connection's lines to the rank. */
  | { type: 'welcome' }
  | { type: 'run'; round: number; step: StepName; phase: RoundPhase; input: RoundInput }
  | { type: 'exit' };

export function encodeMessage(message: RankMessage | CoordinatorMessage): string {
  return `${JSON.stringify(message)}\n`;
}

/** What a rank reports about its own placement, from its environment at start. */
export function placementFromEnvironment(env: Record<string, string | undefined>, host: string = hostname()): RankPlacement {
  const gpuIds = env[RAY_ENV.gpuIds];
  const nodeId = env[RAY_ENV.nodeId];
  const rayCvd = env[RAY_ENV.cudaVisibleDevices];
  return {
    cudaVisibleDevices: env.CUDA_VISIBLE_DEVICES ?? null,
    ray:
      gpuIds === undefined || nodeId === undefined
        ? null
        : {
            gpuIds: gpuIds === '' ? [] : gpuIds.split(','),
            nodeId,
            cudaVisibleDevices: rayCvd === undefined || rayCvd === '' ? null : rayCvd,
            nosetVisibleDevices: env[RAY_ENV.noset] === '1',
          },
    hostname: host,
  };
}
