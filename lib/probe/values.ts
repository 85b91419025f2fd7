// The data the probe moves: each rank fills input i with launchFill's pattern
// p[e] = seed * 2654435761 + e (mod 2^32), seed = rank * 1000 + i, and the all-reduce output
// is the element-wise sum over ranks (mod 2^32). The host computes both to check the GPU.

/** 2654435761 as the int32 Math.imul takes; the product's low 32 bits are the same. */
const FILL_MULTIPLIER = 0x9e3779b1 | 0;

export function seedOf(rank: number, input: number): number {
  return rank * 1000 + input;
}

export function fillValue(seed: number, element: number): number {
  return (Math.imul(seed, FILL_MULTIPLIER) + element) >>> 0;
}

/** The values start + step * e (mod 2^32), e = 0, 1, ...: every pattern the probe writes or expects. */
export interface Progression {
  start: number;
  step: number;
}

/** What launchFill writes for `seed`. */
export function fillProgression(seed: number): Progression {
  return { start: fillValue(seed, 0), step: 1 };
}

/**
 * The all-reduce output for input `input`: the sum over ranks of their fills, element by
 * element. Each fill is seed * M + e, so the sum is (sum of seed * M) + ranks * e (mod 2^32):
 * computed so, not by adding the ranks' buffers, it costs one pass whatever the rank count.
 */
export function sumProgression(ranks: number, input: number): Progression {
  let start = 0;
  for (let r = 0; r < ranks; r += 1) start = (start + fillValue(seedOf(r, input), 0)) >>> 0;
  return { start, step: ranks };
}

/**
 * The first uint32 element of `actual` that is not the progression's, or null. Compared in
 * place: no expected buffer is made, so verifying 8 x 4096 inputs adds nothing to a rank's
 * peak memory beyond the bytes read back (an expected copy per input was 16 MiB of garbage).
 */
export function progressionMismatch(p: Progression, actual: Buffer): { element: number; expected: number; actual: number } | null {
  const count = actual.length >>> 2;
  // An aligned view where the bytes allow it (the addon's buffers are); else read each word.
  const words = actual.byteOffset % 4 === 0 ? new Uint32Array(actual.buffer, actual.byteOffset, count) : null;
  for (let e = 0; e < count; e += 1) {
    const want = (p.start + Math.imul(p.step, e)) >>> 0;
    const got = words ? words[e] : actual.readUInt32LE(e * 4);
    if (want !== got) return { element: e, expected: want, actual: got };
  }
  return null;
}

/** A progression's first `count` values as little-endian bytes. */
export function progressionBytes(p: Progression, count: number): Buffer {
  const values = new Uint32Array(count);
  for (let e = 0; e < count; e += 1) values[e] = (p.start + Math.imul(p.step, e)) >>> 0;
  // x86-64 and arm64 are little-endian, as the GPU's words are.
  return Buffer.from(values.buffer, 0, count * 4);
}

/** What launchFill(ptr, count, seed) writes, as little-endian bytes (what the copy-only fill writes instead). */
export function fillBytes(seed: number, count: number): Buffer {
  return progressionBytes(fillProgression(seed), count);
}
