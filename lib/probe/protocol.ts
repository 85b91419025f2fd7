// The wire between the coordinator and its ranks: newline-delimited JSON, one message per
// line, every rank message carrying the per-probe token. JSON has no BigInt and no bytes,
// so pointers and handles travel as hex strings, converted explicitly at each end
// (JSON.stringify throws on a BigInt, which catches a forgotten conversion).
import { timingSafeEqual } from 'node:crypto';
import type { Hazard } from '../env/hazards.js';
import {
  STEPS,
  type CallArguments,
  type CallRecord,
  type DeviceIdentity,
  type FailureRecord,
  type InputAllocator,
  type MemorySaverMode,
  type MemorySaverRegion,
  type RankLoader,
  type RankPlacement,
  type ShareStrategy,
  type StepName,
  type VerifySummary,
} from '../report/types.js';
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

// ---- hex codecs -------------------------------------------------------------------------

export function ptrToHex(ptr: bigint): string {
  return `0x${ptr.toString(16)}`;
}

export function hexToPtr(text: string): bigint {
  if (!/^0x[0-9a-f]{1,16}$/i.test(text)) throw new TypeError(`not a hex pointer: '${text.slice(0, 40)}'`);
  return BigInt(text);
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function hexToBytes(text: string): Buffer {
  if (!/^(?:[0-9a-f]{2})*$/i.test(text)) throw new TypeError(`not a hex byte string: '${text.slice(0, 40)}'`);
  return Buffer.from(text, 'hex');
}

// ---- messages ---------------------------------------------------------------------------

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
  /** Per input: index into bases (-1 for 'registered') and the byte offset. */
  inputs: Array<{ base: number; offset: number }>;
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
  | { type: 'result'; token: string; rank: number; round: number; result: RankStepResult };

export type CoordinatorMessage =
  | { type: 'run'; round: number; step: StepName; phase: RoundPhase; input: RoundInput }
  | { type: 'exit' };

export function encodeMessage(message: RankMessage | CoordinatorMessage): string {
  return `${JSON.stringify(message)}\n`;
}

// ---- decoding and checking -------------------------------------------------------------

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  constructor(private maxLineBytes = MAX_LINE_BYTES) {}

  /** Raises (or lowers) the cap, e.g. once a connection has identified itself. */
  setMaxLineBytes(bytes: number): void {
    this.maxLineBytes = bytes;
  }

  /** Complete lines in this chunk; throws RangeError when a line grows past the limit. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.pending.push(chunk.subarray(start, nl));
      lines.push(Buffer.concat(this.pending).toString('utf8'));
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.pendingBytes += chunk.length - start;
      if (this.pendingBytes > this.maxLineBytes) {
        this.pending = [];
        this.pendingBytes = 0;
        throw new RangeError(`a line longer than ${this.maxLineBytes} bytes`);
      }
    }
    return lines;
  }
}

export function tokensEqual(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStep(value: unknown): value is StepName {
  return typeof value === 'string' && (STEPS as readonly string[]).includes(value);
}

function isRankNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function isStepResult(value: unknown): value is RankStepResult {
  return (
    isObject(value) &&
    isStep(value.step) &&
    typeof value.phase === 'string' &&
    (value.outcome === 'passed' || value.outcome === 'failed' || value.outcome === 'skipped') &&
    typeof value.durationMs === 'number' &&
    Array.isArray(value.calls) &&
    Array.isArray(value.failures) &&
    Array.isArray(value.notes) &&
    isObject(value.data) &&
    typeof value.data.kind === 'string'
  );
}

function isPlacement(value: unknown): value is RankPlacement {
  if (!isObject(value)) return false;
  const cvd = value.cudaVisibleDevices;
  if (cvd !== null && typeof cvd !== 'string') return false;
  if (value.ray === null) return true;
  const ray = value.ray;
  return (
    isObject(ray) &&
    Array.isArray(ray.gpuIds) &&
    ray.gpuIds.every((id) => typeof id === 'string') &&
    typeof ray.nodeId === 'string' &&
    (ray.cudaVisibleDevices === null || typeof ray.cudaVisibleDevices === 'string') &&
    typeof ray.nosetVisibleDevices === 'boolean'
  );
}

/** What a rank reports about its own placement, from its environment at start. */
export function placementFromEnvironment(env: Record<string, string | undefined>): RankPlacement {
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
  };
}

export type DecodeResult = { ok: true; message: RankMessage } | { ok: false; reason: string };

/** Parses and checks one line from a rank; the token is checked before anything else is trusted. */
export function decodeRankMessage(line: string, token: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isObject(value)) return { ok: false, reason: 'not a JSON object' };
  if (!('token' in value)) return { ok: false, reason: 'no token' };
  if (!tokensEqual(token, value.token)) return { ok: false, reason: 'wrong token' };
  if (!isRankNumber(value.rank)) return { ok: false, reason: 'no rank number' };
  switch (value.type) {
    case 'hello':
      if (!isRankNumber(value.pid)) return { ok: false, reason: 'hello without a pid' };
      if (value.placement !== undefined && !isPlacement(value.placement)) return { ok: false, reason: 'hello with a malformed placement' };
      return { ok: true, message: value as RankMessage };
    case 'calling':
      if (!isStep(value.step) || typeof value.call !== 'string' || typeof value.method !== 'string' || !isObject(value.args)) {
        return { ok: false, reason: 'malformed calling message' };
      }
      return { ok: true, message: value as RankMessage };
    case 'result':
      if (!isRankNumber(value.round) || !isStepResult(value.result)) return { ok: false, reason: 'malformed result message' };
      return { ok: true, message: value as RankMessage };
    default:
      return { ok: false, reason: `unknown message type ${JSON.stringify(value.type)?.slice(0, 40)}` };
  }
}

/** The first characters of a rejected line, printable, for the report. */
export function sampleOf(text: string): string {
  const cut = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  return JSON.stringify(cut).slice(1, -1);
}

/** What a share strategy says about the export data it expects (share/strategy.ts). */
export interface ExportExpectation {
  via: ExportData['via'];
  inputsIndexBases: boolean;
  checkBase(base: SharedBase): string | null;
}

/** Why a peer's export data cannot be used, or null: the wire check of the exchange step. */
export function checkExportData(data: ExportData | null | undefined, inputs: number, expected: ExportExpectation): string | null {
  if (!data) return 'sent nothing';
  if (!Number.isInteger(data.pid) || data.pid <= 0) return 'no pid';
  if (!Array.isArray(data.inputs) || data.inputs.length !== inputs) return `${data.inputs?.length ?? 0} inputs, expected ${inputs}`;
  if (!Array.isArray(data.bases)) return 'no bases';
  if (data.via !== expected.via) return `shared via ${data.via}, expected ${expected.via}`;
  for (const base of data.bases) {
    try {
      hexToPtr(base.base);
    } catch {
      return `a malformed base ${String(base.base).slice(0, 20)}`;
    }
    const problem = expected.checkBase(base);
    if (problem) return problem;
  }
  for (const entry of data.inputs) {
    const inRange = expected.inputsIndexBases ? Number.isInteger(entry.base) && entry.base >= 0 && entry.base < data.bases.length : entry.base === -1;
    if (!inRange || !Number.isInteger(entry.offset) || entry.offset < 0) return 'an input refers to no base';
  }
  return null;
}
