// The trace summary on recorded traces (hand-made *.synthetic.jsonl until H200 recordings
// replace them): the first failing IPC call, its pointer's provenance and origin, the
// process's hazards, and the explanation in the probe's own words.
import { describe, expect, it } from 'vitest';
import { probeEvidence } from '../../lib/report/build.js';
import { explainFailure } from '../../lib/report/explain.js';
import { type FailureRecord, type RankReport, type RankStep } from '../../lib/report/types.js';
import { STEPS, type StepName } from '../../lib/model/vocabulary.js';
import { parseTrace } from '../../lib/trace/read.js';
import { renderTraceSummary, summaryIsQuiet } from '../../lib/trace/render.js';
import { summarizeProcess, summarizeTraces } from '../../lib/trace/summary.js';
import { fixture, fixtureText } from './helpers.js';

describe('PyTorch expandable segments', () => {
  const summary = summarizeProcess(fixture('expandable_segments.synthetic.jsonl'));
  const f = summary.firstFailure!;

  it('pinpoints the runtime call, with the driver call inside it', () => {
    expect(summary.failureKind).toBe('ipc');
    expect(f.call.call).toBe('cudaIpcGetMemHandle');
    expect(f.call.seq).toBe(8);
    expect(f.name).toBe('cudaErrorInvalidValue');
    expect(f.message).toBe('invalid argument');
    expect(f.inner.map((c) => `${c.call} ${c.code}`)).toEqual(['cuIpcGetMemHandle 1']);
    expect(summary.otherFailures.map((c) => c.seq)).toEqual([10]);
  });

  it('classifies the pointer as VMM memory and finds the cuMemCreate that made it', () => {
    expect(f.provenance?.classification).toBe('vmm');
    expect(f.origin?.how).toBe('vmm');
    expect(f.origin?.call.call).toBe('cuMemMap');
    expect(f.origin?.create?.seq).toBe(2);
    expect(f.origin?.madeBy?.lib).toMatch(/libc10_cuda\.so$/);
  });

  it('finds the hazard and explains it in the probe\'s words', () => {
    expect(summary.hazards.map((h) => h.id)).toContain('alloc-conf.expandable-segments');
    const top = f.explanations[0];
    expect(top.id).toBe('vmm-memory');
    expect(top.summary).toContain('PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True');
    // Located by pid and thread, never by a rank or step the trace does not have.
    expect(top.evidence).toContain('cudaIpcGetMemHandle returned 1 cudaErrorInvalidValue ("invalid argument") in pid 4242, thread 4242 (traced call #8)');
    expect(top.evidence.some((e) => / on rank \d+ in step /.test(e))).toBe(false);
    expect(top.evidence.find((e) => e.startsWith('trace: '))).toMatch(/cuMemMap #3 .* cuMemCreate #2 .*shareable handle types: posix-fd\), called from libc10_cuda\.so <- libtorch_cuda\.so/);
  });

  it('uses the very explanation the probe would give for the same evidence, its remedies without the probe\'s options', () => {
    const empty = {} as Record<StepName, RankStep>;
    for (const s of STEPS) empty[s] = { outcome: 'not-run', durationMs: 0, calls: [], notes: [] };
    const rank: RankReport = {
      rank: 0, pid: 4242, requestedDevice: 0, device: null, loader: null, hazards: summary.hazards, steps: empty, exit: null, stderrTail: '',
    };
    const failure: FailureRecord = {
      rank: 0, step: 'export', provenance: f.provenance, capture: null,
      call: { call: 'cudaIpcGetMemHandle', method: 'ipcGetMemHandleBatch', args: {}, ok: false, code: 1, name: 'cudaErrorInvalidValue', message: 'invalid argument', count: 1 },
    };
    const probe = explainFailure(probeEvidence(failure, rank, null, { alloc: 'cudaMalloc', share: 'ipc', captureMode: 'global' }))[0];
    const traced = f.explanations[0];
    expect(traced.title).toBe(probe.title);
    expect(traced.summary).toBe(probe.summary);
    // The same remedies in the same order; only the probe's name its options and `cuipc matrix --ranks`.
    expect(traced.tryNext).toHaveLength(probe.tryNext.length);
    expect(probe.tryNext.join('\n')).toMatch(/--share copy/);
    expect(probe.tryNext.at(-1)).toMatch(/`cuipc matrix` \(same --ranks/);
    expect(traced.tryNext.join('\n')).not.toMatch(/--share|--alloc|--ranks/);
    expect(traced.tryNext.at(-1)).toMatch(/run the command again under `cuipc trace`/);
    expect(traced.tryNext[2]).toBe(probe.tryNext[2]);
  });

  it('renders the pinpoint, provenance, origin, hazards and explanation', () => {
    const text = renderTraceSummary(summarizeTraces([fixture('expandable_segments.synthetic.jsonl')]));
    expect(text).toMatch(/^SYNTHETIC TRACE/);
    expect(text).toContain('First failing IPC call: cudaIpcGetMemHandle(ptr=0x7f2a00000000) -> 1 cudaErrorInvalidValue ("invalid argument")');
    expect(text).toContain("inside it, the driver's cuIpcGetMemHandle(ptr=0x7f2a00000000) -> 1 CUDA_ERROR_INVALID_VALUE");
    expect(text).toContain('Pointer 0x7f2a00000000: VMM memory (cuMemCreate + cuMemMap), not legacy-IPC-capable, shareable handle types: posix-fd');
    expect(text).toMatch(/Where it came from: 0x7f2a00000000 lies in cuMemMap #3/);
    expect(text).toMatch(/\[high\] PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True/);
    expect(text).toMatch(/1\. \[high\] The pointer is VMM memory/);
  });
});

describe('cudaMalloc served by an LD_PRELOAD VMM interposer', () => {
  const summary = summarizeProcess(fixture('vmm_interposer.synthetic.jsonl'));
  const f = summary.firstFailure!;

  it('names the interposer as the library that made the memory', () => {
    expect(f.origin?.how).toBe('vmm');
    expect(f.origin?.madeBy?.lib).toMatch(/libcuipc_vmm_interposer\.so$/);
    expect(f.origin?.madeBy?.symbol).toBe('cudaMalloc');
    expect(f.origin?.create?.args.handleTypes).toBe(0);
  });

  it('explains it with the interposer as the VMM source', () => {
    const top = f.explanations[0];
    expect(top.id).toBe('vmm-memory');
    expect(top.summary).toMatch(/cuipc's VMM test interposer \(torch_memory_saver-style\): cudaMalloc is provided by .*libcuipc_vmm_interposer\.so/);
    expect(top.evidence).toContain('loader: cudaMalloc resolves to /opt/cuipc/build/Release/libcuipc_vmm_interposer.so (interposed)');
    expect(top.evidence.find((e) => e.startsWith('trace: '))).toMatch(/shareable handle types: none\), called from libcuipc_vmm_interposer\.so <- libc10_cuda\.so .*\(cudaMalloc\)/);
    expect(summary.hazards.some((h) => h.variable === 'LD_PRELOAD' && h.severity === 'high')).toBe(true);
  });
});

describe('default allocator (nothing fails)', () => {
  const s = summarizeTraces([fixture('plain_cudamalloc.synthetic.jsonl')]);

  it('is quiet unless verbose', () => {
    expect(s.failing).toBe(0);
    expect(summaryIsQuiet(s)).toBe(true);
    expect(renderTraceSummary(s)).toBe('');
    expect(renderTraceSummary(s, { verbose: true })).toContain('4 call(s) traced, none failed');
  });
});

describe('cudaMalloc during a global-mode capture', () => {
  const summary = summarizeProcess(fixture('capture_malloc.synthetic.jsonl'));

  it('reports the first failing call and the capture that forbade it', () => {
    expect(summary.failureKind).toBe('other');
    const f = summary.firstFailure!;
    expect(`${f.call.call} ${f.call.code} ${f.name}`).toBe('cudaMalloc 900 cudaErrorStreamCaptureUnsupported');
    expect(f.capture?.threadMode).toBe('global');
    expect(f.capture?.active[0]).toMatchObject({ stream: '0x5600aa000000', mode: 'global', sameThread: true });
    expect(summary.otherFailures.map((c) => `${c.call} ${c.code}`)).toEqual(['cudaStreamEndCapture 901']);
    const top = f.explanations[0];
    expect(top.id).toBe('capture-invalidated');
    expect(top.evidence.some((e) => e.startsWith('capture mode of the probe'))).toBe(false);
    expect(top.evidence).toContain('capture state at the time: active (mode global, id trace call #1)');
  });
});

describe('processes that could not be traced', () => {
  it('says another profiler holds the CUPTI subscriber, and what to do', () => {
    const s = summarizeTraces([fixture('subscriber_busy.synthetic.jsonl')]);
    expect(s.untraced).toBe(1);
    const text = renderTraceSummary(s);
    expect(text).toContain('NOT TRACED');
    expect(text).toContain('CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED');
    expect(text).toMatch(/Nsight Systems/);
    expect(text).toMatch(/What to do: run the command without the other tool/);
  });

  it('says CUPTI is missing, and what to do', () => {
    const p = summarizeProcess(fixture('cupti_unavailable.synthetic.jsonl'));
    expect(p.state).toBe('cupti-unavailable');
    expect(p.stateMessage).toMatch(/CUIPC_LIBCUPTI/);
    expect(p.stateMessage).toMatch(/libcupti\.so\.13: cannot open shared object file/);
  });
});

describe('damaged and unusual traces', () => {
  it('reads a trace whose process died mid-write', () => {
    const text = fixtureText('expandable_segments.synthetic.jsonl').split('\n').filter((l) => !l.includes('"type":"end"')).join('\n');
    const cut = text.slice(0, text.length - 40);
    const trace = parseTrace(cut, 'cut.jsonl');
    expect(trace.problems).toEqual([expect.stringMatching(/the last line is cut short/)]);
    const p = summarizeProcess(trace);
    expect(p.complete).toBe(false);
    expect(p.firstFailure?.call.seq).toBe(8);
    expect(renderTraceSummary(summarizeTraces([trace]))).toContain('did not exit normally');
  });
});
