// The hex codecs (lib/probe/hex.ts) that carry pointers and handles through JSON.
import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes, hexToPtr, ptrToHex } from '../../lib/probe/hex.js';

describe('hex codecs', () => {
  it('carries pointers and handles as hex, both ways', () => {
    const ptr = 0x7f12_3456_7000n;
    expect(ptrToHex(ptr)).toBe('0x7f1234567000');
    expect(hexToPtr(ptrToHex(ptr))).toBe(ptr);
    expect(hexToPtr('0xffffffffffffffff')).toBe(2n ** 64n - 1n);
    expect(() => hexToPtr('12')).toThrow(TypeError);
    const handle = Buffer.from(Array.from({ length: 64 }, (_, i) => i * 3));
    expect(hexToBytes(bytesToHex(handle)).equals(handle)).toBe(true);
    expect(() => hexToBytes('abc')).toThrow(TypeError);
  });
});
