import { describe, expect, it } from 'vitest';
import { bytesToHex, decodeRankMessage, encodeMessage, hexToBytes, hexToPtr, LineSplitter, ptrToHex, tokensEqual } from '../../lib/probe/protocol.js';
import { expectedSumBytes, fillBytes, fillValue, firstMismatch, seedOf } from '../../lib/probe/values.js';

const token = 'a'.repeat(64);

describe('wire format', () => {
  it('carries pointers and handles as hex, both ways', () => {
    const ptr = 0x7f12_3456_7000n;
    expect(ptrToHex(ptr)).toBe('0x7f1234567000');
    expect(hexToPtr(ptrToHex(ptr))).toBe(ptr);
    expect(hexToPtr('0xffffffffffffffff')).toBe(2n ** 64n - 1n);
    expect(() => hexToPtr('12')).toThrow(TypeError);
    const handle = Buffer.from(Array.from({ length: 64 }, (_, i) => i * 3));
    expect(hexToBytes(bytesToHex(handle)).equals(handle)).toBe(true);
    expect(() => hexToBytes('abc')).toThrow(TypeError);
    // A BigInt that was not converted is an error, not a silent loss.
    expect(() => encodeMessage({ type: 'exit', extra: 1n } as never)).toThrow(TypeError);
  });

  it('splits lines across chunks and refuses a line that never ends', () => {
    const splitter = new LineSplitter(16);
    expect(splitter.push(Buffer.from('{"a":1}\n{"b"'))).toEqual(['{"a":1}']);
    expect(splitter.push(Buffer.from(':2}\n'))).toEqual(['{"b":2}']);
    expect(() => splitter.push(Buffer.from('x'.repeat(40)))).toThrow(RangeError);
  });

  it('checks the token first and rejects what is not a rank message', () => {
    expect(decodeRankMessage('not json', token)).toEqual({ ok: false, reason: 'not JSON' });
    expect(decodeRankMessage('[1,2]', token)).toMatchObject({ ok: false, reason: 'not a JSON object' });
    expect(decodeRankMessage('{"type":"hello","rank":0,"pid":1}', token)).toMatchObject({ ok: false, reason: 'no token' });
    expect(decodeRankMessage(`{"type":"hello","token":"${'b'.repeat(64)}","rank":0,"pid":1}`, token)).toMatchObject({ ok: false, reason: 'wrong token' });
    expect(decodeRankMessage(`{"type":"hello","token":"${token}","rank":-1,"pid":1}`, token)).toMatchObject({ ok: false });
    expect(decodeRankMessage(`{"type":"shout","token":"${token}","rank":0}`, token)).toMatchObject({ ok: false, reason: /unknown message type/ });
    expect(decodeRankMessage(`{"type":"result","token":"${token}","rank":0,"round":1,"result":{}}`, token)).toMatchObject({ ok: false, reason: 'malformed result message' });
    expect(decodeRankMessage(`{"type":"hello","token":"${token}","rank":0,"pid":1}`, token)).toMatchObject({ ok: true });
    expect(tokensEqual(token, token.slice(1))).toBe(false);
  });
});

describe('the values the probe checks', () => {
  it('follows launchFill: seed * 2654435761 + i mod 2^32', () => {
    const seed = seedOf(3, 71);
    expect(seed).toBe(3071);
    expect(fillValue(seed, 5)).toBe(Number((BigInt(seed) * 2654435761n + 5n) % 2n ** 32n));
    expect(fillBytes(seed, 2).readUInt32LE(4)).toBe(fillValue(seed, 1));
  });

  it('sums over ranks mod 2^32 and finds the first differing element', () => {
    const sum = expectedSumBytes(4, 2, 3);
    let want = 0n;
    for (let r = 0; r < 4; r += 1) want += BigInt(seedOf(r, 2)) * 2654435761n + 1n;
    expect(sum.readUInt32LE(4)).toBe(Number(want % 2n ** 32n));
    const wrong = Buffer.from(sum);
    wrong.writeUInt32LE(7, 8);
    expect(firstMismatch(sum, Buffer.from(sum))).toBeNull();
    expect(firstMismatch(sum, wrong)).toEqual({ element: 2, expected: sum.readUInt32LE(8), actual: 7 });
  });

  it('computes the sums in closed form exactly as adding every rank fill element by element would', () => {
    for (const [ranks, input, count] of [[1, 0, 5], [3, 17, 1024], [8, 4095, 1024], [64, 4095, 300]] as const) {
      const naive = Buffer.alloc(count * 4);
      for (let e = 0; e < count; e += 1) {
        let total = 0n;
        for (let r = 0; r < ranks; r += 1) total += BigInt(fillValue(seedOf(r, input), e));
        naive.writeUInt32LE(Number(total % 2n ** 32n), e * 4);
      }
      expect(expectedSumBytes(ranks, input, count).equals(naive), `${ranks} ranks, input ${input}`).toBe(true);
    }
  });
});
