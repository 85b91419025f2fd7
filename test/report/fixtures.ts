// Synthetic pieces of a probe run, for report tests that need no processes.
import type { Hazard } from '../../lib/env/hazards.js';
import type { ProbeRun } from '../../lib/report/build.js';
import { type FailureRecord, type RankReport } from '../../lib/report/types.js';
import { STEPS, type CallRecord, type Provenance, type StepName } from '../../lib/model/vocabulary.js';

export function call(overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    call: 'cudaIpcGetMemHandle',
    method: 'ipcGetMemHandleBatch',
    args: { ptr: '0x7f0000000000' },
    ok: false,
    code: 1,
    name: 'cudaErrorInvalidValue',
    message: 'invalid argument',
    count: 1,
    lastError: {
      before: { code: 0, name: 'cudaSuccess', message: 'no error' },
      afterPeek: { code: 1, name: 'cudaErrorInvalidValue', message: 'invalid argument' },
      afterGet: { code: 1, name: 'cudaErrorInvalidValue', message: 'invalid argument' },
    },
    origin: 'own',
    ...overrides,
  };
}

export function provenance(classification: Provenance['classification'], overrides: Partial<Provenance> = {}): Provenance {
  return {
    ptr: '0x7f0000000000',
    memoryType: classification === 'host' ? 1 : 2,
    memoryTypeName: classification === 'host' ? 'host' : 'device',
    device: 0,
    isManaged: classification === 'managed',
    rangeStart: '0x7f0000000000',
    rangeSize: 2097152,
    legacyIpcCapable: classification === 'device',
    allowedHandleTypes: 0,
    allowedHandleTypeNames: [],
    vmm: classification === 'vmm',
    mempool: classification === 'pool' ? '0x55aa' : null,
    refused: {},
    classification,
    ...overrides,
  };
}

export function failure(overrides: Partial<FailureRecord> = {}): FailureRecord {
  return { rank: 0, step: 'export', call: call(), provenance: provenance('vmm'), capture: { stream: '0x10', mode: 'global', status: 'none', captureId: '0', queryCode: 0 }, ...overrides };
}

export function hazard(variable: string, value: string, id: string, severity: Hazard['severity'] = 'high'): Hazard {
  return { id, variable, value, severity, effect: `effect of ${variable}`, evidence: `evidence for ${id}`, remedy: `remedy for ${id}` };
}

export function rank(index: number, overrides: Partial<RankReport> = {}, outcome: Partial<Record<StepName, RankReport['steps'][StepName]['outcome']>> = {}): RankReport {
  const steps = Object.fromEntries(STEPS.map((s) => [s, { outcome: outcome[s] ?? 'passed', durationMs: 1, calls: [], notes: [] }])) as unknown as RankReport['steps'];
  return {
    rank: index,
    pid: 1000 + index,
    requestedDevice: 0,
    device: { ordinal: 0, uuid: 'GPU-0', pciBusId: '0000:18:00.0', name: 'NVIDIA H200' },
    loader: { backend: 'cuda', simulated: false, driver: 'libcuda.so.1', runtime: 'libcudart.so.13', allocation: [], kernels: { available: true, reason: 'fatbin' } },
    hazards: [],
    steps,
    exit: { code: 0, signal: null },
    stderrTail: '',
    ...overrides,
  };
}

export function run(overrides: Partial<ProbeRun> = {}): ProbeRun {
  return {
    options: { ranks: 2, inputs: 4, bytes: 4096, alloc: 'cudaMalloc', share: 'ipc', captureMode: 'global', devices: [0, 0], backend: 'cuda', envKeys: [], timeoutMs: 20000, rendezvous: 'tcp' },
    startedAt: new Date('2025-01-01T00:00:00Z'),
    durationMs: 10,
    coordinatorSimulated: false,
    ranks: [rank(0), rank(1)],
    failures: [],
    abort: null,
    rejected: [],
    rejectedDropped: 0,
    cleanedUp: [],
    ...overrides,
  };
}
