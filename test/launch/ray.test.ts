// The Ray launcher against the stand-in Ray (test/ray_standin, never shipped): the driver in
// python/cuipc_ray runs one actor per rank, each actor runs the rank program. This tests the
// driver and the launcher against Ray's documented behaviour as the stand-in implements it,
// not against Ray itself.
import { spawnSync } from 'node:child_process';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { vmmInterposerPath } from '../../lib/binding/native.js';
import { rayDriverPath } from '../../lib/launch/ray.js';
import { probe, type ProbeOptions, type ProbeReport } from '../../lib/probe/index.js';
import { ProbeUsageError } from '../../lib/probe/options.js';
import { renderProbeReport } from '../../lib/report/render.js';
import { assertValidReport, isAlive } from '../probe/helpers.js';

const standin = fileURLToPath(new URL('../ray_standin', import.meta.url));
// Four simulated GPUs for the coordinator and, through the actors' inherited environment, the ranks.
process.env.CUIPC_SIM_DEVICES = '4';
process.env.RAY_STANDIN_NUM_GPUS = '4';
process.env.PYTHONPATH = standin;
const pids: number[] = [];
afterAll(() => {
  for (const pid of pids) expect(isAlive(pid), `rank pid ${pid} outlived its probe`).toBe(false);
});

async function run(options: ProbeOptions): Promise<ProbeReport> {
  const report = await probe({ backend: 'sim', launcher: 'ray', inputs: 2, bytes: 1024, timeoutMs: 10_000, ...options });
  assertValidReport(JSON.parse(JSON.stringify(report)));
  for (const rank of report.ranks) if (rank.pid !== null) pids.push(rank.pid);
  return report;
}

describe('cuipc probe --launcher ray (stand-in Ray)', () => {
  it('4 ranks: each actor gets one GPU and Ray narrows CUDA_VISIBLE_DEVICES to it', async () => {
    const report = await run({ ranks: 4 });
    expect(report.result).toBe('passed');
    expect(report.options.launch).toMatchObject({ launcher: 'ray', visibility: null, ray: { numGpus: 1, placementStrategy: 'STRICT_PACK', nosetVisibleDevices: false } });
    const gpuIds = report.ranks.map((r) => r.placement?.ray?.gpuIds);
    expect(new Set(gpuIds.map((ids) => ids?.join()))).toEqual(new Set(['0', '1', '2', '3']));
    for (const rank of report.ranks) {
      const ray = rank.placement?.ray;
      expect(ray?.gpuIds).toHaveLength(1);
      expect(ray?.nosetVisibleDevices).toBe(false);
      expect(ray?.nodeId).toMatch(/^[0-9a-f]{56}$/);
      // The rank sees exactly its GPU, as ordinal 0.
      expect(ray?.cudaVisibleDevices).toBe(ray?.gpuIds[0]);
      expect(rank.placement?.cudaVisibleDevices).toBe(ray?.gpuIds[0]);
      expect(rank.requestedDevice).toBe(0);
      expect(rank.device?.ordinal).toBe(0);
    }
    // Same ordinal everywhere, four different physical GPUs.
    expect(new Set(report.ranks.map((r) => r.device?.uuid)).size).toBe(4);
    expect(new Set(report.ranks.map((r) => r.device?.pciBusId)).size).toBe(4);
    const text = renderProbeReport(report);
    expect(text).toMatch(/launcher ray: num_gpus 1 per actor, STRICT_PACK, Ray sets CUDA_VISIBLE_DEVICES per actor/);
    expect(text).toMatch(/rank 3 \(pid \d+\): device 0 = .*\[CUDA_VISIBLE_DEVICES=\d, Ray GPU ids \[\d\], node [0-9a-f]{12}\]/);
  });

  it('4 ranks with NOSET: every GPU visible, each rank uses its Ray GPU id', async () => {
    const report = await run({ ranks: 4, ray: { nosetVisibleDevices: true, numGpus: 0.25 } });
    expect(report.result).toBe('passed');
    for (const rank of report.ranks) {
      const ray = rank.placement?.ray;
      expect(ray?.nosetVisibleDevices).toBe(true);
      expect(ray?.cudaVisibleDevices).toBeNull();
      expect(rank.placement?.cudaVisibleDevices).toBeNull();
      expect(rank.requestedDevice).toBe(Number(ray?.gpuIds[0]));
      expect(rank.device?.ordinal).toBe(rank.requestedDevice);
    }
    expect(new Set(report.ranks.map((r) => r.device?.uuid)).size).toBe(4);
    expect(renderProbeReport(report)).toMatch(/RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES set/);
  });

  it('runtime_env env_vars reach the ranks: an LD_PRELOAD interposer makes the export fail, and is named', async () => {
    const report = await run({ ranks: 2, env: { LD_PRELOAD: vmmInterposerPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' } });
    expect(report.result).toBe('failed');
    expect(report.options.envKeys).toEqual(['LD_PRELOAD', 'SGLANG_MEMORY_SAVER_CUDA_GRAPH']);
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1, name: 'cudaErrorInvalidValue' });
    expect(report.pinpoint?.provenance).toMatchObject({ classification: 'vmm', vmm: true, legacyIpcCapable: false });
    expect(report.pinpoint?.explanations[0].id).toBe('vmm-memory');
    expect(report.pinpoint?.explanations[0].summary).toMatch(/libcuipc_vmm_interposer\.so/);
  });

  it('a placement group that cannot be placed (STRICT_SPREAD on one node) ends the probe, saying so', async () => {
    const report = await run({ ranks: 2, timeoutMs: 1000, ray: { placementStrategy: 'STRICT_SPREAD' } });
    expect(report.exitCode).toBe(3);
    expect(report.abort).toMatchObject({ reason: 'spawn-failed', rank: 0, step: 'init' });
    expect(report.abort?.message).toMatch(/placement group \(2 bundles of \{GPU: 1, CPU: 1\}, STRICT_SPREAD\) was not ready within 0.5 s/);
  });

  it('a Python without Ray: the probe could not run, and the message says how to fix it', async () => {
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = '';
    try {
      const report = await run({ ranks: 2 });
      expect(report.exitCode).toBe(3);
      expect(report.abort?.reason).toBe('spawn-failed');
      expect(report.abort?.message).toMatch(/Ray is not importable .*pip install ray/);
    } finally {
      process.env.PYTHONPATH = saved;
    }
  });

  it.each([
    [{ visibility: 'per-rank' as const }, /visibility applies to the plain launcher/],
    [{ devices: [0, 1] }, /devices applies to the plain launcher/],
    [{ ray: { numGpus: 2 } }, /num GPUs must be above 0 and at most 1/],
    [{ ray: { placementStrategy: 'RANDOM' as never } }, /placement strategy must be one of/],
    [{ coordinatorHost: 'a b' }, /coordinator host/],
  ])('%j is refused before anything starts', async (options) => {
    await expect(probe({ backend: 'sim', launcher: 'ray', ranks: 2, ...options })).rejects.toThrow(ProbeUsageError);
  });

  it('the Ray options need --launcher ray', async () => {
    await expect(probe({ backend: 'sim', ranks: 2, ray: { numGpus: 0.5 } })).rejects.toThrow(/need launcher ray/);
  });
});

describe('cuipc_ray as a Python payload (stand-in Ray)', () => {
  it('run_probe_ranks in a caller-held Ray session: Ray semantics per actor, the session left running', () => {
    const script = `
import json, sys, ray, cuipc_ray
ray.init()
argv = [sys.executable, "-c", "import os, sys; sys.stderr.write(repr((os.environ.get('CUDA_VISIBLE_DEVICES'), os.environ.get('FROM_RUNTIME_ENV'), os.environ['CUIPC_RANK'])))"]
out = {}
for noset in (False, True):
    env_vars = {"FROM_RUNTIME_ENV": "yes"}
    if noset:
        env_vars[cuipc_ray.NOSET_ENV] = "1"
    results = cuipc_ray.run_probe_ranks({"ranks": 2, "rank_argv": argv, "env_vars": env_vars, "rank_env": {}})
    out[str(noset)] = [[r["code"], r["stderr_tail"], r["placement"]["gpu_ids"]] for r in results]
out["still_initialized"] = ray.is_initialized()
print(json.dumps(out))
`;
    const result = spawnSync('python3', ['-c', script], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: [rayDriverPath(), standin].join(delimiter) },
      timeout: 30_000,
    });
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(out.False).toEqual([
      [0, "('0', 'yes', '0')", ['0']],
      [0, "('1', 'yes', '1')", ['1']],
    ]);
    expect(out.True).toEqual([
      [0, "(None, 'yes', '0')", ['0']],
      [0, "(None, 'yes', '1')", ['1']],
    ]);
    expect(out.still_initialized).toBe(true);
  });
});
