// Pointers and byte strings as hex text. JSON has no BigInt and no bytes, so what the ranks
// and the coordinator exchange carries them as hex, converted explicitly at each end; the
// decoders refuse malformed text rather than guess.
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
