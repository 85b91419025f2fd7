import { describe, expect, it } from 'vitest';
import { probeEvidence } from '../../lib/report/build.js';
import type { Evidence } from '../../lib/report/evidence.js';
import { explainFailure } from '../../lib/report/explain.js';
import type { FailureRecord, RankReport, ReportOptions } from '../../lib/report/types.js';
import { call, failure, hazard, provenance, rank } from './fixtures.js';

const options: Pick<ReportOptions, 'alloc' | 'share' | 'captureMode'> = { alloc: 'cudaMalloc', share: 'ipc', captureMode: 'global' };

/** The probe's evidence for one failure (the rank's and the peer's reports as given), explained. */
function explain(partial: { failure?: FailureRecord; rank?: RankReport; peerRank?: RankReport }) {
  return explainFailure(probeEvidence(partial.failure ?? failure(), partial.rank ?? rank(0), partial.peerRank ?? null, options));
}

describe('explanations', () => {
  it('VMM memory under torch_memory_saver: names the interposer from the loader and the environment', () => {
    const r = rank(0, {
      loader: { backend: 'cuda', simulated: false, driver: null, runtime: null, allocation: [{ symbol: 'cudaMalloc', path: '/venv/lib/torch_memory_saver_hook_mode_preload.so', interposed: true }], kernels: { available: true, reason: '' } },
      hazards: [hazard('LD_PRELOAD', '/venv/lib/torch_memory_saver_hook_mode_preload.so', 'ld-preload.torch-memory-saver'), hazard('CUDA_DEVICE_MAX_CONNECTIONS', '1', 'cuda.max-connections', 'info')],
    });
    const [first] = explain({ rank: r });
    expect(first.id).toBe('vmm-memory');
    expect(first.likelihood).toBe('high');
    expect(first.summary).toMatch(/torch_memory_saver's preload hook: cudaMalloc is provided by \/venv\/lib\/torch_memory_saver_hook_mode_preload\.so/);
    expect(first.evidence).toContain('CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE = 0');
    expect(first.evidence.join('\n')).toMatch(/environment hazard ld-preload\.torch-memory-saver/);
    expect(first.evidence.join('\n')).not.toMatch(/CUDA_DEVICE_MAX_CONNECTIONS/);
    expect(first.tryNext[0]).toMatch(/--share copy/);
    expect(new Set(first.tryNext).size).toBe(first.tryNext.length);
  });

  it('VMM memory under expandable segments: says so from the environment', () => {
    const r = rank(0, { hazards: [hazard('PYTORCH_CUDA_ALLOC_CONF', 'expandable_segments:True', 'alloc-conf.expandable-segments')] });
    const [first] = explain({ rank: r });
    expect(first.summary).toMatch(/PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True/);
    expect(first.tryNext).toContain('remedy for alloc-conf.expandable-segments');
  });

  it.each([
    ['pool', 'pool-memory'],
    ['managed', 'managed-memory'],
    ['host', 'host-memory'],
  ] as const)('%s memory -> %s', (classification, id) => {
    expect(explain({ failure: failure({ provenance: provenance(classification) }) })[0].id).toBe(id);
  });

  it('a pointer the driver does not know', () => {
    const p = provenance('unknown', { memoryType: null, memoryTypeName: 'unknown', legacyIpcCapable: null, vmm: null, refused: { memoryType: 1 } });
    expect(explain({ failure: failure({ provenance: p }) })[0].id).toBe('not-an-allocation');
  });

  it('opening its own handle (201)', () => {
    const f = failure({ step: 'import', provenance: null, call: call({ call: 'cudaIpcOpenMemHandle', method: 'ipcOpenMemHandleAsync', code: 201, name: 'cudaErrorDeviceUninitialized', message: 'invalid device context', lastError: undefined }), peer: { rank: 0, base: '0x1', pid: 1000 } });
    const [first] = explain({ failure: f });
    expect(first.id).toBe('own-handle');
    expect(first.evidence.join('\n')).toMatch(/rank 0 \(pid 1000\); the opener is rank 0 \(pid 1000\)/);
  });

  it('an invalid or corrupted handle (1 on open)', () => {
    const f = failure({ step: 'import', provenance: null, call: call({ call: 'cudaIpcOpenMemHandle', method: 'ipcOpenMemHandleAsync' }), peer: { rank: 1, base: '0x1', handle: '00'.repeat(64), pid: 1001 } });
    const [first] = explain({ failure: f, peerRank: rank(1) });
    expect(first.id).toBe('invalid-handle');
    expect(first.evidence.join('\n')).toMatch(/all zero bytes/);
  });

  it('an invalid device ordinal after remapping (101), with the environment as evidence', () => {
    const r = rank(1, { requestedDevice: 3, hazards: [hazard('CUDA_VISIBLE_DEVICES', '3', 'cvd.narrowed', 'medium')] });
    const f = failure({ rank: 1, step: 'init', provenance: null, call: call({ call: 'cudaSetDevice', method: 'setDevice', code: 101, name: 'cudaErrorInvalidDevice', message: 'invalid device ordinal' }) });
    const [first] = explain({ failure: f, rank: r });
    expect(first.id).toBe('invalid-device');
    expect(first.evidence).toContain('rank 1 was asked to use device 3');
    expect(first.evidence.join('\n')).toMatch(/CUDA_VISIBLE_DEVICES=3/);
  });

  it('peer access unsupported (217)', () => {
    const f = failure({ step: 'import', provenance: null, call: call({ call: 'cudaIpcOpenMemHandle', code: 217, name: 'cudaErrorPeerAccessUnsupported', message: 'peer access is not supported between these two devices' }), peer: { rank: 1, base: '0x1' } });
    expect(explain({ failure: f, peerRank: rank(1) })[0].id).toBe('peer-access-unsupported');
  });

  it.each([900, 901])('a capture invalidated by a forbidden call (%i)', (code) => {
    const f = failure({ step: 'capture', provenance: null, capture: { stream: '0x10', mode: 'global', status: 'invalidated', captureId: '7', queryCode: 0 }, call: call({ call: code === 900 ? 'cudaMalloc' : 'cudaStreamEndCapture', code, name: code === 900 ? 'cudaErrorStreamCaptureUnsupported' : 'cudaErrorStreamCaptureInvalidated' }) });
    const [first] = explain({ failure: f });
    expect(first.id).toBe('capture-invalidated');
    expect(first.evidence.join('\n')).toMatch(/invalidated \(mode global, id 7\)/);
    expect(first.tryNext.join('\n')).toMatch(/relaxed/);
  });

  it('tells a stale last error from the call\'s own', () => {
    const stale = call({ origin: 'stale', lastError: { before: { code: 1, name: 'cudaErrorInvalidValue', message: 'invalid argument' }, afterPeek: { code: 1, name: 'cudaErrorInvalidValue', message: '' }, afterGet: { code: 1, name: 'cudaErrorInvalidValue', message: '' } } });
    const ids = explain({ failure: failure({ call: stale, provenance: provenance('device') }) }).map((e) => e.id);
    expect(ids).toContain('stale-last-error');
    expect(ids).not.toContain('error-left-in-last-error');
    const own = explain({}).map((e) => e.id);
    expect(own).toContain('error-left-in-last-error');
    expect(own.indexOf('error-left-in-last-error')).toBeGreaterThan(own.indexOf('vmm-memory'));
  });

  it('falls back to a plain statement of the evidence', () => {
    const [first] = explain({ failure: failure({ step: 'replay', provenance: null, call: call({ call: 'cudaGraphLaunch', code: 999, name: 'cudaErrorUnknown', message: 'unknown error', lastError: undefined }) }) });
    expect(first.id).toBe('unrecognised');
    expect(first.tryNext.length).toBeGreaterThan(0);
  });
});

describe('a runtime call on VMM memory (cuMemCreate + cuMemMap)', () => {
  const hook = '/venv/lib/torch_memory_saver_hook_mode_preload.so';
  const hooked = [{ symbol: 'cudaMalloc', path: hook, interposed: true }, { symbol: 'cudaFree', path: hook, interposed: true }];

  /** What a trace gives the rules for a failing free of memory the hook mapped. */
  function traced(overrides: Partial<Evidence> = {}, entry = 'cudaFree'): Evidence {
    const f = failure({ step: 'teardown', provenance: null, call: call({ call: entry, method: '', args: { ptr: '0x302000000' }, lastError: undefined, origin: undefined }) });
    return {
      ...probeEvidence(f, rank(0), null, options),
      where: { kind: 'process', pid: 1000, tid: 1000, seq: 9 },
      captureMode: null,
      allocator: null,
      share: null,
      requestedDevice: null,
      pointerOrigin: '0x302000000 lies in cuMemMap #5 of the physical memory made by cuMemCreate #3',
      pointerSource: { how: 'vmm', library: hook, releasedBy: null },
      symbolOrigins: hooked,
      ...overrides,
    };
  }

  it('cudaFree: names the hook that mapped it, and that the hook no longer recognised the pointer', () => {
    const [first, ...rest] = explainFailure(traced());
    expect(first.id).toBe('runtime-free-of-vmm-memory');
    expect(first.likelihood).toBe('high');
    expect(first.title).toBe('cudaFree was given VMM memory (cuMemCreate + cuMemMap) that torch_memory_saver_hook_mode_preload.so mapped; only that library can release it');
    expect(first.summary).toContain(`mapped by torch_memory_saver's preload hook (${hook})`);
    expect(first.summary).toMatch(/cuMemUnmap \+ cuMemAddressFree \+ cuMemRelease/);
    expect(first.summary).toMatch(/the hook no longer recognised it/);
    expect(first.evidence).toContain('trace: 0x302000000 lies in cuMemMap #5 of the physical memory made by cuMemCreate #3');
    expect(first.evidence).toContain(`loader: cudaFree resolves to ${hook} (interposed)`);
    expect(first.tryNext.join('\n')).toMatch(/did not recognise the pointer/);
    expect(rest.map((e) => e.id)).not.toContain('unrecognised');
  });

  it('the driver\'s cuMemFree_v2 meets the same rule', () => {
    expect(explainFailure(traced({}, 'cuMemFree_v2'))[0].id).toBe('runtime-free-of-vmm-memory');
  });

  it('memory unmapped before the free: a second release, not a lost pointer', () => {
    const [first] = explainFailure(traced({ pointerSource: { how: 'vmm', library: hook, releasedBy: 'cuMemUnmap #7' } }));
    expect(first.id).toBe('runtime-free-of-vmm-memory');
    expect(first.summary).toMatch(/already been unmapped \(cuMemUnmap #7\)/);
    expect(first.summary).not.toMatch(/no longer recognised/);
  });

  it('mapped by a library that interposes nothing (PyTorch expandable segments): named by its path, no hook reasoning', () => {
    const torch = '/venv/lib/torch/lib/libc10_cuda.so';
    const [first] = explainFailure(traced({ pointerSource: { how: 'vmm', library: torch, releasedBy: null }, symbolOrigins: [] }));
    expect(first.id).toBe('runtime-free-of-vmm-memory');
    expect(first.summary).toContain(`mapped by ${torch}.`);
    expect(first.summary).not.toMatch(/hook/);
  });

  it('another runtime call on VMM memory: the same cause, less certain', () => {
    const [first] = explainFailure(traced({}, 'cudaMemcpyAsync'));
    expect(first).toMatchObject({ id: 'runtime-call-on-vmm-memory', likelihood: 'medium' });
  });

  it('not for memory the runtime made, another code, or the VMM calls themselves', () => {
    const ids = (ev: Evidence) => explainFailure(ev).map((e) => e.id);
    expect(ids(traced({ pointerSource: { how: 'allocation', library: hook, releasedBy: null } }))).toEqual(['unrecognised']);
    expect(ids(traced({ call: { ...traced().call, code: 700, name: 'cudaErrorIllegalAddress' } }))).toEqual(['unrecognised']);
    expect(ids(traced({}, 'cuMemUnmap'))).not.toContain('runtime-call-on-vmm-memory');
  });

  it('a trace\'s suggestions name no probe option; a probe\'s do', () => {
    const hint = /--ranks|--share|--alloc/;
    for (const e of explainFailure(traced())) expect(e.tryNext.join('\n')).not.toMatch(hint);
    const unknown = call({ call: 'cudaGraphLaunch', code: 999, name: 'cudaErrorUnknown', message: 'unknown error', lastError: undefined });
    expect(explain({ failure: failure({ step: 'replay', provenance: null, call: unknown }) })[0].tryNext.join('\n')).toMatch(/cuipc matrix` \(same --ranks/);
    expect(explainFailure(traced({ call: { ...traced().call, code: 999, name: 'cudaErrorUnknown' } }))[0].tryNext.join('\n')).not.toMatch(hint);
  });
});
