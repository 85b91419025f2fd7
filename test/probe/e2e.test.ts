// The whole probe on the simulated device: real rank processes, real IPC through the sim.
// Needs the addon (npx cmake-js compile --out build) and dist/ (npx tsc -p tsconfig.json).
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe, rankProgramPath, type ProbeOptions, type ProbeReport } from '../../lib/probe/index.js';
import { ProbeUsageError } from '../../lib/probe/options.js';
import { renderProbeReport, SIMULATED_BANNER } from '../../lib/report/render.js';
import { STEPS } from '../../lib/model/vocabulary.js';
import { VERIFY_READ_BYTES } from '../../lib/probe/steps/verify.js';
import { assertValidReport, isAlive, shmEntries } from './helpers.js';

const shmBefore = shmEntries();
const pids: number[] = [];

beforeAll(() => {
  if (!existsSync(rankProgramPath())) throw new Error('dist/bundle/rank.cjs is missing: run `npm run build:ts` first');
});

afterAll(() => {
  for (const pid of pids) expect(isAlive(pid), `rank pid ${pid} outlived its probe`).toBe(false);
  const added = [...shmEntries()].filter((name) => !shmBefore.has(name));
  expect(added, 'new files in /dev/shm').toEqual([]);
});

async function run(options: ProbeOptions): Promise<ProbeReport> {
  const report = await probe({ backend: 'sim', inputs: 4, timeoutMs: 10_000, ...options });
  assertValidReport(JSON.parse(JSON.stringify(report)));
  expect(report.simulated).toBe(true);
  for (const rank of report.ranks) {
    if (rank.pid !== null) {
      pids.push(rank.pid);
      expect(isAlive(rank.pid), `rank ${rank.rank} (pid ${rank.pid}) is still alive`).toBe(false);
    }
  }
  return report;
}

function outcomes(report: ProbeReport, rank: number): string[] {
  return STEPS.map((s) => report.ranks[rank].steps[s].outcome);
}

describe('cudaMalloc inputs shared with legacy IPC', () => {
  it.each([1, 2, 4, 8])('passes and verifies with %i rank(s)', async (ranks) => {
    const report = await run({ ranks, inputs: ranks === 8 ? 3 : 9, bytes: 1024 });
    expect(report.result).toBe('passed');
    expect(report.exitCode).toBe(0);
    expect(report.pinpoint).toBeNull();
    for (const rank of report.ranks) {
      expect(outcomes(report, rank.rank)).toEqual(STEPS.map(() => 'passed'));
      expect(rank.verify).toMatchObject({ mode: 'kernel', mismatches: 0, inputsChecked: report.options.inputs, bytesChecked: report.options.inputs * 1024 });
      expect(rank.device?.uuid).toMatch(/^SIM-/);
      expect(rank.exit).toEqual({ code: 0, signal: null });
    }
    const text = renderProbeReport(report);
    expect(text.startsWith(SIMULATED_BANNER)).toBe(true);
    expect(text).toMatch(/PASSED \(exit 0\)/);
  });

  it('reads the outputs back in blocks of whole inputs, at most VERIFY_READ_BYTES each, and checks every one', async () => {
    const bytes = 4096;
    const perRead = VERIFY_READ_BYTES / bytes;
    const inputs = 2 * perRead + 3;
    const report = await run({ ranks: 2, inputs, bytes });
    expect(report.result).toBe('passed');
    for (const rank of report.ranks) {
      expect(rank.verify).toMatchObject({ mode: 'kernel', mismatches: 0, inputsChecked: inputs, bytesChecked: inputs * bytes });
      // Successful repeats of one call are one record with their count, and the first's arguments.
      const reads = rank.steps.verify.calls.filter((c) => c.method === 'copyToHostInto');
      expect(reads).toEqual([expect.objectContaining({ ok: true, count: 3, args: expect.objectContaining({ first: 0, outputs: perRead, bytes: VERIFY_READ_BYTES }) })]);
    }
  });

  it('verifies with copies when kernels are not used, and says so', async () => {
    const report = await run({ ranks: 2, env: { CUIPC_PROBE_VERIFY: 'copy' } });
    expect(report.result).toBe('passed');
    expect(report.kernels?.available).toBe(false);
    expect(report.ranks[0].verify).toMatchObject({ mode: 'copy', mismatches: 0, bytesChecked: 2 * 4 * 4096 });
    expect(renderProbeReport(report)).toMatch(/kernels unavailable .*replay and verify used copies instead/);
  });
});

describe('allocators that legacy IPC cannot export', () => {
  it('vmm + ipc fails at export, in cudaIpcGetMemHandle, with VMM provenance', async () => {
    const report = await run({ ranks: 2, alloc: 'vmm' });
    expect(report.result).toBe('failed');
    expect(report.exitCode).toBe(1);
    expect(outcomes(report, 0).slice(0, 4)).toEqual(['passed', 'passed', 'passed', 'failed']);
    expect(report.ranks[0].steps.import.outcome).toBe('skipped');
    expect(report.ranks[0].steps.teardown.outcome).toBe('passed');
    const p = report.pinpoint;
    expect(p).toMatchObject({ rank: 0, step: 'export', call: 'cudaIpcGetMemHandle', code: 1, name: 'cudaErrorInvalidValue', message: 'invalid argument', origin: 'own' });
    expect(p?.provenance).toMatchObject({ classification: 'vmm', vmm: true, legacyIpcCapable: false, memoryType: 2, allowedHandleTypes: 0, mempool: null });
    expect(p?.provenance?.rangeStart).toBe(p?.args.ptr);
    expect(p?.lastError).toMatchObject({ before: { code: 0 }, afterPeek: { code: 1 }, afterGet: { code: 1 } });
    expect(p?.capture).toMatchObject({ mode: 'global', status: 'none' });
    expect(p?.explanations[0].id).toBe('vmm-memory');
    expect(p?.explanations[0].tryNext.join('\n')).toMatch(/--share copy/);
    expect(p?.explanations.map((e) => e.id)).toContain('error-left-in-last-error');
    const text = renderProbeReport(report);
    expect(text).toMatch(/Pinpoint\n {2}rank 0, step export, call cudaIpcGetMemHandle/);
    expect(text).toMatch(/VMM memory \(cuMemCreate \+ cuMemMap\), not legacy-IPC-capable/);
  });

  it.each([
    ['pool', 'pool-memory'],
    ['managed', 'managed-memory'],
    ['host', 'host-memory'],
  ] as const)('%s + ipc fails at export as the truth table records', async (alloc, explanation) => {
    const report = await run({ ranks: 2, alloc });
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1, name: 'cudaErrorInvalidValue' });
    expect(report.pinpoint?.provenance?.classification).toBe(alloc);
    expect(report.pinpoint?.provenance?.legacyIpcCapable).toBe(false);
    expect(report.pinpoint?.explanations[0].id).toBe(explanation);
  });

  it('an interposer turns a passing probe into one that fails at export, and is named', async () => {
    const { vmmInterposerPath } = await import('../../lib/binding/native.js');
    // The registered buffer is allocated outside the interposer's region and still exports;
    // the graph inputs are allocated inside it, as a server under a memory saver does
    // (SGLANG_MEMORY_SAVER_CUDA_GRAPH on: test/probe/memory-saver.test.ts has the rest).
    const report = await run({ ranks: 2, env: { LD_PRELOAD: vmmInterposerPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' } });
    expect(report.ranks[0].steps.register.outcome).toBe('passed');
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(report.pinpoint?.provenance).toMatchObject({ vmm: true, legacyIpcCapable: false });
    // With every allocation in the region the registered buffer still exports: it is a cudaMalloc
    // on libcudart's own handle (SGLang's CudaRTLibrary), which the interposer never sees.
    const everything = await run({ ranks: 2, env: { LD_PRELOAD: vmmInterposerPath(), CUIPC_INTERPOSER_REGION: 'all' } });
    expect(everything.ranks[0].steps.register.outcome).toBe('passed');
    expect(everything.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(report.ranks[0].loader?.allocation.find((a) => a.symbol === 'cudaMalloc')?.interposed).toBe(true);
    const vmm = report.pinpoint?.explanations[0];
    expect(vmm?.id).toBe('vmm-memory');
    // The most specific source first: the region the rank entered, in the interposer's library.
    expect(vmm?.summary).toMatch(/region of cuipc's VMM interposer \(.*libcuipc_vmm_interposer\.so\)/);
    expect(vmm?.evidence).toContainEqual(expect.stringMatching(/loader: cudaMalloc resolves to .*libcuipc_vmm_interposer\.so \(interposed\)/));
    expect(report.ranks[0].hazards.some((h) => h.variable === 'LD_PRELOAD')).toBe(true);
  });
});

describe('remedies that work', () => {
  it('vmm + copy passes (the upstream fix)', async () => {
    const report = await run({ ranks: 3, alloc: 'vmm', share: 'copy' });
    expect(report.result).toBe('passed');
    expect(report.ranks.every((r) => r.verify?.mismatches === 0)).toBe(true);
  });

  it('vmm-fd + vmm-export passes (fds over the socket)', async () => {
    const report = await run({ ranks: 3, alloc: 'vmm-fd', share: 'vmm-export' });
    expect(report.result).toBe('passed');
    const importCalls = report.ranks[0].steps.import.calls.map((c) => c.method);
    expect(importCalls).toEqual(expect.arrayContaining(['fdFromProcess', 'vmmImportFd']));
  });

  it('vmm + vmm-export fails at export: no shareable handle type', async () => {
    const report = await run({ ranks: 2, alloc: 'vmm', share: 'vmm-export' });
    expect(report.pinpoint?.step).toBe('export');
    expect(report.pinpoint?.explanations[0].id).toMatch(/^vmm-export/);
  });

  it('runs in relaxed capture over a Unix socket', async () => {
    const socket = join(tmpdir(), `cuipc-e2e-${process.pid}.sock`);
    const report = await run({ ranks: 2, captureMode: 'relaxed', socket });
    expect(report.result).toBe('passed');
    expect(existsSync(socket)).toBe(false);
  });
});

describe('faults injected into the simulated device', () => {
  it.each([
    ['cudaIpcOpenMemHandle@1#1=201', 'register', 'cudaIpcOpenMemHandle', 201, 'own-handle'],
    ['cudaIpcOpenMemHandle@1#1=1', 'register', 'cudaIpcOpenMemHandle', 1, 'invalid-handle'],
    ['cudaIpcOpenMemHandle@1#2=217', 'import', 'cudaIpcOpenMemHandle', 217, 'peer-access-unsupported'],
    ['cudaSetDevice@1#1=101', 'init', 'cudaSetDevice', 101, 'invalid-device'],
    ['cudaStreamEndCapture@0#1=901', 'capture', 'cudaStreamEndCapture', 901, 'capture-invalidated'],
  ])('%s -> %s fails in %s with %i (%s)', async (fault, step, call, code, explanation) => {
    const report = await run({ ranks: 2, env: { CUIPC_SIM_FAULT: fault } });
    expect(report.exitCode).toBe(1);
    expect(report.pinpoint).toMatchObject({ step, call, code });
    expect(report.pinpoint?.explanations[0].id).toBe(explanation);
  });

  it('a failing launch inside a batch: the launches before it counted, the failure recorded with its own input', async () => {
    // 4 inputs: launches 1-4 are the captured all-reduces, 5-8 the fills before the replay.
    const capture = await run({ ranks: 2, env: { CUIPC_SIM_FAULT: 'cuLaunchKernel@1#3=1' } });
    expect(capture.pinpoint).toMatchObject({ rank: 1, step: 'capture', call: 'cuLaunchKernel', code: 1 });
    const captureCalls = capture.ranks[1].steps.capture.calls.filter((c) => c.call === 'cuLaunchKernel');
    expect(captureCalls.map((c) => [c.method, c.ok, c.count])).toEqual([['launchAllReduceBatch', true, 2], ['launchAllReduceBatch', false, 1]]);
    expect(captureCalls[1].args).toMatchObject({ ranks: 2, count: 1024 });
    const fill = await run({ ranks: 2, env: { CUIPC_SIM_FAULT: 'cuLaunchKernel@1#6=1' } });
    expect(fill.pinpoint).toMatchObject({ rank: 1, step: 'replay', call: 'cuLaunchKernel', code: 1 });
    const failed = fill.ranks[1].steps.replay.calls.find((c) => !c.ok);
    // The second fill of rank 1: seed rank * 1000 + input (lib/probe/values.ts).
    expect(failed).toMatchObject({ method: 'launchFillBatch', args: { seed: 1001, count: 1024 } });
  });

  it('a failing base lookup in export: the lookups before it are one record, the failure names its own input', async () => {
    const report = await run({ ranks: 2, env: { CUIPC_SIM_FAULT: 'cuPointerGetAttribute@1#3=1' } });
    expect(report.pinpoint).toMatchObject({ rank: 1, step: 'export', call: 'cuPointerGetAttribute' });
    const lookups = report.ranks[1].steps.export.calls.filter((c) => c.method === 'rangeStartBatch');
    expect(lookups.map((c) => [c.ok, c.count, c.args.input])).toEqual([[true, 2, 0], [false, 1, 2]]);
  });

  it('a failing close in teardown is recorded with its own pointer, and the closes and frees after it still run', async () => {
    // Rank 1 closes the registered buffer's import first, then its peer's graph-input base.
    const report = await run({ ranks: 2, env: { CUIPC_SIM_FAULT: 'cudaIpcCloseMemHandle@1#1=1' } });
    expect(report.pinpoint).toMatchObject({ rank: 1, step: 'teardown', call: 'cudaIpcCloseMemHandle', code: 1 });
    const calls = report.ranks[1].steps.teardown.calls;
    const closes = calls.filter((c) => c.call === 'cudaIpcCloseMemHandle');
    expect(closes.map((c) => [c.ok, c.count])).toEqual([[false, 1], [true, 1]]);
    expect(closes[0].args.ptr).toMatch(/^0x[0-9a-f]+$/);
    expect(calls.filter((c) => c.call === 'cudaFree' && c.ok).reduce((n, c) => n + c.count, 0)).toBeGreaterThan(0);
  });

  it('a rank killed in cudaIpcOpenMemHandle: rank, step and call named, the others killed, exit 3', async () => {
    // Rank 2 opens 2 registered buffers first; its third open is in import.
    const report = await run({ ranks: 3, env: { CUIPC_SIM_FAULT: 'cudaIpcOpenMemHandle@2#3=kill' } });
    expect(report.result).toBe('aborted');
    expect(report.exitCode).toBe(3);
    expect(report.abort).toMatchObject({ reason: 'crashed', rank: 2, step: 'import', call: 'cudaIpcOpenMemHandle', signal: 'SIGKILL' });
    expect(report.ranks[2].steps.import.outcome).toBe('crashed');
    expect(report.ranks[0].steps.replay.outcome).toBe('not-run');
    expect(renderProbeReport(report)).toMatch(/rank 2, step import, call in flight: cudaIpcOpenMemHandle/);
  });

  it('a rank hung in cudaStreamSynchronize: ends within the timeout, exit 3', async () => {
    const started = Date.now();
    const report = await run({ ranks: 2, timeoutMs: 1500, env: { CUIPC_SIM_FAULT: 'cudaStreamSynchronize@1#1=hang' } });
    expect(Date.now() - started).toBeLessThan(1500 * 3 + 3000);
    expect(report.exitCode).toBe(3);
    expect(report.abort).toMatchObject({ reason: 'hung', rank: 1, step: 'replay', call: 'cudaStreamSynchronize' });
    expect(report.ranks[1].steps.replay.outcome).toBe('hung');
  });
});

describe('bad input', () => {
  it.each([{ ranks: 0 }, { ranks: 100000 }, { alloc: 'bogus' as never }, { ranks: 2, devices: [0, 7] }])('%j is refused before any rank starts', async (options) => {
    await expect(probe({ backend: 'sim', ...options })).rejects.toThrow(ProbeUsageError);
  });
});
