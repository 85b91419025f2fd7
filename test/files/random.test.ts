// randomHex: the probe's token and the names of shared memory and temporary files come from it.
import { describe, expect, it } from 'vitest';
import { randomHex } from '../../lib/files/random.js';

describe('randomHex', () => {
  it('gives as many random bytes as asked, as lowercase hex, different each time', () => {
    const tokens = new Set(Array.from({ length: 50 }, () => randomHex(32)));
    expect(tokens.size).toBe(50);
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(randomHex(3)).toMatch(/^[0-9a-f]{6}$/);
  });

  it('refuses a size that is not a whole number of bytes from 1 to 1024', () => {
    for (const bad of [0, -1, 1.5, 1025, Number.NaN]) expect(() => randomHex(bad)).toThrow(RangeError);
  });
});
