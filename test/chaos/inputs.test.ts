// Chaos: bad input of every kind the issue listed, as a person would give it. Each must end
// fast with the documented exit status (2: bad usage, caught before any rank starts; 3: the
// run happened but its report could not be written) and a message, never a stack trace or a
// hang, and leave nothing behind.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { spawnGroupLeader } from '../../lib/launch/processes.js';
import { coordinate } from '../../lib/probe/coordinator/index.js';
import { probe } from '../../lib/probe/index.js';
import { resolveProbeOptions } from '../../lib/probe/options.js';
import { expectNothingLeft, freshDir, startCuipc } from './helpers.js';

const NO_STACK = /\n\s+at .+\(.+:\d+:\d+\)/;

async function cuipc(args: string[], env: Record<string, string> = {}) {
  const run = startCuipc(args, env);
  const r = await run.done;
  expect(r.stderr).not.toMatch(NO_STACK);
  await expectNothingLeft(run);
  return { ...r, ranksStarted: run.seen.size };
}

function snapshotWith(variables: Record<string, string>): string {
  const dir = freshDir('snap');
  const file = join(dir, 'snap.json');
  writeFileSync(file, JSON.stringify({ schema: 'cuipc.env-snapshot', schemaVersion: 1, environment: { PATH: process.env.PATH, ...variables }, relevant: {}, preload: [] }));
  return file;
}

describe('files read: capped, checked, clear', () => {
  it('env diff /dev/zero /dev/zero fails fast with exit 2', async () => {
    const r = await cuipc(['env', 'diff', '/dev/zero', '/dev/zero']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/dev\/zero: .*not a regular file but a character device/);
    expect(r.ms).toBeLessThan(10_000);
  });

  it.each([
    [['probe', '--env-from', '/dev/zero'], /--env-from \/dev\/zero: not a regular file but a character device/],
    [['conformance', '--compare', '/dev/zero'], /--compare \/dev\/zero: not a regular file/],
    [['probe', '--env-snapshot', '/dev/zero'], /--env-snapshot: \/dev\/zero: .*not a regular file/],
  ])('%j: exit 2, %s', async (args, message) => {
    const r = await cuipc(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a snapshot whose variable holds a NUL byte is refused before any rank starts (it used to hang)', async () => {
    const r = await cuipc(['probe', '--ranks', '2', '--env-snapshot', snapshotWith({ BAD: 'a\u0000b' })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"environment\.BAD" contains a NUL byte/);
    expect(r.ranksStarted).toBe(0);
  });

  it('the library refuses the same snapshot before anything starts', async () => {
    await expect(
      probe({ backend: 'sim', ranks: 2, envSnapshot: { schema: 'cuipc.env-snapshot', schemaVersion: 1, environment: { BAD: 'a\u0000b' }, relevant: {}, preload: [] } as never }),
    ).rejects.toThrow(/contains a NUL byte/);
  });

  it('a launcher that throws after the rendezvous listens: a spawn-failed report, the socket removed, at once', async () => {
    const socket = join(freshDir('early'), 'rv.sock');
    const started = Date.now();
    const report = await coordinate({
      options: resolveProbeOptions({ backend: 'sim', ranks: 2, socket }),
      coordinatorSimulated: true,
      launcher: {
        kind: 'plain',
        deviceFor: () => 0,
        start: () => {
          throw new TypeError('The argument \'options.env[\'BAD\']\' must be a string without null bytes');
        },
      },
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(report.exitCode).toBe(3);
    expect(report.abort).toMatchObject({ reason: 'spawn-failed', message: expect.stringMatching(/could not be started: .*null bytes/) });
    expect(existsSync(socket)).toBe(false);
  });

  it('a spawn that throws (a NUL byte in a variable) comes back as a process that never started', async () => {
    const leader = spawnGroupLeader(process.execPath, ['-e', ''], { BAD: 'a\u0000b' });
    expect(leader.pid).toBeNull();
    expect(leader.spawnError?.message).toMatch(/null bytes/);
    expect(await leader.exited).toEqual({ code: null, signal: null });
  });

  it('the old --env-file spelling: exit 2 with the new name', async () => {
    const dir = freshDir('envfile');
    writeFileSync(join(dir, 'a.env'), 'A=1\n');
    const r = await cuipc(['probe', '--ranks', '1', '--env-file', join(dir, 'a.env')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--env-file is now --env-from/);
  });
});

describe('files written: checked before the run, a failed write is exit 3', () => {
  it.each([
    [['probe', '--ranks', '2', '-o', 'DIR'], /--out .*: not a regular file but a folder; name a file/],
    [['probe', '--ranks', '2', '--out', 'DIR/missing/r.json'], /the folder .*missing does not exist/],
    [['matrix', '--ranks', '1', '-o', 'DIR'], /--out .*: not a regular file but a folder/],
    [['conformance', '-o', 'DIR'], /--out .*: not a regular file but a folder/],
    [['env', 'capture', '--out', 'DIR'], /--out .*: not a regular file but a folder/],
    [['trace', '--trace-dir', 'FILE', '--', 'true'], /--trace-dir .* is a file; name a folder/],
    [['trace', '-o', 'DIR', '--', 'true'], /--out .*: not a regular file but a folder.*the traces' folder is --trace-dir DIR/],
  ])('%j: exit 2 before anything runs', async (args, message) => {
    const dir = freshDir('out');
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    mkdirSync(join(dir, 'folder'));
    const r = await cuipc(args.map((a) => a.replace('DIR', join(dir, 'folder')).replace('FILE', file)), { CUIPC_TRACE_LIBRARY: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.ranksStarted).toBe(0);
  });

  it.each([
    [['probe', '--ranks', '2', '--inputs', '2', '-o', '/dev/full'], /--out \/dev\/full: could not write it: no space left on the device/],
    [['conformance', '-o', '/dev/full'], /--out \/dev\/full: could not write it: no space left on the device/],
    [['env', 'capture', '--out', '/dev/full'], /--out \/dev\/full: could not write it: no space left on the device/],
  ])('%j: the write fails after the run: exit 3 and a message', async (args, message) => {
    const r = await cuipc(args);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(message);
  });

  it('a probe whose -o FILE cannot be written still prints its text report first', async () => {
    const r = await cuipc(['probe', '--ranks', '2', '--inputs', '2', '-o', '/dev/full']);
    expect(r.stdout).toMatch(/PASSED: every step passed/);
  });
});

describe('inputs that are not regular files: exit 2 at once, never a hang or gigabytes read', () => {
  it.each([
    ['env diff FIFO FIFO', (f: string) => ['env', 'diff', f, f]],
    ['probe --env-from FIFO', (f: string) => ['probe', '--ranks', '2', '--env-from', f]],
    ['probe --env-snapshot FIFO', (f: string) => ['probe', '--ranks', '2', '--env-snapshot', f]],
    ['bisect FIFO FIFO', (f: string) => ['bisect', f, f, '--ranks', '2']],
    ['conformance --compare FIFO', (f: string) => ['conformance', '--compare', f]],
    ['trace report FIFO', (f: string) => ['trace', 'report', f]],
  ])('%s', async (_name, argsFor) => {
    const fifo = join(freshDir('fifo'), 'in');
    execFileSync('mkfifo', [fifo]);
    const r = await cuipc(argsFor(fifo));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a regular file/);
    expect(r.ms).toBeLessThan(5000);
    expect(r.ranksStarted).toBe(0);
  });

  it('trace report of a folder holding a trace-named link to /dev/zero: exit 2, nothing read', async () => {
    const dir = freshDir('zero');
    symlinkSync('/dev/zero', join(dir, 'cuipc-trace-abc-12.jsonl'));
    const r = await cuipc(['trace', 'report', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cuipc-trace-abc-12\.jsonl: not a regular file but a character device/);
  });

  it('CUIPC_ADDON=/dev/zero: the addon is refused by name, exit 3 at once', async () => {
    const r = await cuipc(['doctor'], { CUIPC_ADDON: '/dev/zero' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/tried \/dev\/zero: not a regular file \(a character device\)/);
    expect(r.ms).toBeLessThan(5000);
  });
});

describe('messages that say the true cause', () => {
  it('a missing CUIPC_SIM_LIBRARY is named, not blamed on libcuda', async () => {
    const r = await cuipc(['doctor', '--backend', 'sim'], { CUIPC_SIM_LIBRARY: '/nonexistent/libcuipc_sim.so' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/CUIPC_SIM_LIBRARY=\/nonexistent\/libcuipc_sim\.so: no such file/);
    expect(r.stderr + r.stdout).not.toMatch(/libcuda/);
  });

  it('--socket in a folder that does not exist says so (not EACCES)', async () => {
    const r = await cuipc(['probe', '--ranks', '2', '--socket', join(freshDir('sock'), 'missing', 'rv.sock')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--socket .*rv\.sock: the folder .*missing does not exist/);
    expect(r.ranksStarted).toBe(0);
  });

  it('trace report --run with an id the folder does not hold: exit 2 naming the runs there', async () => {
    const dir = freshDir('runs');
    copyFileSync(fileURLToPath(new URL('../fixtures/trace/plain_cudamalloc.synthetic.jsonl', import.meta.url)), join(dir, 'rank0.jsonl'));
    const r = await cuipc(['trace', 'report', dir, '--run', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no trace of run nope in .*; the runs there: synthok01/);
  });

  it('conformance --compare with a file that is JSON but no recording: refused before the run', async () => {
    const file = join(freshDir('cmp'), 'garbage.json');
    writeFileSync(file, '{"cells":[1,2]}');
    const r = await cuipc(['conformance', '--compare', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"cells\[0\]" is not a cell/);
    expect(r.stdout).toBe(''); // no recording was made
  });

  it.each([[''], [' '], ['1.5'], ['-1']])('conformance --device %j: exit 2', async (value) => {
    const r = await cuipc(['conformance', '--device', value]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--device must be a device ordinal/);
  });

  it.each([
    [['env', 'capture', '--json', 'FILE']],
    [['env', 'diff', 'A', 'B', '--json', 'FILE']],
    [['probe', '--ranks', '1', '--json', 'FILE']],
    [['trace', '--json', 'FILE', '--', 'true']],
  ])('%j (the old --json FILE): refused with exit 2, pointing to -o, FILE not written', async (args) => {
    const dir = freshDir('old-json');
    const r = await cuipc(args.map((a) => (a === 'FILE' ? join(dir, 'x.json') : a === 'A' || a === 'B' ? join(dir, `${a}.json`) : a)));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--json takes no FILE: it prints the JSON on stdout; to write a file, use -o FILE/);
    expect(existsSync(join(dir, 'x.json'))).toBe(false);
  });
});

describe('bad values', () => {
  it('conformance --device 99: exit 2, naming the devices there are', async () => {
    const r = await cuipc(['conformance', '--device', '99']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--device 99: this machine has 1 visible device\(s\), ordinals 0 to 0/);
  });
});

describe('the report file written by a good run is whole', () => {
  it('-o FILE holds one JSON document', async () => {
    const out = join(freshDir('good'), 'r.json');
    const r = await cuipc(['probe', '--ranks', '2', '--inputs', '2', '-o', out, '--quiet']);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ result: 'passed' });
  });
});
