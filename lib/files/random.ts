// Random names and secrets (the probe's token, shared-memory tags, temporary file names) read
// from the kernel's random source directly: loading node:crypto for them cost 4-5 ms on 2
// cores, on the coordinator's path to its first spawn, and in every process that only needed a name.
import { closeSync, openSync, readSync } from 'node:fs';

/** `bytes` random bytes from /dev/urandom, as lowercase hex. */
export function randomHex(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024) throw new RangeError(`randomHex: bytes must be an integer from 1 to 1024, got ${bytes}`);
  const buffer = Buffer.alloc(bytes);
  const fd = openSync('/dev/urandom', 'r');
  try {
    if (readSync(fd, buffer, 0, bytes, null) !== bytes) throw new Error(`/dev/urandom gave fewer than ${bytes} bytes`);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('hex');
}
