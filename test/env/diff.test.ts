import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { captureEnvironment } from '../../lib/env/capture.js';
import { diffEnvironments } from '../../lib/env/diff.js';
import { parseSnapshot } from '../../lib/env/read-snapshot.js';
import { registerEnvCommand, runEnvCapture, runEnvDiff, type EnvCommandIo } from '../../lib/cli/env.js';
import { makeTempDir, shellAndActor } from './fixtures.js';

function captureIo(): EnvCommandIo & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (t: string) => { io.out += t; }, stderr: (t: string) => { io.err += t; } };
  return io;
}

describe('diffEnvironments', () => {
  it('puts CUDA-relevant differences first, most severe first, with what they do to IPC', () => {
    const { shell, actor, interposer } = shellAndActor();
    const diff = diffEnvironments(shell, actor);
    const keys = diff.cudaRelevant.map((d) => d.key);
    expect(keys).toEqual(expect.arrayContaining(['LD_PRELOAD', 'PYTORCH_CUDA_ALLOC_CONF', 'CUDA_VISIBLE_DEVICES', 'CUDA_DEVICE_MAX_CONNECTIONS', 'RAY_ADDRESS']));
    expect(diff.cudaRelevant[0]?.severity).toBe('high');
    const severities = diff.cudaRelevant.map((d) => d.severity);
    const rank = (s: string | null): number => (s === 'high' ? 0 : s === 'medium' ? 1 : s === 'info' ? 2 : 3);
    for (let i = 1; i < severities.length; i++) expect(rank(severities[i - 1]!) <= rank(severities[i]!)).toBe(true);

    const alloc = diff.cudaRelevant.find((d) => d.key === 'PYTORCH_CUDA_ALLOC_CONF');
    expect(alloc).toMatchObject({ a: null, b: 'expandable_segments:True', change: 'added', severity: 'high', hazardsA: [] });
    expect(alloc?.hazardsB[0]?.evidence).toMatch(/cudaIpcGetMemHandle 1 cudaErrorInvalidValue/);

    const preload = diff.cudaRelevant.find((d) => d.key === 'LD_PRELOAD');
    expect(preload?.b).toBe(interposer);
    expect(preload?.hazardsB[0]?.id).toBe('ld-preload.allocator-interposer');
    expect(preload?.hazardsB[0]?.severity).toBe('high'); // it imports cuMemCreate
    expect(preload?.hazardsB[0]?.effect).toMatch(/exports cudaMalloc, cudaFree; imports cuMemCreate/);

    expect(diff.other.map((d) => d.key)).toEqual(['EDITOR', 'TERM']);
    expect(diff.other.find((d) => d.key === 'EDITOR')).toMatchObject({ a: 'vi', b: null, change: 'removed' });
    expect(diff.hazardsOnlyInB.some((h) => h.id === 'alloc-conf.expandable-segments')).toBe(true);
    expect(diff.hazardsOnlyInA).toEqual([]);
  });

  it('reports a PID namespace difference as a high hazard on both sides', () => {
    const { shell, actor } = shellAndActor();
    const diff = diffEnvironments({ ...shell, pidNamespace: 'pid:[4026531836]' }, { ...actor, pidNamespace: 'pid:[4026532999]' });
    const ns = diff.cudaRelevant.find((d) => d.key === 'PID namespace');
    expect(ns?.severity).toBe('high');
    expect(ns?.hazardsB.map((h) => h.id)).toContain('pid-namespace.differs');
    expect(ns?.hazardsA.map((h) => h.id)).toContain('pid-namespace.differs');
  });

  it('compares /dev/shm and devices, and finds nothing between identical snapshots', () => {
    const { shell } = shellAndActor();
    expect(diffEnvironments(shell, shell).cudaRelevant).toEqual([]);
    expect(diffEnvironments(shell, shell).other).toEqual([]);
    const small = { ...shell, shm: { path: '/dev/shm', sizeBytes: 64 * 1024 ** 2, freeBytes: 64 * 1024 ** 2 } };
    const big = { ...shell, shm: { path: '/dev/shm', sizeBytes: 64 * 1024 ** 3, freeBytes: 64 * 1024 ** 3 } };
    const shmDiff = diffEnvironments(big, small).cudaRelevant.find((d) => d.key === '/dev/shm');
    expect(shmDiff?.severity).toBe('medium');
    expect(shmDiff?.hazardsB[0]?.id).toBe('shm.small');
    const withDevices = { ...shell, devices: [{ ordinal: 0, uuid: 'GPU-a', pciBusId: '0000:19:00.0', name: 'H200' }] };
    const dev = diffEnvironments(shell, withDevices).cudaRelevant.find((d) => d.key === 'devices');
    expect(dev).toMatchObject({ a: null, b: '0:GPU-a@0000:19:00.0' });
  });

  it('does not compare values redacted on both sides', () => {
    const a = captureEnvironment({ env: { HF_TOKEN: 'one' } });
    const b = captureEnvironment({ env: { HF_TOKEN: 'two', GITHUB_TOKEN: 'x' } });
    const diff = diffEnvironments(a, b);
    expect(diff.notCompared).toEqual(['HF_TOKEN']);
    expect(diff.other.map((d) => d.key)).toEqual(['GITHUB_TOKEN']);
  });
});

describe('cuipc env (CLI module)', () => {
  it('capture --out writes a snapshot that diff reads; diff exits 0', async () => {
    const dir = makeTempDir();
    const out = join(dir, 'shell.json');
    const io = captureIo();
    expect(await runEnvCapture({ json: true, out, label: 'shell' }, io, {
      listDevices: () => [{ ordinal: 0, uuid: 'GPU-x', pciBusId: '0000:01:00.0', name: 'sim' }],
    })).toBe(0);
    const written = parseSnapshot(JSON.parse(readFileSync(out, 'utf8')), out);
    expect(written.label).toBe('shell');
    expect(written.devices?.[0]?.uuid).toBe('GPU-x');
    expect(JSON.parse(io.out)).toMatchObject({ schema: 'cuipc.env-snapshot', label: 'shell' });
    expect(io.err).toMatch(/written to/);

    const { actor } = shellAndActor();
    const actorFile = join(dir, 'actor.json');
    writeFileSync(actorFile, JSON.stringify(actor));
    const io2 = captureIo();
    expect(runEnvDiff(out, actorFile, {}, io2)).toBe(0);
    expect(io2.out).toMatch(/CUDA-relevant differences/);
    const io3 = captureIo();
    expect(runEnvDiff(out, actorFile, { json: true }, io3)).toBe(0);
    expect(JSON.parse(io3.out)).toMatchObject({ schema: 'cuipc.env-diff', schemaVersion: 1 });
  });

  it('capture still works when listing devices fails', async () => {
    const io = captureIo();
    expect(await runEnvCapture({ json: true }, io, { listDevices: () => { throw new Error('no driver'); } })).toBe(0);
    expect(JSON.parse(io.out).devices).toBeUndefined();
  });

  it('exits 2 with a message naming the file for missing, unreadable or malformed snapshots', () => {
    const dir = makeTempDir();
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(captureEnvironment({ env: {} })));
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, 'PATH=/bin\n');
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ schema: 'cuipc.report', schemaVersion: 1 }));
    const cases: Array<[string, RegExp]> = [
      [join(dir, 'absent.json'), /absent\.json: not a cuipc environment snapshot .*: no such file/],
      [notJson, /not\.json: .*it is not JSON/],
      [wrong, /wrong\.json: .*"schema" is "cuipc\.report"/],
      [dir, /not a regular file but a folder/],
    ];
    for (const [file, message] of cases) {
      const io = captureIo();
      expect(runEnvDiff(good, file, {}, io), file).toBe(2);
      expect(io.err).toMatch(message);
      expect(io.out).toBe('');
    }
  });

  it('registers capture and diff with teaching help text', () => {
    const program = new Command('cuipc').exitOverride();
    registerEnvCommand(program);
    const env = program.commands.find((c) => c.name() === 'env');
    expect(env?.commands.map((c) => c.name())).toEqual(['capture', 'diff']);
    let help = '';
    const capture = env?.commands.find((c) => c.name() === 'capture');
    capture?.configureOutput({ writeOut: (s) => { help += s; } });
    expect(() => program.parse(['env', 'capture', '--help'], { from: 'user' })).toThrow(CommanderError);
    expect(help).toMatch(/npx cuipc env capture -o actor\.json/);
    expect(help).toMatch(/cuipc env diff shell\.json actor\.json/);
    expect(help).toMatch(/-o, --out <file>/);
    // A missing argument is a usage error that reaches main() (which exits 2) as a CommanderError.
    const diff = env?.commands.find((c) => c.name() === 'diff');
    diff?.configureOutput({ writeErr: () => {} });
    try {
      program.parse(['env', 'diff', 'only-one.json'], { from: 'user' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CommanderError);
      expect((err as CommanderError).code).toBe('commander.missingArgument');
    }
  });
});
