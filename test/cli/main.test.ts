// The command line as a whole: output to a reader that stops early is no error; any other
// failure of the output is a message; a bug is never reported as bad usage, but as a bug (4).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FileUsageError, FileWriteError } from '../../lib/cli/files.js';
import type { Command } from 'commander';
import { buildProgram, failureOf, main, packageVersion } from '../../lib/cli/main.js';
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

  it('paths -o into a place no file can be written: a message and exit 2, no stack trace', () => {
    const run = spawnSync(process.execPath, [bin, 'paths', '-o', '/proc/cuipc-paths.json'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^cuipc paths: --out \/proc\/cuipc-paths\.json: no file can be written in \/proc/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('what a thrown error means', () => {
  it('bad usage is 2; what could not be done is 3; a bug (a TypeError too) is 4 with its stack, never passed off as usage', () => {
    expect(failureOf(new ProbeUsageError('--ranks 0'))).toEqual({ status: 2, message: 'cuipc: --ranks 0\n' });
    expect(failureOf(new FileUsageError('--json x: no'))).toEqual({ status: 2, message: 'cuipc: --json x: no\n' });
    expect(failureOf(new RangeError('--device must be'))).toMatchObject({ status: 2 });
    expect(failureOf(new FileWriteError('--json x: full'))).toEqual({ status: 3, message: 'cuipc: --json x: full\n' });
    const bug = failureOf(new TypeError("Cannot read properties of undefined (reading 'id')"));
    expect(bug.status).toBe(4);
    expect(bug.message).toMatch(/^internal error in cuipc \d+\.\d+\.\d+\S*: Cannot read properties of undefined \(reading 'id'\) -- this is a bug; please report it with the command line and the stack below\nTypeError: Cannot read properties/);
    expect(failureOf('not an Error')).toMatchObject({ status: 4, message: expect.stringMatching(/^internal error in cuipc [^:]+: not an Error -- this is a bug/) });
  });

  it('a bug in a command (one no user can cause: a test-only command) exits 4: one line asking for a report, then the stack', async () => {
    const program = buildProgram().exitOverride();
    program.command('buggy').action(() => {
      const rank = undefined as unknown as { id: string };
      process.stdout.write(rank.id);
    });
    const written: string[] = [];
    const write = process.stderr.write;
    const exitCode = process.exitCode;
    process.stderr.write = ((chunk: string) => (written.push(chunk), true)) as typeof process.stderr.write;
    let status: typeof process.exitCode;
    try {
      await main(['node', 'cuipc', 'buggy'], program);
      status = process.exitCode;
    } finally {
      process.stderr.write = write;
      process.exitCode = exitCode;
    }
    expect(status).toBe(4);
    const [first, ...stack] = written.join('').split('\n');
    expect(first).toBe(`internal error in cuipc ${packageVersion()}: Cannot read properties of undefined (reading 'id') -- this is a bug; please report it with the command line and the stack below`);
    expect(stack[0]).toMatch(/^TypeError: Cannot read properties of undefined/);
    expect(stack.some((line) => /^\s+at /.test(line))).toBe(true);
  });

  it("every --help that lists exit statuses lists 4, a bug in cuipc", () => {
    const lacking: string[] = [];
    const visit = (command: Command, name: string): void => {
      let text = '';
      command.configureOutput({ writeOut: (t) => (text += t), writeErr: (t) => (text += t) });
      command.outputHelp();
      const flat = text.replace(/\s+/g, ' ');
      if (flat.includes('Exit status') && !flat.includes('4 internal error (a bug in cuipc)')) lacking.push(name);
      for (const sub of command.commands) visit(sub, `${name} ${sub.name()}`.trim());
    };
    visit(buildProgram(), '');
    expect(lacking).toEqual([]);
  });
});
