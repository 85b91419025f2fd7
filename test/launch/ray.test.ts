// The Ray launcher end to end against real Ray (ray-cluster.ts finds it; .ci/run installs it):
// one test cluster (`ray start --head`, 4 GPUs, 8 CPUs) for the file, the driver in
// python/cuipc_ray places one actor per rank, each actor runs the rank program on the
// simulated device. Without Ray the file is skipped locally and fails in CI.
// ray-local.test.ts covers a Ray the driver starts itself (no cluster).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmsStandinPath, vmmInterposerPath } from '../../lib/binding/native.js';
import { rayDriverPath } from '../../lib/launch/ray.js';
import { probe, type ProbeOptions, type ProbeReport } from '../../lib/probe/index.js';
import { ProbeUsageError } from '../../lib/probe/options.js';
import { renderProbeReport } from '../../lib/report/render.js';
import { isAlive } from '../probe/helpers.js';
import { describeWithRay, descendants, probeThroughRay, processTable, startTestCluster, until, type TestCluster } from './ray-cluster.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
// Four simulated GPUs for the coordinator (the cluster's workers get theirs from the cluster).
process.env.CUIPC_SIM_DEVICES = '4';
/** What the RL framework's runtime_env gives every SGLang engine besides the memory saver (as in test/probe/memory-saver.test.ts). */
const SEED_RUNTIME_ENV = {
  CUDA_DEVICE_MAX_CONNECTIONS: '1',
  NCCL_NVLS_ENABLE: '1',
  SGLANG_DISABLE_TP_MEMORY_INBALANCE_CHECK: 'true',
  SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION: 'false',
  SGLANG_JIT_DEEPGEMM_PRECOMPILE: 'false',
};

describeWithRay('cuipc probe --launcher ray (real Ray, a test cluster)', (python) => {
  let cluster: TestCluster;
  const pids: number[] = [];
  beforeAll(async () => {
    cluster = await startTestCluster(python);
  });
  afterAll(async () => {
    await cluster?.stop();
    for (const pid of cluster?.pids ?? []) expect(isAlive(pid), `cluster pid ${pid} outlived the file`).toBe(false);
    for (const pid of pids) expect(isAlive(pid), `rank pid ${pid} outlived its probe`).toBe(false);
  });

  const run = (options: ProbeOptions): Promise<ProbeReport> => probeThroughRay(python, cluster.address, pids, options, 10_000);

  it('4 ranks: each actor gets one GPU and Ray narrows CUDA_VISIBLE_DEVICES to it; actors and the group are removed', async () => {
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
      // Each rank says its node (one here, so the verdict may be PASS: lib/launch/nodes.ts).
      expect(ray?.nodeId).toBe(report.ranks[0].placement?.ray?.nodeId);
      expect(rank.placement?.hostname).toBe(hostname());
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
    const state = cluster.state();
    expect(state.actors.length).toBe(4);
    expect(new Set(state.actors)).toEqual(new Set(['DEAD']));
    expect(state.placementGroups).toEqual(['REMOVED']);
  });

  it('NOSET and num_gpus 0.25: every GPU visible, each rank uses its Ray GPU id', async () => {
    const report = await run({ ranks: 2, ray: { nosetVisibleDevices: true, numGpus: 0.25 } });
    expect(report.result).toBe('passed');
    for (const rank of report.ranks) {
      const ray = rank.placement?.ray;
      expect(ray?.nosetVisibleDevices).toBe(true);
      expect(ray?.cudaVisibleDevices).toBeNull();
      expect(rank.placement?.cudaVisibleDevices).toBeNull();
      expect(rank.requestedDevice).toBe(Number(ray?.gpuIds[0]));
      expect(rank.device?.ordinal).toBe(rank.requestedDevice);
    }
    expect(new Set(report.ranks.map((r) => r.device?.uuid)).size).toBe(2);
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

  it('the seed through Ray: a colocated SGLang rank\'s runtime_env (the memory saver\'s hook, SGLANG_MEMORY_SAVER_CUDA_GRAPH=1) fails at export with 1', async () => {
    const report = await run({ ranks: 2, env: { LD_PRELOAD: tmsStandinPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1', ...SEED_RUNTIME_ENV } });
    expect(report.result).toBe('failed');
    expect(report.exitCode).toBe(1);
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1, name: 'cudaErrorInvalidValue' });
    expect(report.pinpoint?.provenance).toMatchObject({ classification: 'vmm', legacyIpcCapable: false });
    for (const rank of report.ranks) {
      // Under Ray, the rank decided from the environment its actor gave it.
      expect(rank.placement?.ray?.gpuIds).toHaveLength(1);
      expect(rank.memorySaver).toMatchObject({ mode: 'auto', variable: '1', entered: true, hooks: [{ abi: 'torch_memory_saver', library: tmsStandinPath() }] });
    }
    expect(report.pinpoint?.explanations[0].summary).toMatch(/SGLANG_MEMORY_SAVER_CUDA_GRAPH=1/);
    expect(report.warnings).toEqual([]);
  });

  it('the seed through Ray, standalone (the hook, no variable): passes, warning that the region was not exercised', async () => {
    const report = await run({ ranks: 2, env: { LD_PRELOAD: tmsStandinPath(), ...SEED_RUNTIME_ENV } });
    expect(report.result).toBe('passed');
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toMatchObject({ id: 'memory-saver.not-entered.torch_memory_saver', severity: 'high', ranks: [0, 1] });
    expect(report.warnings[0].command).toMatch(/SGLANG_MEMORY_SAVER_CUDA_GRAPH=true/);
  });

  it.each([
    [{ ranks: 2, ray: { placementStrategy: 'STRICT_SPREAD' as const } }, /2 bundles of \{GPU: 1, CPU: 1\} cannot be placed with STRICT_SPREAD: STRICT_SPREAD needs 2 nodes/],
    [{ ranks: 5 }, /5 bundles of \{GPU: 1, CPU: 1\} cannot be placed with STRICT_PACK: start Ray with enough/],
  ])('a group the cluster cannot place (%j) is refused at once, naming what the cluster has', async (options, why) => {
    const started = Date.now();
    const report = await run({ ...options, timeoutMs: 60_000 });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(report.exitCode).toBe(3);
    expect(report.abort).toMatchObject({ reason: 'spawn-failed', rank: 0, step: 'init' });
    expect(report.abort?.message).toMatch(/the Ray cluster has 1 node: CPU 8, GPU 4 \(available now: CPU 8, GPU 4\)/);
    expect(report.abort?.message).toMatch(why);
    // The driver's own output (Ray's log lines) is nobody's rank's.
    for (const rank of report.ranks) expect(rank.stderrTail).toBe('');
  });

  it('a short --timeout starts after Ray placed the actors: an injected hang is reported as a hang, not as an init failure', async () => {
    const report = await run({ ranks: 2, timeoutMs: 2000, env: { CUIPC_SIM_FAULT: 'cudaIpcOpenMemHandle@1#1=hang' } });
    expect(report.exitCode).toBe(3);
    expect(report.abort).toMatchObject({ reason: 'hung', rank: 1, step: 'register', call: 'cudaIpcOpenMemHandle' });
    expect(report.ranks.map((r) => r.steps.init.outcome)).toEqual(['passed', 'passed']);
  });

  it('a Python without Ray: the probe could not run, and the message says how to fix it', async () => {
    const noRay = spawnSync('python3', ['-c', 'import ray'], { encoding: 'utf8' });
    expect(noRay.status, 'this case needs a python3 that cannot import ray').not.toBe(0);
    const report = await run({ ranks: 2, ray: { python: 'python3' } });
    expect(report.exitCode).toBe(3);
    expect(report.abort?.reason).toBe('spawn-failed');
    expect(report.abort?.message).toMatch(/Ray is not importable .*pip install ray/);
  });

  it('SIGTERM to the CLI while ranks run in actors: ranks, actors, the placement group and the spec file are all gone; exit 143', async () => {
    const before = new Set(descendants(cluster.pids));
    const cli = spawn(
      process.execPath,
      [bin, 'probe', '--backend', 'sim', '--launcher', 'ray', '--ranks', '2', '--inputs', '2', '--bytes', '1024', '--timeout', '60000',
        '--env', 'CUIPC_SIM_FAULT=cudaIpcOpenMemHandle@1#1=hang', '--ray-address', cluster.address, '--python', python],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => cli.once('close', (code, signal) => resolve({ code, signal })));
    // The ranks: new session leaders below the cluster's processes (each actor starts its rank in a session of its own).
    let ranks: number[] = [];
    await until('two ranks in the actors', () => {
      const table = processTable();
      ranks = descendants(cluster.pids, table).filter((pid) => !before.has(pid) && table.get(pid)?.sid === pid);
      return ranks.length === 2;
    }, 30_000);
    const driver = descendants([cli.pid as number]).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('cuipc_ray'));
    expect(driver).toBeDefined();
    const specDir = dirname(readFileSync(`/proc/${driver}/cmdline`, 'utf8').split('\0').at(-2) ?? '');
    await new Promise((r) => setTimeout(r, 1000)); // rank 1 is in its hung call by now
    cli.kill('SIGTERM');
    const exit = await closed;
    expect(exit.code ?? 128 + 15, `exit ${JSON.stringify(exit)}`).toBe(143);
    await until('the driver and the ranks to end', () => [driver as number, ...ranks].every((pid) => !isAlive(pid)), 15_000);
    expect(existsSync(specDir), `${specDir} left behind`).toBe(false);
    const state = cluster.state();
    expect(state.actors.filter((s) => s !== 'DEAD')).toEqual([]);
    expect(state.placementGroups.filter((s) => s !== 'REMOVED')).toEqual([]);
  });

  it('SIGTERM to the driver itself (as the coordinator stops it): its handler outlives ray.init, each rank is reported ended by SIGTERM', async () => {
    const before = new Set(descendants(cluster.pids));
    let driver: number | undefined;
    let ranks: number[] = [];
    const watcher = (async () => {
      await until('two ranks in the actors', () => {
        const table = processTable();
        driver ??= descendants([process.pid], table).find((pid) => table.get(pid)?.pgid === pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('cuipc_ray'));
        ranks = descendants(cluster.pids, table).filter((pid) => !before.has(pid) && table.get(pid)?.sid === pid);
        return driver !== undefined && ranks.length === 2;
      }, 30_000);
      await new Promise((r) => setTimeout(r, 1000));
      process.kill(driver as number, 'SIGTERM');
    })();
    const report = await run({ ranks: 2, timeoutMs: 60_000, env: { CUIPC_SIM_FAULT: 'cudaIpcOpenMemHandle@1#1=hang' } });
    await watcher;
    expect(report.exitCode).toBe(3);
    expect(report.abort?.reason).toBe('crashed');
    expect(report.abort?.message).toMatch(/was killed by SIGTERM/);
    for (const rank of report.ranks) {
      expect(rank.exit).toEqual({ code: null, signal: 'SIGTERM' });
      expect(rank.stderrTail).not.toMatch(/SIGTERM|Traceback|worker\.py/);
    }
    await until('the driver and the ranks to end', () => [driver as number, ...ranks].every((pid) => !isAlive(pid)), 15_000);
    const state = cluster.state();
    expect(state.actors.filter((s) => s !== 'DEAD')).toEqual([]);
    expect(state.placementGroups.filter((s) => s !== 'REMOVED')).toEqual([]);
  });

  it('run_probe_ranks in a caller-held Ray session: Ray semantics per actor, stopped ranks reported, the session left running', () => {
    const script = `
import json, sys, threading, ray, cuipc_ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
argv = [sys.executable, "-c", "import os, sys; sys.stderr.write(repr((os.environ.get('CUDA_VISIBLE_DEVICES'), os.environ.get('FROM_RUNTIME_ENV'), os.environ['CUIPC_RANK'])))"]
out = {}
results = cuipc_ray.run_probe_ranks({"ranks": 2, "rank_argv": argv, "env_vars": {"FROM_RUNTIME_ENV": "yes"}, "rank_env": {}})
out["ranks"] = [[r["code"], r["stderr_tail"], r["placement"]["gpu_ids"]] for r in results]
# Stopped while the ranks sleep: each comes back through on_rank_exit, ended by SIGTERM.
stop, seen = threading.Event(), []
sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
results = cuipc_ray.run_probe_ranks({"ranks": 2, "rank_argv": sleeper}, on_rank_exit=seen.append, stop_event=stop,
                                    on_ready=lambda info: threading.Timer(1.0, stop.set).start())
out["stopped"] = [[r["rank"], r["code"], r["signal"]] for r in results]
out["seen"] = sorted(r["rank"] for r in seen)
out["still_initialized"] = ray.is_initialized()
print(json.dumps(out))
`;
    const result = spawnSync(python, ['-c', script, cluster.address], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: [rayDriverPath(), process.env.PYTHONPATH].filter((p) => p).join(delimiter) },
      timeout: 60_000,
    });
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout.trim().split('\n').slice(-1)[0]) as Record<string, unknown>;
    const ids = (out.ranks as Array<[number, string, string[]]>).map((r) => r[2][0]);
    expect(out.ranks).toEqual([
      [0, `('${ids[0]}', 'yes', '0')`, [ids[0]]],
      [0, `('${ids[1]}', 'yes', '1')`, [ids[1]]],
    ]);
    expect(new Set(ids).size).toBe(2);
    expect(out.stopped).toEqual([
      [0, null, 'SIGTERM'],
      [1, null, 'SIGTERM'],
    ]);
    expect(out.seen).toEqual([0, 1]);
    expect(out.still_initialized).toBe(true);
  });
});

describe('cuipc probe --launcher ray: options refused before anything starts', () => {
  it.each([
    [{ visibility: 'per-rank' as const }, /visibility applies to launcher plain \(--launcher plain\); this probe.s launcher is ray/],
    [{ devices: [0, 1] }, /devices applies to the plain launcher/],
    [{ ray: { numGpus: 2 } }, /num GPUs must be above 0 and at most 1/],
    [{ ray: { placementStrategy: 'RANDOM' as never } }, /placement strategy must be one of/],
    [{ coordinatorHost: 'a b' }, /coordinator host/],
    [{ env: { CUDA_VISIBLE_DEVICES: '2' } }, /CUDA_VISIBLE_DEVICES cannot be given to Ray actors: Ray assigns each actor its GPU/],
  ])('%j is refused before anything starts', async (options, why) => {
    const refused = probe({ backend: 'sim', launcher: 'ray', ranks: 2, ...options });
    await expect(refused).rejects.toThrow(ProbeUsageError);
    await expect(refused).rejects.toThrow(why);
  });

  it('the Ray options need --launcher ray', async () => {
    await expect(probe({ backend: 'sim', ranks: 2, ray: { numGpus: 0.5 } })).rejects.toThrow(/num GPUs applies to launcher ray \(--launcher ray\)/);
  });

  it("a bad start-up budget for Ray is a usage error", async () => {
    process.env.CUIPC_RAY_STARTUP_TIMEOUT_S = 'soon';
    try {
      await expect(probe({ backend: 'sim', launcher: 'ray', ranks: 2 })).rejects.toThrow(/CUIPC_RAY_STARTUP_TIMEOUT_S must be a positive number/);
    } finally {
      delete process.env.CUIPC_RAY_STARTUP_TIMEOUT_S;
    }
  });
});
