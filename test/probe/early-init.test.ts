// Ranks start their context before the init round (lib/probe/early-init.ts): what init reports
// must not change for it, a hang or failure there must still be pinned on init and its call,
// and the hint a rank reads must be the device its round names. Two simulated devices
// (CUIPC_SIM_DEVICES is read once per process: set before anything loads the sim).
process.env.CUIPC_SIM_DEVICES = '2';

import { describe, expect, it } from 'vitest';
import { DEVICES_HINT_ENV, deviceHint, devicesHint } from '../../lib/probe/early-init.js';
import { probe } from '../../lib/probe/index.js';
import { assertValidReport } from './helpers.js';

describe('deviceHint', () => {
  it('reads the rank\'s own entry, and nothing from a missing or malformed one', () => {
    const env = devicesHint([0, 1, 3]);
    expect(env).toEqual({ [DEVICES_HINT_ENV]: '0,1,3' });
    expect([0, 1, 2].map((rank) => deviceHint(env, rank))).toEqual([0, 1, 3]);
    expect(deviceHint(env, 3)).toBeUndefined();
    expect(deviceHint({}, 0)).toBeUndefined();
    expect(deviceHint({ [DEVICES_HINT_ENV]: '0,x' }, 1)).toBeUndefined();
    expect(deviceHint({ [DEVICES_HINT_ENV]: '-1' }, 0)).toBeUndefined();
  });
});

describe('init after an early start (simulated device)', () => {
  it('records cudaSetDevice and cudaFree once each, on the device the round named', async () => {
    const report = await probe({ backend: 'sim', ranks: 2, inputs: 2, devices: [1, 0], timeoutMs: 10_000 });
    assertValidReport(JSON.parse(JSON.stringify(report)));
    expect(report.exitCode).toBe(0);
    for (const [rank, device] of [[0, 1], [1, 0]]) {
      const calls = report.ranks[rank].steps.init.calls.map((c) => `${c.call}:${c.count}:${JSON.stringify(c.args)}`);
      expect(calls.slice(0, 2)).toEqual([`cudaSetDevice:1:{"device":${device}}`, `cudaFree:1:{"device":${device}}`]);
      expect(report.ranks[rank].device?.ordinal).toBe(device);
    }
  });

  it('a failing cudaSetDevice keeps its last-error record', async () => {
    const report = await probe({ backend: 'sim', ranks: 2, inputs: 2, timeoutMs: 10_000, env: { CUIPC_SIM_FAULT: 'cudaSetDevice@1#1=101' } });
    expect(report.exitCode).toBe(1);
    const failed = report.ranks[1].steps.init.calls.find((c) => !c.ok);
    expect(failed).toMatchObject({ call: 'cudaSetDevice', code: 101 });
    expect(failed?.lastError?.before.code).toBe(0);
    expect(failed?.lastError?.afterPeek.code).toBe(101);
  });

  it('a context creation that hangs is reported as a hang in init, in cudaFree', async () => {
    const report = await probe({ backend: 'sim', ranks: 2, inputs: 2, timeoutMs: 1500, env: { CUIPC_SIM_FAULT: 'cudaFree@0#1=hang' } });
    expect(report.exitCode).toBe(3);
    expect(report.abort).toMatchObject({ reason: 'hung', rank: 0, step: 'init', call: 'cudaFree' });
    expect(report.ranks[0].steps.init.outcome).toBe('hung');
  });
});
