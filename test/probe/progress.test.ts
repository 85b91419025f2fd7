// Watching and stopping a probe from the library: onProgress reports the steps in order with
// each rank's state, and aborting `signal` stops the probe as a signal does (every rank gone,
// the report so far, 'interrupted', exit code 3). The CLI's live line is tested on a fake TTY.
import { describe, expect, it } from 'vitest';
import { describeProgress, ProgressLine } from '../../lib/cli/progress.js';
import { matrix, probe, type ProbeProgress } from '../../lib/probe/index.js';
import { STEPS } from '../../lib/model/vocabulary.js';
import { isAlive } from './helpers.js';

describe('probe({ onProgress, signal })', () => {
  it('reports every step in order, with ranks finishing each', async () => {
    const seen: ProbeProgress[] = [];
    const report = await probe({ backend: 'sim', ranks: 2, inputs: 2, bytes: 1024, onProgress: (p) => seen.push(structuredClone(p)) });
    expect(report.result).toBe('passed');
    const steps = [...new Set(seen.map((p) => p.step).filter((s) => s !== null))];
    expect(steps).toEqual([...STEPS]);
    expect(seen.some((p) => p.step === 'export' && p.ranks.every((r) => r.done))).toBe(true);
    expect(seen.some((p) => p.ranks.some((r) => r.call === 'cudaIpcGetMemHandle'))).toBe(true);
    expect(seen.every((p) => p.steps === STEPS.length && p.ranks.length === 2)).toBe(true);
  });

  it('an aborted signal stops every rank and returns the report so far', async () => {
    const controller = new AbortController();
    const report = await probe({
      backend: 'sim', ranks: 2, inputs: 2, bytes: 1024, timeoutMs: 20_000,
      // rank 1 hangs in import; the caller gives up once it is there
      env: { CUIPC_SIM_FAULT: 'cudaIpcOpenMemHandle@1#2=hang' },
      onProgress: (p) => { if (p.step === 'import' && p.ranks[1].call !== null) controller.abort(); },
      signal: controller.signal,
    });
    expect(report.result).toBe('aborted');
    if (report.result !== 'aborted') return;
    expect(report.abort).toMatchObject({ reason: 'interrupted', step: 'import', signal: 'abort' });
    expect(report.exitCode).toBe(3);
    for (const rank of report.ranks) if (rank.pid !== null) expect(isAlive(rank.pid)).toBe(false);
  });

  it('a signal already aborted starts nothing; a signal that is not one is a TypeError', async () => {
    const report = await probe({ backend: 'sim', ranks: 2, signal: AbortSignal.abort() });
    expect(report.result).toBe('aborted');
    expect(report.ranks).toEqual([]);
    await expect(probe({ backend: 'sim', signal: 'stop' as never })).rejects.toThrow(TypeError);
  });

  it('matrix: onCell counts n of m, and an aborted signal starts no further cell', async () => {
    const controller = new AbortController();
    const counts: Array<[number, number]> = [];
    const report = await matrix({
      backend: 'sim', ranks: 2, inputs: 2, bytes: 1024, allocs: ['cudaMalloc', 'vmm'], shares: ['ipc', 'copy'],
      onCell: (_cell, done, total) => { counts.push([done, total]); if (done === 2) controller.abort(); },
      signal: controller.signal,
    });
    expect(counts).toEqual([[1, 4], [2, 4]]);
    expect(report.cells).toHaveLength(2);
  });
});

describe('the live progress line', () => {
  function fakeTty(columns = 50) {
    const written: string[] = [];
    return { stream: { isTTY: true, columns, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream, written };
  }

  it('rewrites one line in place, cut to the width, and clears it', () => {
    const { stream, written } = fakeTty(40);
    const line = new ProgressLine(stream, true);
    line.update('x'.repeat(100));
    line.clear();
    expect(written[0].startsWith('\r\x1b[2K')).toBe(true);
    expect(written[0].length - 5).toBeLessThanOrEqual(39);
    expect(written.at(-1)).toBe('\r\x1b[2K');
  });

  it('writes nothing when disabled (not a terminal, or --quiet)', () => {
    const { stream, written } = fakeTty();
    const line = new ProgressLine(stream, false);
    line.update('hello');
    line.clear();
    expect(written).toEqual([]);
  });

  it('says the step, the ranks done and the calls in flight', () => {
    const text = describeProgress({ step: 'import', stepNumber: 6, steps: 9, connected: 4, elapsedMs: 1234, ranks: [
      { rank: 0, done: true, call: null }, { rank: 1, done: false, call: 'cudaIpcOpenMemHandle' }, { rank: 2, done: true, call: null }, { rank: 3, done: true, call: null },
    ] });
    expect(text).toBe('step 6/9 import: 3/4 ranks done; rank 1 in cudaIpcOpenMemHandle (1.2 s)');
    expect(describeProgress({ step: null, stepNumber: 0, steps: 9, connected: 1, elapsedMs: 50, ranks: [{ rank: 0, done: false, call: null }, { rank: 1, done: false, call: null }] }))
      .toBe('starting ranks: 1/2 connected (0.1 s)');
  });
});
