// A failing call of a traced process explained beyond IPC: torch_memory_saver 0.0.9's own
// examples (preload mode) abort in PyTorch's release_block with cudaFree -> 1 on memory its hook
// mapped with cuMemCreate + cuMemMap (a fixture built from the recorded traces beside it). And
// whatever a trace explains, what it suggests fits a trace: no option only the probe has.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTraceReport, type TraceCommandIo } from '../../lib/cli/trace.js';
import { summarizeProcess } from '../../lib/trace/summary.js';
import { FIXTURES, fixture } from './helpers.js';

const TMS = 'tms_release_block.synthetic.jsonl';
const HOOK = '/opt/venv/lib/python3.12/site-packages/torch_memory_saver_hook_mode_preload.abi3.so';

function capture(): TraceCommandIo & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (t: string) => { io.out += t; }, stderr: (t: string) => { io.err += t; } };
  return io;
}

describe('cudaFree of memory an LD_PRELOAD hook mapped (torch_memory_saver 0.0.9, preload mode)', () => {
  const summary = summarizeProcess(fixture(TMS));
  const f = summary.firstFailure!;

  it('pinpoints the runtime free, with the driver free inside it, and the hook as the mapper', () => {
    expect(summary.failureKind).toBe('other');
    expect(`${f.call.api} ${f.call.call} ${f.call.code}`).toBe('runtime cudaFree 1');
    expect(f.inner.map((c) => `${c.call} ${c.code}`)).toEqual(['cuMemFree_v2 1']);
    expect(f.origin).toMatchObject({ how: 'vmm', base: '0x302000000', released: null });
    expect(f.origin?.create?.caller?.lib).toBe(HOOK);
  });

  it('explains it with the known cause, naming the hook, instead of "No known cause matches"', () => {
    const top = f.explanations[0];
    expect(top.id).toBe('runtime-free-of-vmm-memory');
    expect(top.likelihood).toBe('high');
    expect(f.explanations.map((e) => e.id)).not.toContain('unrecognised');
    expect(top.title).toMatch(/^cudaFree was given VMM memory \(cuMemCreate \+ cuMemMap\) that torch_memory_saver_hook_mode_preload\.abi3\.so mapped/);
    expect(top.summary).toContain('cuMemUnmap + cuMemAddressFree + cuMemRelease');
    expect(top.summary).toContain(`mapped by torch_memory_saver's preload hook (${HOOK})`);
    expect(top.summary).toMatch(/the hook no longer recognised it/);
    expect(top.evidence).toContain('cudaFree returned 1 cudaErrorInvalidValue ("invalid argument") in pid 6120, thread 6120 (traced call #6)');
    expect(top.evidence.find((e) => e.startsWith('trace: '))).toMatch(/cuMemMap #5 .* cuMemCreate #3 .*called from torch_memory_saver_hook_mode_preload\.abi3\.so <- libc10_cuda\.so/);
    expect(top.evidence).toContain(`loader: cudaFree resolves to ${HOOK} (interposed)`);
    expect(top.tryNext[0]).toMatch(/^release the memory through torch_memory_saver's preload hook/);
  });

  it('`cuipc trace report FILE` prints the explanation and exits 1', () => {
    const io = capture();
    expect(runTraceReport(join(FIXTURES, TMS), {}, io)).toBe(1);
    expect(io.out).toContain('First failing call (no IPC call failed): cudaFree(ptr=0x302000000) -> 1 cudaErrorInvalidValue ("invalid argument")');
    expect(io.out).toContain("inside it, the driver's cuMemFree_v2(ptr=0x302000000) -> 1 CUDA_ERROR_INVALID_VALUE");
    expect(io.out).toMatch(/1\. \[high\] cudaFree was given VMM memory .* torch_memory_saver_hook_mode_preload\.abi3\.so mapped; only that library can release it/);
    expect(io.out).not.toMatch(/No known cause matches/);
  });
});

describe('what a trace suggests', () => {
  const PROBE_ONLY = /--(ranks|share|alloc|capture-mode|memory-saver-region|inputs|bytes)\b/;
  const traces = readdirSync(FIXTURES).filter((name) => name.endsWith('.jsonl'));

  it.each(traces)('%s: no probe option in any explanation', (name) => {
    const f = summarizeProcess(fixture(name)).firstFailure;
    for (const e of f?.explanations ?? []) {
      for (const line of e.tryNext) expect(line).not.toMatch(PROBE_ONLY);
    }
  });

  it('the fixtures include failures whose probe explanation names probe options', () => {
    // Without these the check above could pass on traces with nothing to suggest.
    const ids = traces.flatMap((name) => summarizeProcess(fixture(name)).firstFailure?.explanations.map((e) => e.id) ?? []);
    expect(ids).toEqual(expect.arrayContaining(['vmm-memory', 'capture-invalidated', 'runtime-free-of-vmm-memory']));
  });
});
