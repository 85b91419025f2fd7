// `cuipc probe` and `cuipc matrix` as a person runs them: exit statuses, text, --json.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { matrix } from '../../lib/probe/index.js';
import { renderMatrixReport, SIMULATED_BANNER } from '../../lib/report/render.js';
import { assertValidReport } from './helpers.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'cuipc-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function cuipc(...args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, CUIPC_BACKEND: 'sim' }, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('cuipc probe', () => {
  it('exits 0 and shows the simulated banner and the verdict; --verbose the grid too', () => {
    const r = cuipc('probe', '--ranks', '2', '--inputs', '2');
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith(SIMULATED_BANNER)).toBe(true);
    expect(r.stdout).toMatch(/\nPASSED: every step passed on ranks 0-1/);
    const full = cuipc('probe', '--ranks', '2', '--inputs', '2', '--verbose');
    expect(full.stdout).toMatch(/rank 1 {3}ok/);
    expect(full.stdout).toMatch(/PASSED \(exit 0\)/);
  });

  it('exits 1 on a failure and writes a schema-valid JSON report', () => {
    const file = join(scratch, 'vmm.json');
    const r = cuipc('probe', '--ranks', '2', '--inputs', '2', '--alloc', 'vmm', '-o', file, '--quiet');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const report = JSON.parse(readFileSync(file, 'utf8'));
    assertValidReport(report);
    expect(report.pinpoint.call).toBe('cudaIpcGetMemHandle');
  });

  it('--json without a file writes only JSON to stdout', () => {
    const r = cuipc('probe', '--ranks', '1', '--inputs', '1', '--json');
    expect(r.status).toBe(0);
    assertValidReport(JSON.parse(r.stdout));
  });

  it('exits 3 when a rank dies', () => {
    const r = cuipc('probe', '--ranks', '2', '--inputs', '2', '--env', 'CUIPC_SIM_FAULT=cudaGraphLaunch@0#1=kill');
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/COULD NOT RUN \(exit 3, crashed\): rank 0 was killed by SIGKILL in step replay during cudaGraphLaunch/);
  });

  it.each([
    [['--ranks', '0'], /ranks must be an integer from 1 to 64/],
    [['--ranks', '100000'], /ranks must be an integer from 1 to 64/],
    [['--ranks', 'four'], /not an integer/],
    [['--alloc', 'bogus'], /Allowed choices are torch, cudaMalloc, vmm, vmm-fd, pool, managed, host/],
    [['--ranks', '2', '--devices', '0,3'], /rank 1 is mapped to device 3, but only 1 device/],
    [['--ranks', '2', '--devices', '0'], /one device ordinal per rank/],
    [['--env', 'NOEQUALS'], /--env: expects KEY=VALUE/],
    [['--bytes', '10'], /multiple of 4/],
  ])('exits 2 on %j', (args, message) => {
    const r = cuipc('probe', ...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('exits 2 on a malformed --env-from file, naming the line', () => {
    const file = join(scratch, 'bad.env');
    writeFileSync(file, 'A=1\n  oops no equals\n');
    const r = cuipc('probe', '--env-from', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad\.env:2: expects KEY=VALUE/);
  });

  it('refuses the old --env-file spelling with a pointer to --env-from (Node 20 owns --env-file)', () => {
    const file = join(scratch, 'good.env');
    writeFileSync(file, 'A=1\n');
    const r = cuipc('probe', '--ranks', '1', '--env-file', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--env-file is now --env-from/);
  });

  it('--help teaches the steps, examples and exit codes', () => {
    const r = cuipc('probe', '--help');
    expect(r.status).toBe(0);
    for (const text of ['register', 'cudaIpcOpenMemHandle', 'Examples:', 'Exit status: 0', '--share <strategy>']) expect(r.stdout).toContain(text);
  });
});

describe('cuipc matrix', () => {
  it('runs every meaningful cell, skips the rest with a reason, and names what works', async () => {
    const seen: string[] = [];
    const report = await matrix({ backend: 'sim', ranks: 2, inputs: 2, bytes: 256, onCell: (c) => seen.push(`${c.alloc}+${c.share}`) });
    assertValidReport(JSON.parse(JSON.stringify(report)));
    expect(report.simulated).toBe(true);
    expect(report.exitCode).toBe(0);
    expect(seen).toHaveLength(21);
    const cell = (alloc: string, share: string) => report.cells.find((c) => c.alloc === alloc && c.share === share);
    expect(cell('cudaMalloc', 'ipc')?.status).toBe('passed');
    expect(cell('torch', 'ipc')?.status).toBe('passed');
    expect(cell('vmm', 'ipc')).toMatchObject({ status: 'failed', step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(cell('vmm', 'copy')?.status).toBe('passed');
    expect(cell('vmm-fd', 'vmm-export')?.status).toBe('passed');
    expect(cell('pool', 'vmm-export')).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/needs|only for VMM memory created with a POSIX-fd handle type/) });
    for (const alloc of ['pool', 'managed', 'host']) expect(cell(alloc, 'ipc')?.status).toBe('failed');
    const vmm = report.remedies.find((r) => r.alloc === 'vmm');
    expect(vmm).toMatchObject({ failing: ['ipc'], working: ['copy'] });
    expect(report.remedies.find((r) => r.alloc === 'vmm-fd')?.working).toEqual(['vmm-export', 'copy']);
    const text = renderMatrixReport(report);
    expect(text.startsWith(SIMULATED_BANNER)).toBe(true);
    expect(text).toMatch(/vmm {11}FAIL export 1 {7}pass/);
    expect(text).toMatch(/What works here:/);
  });

  it('exits 2 on bad input before any cell runs', () => {
    const r = cuipc('matrix', '--ranks', '0');
    expect(r.status).toBe(2);
  });
});
