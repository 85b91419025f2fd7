// bisect() end to end on the simulated device: real probes in rank processes, GOOD and BAD
// built from this process's environment. The failing difference is cuipc's VMM interposer with
// CUIPC_INTERPOSER_REGION=all (fails at export: the graph inputs are VMM memory), and the torch_memory_saver stand-in with
// SGLANG_MEMORY_SAVER_CUDA_GRAPH=1 (the seed; fails at export). The stand-in reproduces the
// preload ABI and the thread-local region, not torch_memory_saver's pause/resume or tags.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import * as native from '../../lib/binding/native.js';
import { bisect, renderBisect, type BisectOptions, type BisectResult } from '../../lib/bisect/index.js';
import { captureEnvironment, type EnvSnapshot } from '../../lib/env/capture.js';
import { ProbeUsageError } from '../../lib/probe/options.js';

const SMALL = { backend: 'sim', ranks: 2, inputs: 2, bytes: 1024, timeoutMs: 10_000 } as const;
const interposer = native.vmmInterposerPath();

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addSchema(JSON.parse(readFileSync(new URL('../../schema/report.schema.json', import.meta.url), 'utf8')) as object);
const validate = ajv.compile(JSON.parse(readFileSync(new URL('../../schema/bisect.schema.json', import.meta.url), 'utf8')) as object);
function assertValid(result: BisectResult): void {
  if (!validate(JSON.parse(JSON.stringify(result)))) throw new Error(`not valid: ${JSON.stringify(validate.errors?.slice(0, 5), null, 2)}`);
}

function shell(extra: Record<string, string> = {}, label = 'shell'): EnvSnapshot {
  const { LD_PRELOAD: _p, CUIPC_INTERPOSER_REGION: _r, SGLANG_MEMORY_SAVER_CUDA_GRAPH: _s, ...env } = process.env;
  return captureEnvironment({ env: { ...env, ...extra }, label });
}

/** The seed's runtime_env variables and more that do not matter to the probe (22), and two run-specific ones. */
const IRRELEVANT: Record<string, string> = {
  CUDA_DEVICE_MAX_CONNECTIONS: '1', NCCL_NVLS_ENABLE: '1', PYTHONPATH: '/opt/app/src', MASTER_ADDR: '10.0.0.7', MASTER_PORT: '29500',
  NCCL_CUMEM_ENABLE: '0', TORCH_NCCL_AVOID_RECORD_STREAMS: '1', OMP_NUM_THREADS: '8', MALLOC_ARENA_MAX: '2',
  HF_HUB_OFFLINE: '1', SGLANG_ENABLE_TORCH_COMPILE: '0', NCCL_DEBUG: 'WARN', VLLM_USE_V1: '1', WORLD_SIZE: '4', LOCAL_RANK: '0',
  NCCL_IB_DISABLE: '1', CUDA_MODULE_LOADING: 'LAZY', NVIDIA_VISIBLE_DEVICES: 'all', LANG: 'en_IE.UTF-8', TZ: 'Europe/Dublin',
  RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES: '0', OPENBLAS_NUM_THREADS: '1',
  PWD: '/tmp/ray/session_2026/runtime_resources/working_dir_files', RAY_JOB_ID: '02000000',
};

async function run(options: Omit<BisectOptions, 'backend'>): Promise<BisectResult> {
  const result = await bisect({ ...SMALL, ...options });
  assertValid(result);
  expect(result.probeCount).toBe(result.probes.length);
  expect(result.probes.map((p) => p.n)).toEqual(result.probes.map((_, i) => i + 1));
  return result;
}

describe('bisect: a minimal set among many differences', () => {
  it('interposer + CUIPC_INTERPOSER_REGION=all among 22 irrelevant variables: exactly those two', async () => {
    const good = shell();
    const bad = shell({ ...IRRELEVANT, LD_PRELOAD: interposer, CUIPC_INTERPOSER_REGION: 'all' }, 'ray actor');
    const progress: Array<{ probe: number; atMost: number; setSoFar: number }> = [];
    const result = await run({ good, bad, onProgress: (p) => progress.push({ probe: p.probe, atMost: p.atMost, setSoFar: p.setSoFar.length }) });
    expect(result.outcome).toBe('found');
    if (result.outcome !== 'found') return;
    expect(result.exitCode).toBe(0);
    // Every IRRELEVANT variable that this shell does not already have as it is, plus the two.
    const irrelevant = Object.keys(IRRELEVANT).filter((k) => good.environment[k] !== IRRELEVANT[k] && k !== 'PWD' && k !== 'RAY_JOB_ID');
    expect(irrelevant.length).toBeGreaterThanOrEqual(20);
    expect(result.changes.map((c) => c.id).sort()).toEqual([...irrelevant, "CUIPC_INTERPOSER_REGION", `LD_PRELOAD+${interposer}`].sort());
    expect(result.heldFixed.map((h) => h.variable).sort()).toEqual(['PWD', 'RAY_JOB_ID']);
    expect(result.minimal.map((c) => c.id)).toEqual(['CUIPC_INTERPOSER_REGION', `LD_PRELOAD+${interposer}`]);
    expect(result.target).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(result.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(result.minimal[1]?.hazards.map((h) => h.id)).toEqual(['ld-preload.cuipc-interposer']);
    // 1-minimal, as probed: GOOD + either one alone passes (alone, the interposer's region is never entered).
    const alone = (id: string) => result.probes.find((p) => p.applied.length === 1 && p.applied[0] === id);
    expect(alone('CUIPC_INTERPOSER_REGION')?.verdict).toBe('passes');
    expect(alone(`LD_PRELOAD+${interposer}`)?.verdict).toBe('passes');
    expect(result.answer).toBe('the failure (export: cudaIpcGetMemHandle -> 1 cudaErrorInvalidValue) needs both CUIPC_INTERPOSER_REGION=all and the cuipc-vmm-interposer preload entry (libcuipc_vmm_interposer.so)');
    // Progress: one call per probe run, the bound never rises and is never passed.
    expect(progress.map((p) => p.probe)).toEqual(result.probes.map((p) => p.n));
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.atMost).toBeLessThanOrEqual(progress[i - 1]!.atMost);
    expect(result.probeCount).toBeLessThanOrEqual(progress[0]!.atMost);
    expect(progress.at(-1)!.setSoFar).toBeLessThan(irrelevant.length + 2);
    const text = renderBisect(result);
    expect(text).toMatch(new RegExp(`Minimal set \\(2 of ${irrelevant.length + 2}\\)`));
    expect(text).toMatch(new RegExp(`${result.probeCount} probe\\(s\\) in \\d+\\.\\d s`));
    expect(text).toMatch(/SIMULATED/);
  }, 120_000);

  const standin = native.tmsStandinPath();
  it('the seed: tms stand-in + SGLANG_MEMORY_SAVER_CUDA_GRAPH=1 among 22 irrelevant variables: exactly those two', async () => {
    const good = shell();
    const bad = shell({ ...IRRELEVANT, LD_PRELOAD: standin, SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' }, 'ray actor');
    const result = await run({ good, bad });
    expect(result.outcome).toBe('found');
    if (result.outcome !== 'found') return;
    expect(result.minimal.map((c) => c.id)).toEqual([`LD_PRELOAD+${standin}`, 'SGLANG_MEMORY_SAVER_CUDA_GRAPH']);
    expect(result.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(result.minimal.map((c) => c.hazards[0]?.id)).toEqual(['ld-preload.torch-memory-saver', 'sglang.memory-saver-cuda-graph']);
    expect(result.answer).toMatch(/needs both the torch_memory_saver preload entry \(.*\) and SGLANG_MEMORY_SAVER_CUDA_GRAPH=1$/);
  }, 120_000);

  it("the seed from a snapshot taken inside a Ray actor: Ray's CUDA_VISIBLE_DEVICES is per-rank visibility, never the cause", async () => {
    const good = shell({ CUIPC_SIM_DEVICES: '2' });
    // The actor's GPU was Ray's device 1: a literal CUDA_VISIBLE_DEVICES=1 would hide device 1 from rank 1.
    const bad = shell({ ...IRRELEVANT, CUIPC_SIM_DEVICES: '2', RAY_RAYLET_PID: '4242', CUDA_VISIBLE_DEVICES: '1', LD_PRELOAD: standin, SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' }, 'ray actor');
    expect(bad.visibility?.assignedBy).toBe('ray');
    const result = await run({ good, bad });
    expect(result.changes.filter((c) => c.variable === 'CUDA_VISIBLE_DEVICES').map((c) => [c.id, c.kind, c.bad])).toEqual([['per-rank visibility', 'visibility', 'per-rank (as Ray assigns)']]);
    expect(result.outcome).toBe('found');
    if (result.outcome !== 'found') return;
    expect(result.minimal.map((c) => c.id)).toEqual([`LD_PRELOAD+${standin}`, 'SGLANG_MEMORY_SAVER_CUDA_GRAPH']);
    expect(result.probes.every((p) => p.verdict !== 'aborted' && p.abort === null)).toBe(true);
    expect(renderBisect(result)).not.toMatch(/CUDA_VISIBLE_DEVICES=1/);
  }, 120_000);

  it('is deterministic: the same snapshots give the same probes and the same set', async () => {
    const good = shell();
    const bad = shell({ A_1: '1', B_2: '2', NCCL_NVLS_ENABLE: '1', LD_PRELOAD: interposer, CUIPC_INTERPOSER_REGION: 'all', Z_9: '9' });
    const first = await run({ good, bad });
    const second = await run({ good, bad });
    expect(first.outcome).toBe('found');
    expect(second.probes.map((p) => [p.role, p.applied, p.verdict])).toEqual(first.probes.map((p) => [p.role, p.applied, p.verdict]));
    expect(second.answer).toBe(first.answer);
  }, 120_000);
});

describe('bisect: no set', () => {
  it('expandable segments alone, with --alloc cudaMalloc: the probe bypasses PyTorch, so BAD passes; exit 1 says why', async () => {
    const good = shell();
    const bad = shell({ PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True', MASTER_ADDR: '10.0.0.7' });
    const result = await run({ good, bad, alloc: 'cudaMalloc' });
    expect(result).toMatchObject({ outcome: 'none', exitCode: 1, reason: 'bad-passes', target: null });
    expect(result.changes.find((c) => c.id === 'PYTORCH_CUDA_ALLOC_CONF:expandable_segments')?.hazards[0]).toMatchObject({ id: 'alloc-conf.expandable-segments', severity: 'high' });
    expect(result.answer).toMatch(/with cudaMalloc, not through PyTorch's caching allocator, so expandable_segments:True cannot change its verdict; `cuipc bisect` without --alloc/);
    expect(result.probeCount).toBe(2);
  }, 60_000);

  it('expandable segments with the default allocator (as PyTorch): the setting itself is the set', async () => {
    const good = shell();
    const bad = shell({ PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True', MASTER_ADDR: '10.0.0.7' });
    const result = await run({ good, bad });
    expect(result).toMatchObject({ outcome: 'found', exitCode: 0, target: { step: 'export', call: 'cudaIpcGetMemHandle', code: 1 } });
    if (result.outcome === 'found') expect(result.minimal.map((c) => c.id)).toEqual(['PYTORCH_CUDA_ALLOC_CONF:expandable_segments']);
  }, 60_000);

  it('the hook alone passes with a warning, and the answer passes the warning on', async () => {
    const result = await run({ good: shell(), bad: shell({ LD_PRELOAD: native.tmsStandinPath(), MASTER_ADDR: '10.0.0.7' }) });
    expect(result).toMatchObject({ outcome: 'none', reason: 'bad-passes', bad: { result: 'passed', warnings: [{ id: 'memory-saver.not-entered.torch_memory_saver' }] } });
    expect(result.answer).toMatch(/BAD's probe warns: torch_memory_saver's preload hook is loaded .* Try the same probe with --env SGLANG_MEMORY_SAVER_CUDA_GRAPH=true/);
    expect(renderBisect(result)).toMatch(/\n  warning: torch_memory_saver's preload hook is loaded/);
  }, 60_000);

  it('a difference that does not matter at all: BAD passes, two probes, exit 1', async () => {
    const result = await run({ good: shell(), bad: shell({ NCCL_NVLS_ENABLE: '1', CUDA_DEVICE_MAX_CONNECTIONS: '1', PYTHONPATH: '/opt/x' }) });
    expect(result).toMatchObject({ outcome: 'none', exitCode: 1, reason: 'bad-passes', good: { result: 'passed' }, bad: { result: 'passed' } });
    expect(result.probeCount).toBe(2);
    expect(renderBisect(result)).toMatch(/^Answer: BAD passes with the plain launcher: the environment differences do not make this probe fail/);
    expect(renderBisect(result)).toMatch(/BAD passes: nothing to bisect\./);
  }, 60_000);

  it('GOOD that fails: stops after GOOD and BAD, shows what each found, exit 1', async () => {
    const good = shell({ LD_PRELOAD: interposer, SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' });
    const bad = shell({ LD_PRELOAD: interposer, SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1', CUIPC_INTERPOSER_REGION: 'all' });
    const result = await run({ good, bad });
    expect(result).toMatchObject({ outcome: 'none', exitCode: 1, reason: 'good-fails', good: { result: 'failed', failure: { step: 'export' } }, bad: { result: 'failed', failure: { step: 'export' } } });
    expect(result.probeCount).toBe(2);
    const text = renderBisect(result);
    expect(text).toMatch(/GOOD 'shell'.*: FAILED at export: cudaIpcGetMemHandle -> 1 cudaErrorInvalidValue/);
    expect(text).toMatch(/BAD  'shell'.*: FAILED at export: cudaIpcGetMemHandle -> 1/);
    expect(result.answer).toMatch(/^GOOD already fails \(export: .*\), as BAD does: no difference from BAD causes it/);
  }, 60_000);

  it('the cause held fixed: GOOD + every searched change passes, and the answer names what was held', async () => {
    const good = shell();
    const bad = shell({ LD_PRELOAD: interposer, CUIPC_INTERPOSER_REGION: 'all', UNRELATED: '1' });
    const result = await run({ good, bad, exclude: ['LD_PRELOAD'] });
    expect(result).toMatchObject({ outcome: 'none', exitCode: 1, reason: 'not-reproduced', target: { step: 'export' } });
    expect(result.answer).toMatch(/GOOD with all 2 searched change\(s\) does not fail as BAD does \(it passes\).*held fixed: LD_PRELOAD/);
  }, 60_000);

  it('GOOD that cannot run (a rank killed): exit 3', async () => {
    const good = shell({ CUIPC_SIM_FAULT: 'cudaIpcOpenMemHandle@1#1=kill' });
    const result = await run({ good, bad: shell() });
    expect(result).toMatchObject({ outcome: 'could-not-run', exitCode: 3, reason: 'good-aborted', good: { result: 'aborted' } });
    if (result.outcome === 'could-not-run') expect(result.message).toMatch(/could not run under GOOD: crashed/);
  }, 60_000);
});

describe('bisect: usage', () => {
  it('refuses an environment snapshot option, a bad snapshot, bad globs and bad probe options before any probe', async () => {
    const good = shell();
    await expect(bisect({ ...SMALL, good, bad: good, envSnapshot: good } as BisectOptions)).rejects.toThrow(/do not give envSnapshot/);
    await expect(bisect({ ...SMALL, good, bad: { hello: 1 } as unknown as EnvSnapshot })).rejects.toThrow(ProbeUsageError);
    await expect(bisect({ ...SMALL, good, bad: good, include: [''] })).rejects.toThrow(/include must be a list of non-empty globs/);
    await expect(bisect({ ...SMALL, good, bad: good, ranks: 0 })).rejects.toThrow(ProbeUsageError);
  });
});
