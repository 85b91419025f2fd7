// The one reader and the one writer of the command line: inputs that are not regular files are
// refused at once (a FIFO used to block forever, /dev/zero to be read for gigabytes), an output
// that is one of the inputs is refused before anything runs, and a write that fails leaves the
// previous file as it was.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkNotAnInput, checkOutput, checkOutputFolder, checkWritable, FileUsageError, readCappedText, readRegularFile, writeOutputFile } from '../../lib/cli/files.js';

const CLI = resolve(import.meta.dirname, '..', '..', 'bin', 'cuipc.js');
const scratch = mkdtempSync(join(tmpdir(), 'cuipc-files-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
function fresh(): string {
  const dir = join(scratch, `d${(n += 1)}`);
  mkdirSync(dir);
  return dir;
}

function fifoIn(dir: string): string {
  const path = join(dir, 'fifo');
  execFileSync('mkfifo', [path]);
  return path;
}

/** A Unix socket file, left by a server that exited without closing it. */
function socketIn(dir: string): string {
  const path = join(dir, 'sock');
  execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`]);
  return path;
}

describe('inputs: regular files only, capped', () => {
  it.each([
    ['a FIFO', (d: string) => fifoIn(d), /not a regular file but a FIFO/],
    ['a folder', (d: string) => d, /not a regular file but a folder/],
    ['/dev/zero', () => '/dev/zero', /not a regular file but a character device/],
    ['a link to /dev/zero', (d: string) => (symlinkSync('/dev/zero', join(d, 'z')), join(d, 'z')), /not a regular file but a character device/],
    ['a missing file', (d: string) => join(d, 'absent'), /cannot read it: no such file/],
    ['a Unix socket', (d: string) => socketIn(d), /not a regular file \(a socket/],
  ])('%s is refused with a message naming it', (_what, make, message) => {
    const path = make(fresh());
    expect(() => readCappedText(path, 1024, '--env-from')).toThrow(FileUsageError);
    expect(() => readCappedText(path, 1024, '--env-from')).toThrow(message);
    expect(() => readCappedText(path, 1024, '--env-from')).toThrow(`--env-from ${path}: `);
  });

  it('a link to a regular file is followed', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'real'), 'A=1\n');
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    expect(readCappedText(join(dir, 'link'), 1024, 'x')).toBe('A=1\n');
  });

  it('a file over the cap is refused (its size is checked before reading); one at the cap is read', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'big'), Buffer.alloc(1025, 0x41));
    writeFileSync(join(dir, 'fits'), Buffer.alloc(1024, 0x41));
    expect(() => readRegularFile(join(dir, 'big'), 1024, 'x')).toThrow(/larger than 1024 bytes/);
    expect(readRegularFile(join(dir, 'fits'), 1024, 'x')).toHaveLength(1024);
  });

  it('text with a NUL byte is refused; the raw reader keeps it', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'nul'), 'a\u0000b');
    expect(() => readCappedText(join(dir, 'nul'), 1024, 'x')).toThrow(/contains a NUL byte/);
    expect(readRegularFile(join(dir, 'nul'), 1024, 'x')).toHaveLength(3);
  });

  it('the command line refuses a FIFO input with exit 2 at once (it used to wait for a writer forever)', () => {
    const dir = fresh();
    const fifo = fifoIn(dir);
    const run = spawnSync(process.execPath, [CLI, 'env', 'diff', fifo, fifo], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, CUIPC_BACKEND: 'sim' } });
    expect(run.error).toBeUndefined(); // a hang would end in ETIMEDOUT here
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/not a regular file but a FIFO/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('outputs: checked before the run', () => {
  it('the same file as an input is refused, also through a symbolic or a hard link, naming both', () => {
    const dir = fresh();
    const input = join(dir, 'a.json');
    writeFileSync(input, '{}');
    symlinkSync(input, join(dir, 'sym.json'));
    linkSync(input, join(dir, 'hard.json'));
    for (const out of [input, join(dir, 'sym.json'), join(dir, 'hard.json')]) {
      expect(() => checkOutput(out, '--json', [{ path: input, label: 'snapshot A' }])).toThrow(`--json ${out} is the same file as snapshot A ${input}`);
    }
    writeFileSync(join(dir, 'other.json'), '{}');
    expect(() => checkNotAnInput(join(dir, 'other.json'), '--json', [{ path: input, label: 'A' }])).not.toThrow();
    expect(() => checkNotAnInput(join(dir, 'new.json'), '--json', [{ path: input, label: 'A' }])).not.toThrow();
  });

  it.each([
    ['in a folder that does not exist', (d: string) => join(d, 'missing', 'r.json'), /the folder .*missing does not exist/],
    ['under a file', (d: string) => (writeFileSync(join(d, 'f'), ''), join(d, 'f', 'r.json')), /is not a folder/],
    ['in /proc', () => '/proc/cuipc-nope.json', /no file can be written in \/proc/],
    ['a FIFO', (d: string) => fifoIn(d), /not a regular file but a FIFO/],
    ['a folder', (d: string) => d, /not a regular file but a folder/],
  ])('%s is refused', (_what, make, message) => {
    const dir = fresh();
    expect(() => checkWritable(make(dir), '--json')).toThrow(message);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('a writable place passes and leaves nothing behind; /dev/null passes', () => {
    const dir = fresh();
    checkWritable(join(dir, 'r.json'), '--json');
    checkWritable('/dev/null', '--json');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a trace folder under /proc is refused at once (Node\'s recursive mkdir never returns there); a new nested one is not created by the check', () => {
    expect(() => checkOutputFolder('/proc/cuipc-nope/traces', '--out')).toThrow(/--out \/proc\/cuipc-nope\/traces: cannot create the folder/);
    const dir = fresh();
    checkOutputFolder(join(dir, 'a', 'b'), '--out');
    expect(existsSync(join(dir, 'a'))).toBe(false);
    writeFileSync(join(dir, 'file'), '');
    expect(() => checkOutputFolder(join(dir, 'file'), '--out')).toThrow(/is a file; name a folder/);
  });
});

describe('writes: atomic', () => {
  it('replaces the file by a rename (a new inode), keeps its mode, and leaves no temporary file', () => {
    const dir = fresh();
    const out = join(dir, 'r.json');
    writeFileSync(out, 'old');
    chmodSync(out, 0o640);
    const before = statSync(out).ino;
    writeOutputFile(out, 'new\n', '--json');
    expect(readFileSync(out, 'utf8')).toBe('new\n');
    expect(statSync(out).ino).not.toBe(before);
    expect(statSync(out).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['r.json']);
  });

  it('through a symbolic link, the file it names is replaced and the link stays', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'real.json'), 'old');
    symlinkSync(join(dir, 'real.json'), join(dir, 'link.json'));
    writeOutputFile(join(dir, 'link.json'), 'new', '--json');
    expect(lstatSync(join(dir, 'link.json')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'real.json'), 'utf8')).toBe('new');
  });

  it('a write that fails part-way (the file size limit) leaves the previous file whole, exit 3 and a message', () => {
    const dir = fresh();
    const out = join(dir, 'snap.json');
    writeFileSync(out, 'previous');
    // SIGXFSZ ignored, so the over-limit write fails with EFBIG instead of killing the process.
    const run = spawnSync('sh', ['-c', `trap '' XFSZ; ulimit -f 1; exec "$0" "$1" env capture -o "$2"`, process.execPath, CLI, out], {
      encoding: 'utf8', timeout: 30_000, env: { ...process.env, CUIPC_BACKEND: 'sim', CUIPC_FILES_TEST_PADDING: 'x'.repeat(4096) },
    });
    expect(run.status).toBe(3);
    expect(run.stderr).toMatch(/--out .*snap\.json: could not write it: larger than this process may write.*the previous file, if any, is unchanged/);
    expect(readFileSync(out, 'utf8')).toBe('previous');
    expect(readdirSync(dir)).toEqual(['snap.json']);
  });

  it('env diff a b -o a: exit 2 naming both, and a is unchanged', () => {
    const dir = fresh();
    const env = { ...process.env, CUIPC_BACKEND: 'sim' };
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    for (const f of [a, b]) expect(spawnSync(process.execPath, [CLI, 'env', 'capture', '-o', f], { env, timeout: 30_000 }).status).toBe(0);
    const before = readFileSync(a, 'utf8');
    const run = spawnSync(process.execPath, [CLI, 'env', 'diff', a, b, '-o', a], { encoding: 'utf8', env, timeout: 30_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--out .*a\.json is the same file as snapshot A .*a\.json/);
    expect(readFileSync(a, 'utf8')).toBe(before);
  });
});
