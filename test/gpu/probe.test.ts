// The probe's verdicts on a real GPU (npm run test:gpu): 4 ranks on device 0, every cell of
// the list, and the LD_PRELOAD interposer turning a passing probe into a failing one.
// The seed runs against the real torch_memory_saver preload library when CUIPC_TEST_TMS_HOOK
// names it (built from its public source on the GPU host), else against the ABI stand-in.
import { describe, expect, it } from 'vitest';
import { tmsStandinPath, vmmInterposerPath } from '../../lib/binding/native.js';
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
    const report = await run({ alloc: 'cudaMalloc', share: 'ipc', env: { LD_PRELOAD: vmmInterposerPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' } });
    expect(report.result).toBe('failed');
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(report.pinpoint?.provenance).toMatchObject({ vmm: true, legacyIpcCapable: false });
    expect(JSON.stringify(report.pinpoint?.explanations)).toContain('libcuipc_vmm_interposer.so');
  });
});

describe('--alloc torch (the default) on the GPU: graph inputs as PyTorch allocates them', () => {
  it('passes with PyTorch\'s default settings, every input in a cudaMalloc segment', async () => {
    const report = await run({});
    expect(report.result, JSON.stringify(report.pinpoint)).toBe('passed');
    expect(report.options.alloc).toBe('torch');
  });

  it('expandable_segments:True: FAIL at export, VMM memory with the POSIX-fd handle type', async () => {
    const report = await run({ env: { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' } });
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(report.pinpoint?.provenance).toMatchObject({ vmm: true, legacyIpcCapable: false, allowedHandleTypeNames: ['posix-fd'] });
    expect(report.warnings).toEqual([]);
  });

  it('backend:cudaMallocAsync: FAIL at export, the input an allocation node of a graph that never ran (as PyTorch)', async () => {
    const report = await run({ env: { PYTORCH_CUDA_ALLOC_CONF: 'backend:cudaMallocAsync' } });
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cuPointerGetAttribute', code: 1 });
    expect(report.pinpoint?.explanations[0]).toMatchObject({ id: 'graph-allocation-not-mapped' });
  });
});

describe('the seed on the GPU: a colocated SGLang rank under torch_memory_saver', () => {
  const hook = process.env.CUIPC_TEST_TMS_HOOK || tmsStandinPath();

  it(`with the hook (${process.env.CUIPC_TEST_TMS_HOOK ? 'the real torch_memory_saver' : 'the ABI stand-in'}) and SGLANG_MEMORY_SAVER_CUDA_GRAPH=true: FAIL at export, the hook named`, async () => {
    const report = await run({ env: { LD_PRELOAD: hook, SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true', CUDA_DEVICE_MAX_CONNECTIONS: '1', NCCL_NVLS_ENABLE: '1' } });
    expect(report.result).toBe('failed');
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1, name: 'cudaErrorInvalidValue' });
    expect(report.pinpoint?.provenance).toMatchObject({ vmm: true, legacyIpcCapable: false });
    expect(report.ranks.every((r) => r.steps.register.outcome === 'passed')).toBe(true);
    expect(report.ranks[0].memorySaver).toMatchObject({ entered: true, hooks: [{ abi: 'torch_memory_saver', library: expect.stringContaining('/') }] });
    expect(report.pinpoint?.explanations[0].summary).toMatch(/torch_memory_saver's preload hook/);
  });

  it('with the hook and the variable unset: PASS, with the warning that its region was not exercised', async () => {
    const report = await run({ env: { LD_PRELOAD: hook } });
    expect(report.result, JSON.stringify(report.pinpoint)).toBe('passed');
    expect(report.warnings.map((w) => w.id)).toEqual(['memory-saver.not-entered.torch_memory_saver']);
  });
});
