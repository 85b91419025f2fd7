// Made-up runs for the growth part's tests (growth.test.ts, growth-svg.test.ts): a raw C++ run
// and a cuipc run at one point, with the wall, answer and peak RSS a test chooses.
import type { RawProbeRun } from '../../bench/floor.js';
import type { GrowthPoint } from '../../bench/growth.js';
import type { ProbeRun } from '../../bench/probe-runs.js';

export function raw(wallMs: number, ranks: number, rssKiB: number, passed = true): RawProbeRun {
  const perRank = Array.from({ length: ranks }, (_, rank) => ({
    rank,
    startMs: 0,
    endMs: wallMs,
    contextRssKiB: 1000,
    peakRssKiB: rssKiB - rank,
    handles: 1,
    opened: 1,
    bytesChecked: 1,
    mismatches: 0,
    stepMs: { load: 0, init: 0, register: 0, capture: 0, export: 0, exchange: 0, import: 0, replay: 0, verify: 0, teardown: 0 },
  }));
  return { wallMs, passed, verify: 'kernel', perRank, parentPeakRssKiB: null, tailMs: Number.NaN, note: passed ? null : 'exit 1' };
}

export function cuipc(ranks: number, inputs: number, wallMs: number, answerMs: number | null, rssKiB: number, exitCode = 0): ProbeRun {
  return {
    ranks,
    inputs,
    wallMs,
    answerMs,
    exitCode,
    result: exitCode === 0 ? 'passed' : 'aborted',
    simulated: true,
    probeMs: null,
    stepMs: {},
    rankPeakRssKiB: Array.from({ length: ranks }, (_, r) => rssKiB - r),
    coordinatorPeakRssKiB: null,
    exportedHandles: null,
    note: exitCode === 0 ? null : 'rank 1 hung',
    spawnedAtMs: 0,
  };
}

export function point(ranks: number, inputs: number, rawMs: number, exitMs: number, answerMs: number | null, rawRss: number, cuipcRss: number): GrowthPoint {
  return { ranks, inputs, raw: raw(rawMs, ranks, rawRss), cuipc: cuipc(ranks, inputs, exitMs, answerMs, cuipcRss) };
}
