// The answer first (issue 23): the seed's report at 80 columns opens with what failed, where and
// why, has the fix within 10 lines and fits 30; --verbose keeps everything; no token is broken.
import { spawnSync } from 'node:child_process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tmsStandinPath } from '../../lib/binding/native.js';
import { fixesOf, probeAnswer, rangeList } from '../../lib/report/answer.js';
import { buildProbeReport } from '../../lib/report/build.js';
import { run } from './fixtures.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
const SEED = ['probe', '--backend', 'sim', '--ranks', '4', '--env', `LD_PRELOAD=${tmsStandinPath()}`, '--env', 'SGLANG_MEMORY_SAVER_CUDA_GRAPH=true'];

function cuipc(args: string[]): { status: number | null; lines: string[] } {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, COLUMNS: '80' } });
  return { status: run.status, lines: run.stdout.replace(/\n$/, '').split('\n') };
}

describe("the seed's probe report, answer first", () => {
  const brief = cuipc(SEED);

  it('opens with the verdict after the banner, the fix within 10 lines, at most 30 lines of 80 columns', () => {
    expect(brief.status).toBe(1);
    expect(brief.lines[0]).toMatch(/^SIMULATED DEVICE/);
    const first = brief.lines.findIndex((l) => l.startsWith('FAILED'));
    expect(first).toBe(3); // banner (2 lines), a blank line, then the answer
    // The fixes were replayed (cuipc probe's default): the Fix line says how many pass.
    const fix = brief.lines.findIndex((l) => /^Fix \(\d+ of \d+ replayed pass/.test(l));
    const answer = brief.lines.slice(first, fix).join(' ').replace(/\s+/g, ' ');
    expect(answer).toBe(
      "FAILED: cudaIpcGetMemHandle -> 1 (invalid argument) at export on ranks 0-3: the graph inputs are VMM memory from torch_memory_saver's preload hook, entered because SGLANG_MEMORY_SAVER_CUDA_GRAPH=true",
    );
    expect(fix).toBeGreaterThan(first);
    expect(fix).toBeLessThan(10);
    expect(brief.lines[fix + 1]).toMatch(/^ {2}- \[verified: passes with it\] keep CUDA-graph/); // the user's own launch first
    expect(brief.lines.length).toBeLessThanOrEqual(30);
    expect(brief.lines.filter((l) => l.length > 80)).toEqual([]);
  });

  it('breaks a path only after a /: the library name is whole on one line', () => {
    const text = brief.lines.join('\n');
    expect(text).toContain(basename(tmsStandinPath()));
    expect(brief.lines.join('').replace(/\s+/g, '')).toContain(tmsStandinPath());
  });

  it('--verbose gives everything: the grid, the pinpoint, every explanation and the other calls', () => {
    const full = cuipc([...SEED, '--verbose']);
    expect(full.status).toBe(1);
    expect(full.lines[3]).toMatch(/^FAILED: cudaIpcGetMemHandle/);
    const text = full.lines.join('\n');
    for (const part of ['Pinpoint', 'Why (most likely first)', 'rank 3 (pid', 'share graph inputs by copying']) expect(text).toContain(part);
    // The export's other ranks, and every rank's teardown: the stand-in, as 0.0.9, cannot free its memory outside its region.
    expect(text).toMatch(/Other failing calls \(7\):/);
    // The teardown's frees have a cause of their own, said under them.
    expect(text.replace(/\s+/g, ' ')).toMatch(/teardown: cudaFree -> 1 cudaErrorInvalidValue \(4 calls\) why: \[high\] cudaFree was given VMM memory \(cuMemCreate \+ cuMemMap\) that libcuipc_tms_standin\.so mapped/);
    expect(full.lines.length).toBeGreaterThan(100);
  });
});

describe('answer helpers', () => {
  it('rangeList joins runs of ranks', () => {
    expect(rangeList([3, 0, 1, 2, 5])).toBe('0-3, 5');
  });

  it("fixesOf puts the launch's own fix first and leaves out what is no fix (the matrix hint)", () => {
    const fixes = fixesOf({ id: 'x', title: 'T', likelihood: 'high', summary: '', evidence: [], tryNext: ['a', 'run `cuipc matrix` (same)', 'b'], launchFix: ['b'] });
    expect(fixes).toEqual(['b', 'a']);
  });
});

describe('a probe that found no device', () => {
  const noDriver = (backend: 'cuda' | 'sim') =>
    buildProbeReport(run({ options: { ...run().options, backend }, ranks: [], abort: { reason: 'no-driver', message: 'cudaGetDeviceCount returned 35 cudaErrorInsufficientDriver' } }));

  it('names --backend sim on a machine without a GPU', () => {
    const answer = probeAnswer(noDriver('cuda'));
    expect(answer.headline).toMatch(/^COULD NOT RUN \(exit 3, no-driver\): cudaGetDeviceCount returned 35/);
    expect(answer.fix.join('\n')).toContain('--backend sim');
    expect(probeAnswer(noDriver('sim')).fix.join('\n')).not.toContain('--backend sim'); // already on it
  });

  it('names an empty CUDA_VISIBLE_DEVICES as such, not as a missing driver', () => {
    const answer = probeAnswer(noDriver('cuda'), { CUDA_VISIBLE_DEVICES: '' });
    expect(answer.headline).toMatch(/^COULD NOT RUN \(exit 3, no device\): CUDA_VISIBLE_DEVICES is set but empty/);
    expect(answer.fix[0]).toMatch(/unset CUDA_VISIBLE_DEVICES/);
    expect(probeAnswer(noDriver('cuda'), { CUDA_VISIBLE_DEVICES: '0' }).headline).not.toMatch(/empty/);
  });
});
