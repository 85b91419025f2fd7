// Two simulated devices (CUIPC_SIM_DEVICES is read once per process, so this file sets it
// before anything loads the simulated device): ranks on different devices, and device ids
// that a narrowed CUDA_VISIBLE_DEVICES no longer has.
process.env.CUIPC_SIM_DEVICES = '2';

import { describe, expect, it } from 'vitest';
import { probe } from '../../lib/probe/index.js';
import { assertValidReport } from './helpers.js';

describe('ranks on two simulated devices', () => {
  it('maps ranks round-robin and passes across devices', async () => {
    const report = await probe({ backend: 'sim', ranks: 2, inputs: 2 });
    assertValidReport(JSON.parse(JSON.stringify(report)));
    expect(report.options.devices).toEqual([0, 1]);
    expect(report.result).toBe('passed');
    expect(report.ranks[0].device?.uuid).not.toBe(report.ranks[1].device?.uuid);
  });

  it('a global device id under a narrowed CUDA_VISIBLE_DEVICES fails in cudaSetDevice with 101', async () => {
    const report = await probe({ backend: 'sim', ranks: 2, inputs: 2, devices: [0, 1], env: { CUDA_VISIBLE_DEVICES: '1' } });
    assertValidReport(JSON.parse(JSON.stringify(report)));
    expect(report.exitCode).toBe(1);
    expect(report.pinpoint).toMatchObject({ rank: 1, step: 'init', call: 'cudaSetDevice', code: 101, name: 'cudaErrorInvalidDevice' });
    const why = report.pinpoint?.explanations[0];
    expect(why?.id).toBe('invalid-device');
    expect(why?.evidence.join('\n')).toMatch(/CUDA_VISIBLE_DEVICES=1/);
  });
});
