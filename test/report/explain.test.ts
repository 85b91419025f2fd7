import { describe, expect, it } from 'vitest';
import { probeEvidence } from '../../lib/report/build.js';
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
