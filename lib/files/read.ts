// Reading a file a user names: it must be a regular file (a FIFO would block the open, a device
// or a link to one would be read without end) and is capped: fstat's size first, then reading
// stops one byte past the cap. A file that cannot be used is the user's error (FileUsageError,
// exit 2). Below every domain layer, so the trace reader and the command line share one reader;
// the command line's writer is cli/files.ts.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** Caps on what the CLI reads; each is far above what cuipc itself writes. */
export const READ_CAPS = {
  /** `cuipc env capture --json` writes tens of KiB. */
  snapshot: 16 * 1024 * 1024,
  /** KEY=VALUE lines. */
  envFile: 1024 * 1024,
  /** A conformance recording is a few hundred KiB. */
  conformance: 32 * 1024 * 1024,
  /** One process's trace; a long traced run writes tens of MiB. */
  trace: 256 * 1024 * 1024,
} as const;

/** A file the user named cannot be used: bad usage (exit 2). */
export class FileUsageError extends Error {
  override readonly name = 'FileUsageError';
}

/** The reason of a failed file operation, in words. */
export function why(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT': return 'no such file or folder';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'it is a folder';
    case 'ENOTDIR': return 'a part of the path is not a folder';
    case 'ENOSPC': case 'EDQUOT': return 'no space left on the device (free some, or name a file elsewhere)';
    case 'EROFS': return 'the file system is read-only';
    case 'EFBIG': return 'larger than this process may write (ulimit -f)';
    case 'ELOOP': return 'too many levels of symbolic links';
    case 'ENAMETOOLONG': return 'the name is too long';
    case 'ENXIO': return 'not a regular file (a socket, or a FIFO no one reads)';
    default: return e.code ?? e.message;
  }
}

/** What a file that is not a regular one is, for messages. */
export function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'something other than a file';
}

/**
 * The bytes of a regular file, at most `maxBytes`; throws FileUsageError naming `label`.
 * Opened without blocking (O_NONBLOCK: a FIFO would wait for a writer); links are followed,
 * and what they lead to must be a regular file.
 */
export function readRegularFile(path: string, maxBytes: number, label: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    throw new FileUsageError(`${label} ${path}: cannot read it: ${why(error)}`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new FileUsageError(`${label} ${path}: not a regular file but ${kindOf(stats)}; name a file`);
    const tooLarge = `${label} ${path}: larger than ${maxBytes} bytes, the most cuipc reads here; is it the right file?`;
    if (stats.size > maxBytes) throw new FileUsageError(tooLarge);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, null);
      } catch (error) {
        throw new FileUsageError(`${label} ${path}: cannot read it: ${why(error)}`);
      }
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      // A file that grows while read (a log) is held to the cap too.
      if (total > maxBytes) throw new FileUsageError(tooLarge);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** The file's text, at most `maxBytes` bytes; throws FileUsageError naming `label` and the cap. */
export function readCappedText(path: string, maxBytes: number, label: string): string {
  const bytes = readRegularFile(path, maxBytes, label);
  if (bytes.includes(0)) throw new FileUsageError(`${label} ${path}: contains a NUL byte; not a text file`);
  return bytes.toString('utf8');
}
