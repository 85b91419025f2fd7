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

/** `count` little-endian uint32 values start + step * e (mod 2^32), e = 0..count-1. */
function arithmeticBytes(start: number, step: number, count: number): Buffer {
  const values = new Uint32Array(count);
  for (let e = 0; e < count; e += 1) values[e] = (start + Math.imul(step, e)) >>> 0;
  // x86-64 and arm64 are little-endian, as the GPU's words are.
  return Buffer.from(values.buffer, 0, count * 4);
}

/** What launchFill(ptr, count, seed) writes, as little-endian bytes. */
export function fillBytes(seed: number, count: number): Buffer {
  return arithmeticBytes(fillValue(seed, 0), 1, count);
}

/**
 * The all-reduce output for input `input`: the sum over ranks of their fills, element by
 * element. Each fill is seed * M + e, so the sum is (sum of seed * M) + ranks * e (mod 2^32):
 * computed so, not by adding the ranks' buffers, it costs one pass whatever the rank count.
 */
export function expectedSumBytes(ranks: number, input: number, count: number): Buffer {
  let start = 0;
  for (let r = 0; r < ranks; r += 1) start = (start + fillValue(seedOf(r, input), 0)) >>> 0;
  return arithmeticBytes(start, ranks, count);
}

/** The first differing uint32 element, or null when the buffers are equal byte for byte. */
export function firstMismatch(expected: Buffer, actual: Buffer): { element: number; expected: number; actual: number } | null {
  if (expected.equals(actual)) return null;
  const count = Math.min(expected.length, actual.length) >>> 2;
  for (let e = 0; e < count; e += 1) {
    const want = expected.readUInt32LE(e * 4);
    const got = actual.readUInt32LE(e * 4);
    if (want !== got) return { element: e, expected: want, actual: got };
  }
  return { element: count, expected: expected.length, actual: actual.length };
}
