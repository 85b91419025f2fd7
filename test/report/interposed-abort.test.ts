// A rank that dies inside someone else's allocator is explained, not just "could not run": the
// library that serves the call, the call, its size, the library's last words, and whether a
// PyTorch process makes that call. Rules first (neutral inputs), then the report built from a
// run, then ranks that really die on the simulated device inside the torch_memory_saver ABI
// stand-in (0.0.9-like: an unrounded size kills it) and inside cuipc's interposer (a kill
// injected into the cuMemCreate it makes).
import { afterAll, describe, expect, it } from 'vitest';
import type { SymbolOrigin } from '../../binding.js';
import { tmsStandinPath, vmmInterposerPath } from '../../lib/binding/native.js';
import { probe, type ProbeOptions, type ProbeReport } from '../../lib/probe/index.js';
import { buildProbeReport } from '../../lib/report/build.js';
import { explainInterposedAbort, interposedAbortOf, pytorchMakesCall, type AbortedCall } from '../../lib/report/interposed-abort.js';
import { renderProbeReport } from '../../lib/report/render.js';
import type { ProbeAbort } from '../../lib/report/types.js';
import { assertValidReport, isAlive } from '../probe/helpers.js';
import { rank, run } from './fixtures.js';

const MiB = 1 << 20;
const HOOK = '/venv/lib/python3.12/site-packages/torch_memory_saver_hook_mode_preload.abi3.so';
/** What torch_memory_saver 0.0.9 printed before exit(1) on the H100 (issue 20). */
const TMS_009_WORDS = '[torch_memory_saver.cpp] CUresult error: 1 (invalid argument) file=csrc/core.cpp func=cu_mem_create line=38';
const hooked: SymbolOrigin[] = [
  { symbol: 'cudaMalloc', path: HOOK, interposed: true },
  { symbol: 'cudaFree', path: HOOK, interposed: true },
];

function died(overrides: Partial<AbortedCall> = {}): AbortedCall {
  return {
    how: 'crashed',
    call: 'cudaMalloc',
    args: { kind: 'device', bytes: 32768, purpose: 'graph inputs 0..7' },
    symbolOrigins: hooked,
    memorySaver: null,
    stderrTail: `some earlier line\n${TMS_009_WORDS}\n`,
    ...overrides,
  };
}

describe('would a PyTorch process make this call (CUDACachingAllocator: whole segments only)', () => {
  it.each([
    [1024, false], [32768, false], [2 * MiB, true], [4 * MiB, false], [8 * MiB + 3456, false],
    [10 * MiB, true], [12 * MiB, true], [20 * MiB, true], [21 * MiB, false], [22 * MiB, true],
  ])('cudaMalloc(%i) -> %s', (bytes, same) => {
    expect(pytorchMakesCall('cudaMalloc', bytes).same).toBe(same);
  });

  it('says which segment PyTorch would ask for instead', () => {
    expect(pytorchMakesCall('cudaMalloc', 32768).reason).toMatch(/never for 32768 bytes \(32 KiB\); for tensors of this size it would ask for 2097152 bytes \(2 MiB\)/);
    expect(pytorchMakesCall('cudaMalloc', 3 * MiB).reason).toMatch(/would ask for 20971520 bytes \(20 MiB\)/);
  });

  it('cudaFree: yes (whole segments go back with it); other calls: not known', () => {
    expect(pytorchMakesCall('cudaFree', null).same).toBe(true);
    expect(pytorchMakesCall('cudaMallocManaged', 4096).same).toBeNull();
  });
});

describe('a rank that died inside an interposed call', () => {
  it('names the library, the call, the size and its last words, and that PyTorch never asks for that size', () => {
    const a = explainInterposedAbort(died())!;
    expect(a).toMatchObject({ library: HOOK, name: "torch_memory_saver's preload hook", call: 'cudaMalloc', bytes: 32768, lastWords: TMS_009_WORDS });
    expect(a.pytorch.same).toBe(false);
    expect(a.summary).toBe(`it died inside torch_memory_saver's preload hook (${HOOK}), which serves cudaMalloc (32768 bytes); a PyTorch process never makes this call`);
    expect(a.explanation).toContain(`The rank died inside torch_memory_saver's preload hook (${HOOK}): its cudaMalloc of 32768 bytes for graph inputs 0..7 is served by that library, not by the CUDA runtime.`);
    expect(a.explanation).toContain(`Its last words: ${TMS_009_WORDS}.`);
    expect(a.explanation).toMatch(/cuMemCreate accepts only sizes that are a multiple of the VMM allocation granularity .* passed 32768 bytes without rounding/);
    expect(a.explanation).toMatch(/--alloc torch/);
  });

  it('the library\'s own line is its last words, even when something else wrote after it', () => {
    expect(explainInterposedAbort(died({ stderrTail: `${TMS_009_WORDS}\nAborted (core dumped)\n` }))?.lastWords).toBe(TMS_009_WORDS);
    expect(explainInterposedAbort(died({ stderrTail: 'only this\n' }))?.lastWords).toBe('only this');
  });

  it('killed without a word, or hung: says so, and makes no claim about cuMemCreate', () => {
    const killed = explainInterposedAbort(died({ stderrTail: '' }))!;
    expect(killed.lastWords).toBeNull();
    expect(killed.explanation).toContain('It wrote nothing on stderr before it died.');
    expect(killed.explanation).not.toMatch(/granularity/);
    const hung = explainInterposedAbort(died({ how: 'hung' }))!;
    expect(hung.lastWords).toBeNull();
    expect(hung.summary).toMatch(/^it hung inside/);
  });

  it('a size PyTorch does ask for: the real server makes the same call', () => {
    const a = explainInterposedAbort(died({ args: { bytes: 2 * MiB } }))!;
    expect(a.pytorch.same).toBe(true);
    expect(a.explanation).toMatch(/a PyTorch process running with this library makes this same call/);
  });

  it('nothing to say when the call in flight is the runtime\'s own', () => {
    expect(explainInterposedAbort(died({ symbolOrigins: [{ symbol: 'cudaMalloc', path: '/usr/lib/libcudart.so.13', interposed: false }] }))).toBeNull();
    expect(explainInterposedAbort(died({ call: 'cudaIpcOpenMemHandle' }))).toBeNull();
    // SGLang's CudaRTLibrary calls cudaMalloc on libcudart's own handle: the hook never sees it.
    expect(explainInterposedAbort(died({ args: { kind: 'device-direct', bytes: 8 * MiB + 3456 } }))).toBeNull();
  });
});

describe('the report of such a run', () => {
  const abort: ProbeAbort = {
    reason: 'crashed',
    message: `rank 0 exited with status 1 in step capture during cudaMalloc; its last words: ${TMS_009_WORDS}`,
    rank: 0,
    step: 'capture',
    call: 'cudaMalloc',
    args: { kind: 'device', bytes: 32768, purpose: 'graph inputs 0..7' },
    signal: null,
    exitCode: 1,
  };
  const loader = { backend: 'cuda' as const, simulated: false, driver: 'libcuda.so.1', runtime: 'libcudart.so.13', allocation: hooked, kernels: { available: true, reason: '' } };
  const ranks = [rank(0, { loader, stderrTail: `${TMS_009_WORDS}\n`, exit: { code: 1, signal: null } }, { capture: 'crashed' }), rank(1, {}, { capture: 'interrupted' })];

  it('stays COULD NOT RUN (exit 3); the abort\'s message and the text carry the account', () => {
    const report = buildProbeReport(run({ ranks, abort }));
    expect(report).toMatchObject({ result: 'aborted', exitCode: 3 });
    expect(report.abort?.message).toBe(`${abort.message}; it died inside torch_memory_saver's preload hook (${HOOK}), which serves cudaMalloc (32768 bytes); a PyTorch process never makes this call`);
    assertValidReport(JSON.parse(JSON.stringify(report)));
    const text = renderProbeReport(report);
    expect(text).toMatch(/^COULD NOT RUN \(exit 3, crashed\): .*a PyTorch process never makes this call$/m);
    expect(text).toContain(`  The rank died inside torch_memory_saver's preload hook (${HOOK}): its cudaMalloc of 32768 bytes`);
    expect(text).toContain('Would a PyTorch process make this call? no:');
  });

  it('leaves other aborts alone', () => {
    for (const other of [{ ...abort, reason: 'interrupted' as const }, { ...abort, call: 'cudaIpcOpenMemHandle' }]) {
      expect(interposedAbortOf(other, ranks)).toBeNull();
      expect(buildProbeReport(run({ ranks, abort: other })).abort?.message).toBe(other.message);
    }
    expect(interposedAbortOf(abort, [rank(0, { loader: null })])).toBeNull();
  });
});

describe('on the simulated device', () => {
  const pids: number[] = [];
  afterAll(() => {
    for (const pid of pids) expect(isAlive(pid), `rank pid ${pid} outlived its probe`).toBe(false);
  });

  async function probeRun(options: ProbeOptions): Promise<ProbeReport> {
    const report = await probe({ backend: 'sim', ranks: 2, inputs: 9, bytes: 1024, timeoutMs: 10_000, ...options });
    assertValidReport(JSON.parse(JSON.stringify(report)));
    for (const r of report.ranks) if (r.pid !== null) pids.push(r.pid);
    return report;
  }

  it('the 0.0.9-like stand-in exits in cuMemCreate on a size no PyTorch process asks for: named, sized, its words quoted', async () => {
    const standin = tmsStandinPath();
    const report = await probeRun({ alloc: 'cudaMalloc', env: { LD_PRELOAD: standin, SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' } });
    expect(report).toMatchObject({ result: 'aborted', exitCode: 3, abort: { reason: 'crashed', step: 'capture', call: 'cudaMalloc', exitCode: 1 } });
    expect(report.abort?.message).toContain(`it died inside torch_memory_saver's preload hook (${standin}), which serves cudaMalloc (8192 bytes); a PyTorch process never makes this call`);
    const text = renderProbeReport(report);
    expect(text).toMatch(/^COULD NOT RUN \(exit 3, crashed\)/m);
    expect(text).toContain(`The rank died inside torch_memory_saver's preload hook (${standin}): its cudaMalloc of 8192 bytes for graph inputs 0..7 is served by that library`);
    expect(text).toMatch(/the rank entered the hook's region, where it serves cudaMalloc from cuMemCreate \+ cuMemMap/);
    expect(text).toMatch(/Its last words: \[torch_memory_saver stand-in\] CUresult error: 1 \(invalid argument\) func=cu_mem_create/);
    expect(text).toMatch(/passed 8192 bytes without rounding them up/);
    expect(text).toMatch(/Would a PyTorch process make this call\? no: .*it would ask for 2097152 bytes \(2 MiB\)/);
  });

  it('a kill injected into the cuMemCreate that cuipc\'s interposer makes for a PyTorch-sized segment: the same call a real server makes', async () => {
    const report = await probeRun({ env: { LD_PRELOAD: vmmInterposerPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1', CUIPC_SIM_FAULT: 'cuMemCreate@0#1=kill' } });
    expect(report).toMatchObject({ result: 'aborted', exitCode: 3, abort: { reason: 'crashed', rank: 0, step: 'capture', call: 'cudaMalloc' } });
    expect(report.abort?.args?.bytes).toBe(2 * MiB);
    expect(report.abort?.message).toContain(`it died inside cuipc's VMM interposer (${vmmInterposerPath()}), which serves cudaMalloc (2097152 bytes); a PyTorch process makes the same call`);
    const text = renderProbeReport(report);
    expect(text).toContain('It wrote nothing on stderr before it died.');
    expect(text).toMatch(/yes: PyTorch's caching allocator asks cudaMalloc for 2 MiB segments/);
  });
});
