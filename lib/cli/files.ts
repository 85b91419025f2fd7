// Files the command line reads and writes. Every file read has a size cap (reading stops one
// byte past it, so `/dev/zero` or a runaway log fails at once, not after filling memory), and
// every file to be written is checked before a run starts: a probe of minutes must not end in
// a report that cannot be written. A write that fails anyway is reported, never thrown.
import { accessSync, closeSync, constants, fstatSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Caps on what the CLI reads; each is far above what cuipc itself writes. */
export const READ_CAPS = {
  /** `cuipc env capture --json` writes tens of KiB. */
  snapshot: 16 * 1024 * 1024,
  /** KEY=VALUE lines. */
  envFile: 1024 * 1024,
  /** A conformance recording is a few hundred KiB. */
  conformance: 32 * 1024 * 1024,
} as const;

/** A file the user named cannot be used: bad usage (exit 2). */
export class FileUsageError extends Error {
  override readonly name = 'FileUsageError';
}

/** A file could not be written after the run (exit 3). */
export class FileWriteError extends Error {
  override readonly name = 'FileWriteError';
}

function why(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied';
  if (e.code === 'EISDIR') return 'it is a folder';
  return e.code ?? e.message;
}

/** The file's text, at most `maxBytes` bytes; throws FileUsageError naming `label` and the cap. */
export function readCappedText(path: string, maxBytes: number, label: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new FileUsageError(`${label} ${path}: cannot read it: ${why(error)}`);
  }
  try {
    if (fstatSync(fd).isDirectory()) throw new FileUsageError(`${label} ${path}: cannot read it: it is a folder`);
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
      if (total > maxBytes) throw new FileUsageError(`${label} ${path}: larger than ${maxBytes} bytes, the most cuipc reads here; is it the right file?`);
    }
    const bytes = Buffer.concat(chunks, total);
    if (bytes.includes(0)) throw new FileUsageError(`${label} ${path}: contains a NUL byte; not a text file`);
    return bytes.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Throws FileUsageError when `path` cannot be written: a folder, an unwritable file, or a
 * folder that does not exist or cannot be written. Creates nothing.
 */
export function checkWritable(path: string, label: string): void {
  const full = resolve(path);
  let exists = true;
  try {
    if (statSync(full).isDirectory()) throw new FileUsageError(`${label} ${path}: it is a folder; name a file`);
  } catch (error) {
    if (error instanceof FileUsageError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new FileUsageError(`${label} ${path}: cannot use it: ${why(error)}`);
    exists = false;
  }
  const target = exists ? full : dirname(full);
  try {
    if (!exists && !statSync(target).isDirectory()) throw new FileUsageError(`${label} ${path}: ${target} is not a folder`);
    accessSync(target, constants.W_OK);
  } catch (error) {
    if (error instanceof FileUsageError) throw error;
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? `the folder ${target} does not exist` : `${exists ? 'the file' : 'the folder'} cannot be written (${why(error)})`;
    throw new FileUsageError(`${label} ${path}: ${reason}`);
  }
}

/** Writes `text`; throws FileWriteError with the reason (the disk filled, the folder went away...). */
export function writeOutputFile(path: string, text: string, label: string): void {
  try {
    writeFileSync(path, text);
  } catch (error) {
    throw new FileWriteError(`${label} ${path}: could not write it: ${why(error)}`);
  }
}
