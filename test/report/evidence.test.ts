// The explanation rules judge an Evidence, located at a probe rank's step or at a traced
// process's thread: the same rules, one wording, whichever collected it.
import { describe, expect, it } from 'vitest';
import { probeEvidence } from '../../lib/report/build.js';
import { whereFailed, whoFailed, type Evidence } from '../../lib/report/evidence.js';
import { explainFailure } from '../../lib/report/explain.js';
import { call, failure, rank } from './fixtures.js';

const options = { alloc: 'cudaMalloc', share: 'ipc', captureMode: 'global' } as const;

/** The probe's evidence moved to a traced process, as the trace summary fills it. */
function inProcess(ev: Evidence, tid: number, seq: number): Evidence {
  return { ...ev, where: { kind: 'process', pid: ev.pid, tid, seq }, captureMode: null, allocator: null, share: null, requestedDevice: null };
}

describe('evidence', () => {
  it('says where the call failed: a rank and step, or a pid, thread and traced call', () => {
    expect(whereFailed({ kind: 'rank', rank: 1, step: 'export' })).toBe('on rank 1 in step export');
    expect(whereFailed({ kind: 'process', pid: 4242, tid: 7, seq: 8 })).toBe('in pid 4242, thread 7 (traced call #8)');
    expect(whoFailed({ kind: 'rank', rank: 1, step: 'export' })).toBe('rank 1');
    expect(whoFailed({ kind: 'process', pid: null, tid: 7, seq: 8 })).toBe('pid ?');
  });

  it('the probe fills it from the rank and its peer', () => {
    const f = failure({ step: 'import', call: call({ call: 'cudaIpcOpenMemHandle', code: 217, name: 'cudaErrorPeerAccessUnsupported' }), peer: { rank: 1, base: '0x1', pid: 1001 } });
    const ev = probeEvidence(f, rank(0), rank(1, { exit: { code: 1, signal: null } }), options);
    expect(ev.where).toEqual({ kind: 'rank', rank: 0, step: 'import' });
    expect(ev.pid).toBe(1000);
    expect(ev.peer).toMatchObject({ rank: 1, pid: 1001, device: { name: 'NVIDIA H200' }, exit: { code: 1, signal: null } });
    expect(ev.allocator).toBe('cudaMalloc');
    expect(ev.captureMode).toBe('global');
  });

  it('a traced call keeps its ABI suffix in the words and still meets its rule', () => {
    const probe = probeEvidence(
      failure({ step: 'import', provenance: null, call: call({ call: 'cuIpcOpenMemHandle_v2', code: 201, name: 'CUDA_ERROR_INVALID_CONTEXT', message: 'invalid device context', lastError: undefined }) }),
      rank(0),
      null,
      options,
    );
    const [first] = explainFailure(inProcess(probe, 9, 12));
    expect(first.id).toBe('own-handle');
    expect(first.evidence[0]).toBe('cuIpcOpenMemHandle_v2 returned 201 CUDA_ERROR_INVALID_CONTEXT ("invalid device context") in pid 1000, thread 9 (traced call #12)');
  });

  it('names the probe\'s capture mode only where the probe chose one', () => {
    const f = failure({ step: 'capture', provenance: null, call: call({ call: 'cudaMalloc', code: 900, name: 'cudaErrorStreamCaptureUnsupported' }) });
    const probe = probeEvidence(f, rank(0), null, options);
    expect(explainFailure(probe)[0].evidence).toContain('capture mode of the probe: global');
    expect(explainFailure(inProcess(probe, 1, 2))[0].evidence.some((e) => e.startsWith('capture mode of the probe'))).toBe(false);
  });

  it('cites where a traced pointer came from next to the failed call', () => {
    const ev: Evidence = { ...inProcess(probeEvidence(failure(), rank(0), null, options), 1, 8), pointerOrigin: '0x7f0000000000 lies in cuMemMap #3' };
    const [first] = explainFailure(ev);
    expect(first.id).toBe('vmm-memory');
    expect(first.evidence.slice(0, 2)).toEqual([
      'cudaIpcGetMemHandle returned 1 cudaErrorInvalidValue ("invalid argument") in pid 1000, thread 1 (traced call #8)',
      'trace: 0x7f0000000000 lies in cuMemMap #3',
    ]);
  });
});
