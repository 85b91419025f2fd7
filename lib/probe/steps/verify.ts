// The verify step: the all-reduce outputs against the sums expected (with kernels), or, without
// them, every peer's inputs read through this rank's pointer tables against their fills. The
// first mismatch fails the step; the rest are counted.
import type { Ptr } from '../../../binding.js';
import type { VerifySummary } from '../../report/types.js';
import { pseudoStatus } from '../call-recorder.js';
import { ptrToHex } from '../hex.js';
import type { RoundData } from '../protocol.js';
import { fillProgression, progressionMismatch, seedOf, sumProgression, type Progression } from '../values.js';
import type { SessionState } from './state.js';

/**
 * The most one verify copy reads. The outputs are read a block of whole inputs at a time into one
 * host buffer, reused, so a rank's host memory for verify stays at this however many inputs
 * there are: reading all of them at once held inputs x bytes (16 MiB at 4096 x 4 KiB, 64 MiB at
 * 16384) in every rank, where the raw C++ replay holds one input; a fresh buffer per block
 * stayed resident until V8 collected it.
 */
export const VERIFY_READ_BYTES = 1024 * 1024;

export async function verify(state: SessionState): Promise<RoundData> {
  const { ranks, inputs, bytes } = state.cfg;
  const summary: VerifySummary = { mode: state.kernels ? 'kernel' : 'copy', inputsChecked: 0, bytesChecked: 0, mismatches: 0 };
  if (state.kernels) {
    // The outputs are one block, output i at i * bytes: each copy reads as many whole outputs as fit VERIFY_READ_BYTES.
    const outputs = state.outputsPtr as Ptr;
    const perRead = Math.max(1, Math.floor(VERIFY_READ_BYTES / bytes));
    const host = Buffer.allocUnsafe(Math.min(perRead, inputs) * bytes);
    for (let first = 0; first < inputs; first += perRead) {
      const count = Math.min(perRead, inputs - first);
      const block = await readDevice(state, outputs + BigInt(first * bytes), host.subarray(0, count * bytes), { first, outputs: count });
      if (!block) return { kind: 'verify', verify: summary };
      for (let j = 0; j < count; j += 1) {
        const i = first + j;
        check(state, summary, i, outputs + BigInt(i * bytes), sumProgression(ranks, i), block.subarray(j * bytes, (j + 1) * bytes));
        summary.inputsChecked += 1;
      }
    }
  } else {
    // One input at a time, every read into the same buffer (checked before the next read).
    const host = Buffer.allocUnsafe(bytes);
    for (let i = 0; i < inputs; i += 1) {
      for (let r = 0; r < ranks; r += 1) {
        const ptr = state.hostTables[i][r];
        const read = await readDevice(state, ptr, host, { input: i, peer: r });
        if (!read) return { kind: 'verify', verify: summary };
        check(state, summary, i, ptr, fillProgression(seedOf(r, i)), read, r);
      }
      summary.inputsChecked += 1;
    }
    state.rec.note('verified with copies: kernels are unavailable');
  }
  return { kind: 'verify', verify: summary };
}

/** One copy into `target` on the host, recorded; `target` once it is filled, null when it failed. */
async function readDevice(state: SessionState, ptr: Ptr, target: Buffer, args: Record<string, number>): Promise<Buffer | null> {
  const cuda = state.api;
  const read = await state.rec.call('cudaMemcpy', 'copyToHostInto', { src: ptrToHex(ptr), bytes: target.length, ...args }, () => cuda.copyToHostInto(ptr, target), { ptr });
  return read.ok ? target : null;
}

/** Compares one input's bytes, byte for byte; the first mismatch is a failure of verify. */
function check(state: SessionState, summary: VerifySummary, input: number, ptr: Ptr, expected: Progression, actual: Buffer, peer?: number): void {
  summary.bytesChecked += actual.length;
  const mismatch = progressionMismatch(expected, actual);
  if (!mismatch) return;
  summary.mismatches += 1;
  if (summary.firstMismatch) return;
  summary.firstMismatch = { input, ...mismatch, ...(peer !== undefined ? { peer } : {}) };
  const what = peer !== undefined ? `rank ${peer}'s input ${input} read through ${ptrToHex(ptr)}` : `all-reduce output ${input}`;
  const detail = `${what}: element ${mismatch.element} is ${mismatch.actual}, expected ${mismatch.expected}`;
  state.rec.fail('verify', { input, ptr: ptrToHex(ptr) }, pseudoStatus('verify', 'VerificationMismatch', detail), { detail });
}
