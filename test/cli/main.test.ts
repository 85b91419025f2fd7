// The command line as a whole: output to a reader that stops early is no error; any other
// failure of the output is a message; a bug is never reported as bad usage.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FileUsageError, FileWriteError } from '../../lib/cli/files.js';
import { failureOf } from '../../lib/cli/main.js';
import { ProbeUsageError } from '../../lib/probe/options.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));

describe('output to a reader that stops early', () => {
  it('`cuipc probe --help | head -1` and `cuipc env capture | head -1` print their first line and no EPIPE trace', () => {
    const run = spawnSync('sh', ['-c', `'${process.execPath}' '${bin}' probe --help | head -1; '${process.execPath}' '${bin}' env capture | head -1`], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout.split('\n')[0]).toMatch(/^Usage: cuipc probe/);
    expect(run.stdout.split('\n')).toHaveLength(3);
    expect(run.stderr).not.toMatch(/EPIPE|Unhandled/);
  });
});

describe('failures of the output itself', () => {
  it('stdout on a full disk (/dev/full): one line naming the cause, exit 3, no stack trace', () => {
    const run = spawnSync('sh', ['-c', `'${process.execPath}' '${bin}' paths > /dev/full`], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(3);
    expect(run.stderr).toBe('cuipc: cannot write the standard output: no space left on the device (free some, or name a file elsewhere)\n');
  });

  it('paths --json into a place no file can be written: a message and exit 2, no stack trace', () => {
    const run = spawnSync(process.execPath, [bin, 'paths', '--json', '/proc/cuipc-paths.json'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^cuipc paths: --json \/proc\/cuipc-paths\.json: no file can be written in \/proc/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('what a thrown error means', () => {
  it('bad usage is 2; what could not be done is 3; a bug (a TypeError too) is 3 with its stack, never passed off as usage', () => {
    expect(failureOf(new ProbeUsageError('--ranks 0'))).toEqual({ status: 2, message: 'cuipc: --ranks 0\n' });
    expect(failureOf(new FileUsageError('--json x: no'))).toEqual({ status: 2, message: 'cuipc: --json x: no\n' });
    expect(failureOf(new RangeError('--device must be'))).toMatchObject({ status: 2 });
    expect(failureOf(new FileWriteError('--json x: full'))).toEqual({ status: 3, message: 'cuipc: --json x: full\n' });
    const bug = failureOf(new TypeError("Cannot read properties of undefined (reading 'id')"));
    expect(bug.status).toBe(3);
    expect(bug.message).toMatch(/^cuipc: internal error \(a bug in cuipc; please report it with this text\):\nTypeError: Cannot read properties/);
  });
});
