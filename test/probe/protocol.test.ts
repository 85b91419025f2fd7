// The wire format (lib/probe/protocol.ts), and the values the probe fills and checks (lib/probe/values.ts).
import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../../lib/probe/protocol.js';
import { fillBytes, fillProgression, fillValue, progressionBytes, progressionMismatch, seedOf, sumProgression } from '../../lib/probe/values.js';

describe('wire format', () => {
  it('refuses a BigInt that was not converted to hex', () => {
    // A BigInt that was not converted is an error, not a silent loss.
    expect(() => encodeMessage({ type: 'exit', extra: 1n } as never)).toThrow(TypeError);
  });
});

describe('the values the probe checks', () => {
  it('follows launchFill: seed * 2654435761 + i mod 2^32', () => {
    const seed = seedOf(3, 71);
    expect(seed).toBe(3071);
    expect(fillValue(seed, 5)).toBe(Number((BigInt(seed) * 2654435761n + 5n) % 2n ** 32n));
    expect(fillBytes(seed, 2).readUInt32LE(4)).toBe(fillValue(seed, 1));
  });

  it('sums over ranks mod 2^32 and finds the first differing element in place', () => {
    const progression = sumProgression(4, 2);
    const sum = progressionBytes(progression, 3);
    let want = 0n;
    for (let r = 0; r < 4; r += 1) want += BigInt(seedOf(r, 2)) * 2654435761n + 1n;
    expect(sum.readUInt32LE(4)).toBe(Number(want % 2n ** 32n));
    const wrong = Buffer.from(sum);
    wrong.writeUInt32LE(7, 8);
    expect(progressionMismatch(progression, Buffer.from(sum))).toBeNull();
    expect(progressionMismatch(progression, wrong)).toEqual({ element: 2, expected: sum.readUInt32LE(8), actual: 7 });
    // A view that is not 4-byte aligned is read word by word, with the same answer.
    const unaligned = Buffer.alloc(13).subarray(1);
    wrong.copy(unaligned);
    expect(unaligned.byteOffset % 4).not.toBe(0);
    expect(progressionMismatch(progression, unaligned)).toEqual({ element: 2, expected: sum.readUInt32LE(8), actual: 7 });
    expect(progressionMismatch(fillProgression(seedOf(1, 5)), fillBytes(seedOf(1, 5), 64))).toBeNull();
  });

  it('computes the sums in closed form exactly as adding every rank fill element by element would', () => {
    for (const [ranks, input, count] of [[1, 0, 5], [3, 17, 1024], [8, 4095, 1024], [64, 4095, 300]] as const) {
      const naive = Buffer.alloc(count * 4);
      for (let e = 0; e < count; e += 1) {
        let total = 0n;
        for (let r = 0; r < ranks; r += 1) total += BigInt(fillValue(seedOf(r, input), e));
        naive.writeUInt32LE(Number(total % 2n ** 32n), e * 4);
      }
      expect(progressionBytes(sumProgression(ranks, input), count).equals(naive), `${ranks} ranks, input ${input}`).toBe(true);
      expect(progressionMismatch(sumProgression(ranks, input), naive)).toBeNull();
    }
  });
});
