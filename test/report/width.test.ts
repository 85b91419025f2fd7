// The text reports fit 80 columns (COLUMNS=80), as a person's terminal shows them: a passing
// probe, the seed's failing one with its explanations, an aborted one, and the matrix.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tmsStandinPath } from '../../lib/binding/native.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));

function cuipc(args: string[]): { status: number | null; stdout: string } {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, COLUMNS: '80', CUIPC_BACKEND: 'sim' } });
  return { status: run.status, stdout: run.stdout };
}

function longLines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 80);
}

describe('COLUMNS=80', () => {
  it.each([
    ['a passing probe', ['probe', '--ranks', '8', '--inputs', '2'], 0],
    ['the seed failure with its explanations', ['probe', '--ranks', '4', '--inputs', '2', '--env', `LD_PRELOAD=${tmsStandinPath()}`, '--env', 'SGLANG_MEMORY_SAVER_CUDA_GRAPH=true'], 1],
    ['the seed failure in full (--verbose)', ['probe', '--ranks', '4', '--inputs', '2', '--verbose', '--env', `LD_PRELOAD=${tmsStandinPath()}`, '--env', 'SGLANG_MEMORY_SAVER_CUDA_GRAPH=true'], 1],
    ['a probe that could not run', ['probe', '--ranks', '2', '--inputs', '2', '--timeout', '2000', '--env', 'CUIPC_SIM_FAULT=cudaIpcOpenMemHandle@1#1=kill'], 3],
    ['the matrix', ['matrix', '--ranks', '2', '--inputs', '2'], 0],
  ] as const)('%s fits', (_what, args, status) => {
    const run = cuipc([...args]);
    expect(run.status).toBe(status);
    expect(run.stdout.length).toBeGreaterThan(200);
    expect(longLines(run.stdout)).toEqual([]);
  });
});
