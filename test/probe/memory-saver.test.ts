// The seed failure, on the simulated device: a colocated SGLang scheduler's environment (the
// torch_memory_saver preload hook loaded, SGLANG_MEMORY_SAVER_CUDA_GRAPH on, the RL framework's
// runtime_env variables) fails at export in cudaIpcGetMemHandle with 1, naming the hook and the
// variable; the standalone environment (hook loaded, variable unset) passes and says what it did
// not exercise. The hook here is the test stand-in with torch_memory_saver's ABI
// (native/interposer/tms_standin.cc); on a GPU the real library is the authority.
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { AllocatorHook } from '../../binding.js';
import { tmsStandinPath, vmmInterposerPath } from '../../lib/binding/native.js';
import { decideMemorySaverRegion, enterRegions } from '../../lib/probe/memory-saver.js';
import { probe, type ProbeOptions, type ProbeReport } from '../../lib/probe/index.js';
import { ProbeUsageError } from '../../lib/probe/options.js';
import { renderProbeReport } from '../../lib/report/render.js';
import { assertValidReport, isAlive } from './helpers.js';

const pids: number[] = [];
afterAll(() => {
  for (const pid of pids) expect(isAlive(pid), `rank pid ${pid} outlived its probe`).toBe(false);
});

/** What the RL framework's runtime_env gives every SGLang engine besides the memory saver. */
export const SEED_RUNTIME_ENV = {
  CUDA_DEVICE_MAX_CONNECTIONS: '1',
  NCCL_NVLS_ENABLE: '1',
  SGLANG_DISABLE_TP_MEMORY_INBALANCE_CHECK: 'true',
  SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION: 'false',
  SGLANG_JIT_DEEPGEMM_PRECOMPILE: 'false',
};

async function run(options: ProbeOptions): Promise<ProbeReport> {
  const report = await probe({ backend: 'sim', ranks: 2, inputs: 9, bytes: 1024, timeoutMs: 10_000, ...options });
  assertValidReport(JSON.parse(JSON.stringify(report)));
  for (const rank of report.ranks) if (rank.pid !== null) pids.push(rank.pid);
  return report;
}

const hook = (inside = false): AllocatorHook => ({ abi: 'torch_memory_saver', library: '/x/hook.so', symbol: 'tms_set_interesting_region', inside });

describe('deciding the memory-saver region as SGLang does', () => {
  it.each([
    ['true', true], ['1', true], ['YES', true], ['y', true],
    ['false', false], ['0', false], ['no', false],
  ])('auto with SGLANG_MEMORY_SAVER_CUDA_GRAPH=%s -> entered %s', (value, entered) => {
    const region = decideMemorySaverRegion('auto', { SGLANG_MEMORY_SAVER_CUDA_GRAPH: value }, [hook()]);
    expect(region.entered).toBe(entered);
    expect(region.variable).toBe(value);
  });

  it('auto with the variable unset, or a value SGLang rejects, stays out and says why', () => {
    expect(decideMemorySaverRegion('auto', {}, [hook()])).toMatchObject({ entered: false, variable: null, reason: expect.stringMatching(/not set/) });
    expect(decideMemorySaverRegion('auto', { SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'on' }, [hook()])).toMatchObject({ entered: false, reason: expect.stringMatching(/not a value SGLang accepts/) });
  });

  it('on and off override the variable; with no hook loaded there is nothing to enter', () => {
    expect(decideMemorySaverRegion('on', {}, [hook()]).entered).toBe(true);
    expect(decideMemorySaverRegion('off', { SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' }, [hook()]).entered).toBe(false);
    const none = decideMemorySaverRegion('on', {}, []);
    expect(none.entered).toBe(false);
    expect(none.reason).toMatch(/no allocator hook with a region is loaded/);
  });

  it('restores each hook to the state it was found in', () => {
    const state: Record<string, boolean> = { torch_memory_saver: true, 'cuipc-interposer': false };
    const control = {
      allocatorHooks: () => [],
      setAllocatorRegion: (abi: 'torch_memory_saver' | 'cuipc-interposer', inside: boolean) => {
        const before = state[abi];
        state[abi] = inside;
        return before;
      },
    };
    const region = decideMemorySaverRegion('on', {}, [hook(true), { ...hook(), abi: 'cuipc-interposer', symbol: 'cuipc_interposer_set_region' }]);
    const leave = enterRegions(control, region);
    expect(state).toEqual({ torch_memory_saver: true, 'cuipc-interposer': true });
    leave();
    expect(state).toEqual({ torch_memory_saver: true, 'cuipc-interposer': false });
  });

  it('refuses an unknown mode before anything starts', async () => {
    await expect(probe({ backend: 'sim', memorySaverRegion: 'always' as never })).rejects.toThrow(ProbeUsageError);
  });
});

describe('the seed: a colocated SGLang rank under torch_memory_saver (ABI stand-in)', () => {
  const standin = tmsStandinPath();

  it('the stand-in library is built', () => {
    expect(existsSync(standin), standin).toBe(true);
  });

  it('with the hook preloaded and SGLANG_MEMORY_SAVER_CUDA_GRAPH=true: FAIL at export, cudaIpcGetMemHandle -> 1, VMM, hook and variable named', async () => {
    const report = await run({ env: { LD_PRELOAD: standin, SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true', ...SEED_RUNTIME_ENV } });
    expect(report.result).toBe('failed');
    expect(report.exitCode).toBe(1);
    const p = report.pinpoint;
    expect(p).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1, name: 'cudaErrorInvalidValue' });
    expect(p?.provenance).toMatchObject({ classification: 'vmm', legacyIpcCapable: false });
    // The registered buffer stays outside the region, as in SGLang: register passed everywhere.
    for (const rank of report.ranks) {
      expect(rank.steps.register.outcome).toBe('passed');
      expect(rank.memorySaver).toMatchObject({ mode: 'auto', variable: 'true', entered: true, hooks: [{ abi: 'torch_memory_saver', library: standin, insideBefore: false }] });
    }
    const top = p?.explanations[0];
    expect(top?.id).toBe('vmm-memory');
    expect(top?.summary).toMatch(/torch_memory_saver's preload hook/);
    expect(top?.summary).toContain(standin);
    expect(top?.summary).toMatch(/SGLANG_MEMORY_SAVER_CUDA_GRAPH=true/);
    expect(top?.tryNext.join('\n')).toMatch(/--share copy/);
    expect(top?.tryNext.join('\n')).toMatch(/unset SGLANG_MEMORY_SAVER_CUDA_GRAPH/);
    expect(report.warnings).toEqual([]);
    const text = renderProbeReport(report);
    expect(text).toMatch(/FAILED \(exit 1\)/);
    expect(text).toMatch(/rank 0, step export, call cudaIpcGetMemHandle/);
  });

  it('standalone (hook preloaded, variable unset): PASS, with a warning that the region was not exercised', async () => {
    const report = await run({ env: { LD_PRELOAD: standin, ...SEED_RUNTIME_ENV } });
    expect(report.result).toBe('passed');
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toMatchObject({ id: 'memory-saver.not-entered.torch_memory_saver', severity: 'high', ranks: [0, 1] });
    expect(report.warnings[0].message).toContain(standin);
    expect(report.warnings[0].command).toMatch(/SGLANG_MEMORY_SAVER_CUDA_GRAPH=true/);
    const lines = renderProbeReport(report).split('\n');
    const verdict = lines.findIndex((l) => l.startsWith('PASSED'));
    expect(lines[verdict + 1]).toMatch(/NOT EXERCISED \[high\].*torch_memory_saver's preload hook is loaded/);
  });

  it('TMS_INIT_ENABLE=1 puts every thread in the region, but the communicator\'s buffers come from libcudart\'s own handle (as SGLang\'s CudaRTLibrary): register passes, export fails', async () => {
    const report = await run({ env: { LD_PRELOAD: standin, TMS_INIT_ENABLE: '1' } });
    expect(report.ranks.every((r) => r.steps.register.outcome === 'passed')).toBe(true);
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    const registered = report.ranks[0].steps.register.calls.find((c) => c.call === 'cudaMalloc');
    expect(registered?.args).toMatchObject({ kind: 'device-direct', bytes: 8 * 1024 * 1024 + 3456 });
  });

  it('the graph inputs reach the hook as PyTorch asks for them: whole segments, so a 0.0.9 hook serves them (no crash) and the export fails', async () => {
    const report = await run({ env: { LD_PRELOAD: standin, SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' } });
    expect(report.result).toBe('failed');
    const segment = report.pinpoint?.args?.segment;
    // 9 inputs of 1 KiB and one 9 KiB output: one 2 MiB small-pool segment holds all 10 tensors.
    expect(segment).toBe('graph pool segment 0 (small pool, 2 MiB): input 0 .. all-reduce output (10 tensors)');
    const sizes = Object.values(report.ranks[0].steps).flatMap((step) => step.calls.filter((c) => c.call === 'cudaMalloc').map((c) => c.args.bytes));
    // What reaches the hook (the global scope's cudaMalloc): rank_data's 20 MiB segment, then the
    // graph pool's 2 MiB one; the registered buffer is a cudaMalloc on libcudart's own handle.
    expect(sizes).toEqual([8 * 1024 * 1024 + 3456, 20 << 20, 2 << 20]);
    const kinds = Object.values(report.ranks[0].steps).flatMap((step) => step.calls.filter((c) => c.call === 'cudaMalloc').map((c) => c.args.kind));
    expect(kinds).toEqual(['device-direct', 'device', 'device']);
  });

  it('with --alloc cudaMalloc (sizes no PyTorch process asks for) a 0.0.9 hook kills the rank in capture, and the probe says where', async () => {
    const report = await run({ alloc: 'cudaMalloc', env: { LD_PRELOAD: standin, SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' } });
    expect(report.result).toBe('aborted');
    expect(report.abort).toMatchObject({ step: 'capture', call: 'cudaMalloc', args: expect.objectContaining({ bytes: 8 * 1024 }) });
  });

  it('--memory-saver-region off keeps capture out even with the variable on', async () => {
    const report = await run({ memorySaverRegion: 'off', env: { LD_PRELOAD: standin, SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' } });
    expect(report.result).toBe('passed');
    expect(report.warnings.map((w) => w.id)).toEqual(['memory-saver.not-entered.torch_memory_saver']);
  });

  it("cuipc's own interposer is entered the same way", async () => {
    const report = await run({ env: { LD_PRELOAD: vmmInterposerPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' } });
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(report.ranks[0].memorySaver?.hooks.map((h) => h.abi)).toEqual(['cuipc-interposer']);
  });

  it('a preload entry that does not exist is never silent', async () => {
    const report = await run({ ranks: 1, env: { LD_PRELOAD: '/nonexistent/libtorch_memory_saver_hook.so' } });
    expect(report.result).toBe('passed');
    expect(report.warnings.map((w) => w.id)).toContain('ld-preload.missing');
    expect(renderProbeReport(report)).toMatch(/NOT EXERCISED.*\/nonexistent\/libtorch_memory_saver_hook\.so was not loaded/);
  });

  it('expandable segments with inputs the probe allocates itself (--alloc cudaMalloc): a pass that says so', async () => {
    const report = await run({ ranks: 1, alloc: 'cudaMalloc', env: { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' } });
    expect(report.result).toBe('passed');
    expect(report.warnings).toEqual([expect.objectContaining({ id: 'alloc-conf.expandable-segments', command: expect.stringMatching(/without --alloc/) })]);
  });

  it('expandable segments with the default allocator (as PyTorch): FAIL at export, VMM with the POSIX-fd type, the setting named', async () => {
    const report = await run({ env: { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' } });
    expect(report.result).toBe('failed');
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(report.pinpoint?.provenance).toMatchObject({ legacyIpcCapable: false, vmm: true, allowedHandleTypeNames: ['posix-fd'] });
    expect(report.warnings).toEqual([]);
    expect(JSON.stringify(report.pinpoint?.explanations[0])).toMatch(/expandable_segments:True/);
  });

  it('the cudaMallocAsync backend: every tensor an allocation node of the graph, whose pointer the export cannot look up (as PyTorch)', async () => {
    const report = await run({ ranks: 2, env: { PYTORCH_CUDA_ALLOC_CONF: 'backend:cudaMallocAsync' } });
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cuPointerGetAttribute', code: 1 });
    expect(report.pinpoint?.explanations[0]).toMatchObject({ id: 'graph-allocation-not-mapped', likelihood: 'high' });
    expect(report.pinpoint?.explanations.map((e) => e.id)).not.toContain('not-an-allocation');
    // rank_data before the capture from the pool; the 9 inputs and the output on the capturing stream.
    const mallocs = report.ranks[0].steps.capture.calls.filter((c) => c.call === 'cudaMallocAsync');
    expect(mallocs.map((c) => [c.args.stream === undefined ? 'pool' : 'graph', c.count])).toEqual([['pool', 1], ['graph', 10]]);
    expect(report.ranks[0].steps.teardown.notes.join('\n')).toMatch(/10 allocation node\(s\) of a graph that never ran: no memory to free/);
  });

  it('a setting PyTorch raises on fails the step with PyTorch\'s message, as its first allocation would', async () => {
    const report = await run({ ranks: 1, env: { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:true' } });
    expect(report.pinpoint).toMatchObject({ step: 'capture', name: 'ValueError' });
    expect(report.pinpoint?.message).toMatch(/Expected 'True' or 'False' at index 2 in ConfigTokenizer but got 'true'/);
    expect(report.pinpoint?.explanations[0]).toMatchObject({ id: 'allocator-config-rejected', likelihood: 'high' });
    expect(report.pinpoint?.explanations.map((e) => e.id)).not.toContain('unrecognised');
  });
});
