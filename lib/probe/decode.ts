// Reading the wire (protocol.ts): a byte stream cut into lines under a length cap, and a
// rank's line checked, token first, before anything in it is trusted. A bad line comes back
// as the reason to reject it, so the rendezvous can record it and carry on.
import { STEPS, type RankPlacement, type StepName } from '../model/vocabulary.js';
import { MAX_LINE_BYTES, type RankMessage, type RankStepResult } from './protocol.js';

// node:crypto on first use: the ranks load the package's one bundle and never need it (its
// load cost each rank about 5 ms of start-up on 2 cores).
const crypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto');

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
  return a.length === b.length && crypto().timingSafeEqual(a, b);
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
  if (value.hostname !== undefined && typeof value.hostname !== 'string') return false;
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
    case 'returned':
      if (!isStep(value.step) || typeof value.call !== 'string') return { ok: false, reason: 'malformed returned message' };
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
