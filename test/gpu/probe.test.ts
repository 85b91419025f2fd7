// The probe's verdicts on a real GPU (npm run test:gpu): 4 ranks on device 0, every cell of
// the list, and the LD_PRELOAD interposer turning a passing probe into a failing one.
import { describe, expect, it } from 'vitest';
import { vmmInterposerPath } from '../../lib/binding/native.js';
import { probe, type ProbeOptions } from '../../lib/probe/index.js';

async function run(options: ProbeOptions) {
  const report = await probe({ backend: 'cuda', ranks: 4, inputs: 72, timeoutMs: 30_000, ...options });
  expect(report.simulated).toBe(false);
  return report;
}

describe('on the GPU', () => {
  it('cudaMalloc + ipc passes and verifies byte for byte', async () => {
    const report = await run({ alloc: 'cudaMalloc', share: 'ipc' });
    expect(report.result, JSON.stringify(report.pinpoint)).toBe('passed');
    for (const rank of report.ranks) {
      expect(rank.verify?.mismatches).toBe(0);
      expect(rank.device?.uuid).toMatch(/^GPU-/);
    }
  });

  it.each(['vmm', 'pool', 'managed', 'host'] as const)('%s + ipc fails at export in cudaIpcGetMemHandle with 1', async (alloc) => {
    const report = await run({ alloc, share: 'ipc' });
    expect(report.result).toBe('failed');
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1, name: 'cudaErrorInvalidValue' });
  });

  it.each([
    ['vmm', 'copy'],
    ['vmm-fd', 'vmm-export'],
  ] as const)('%s + %s passes (the remedies)', async (alloc, share) => {
    const report = await run({ alloc, share });
    expect(report.result, JSON.stringify(report.pinpoint)).toBe('passed');
  });

  it('an LD_PRELOAD cudaMalloc-from-cuMemCreate interposer makes cudaMalloc + ipc fail, and is named', async () => {
    const report = await run({ alloc: 'cudaMalloc', share: 'ipc', env: { LD_PRELOAD: vmmInterposerPath() } });
    expect(report.result).toBe('failed');
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(report.pinpoint?.provenance).toMatchObject({ vmm: true, legacyIpcCapable: false });
    expect(JSON.stringify(report.pinpoint?.explanations)).toContain('libcuipc_vmm_interposer.so');
  });
});
