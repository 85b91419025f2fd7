// Reading the wire (lib/probe/decode.ts): lines cut from a stream, a rank's line checked.
import { describe, expect, it } from 'vitest';
import { decodeRankMessage, LineSplitter, tokensEqual } from '../../lib/probe/decode.js';

const token = 'a'.repeat(64);

describe('reading the wire', () => {
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
    expect(decodeRankMessage(`{"type":"returned","token":"${token}","rank":0,"step":"init","call":"cudaFree"}`, token)).toMatchObject({ ok: true, message: { type: 'returned', step: 'init', call: 'cudaFree' } });
    expect(decodeRankMessage(`{"type":"returned","token":"${token}","rank":0,"step":"warmup","call":"cudaFree"}`, token)).toMatchObject({ ok: false, reason: 'malformed returned message' });
    expect(tokensEqual(token, token.slice(1))).toBe(false);
  });
});
