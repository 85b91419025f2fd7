// Files the command line reads and writes, through one reader (files/read.ts) and one writer
// (here). Inputs must be regular files (a FIFO would block the open, a device or a link to one
// would be read without end) and are capped: fstat's size first, then reading stops one byte
// past the cap. Outputs are checked before a run starts (a probe of minutes must not end in a
// report that cannot be written, nor overwrite one of its own inputs), and written atomically:
// a temporary file in the same folder, flushed, renamed over the target, so the user's previous
// file survives any failure. A write that fails anyway is reported, never thrown.
import { accessSync, closeSync, constants, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FileUsageError, kindOf, why } from '../files/read.js';
import { randomHex } from '../files/random.js';

// The reader lives one layer down (the trace reader uses it too); the command line's modules take it from here.
export { FileUsageError, READ_CAPS, readCappedText, readRegularFile, why } from '../files/read.js';

/** A file could not be written after the run (exit 3). */
export class FileWriteError extends Error {
  override readonly name = 'FileWriteError';
}

/** Where writing `path` lands: a link is followed to its file (which is replaced, not the link). */
function outputTarget(path: string, label: string): { target: string; existing: Stats | null } {
  const full = resolve(path);
  let link: Stats;
  try {
    link = lstatSync(full);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { target: full, existing: null };
    throw new FileUsageError(`${label} ${path}: cannot use it: ${why(error)}`);
  }
  if (!link.isSymbolicLink()) return { target: full, existing: link };
  try {
    const target = realpathSync(full);
    return { target, existing: statSync(target) };
  } catch (error) {
    throw new FileUsageError(`${label} ${path}: a link that leads nowhere usable (${why(error)}); name a file`);
  }
}

/** A name for a temporary file next to `target`, hidden and unique to this process. */
function temporaryBeside(target: string): string {
  return join(dirname(target), `.${basename(target)}.cuipc-${process.pid}-${randomHex(4)}.tmp`);
}

/**
 * Throws FileUsageError when `path` cannot be written: a folder, a FIFO or socket, a folder
 * that does not exist or in which no file can be created (tried: a temporary file is created
 * and removed there, so /proc or a read-only mount fail now, not after the run).
 */
export function checkWritable(path: string, label: string): void {
  const { target, existing } = outputTarget(path, label);
  if (existing !== null && existing.isCharacterDevice()) return; // /dev/null: written in place
  if (existing !== null && !existing.isFile()) throw new FileUsageError(`${label} ${path}: not a regular file but ${kindOf(existing)}; name a file`);
  const folder = dirname(target);
  let folderStats: Stats;
  try {
    folderStats = statSync(folder);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? `the folder ${folder} does not exist` : `cannot use the folder ${folder}: ${why(error)}`;
    throw new FileUsageError(`${label} ${path}: ${reason}`);
  }
  if (!folderStats.isDirectory()) throw new FileUsageError(`${label} ${path}: ${folder} is not a folder`);
  if (existing !== null) {
    try {
      accessSync(target, constants.W_OK); // the rename would replace a file its owner made read-only
    } catch (error) {
      throw new FileUsageError(`${label} ${path}: the file cannot be written (${why(error)})`);
    }
  }
  const probe = temporaryBeside(target);
  try {
    closeSync(openSync(probe, 'wx', 0o600));
    unlinkSync(probe);
  } catch (error) {
    throw new FileUsageError(`${label} ${path}: no file can be written in ${folder} (${why(error)})`);
  }
}

/**
 * Throws FileUsageError when the output `path` is the same file as one of `inputs` (same
 * device and inode, so also through links): writing it would destroy the input.
 */
export function checkNotAnInput(path: string, label: string, inputs: ReadonlyArray<{ path: string; label: string }>): void {
  let out: Stats;
  try {
    out = statSync(path);
  } catch {
    return; // not there yet: it cannot be an input
  }
  for (const input of inputs) {
    let stats: Stats;
    try {
      stats = statSync(input.path);
    } catch {
      continue; // the reader will say why
    }
    if (stats.dev === out.dev && stats.ino === out.ino) {
      throw new FileUsageError(`${label} ${path} is the same file as ${input.label} ${input.path}; writing it would destroy that input: name another file`);
    }
  }
}

/** checkWritable, then checkNotAnInput: everything an output file must pass before a run. */
export function checkOutput(path: string, label: string, inputs: ReadonlyArray<{ path: string; label: string }> = []): void {
  checkWritable(path, label);
  checkNotAnInput(path, label, inputs);
}

/**
 * Writes `text` atomically (see the header); throws FileWriteError with the reason (the disk
 * filled, the folder went away...), leaving the previous file as it was and no temporary file.
 */
export function writeOutputFile(path: string, text: string, label: string): void {
  let target: string;
  let existing: Stats | null;
  try {
    ({ target, existing } = outputTarget(path, label));
  } catch (error) {
    throw new FileWriteError((error as Error).message);
  }
  if (existing !== null && existing.isCharacterDevice()) {
    try {
      writeFileSync(target, text);
      return;
    } catch (error) {
      throw new FileWriteError(`${label} ${path}: could not write it: ${why(error)}`);
    }
  }
  const temporary = temporaryBeside(target);
  let fd: number | null = null;
  try {
    fd = openSync(temporary, 'wx', 0o666);
    if (existing !== null) fchmodSync(fd, existing.mode & 0o777); // the file keeps its mode
    const bytes = Buffer.from(text, 'utf8');
    for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temporary, target);
  } catch (error) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // never created, or already renamed
    }
    throw new FileWriteError(`${label} ${path}: could not write it: ${why(error)}; the previous file, if any, is unchanged`);
  }
  syncFolder(dirname(target));
}

/** Makes a rename durable; a folder that cannot be opened for it is no failure of the write. */
function syncFolder(folder: string): void {
  try {
    const fd = openSync(folder, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some file systems refuse fsync on a folder
  }
}

/**
 * Throws FileUsageError when `dir` cannot be a folder for output files: not a folder, or it
 * cannot be created (tried with a non-recursive mkdir of its first missing part, removed
 * again: Node's recursive mkdir never returns under /proc).
 */
export function checkOutputFolder(dir: string, label: string): void {
  let path = resolve(dir);
  const missing: string[] = [];
  for (;;) {
    let stats: Stats;
    try {
      stats = statSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(path) === path) throw new FileUsageError(`${label} ${dir}: cannot use it: ${why(error)}`);
      missing.unshift(path);
      path = dirname(path);
      continue;
    }
    if (!stats.isDirectory()) throw new FileUsageError(`${label} ${dir}: ${path} is ${stats.isFile() ? 'a file' : kindOf(stats)}; name a folder`);
    break;
  }
  try {
    if (missing.length > 0) {
      mkdirSync(missing[0]);
      rmdirSync(missing[0]);
    } else {
      const probe = join(path, `.cuipc-${process.pid}-${randomHex(4)}.tmp`);
      closeSync(openSync(probe, 'wx', 0o600));
      unlinkSync(probe);
    }
  } catch (error) {
    throw new FileUsageError(`${label} ${dir}: cannot ${missing.length > 0 ? 'create the folder' : 'write in the folder'} (${why(error)})`);
  }
}
