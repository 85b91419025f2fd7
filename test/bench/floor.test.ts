// The raw C++ floor (native/bench/raw_probe.cc) on the simulated device: it does the probe's
// work and checks (one handle per 8 inputs, every peer base opened, every output verified),
// and it fails, with the call named, when a CUDA call fails; the table computes cuipc / raw.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rawLibraryArgs, rawProbeProgramPath, runRawProbe, type FloorResult, type RawProbeRun } from '../../bench/floor.js';
import { floorTables } from '../../bench/floor-report.js';
import type { ProbeRun } from '../../bench/probe-runs.js';

const program = rawProbeProgramPath();
const sim = rawLibraryArgs(null, 'sim');

describe.skipIf(!existsSync(program))('cuipc_bench_raw_probe on the simulated device', () => {
  it('3 ranks x 20 inputs: 3 bases each, every peer base and registered buffer opened, every output checked', async () => {
    const run = await runRawProbe(sim, 3, 20, [0, 0, 0]);
    expect(run.note).toBeNull();
    expect(run.passed).toBe(true);
    expect(run.perRank.map((r) => r.handles)).toEqual([3, 3, 3]);
    // 2 peers' registered buffers + 2 peers x 3 bases
    expect(run.perRank.map((r) => r.opened)).toEqual([8, 8, 8]);
    expect(run.perRank.every((r) => r.bytesChecked === 20 * 4096 && r.mismatches === 0)).toBe(true);
    expect(run.wallMs).toBeGreaterThan(0);
  });

  it('a failing cudaIpcGetMemHandle stops it with the call named', async () => {
    const before = process.env.CUIPC_SIM_FAULT;
    process.env.CUIPC_SIM_FAULT = 'cudaIpcGetMemHandle#2=1';
    try {
      const run = await runRawProbe(sim, 2, 16, [0, 0]);
      expect(run.passed).toBe(false);
      expect(run.note).toMatch(/cudaIpcGetMemHandle\(graph input base\) returned 1/);
    } finally {
      if (before === undefined) delete process.env.CUIPC_SIM_FAULT;
      else process.env.CUIPC_SIM_FAULT = before;
    }
  });
});

describe('floorTables', () => {
  const raw = (wallMs: number): RawProbeRun => ({ wallMs, passed: true, verify: 'kernel', perRank: [], parentPeakRssKiB: null, tailMs: Number.NaN, note: null });
  const cuipc = (wallMs: number): ProbeRun => ({
    ranks: 4,
    inputs: 72,
    wallMs,
    exitCode: 0,
    result: 'passed',
    simulated: false,
    probeMs: wallMs - 100,
    stepMs: { init: 400 },
    rankPeakRssKiB: [150 * 1024],
    coordinatorPeakRssKiB: null,
    exportedHandles: 9,
    note: null,
    spawnedAtMs: 0,
  });
  const floor = (simulated: boolean): string =>
    floorTables(
      {
        sizes: [{ ranks: 4, inputs: 72, target: 1.15, raw: [raw(800), raw(700), raw(900)], cuipc: [cuipc(1000), cuipc(880), cuipc(900)] }],
        runsPerSize: 3,
        node: { wallMs: 80, rssKiB: 40 * 1024 },
        nodeChains: [{ ranks: 4, lastChildMs: 200 }],
        context: { loadMs: 30, contextMs: 100, rssKiB: 100 * 1024 },
        backendCheck: { error: 'not run' },
        teardown: [{ processes: 1, medianMs: 120, runsMs: [110, 120, 130] }, { processes: 4, error: 'no device' }],
        timeline: null,
        program,
      } satisfies FloorResult,
      simulated,
      simulated ? ' (SIMULATED)' : '',
    ).join('\n');

  it('reports the ratio of the medians and judges it only on a GPU', () => {
    expect(floor(false)).toMatch(/\| 4 x 72 \| 800 ms \| 900 ms \| 1\.13x \| <= 1\.15x \| met \|/);
    expect(floor(true)).toMatch(/\| 1\.13x \| <= 1\.15x \| n\/a \(SIMULATED\) \|/);
    expect(floor(false)).toMatch(/the two together: what a rank is held to \| - \| 140\.0 MB/);
    expect(floor(false)).toMatch(/150\.0 MB \(10\.0 MB over the floors' sum\)/);
  });

  it('gives the teardown floor beside the other floors', () => {
    expect(floor(false)).toMatch(/the teardown floor: a Node process holding a context, from its last statement to its exit \(median of 3\) \| 120 ms \|/);
    expect(floor(false)).toMatch(/the teardown floor: 4 Node processes holding a context on the device, from their last statement to the last exit \| not measured: no device \|/);
  });

  it('states the bound: the raw wall plus the Node start-ups, and what cuipc costs beyond them', () => {
    // (800 + 200) / 800 = 1.25; 900 / 800 = 1.13; (900 - 200) / 800 = 0.88
    expect(floor(false)).toMatch(/\| 4 x 72 \| 800 ms \| 200 ms \| 1\.25x \| 1\.13x \| 0\.88x \|/);
  });
});

describe('the Node start-ups a rank waits for', () => {
  it('measures an empty parent spawning empty children, up to the last child\'s first statement', async () => {
    const { measureNodeChain } = await import('../../bench/node-chain.js');
    const one = measureNodeChain(1, 1);
    const two = measureNodeChain(2, 1);
    if ('error' in one || 'error' in two) throw new Error(JSON.stringify([one, two]));
    // Two Node start-ups, one after the other: more than one process's start (never zero),
    // and bounded well within the spawn timeout.
    expect(one.lastChildMs).toBeGreaterThan(0);
    expect(two.lastChildMs).toBeGreaterThan(0);
    expect(two.ranks).toBe(2);
  });
});

describe('the teardown floor and the exit tail', () => {
  it('times Node processes holding a context from their last statement to the last exit (simulated device)', async () => {
    const { measureTeardownFloor } = await import('../../bench/floor.js');
    const measured = await measureTeardownFloor('sim', 0, 2, 2);
    if ('error' in measured) throw new Error(measured.error);
    expect(measured.processes).toBe(2);
    expect(measured.runsMs).toHaveLength(2);
    for (const ms of measured.runsMs) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('judges the exit tail: the last rank line to the coordinator exit, against the floor + 15 ms', async () => {
    const { timelineTable, exitTailMs } = await import('../../bench/timeline.js');
    const run = { ranks: 2, inputs: 72, wallMs: 1000, exitCode: 0, result: 'passed', simulated: false, probeMs: 900, stepMs: {}, rankPeakRssKiB: [], coordinatorPeakRssKiB: null, exportedHandles: 9, note: null, spawnedAtMs: 0 } satisfies ProbeRun;
    const events = [
      { who: '0', event: 'wrote result teardown/free', atMs: 850 },
      { who: '1', event: 'wrote result teardown/free', atMs: 860 },
      { who: '1', event: 'exit', atMs: 870 },
      { who: 'coordinator', event: 'wrote exit', atMs: 865 },
    ];
    const timeline = { ranks: 2, inputs: 72, run, events };
    expect(exitTailMs(timeline)).toBe(140);
    expect(timelineTable(timeline, '', 130).join('\n')).toMatch(/\| 140 ms; floor 130 ms; target <= floor \+ 15 ms: met \|/);
    expect(timelineTable(timeline, '', 120).join('\n')).toMatch(/target <= floor \+ 15 ms: missed/);
    expect(timelineTable(timeline, '').join('\n')).toMatch(/target <= floor \+ 15 ms: n\/a/);
  });
});
