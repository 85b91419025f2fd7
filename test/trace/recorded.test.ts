// Traces recorded on the H200 by test/trace/gpu/record.sh (<case>.h200.jsonl in
// test/fixtures/trace/, or in $CUIPC_TRACE_RECORDINGS while recording). Each check is what
// h200-ipc-truth.md says the hardware does; a case whose recording is absent is skipped.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findOrigin } from '../../lib/trace/origin.js';
import { readTraceFile } from '../../lib/trace/read.js';
import { summarizeProcess } from '../../lib/trace/summary.js';
import { FIXTURES } from './helpers.js';

const DIR = process.env.CUIPC_TRACE_RECORDINGS ?? FIXTURES;
const path = (name: string): string => join(DIR, `${name}.h200.jsonl`);
const recorded = (name: string): boolean => existsSync(path(name));
const summary = (name: string) => {
  const trace = readTraceFile(path(name));
  expect(trace.problems).toEqual([]);
  expect(trace.status?.state).toBe('tracing');
  return { trace, s: summarizeProcess(trace) };
};

describe('recorded on the H200', () => {
  it.skipIf(!recorded('plain_cudamalloc'))('default allocator: every export succeeds, and the pointer comes from cudaMalloc', () => {
    const { trace, s } = summary('plain_cudamalloc');
    expect(s.firstFailure).toBeNull();
    const exports = trace.calls.filter((c) => c.kind === 'ipc-get' && c.api === 'runtime');
    expect(exports.length).toBeGreaterThan(0);
    for (const e of exports) {
      expect(e.code).toBe(0);
      expect(e.provenance?.legacyIpcCapable).toBe(true);
      expect(findOrigin(trace.calls, String(e.args.ptr), e.seq)?.call.call).toBe('cudaMalloc');
    }
  });

  it.skipIf(!recorded('expandable_segments'))('expandable segments: the export fails on VMM memory PyTorch made', () => {
    const { s } = summary('expandable_segments');
    const f = s.firstFailure!;
    expect(`${f.call.api} ${f.call.call} ${f.call.code}`).toBe('runtime cudaIpcGetMemHandle 1');
    expect(f.inner.map((c) => `${c.call} ${c.code}`)).toContain('cuIpcGetMemHandle 1');
    expect(f.provenance).toMatchObject({ classification: 'vmm', legacyIpcCapable: false, memoryType: 2 });
    expect(f.origin?.how).toBe('vmm');
    expect(f.origin?.madeBy?.lib).toMatch(/libc10_cuda/);
    expect(f.explanations[0].id).toBe('vmm-memory');
    expect(s.hazards.map((h) => h.id)).toContain('alloc-conf.expandable-segments');
  });

  it.skipIf(!recorded('vmm_interposer'))('LD_PRELOAD interposer: cuMemCreate comes from the interposer, the export fails', () => {
    const { trace, s } = summary('vmm_interposer');
    expect(trace.process?.symbols.find((x) => x.symbol === 'cudaMalloc')).toMatchObject({ interposed: true, path: expect.stringMatching(/libcuipc_vmm_interposer\.so$/) });
    const f = s.firstFailure!;
    expect(`${f.call.call} ${f.call.code}`).toBe('cudaIpcGetMemHandle 1');
    expect(f.provenance?.classification).toBe('vmm');
    expect(f.origin?.create?.caller?.lib).toMatch(/libcuipc_vmm_interposer\.so$/);
    expect(f.origin?.create?.args.handleTypes).toBe(0);
    expect(f.explanations[0].id).toBe('vmm-memory');
    expect(f.explanations[0].summary).toMatch(/interposer/);
  });

  it.skipIf(!recorded('static_runtime'))('static runtime: runtime callbacks arrive, VMM export fails, capture gives 900 then 901', () => {
    const { trace, s } = summary('static_runtime');
    expect(trace.calls.some((c) => c.api === 'runtime')).toBe(true);
    const f = s.firstFailure!;
    expect(`${f.call.call} ${f.call.code}`).toBe('cudaIpcGetMemHandle 1');
    expect(f.provenance?.classification).toBe('vmm');
    expect(f.explanations[0].id).toBe('vmm-memory');
    const codes = s.otherFailures.map((c) => `${c.call} ${c.code}`);
    expect(codes).toContain('cudaMalloc 900');
    expect(codes).toContain('cudaStreamEndCapture 901');
    const plainExport = trace.calls.find((c) => c.call === 'cudaIpcGetMemHandle' && c.code === 0);
    expect(plainExport?.provenance?.legacyIpcCapable).toBe(true);
  });

  it.skipIf(!recorded('cupti_unavailable'))('CUPTI missing: the process says so and is not traced', () => {
    const trace = readTraceFile(path('cupti_unavailable'));
    expect(trace.status?.state).toBe('cupti-unavailable');
    expect(summarizeProcess(trace).stateMessage).toMatch(/CUIPC_LIBCUPTI/);
  });
});
