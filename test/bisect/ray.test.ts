// bisect with --launcher ray: the searched variables reach the actors as runtime_env env_vars.
// Against the stand-in Ray (test/ray_standin: Ray's documented env_vars and CUDA_VISIBLE_DEVICES
// behaviour, not Ray itself), and against real Ray when CUIPC_TEST_RAY_PYTHON names a Python
// that imports ray (CUIPC_TEST_RAY_ADDRESS: a cluster with at least 2 GPUs, logical ones will
// do on the simulated device; without it ray.init starts a local one).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tmsStandinPath } from '../../lib/binding/native.js';
import { bisect, renderBisect, type BisectResult } from '../../lib/bisect/index.js';
import { captureEnvironment, type EnvSnapshot } from '../../lib/env/capture.js';
import type { RayLaunchOptions } from '../../lib/probe/options.js';
import { isAlive } from '../probe/helpers.js';
import { describeWithRay, descendants, processesMentioning, processTable, until } from '../launch/ray-cluster.js';

const { LD_PRELOAD: _p, SGLANG_MEMORY_SAVER_CUDA_GRAPH: _s, ...cleanEnv } = process.env;
const shell = (extra: Record<string, string>, label: string): EnvSnapshot => captureEnvironment({ env: { ...cleanEnv, ...extra }, label });
const SEED = { LD_PRELOAD: tmsStandinPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1', CUDA_DEVICE_MAX_CONNECTIONS: '1', NCCL_NVLS_ENABLE: '1', MASTER_ADDR: '10.0.0.7', PYTHONPATH_EXTRA: '/opt/app' };

function expectSeed(result: BisectResult): void {
  expect(result.settings.launcher).toBe('ray');
  expect(result.outcome).toBe('found');
  if (result.outcome !== 'found') return;
  expect(result.minimal.map((c) => c.id)).toEqual([`LD_PRELOAD+${tmsStandinPath()}`, 'SGLANG_MEMORY_SAVER_CUDA_GRAPH']);
  expect(result.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
}

describe('bisect --launcher ray (stand-in Ray)', () => {
  it('finds the seed\'s two changes with the variables given as runtime_env env_vars', async () => {
    const standin = fileURLToPath(new URL('../ray_standin', import.meta.url));
    const saved = { PYTHONPATH: process.env.PYTHONPATH, CUIPC_SIM_DEVICES: process.env.CUIPC_SIM_DEVICES, RAY_STANDIN_NUM_GPUS: process.env.RAY_STANDIN_NUM_GPUS };
    // The stand-in's cluster environment is the driver's, which is this process's.
    Object.assign(process.env, { PYTHONPATH: standin, CUIPC_SIM_DEVICES: '2', RAY_STANDIN_NUM_GPUS: '2' });
    try {
      const result = await bisect({ good: shell({}, 'shell'), bad: shell(SEED, 'actor'), launcher: 'ray', backend: 'sim', ranks: 2, inputs: 2, bytes: 1024, timeoutMs: 20_000 });
      expectSeed(result);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  }, 180_000);

  it('refuses plain-only options with ray, before any probe', async () => {
    const good = shell({}, 'shell');
    await expect(bisect({ good, bad: good, launcher: 'ray', visibility: 'per-rank', backend: 'sim' })).rejects.toThrow(/visibility applies to launcher plain \(--launcher plain\); this probe.s launcher is ray/);
  });
});

const realPython = process.env.CUIPC_TEST_RAY_PYTHON;
if (!realPython) console.log('bisect with real Ray skipped: set CUIPC_TEST_RAY_PYTHON to a Python that imports ray (and CUIPC_TEST_RAY_ADDRESS to a cluster with 2 GPUs)');
describe.skipIf(!realPython)('bisect --launcher ray (real Ray)', () => {
  it('finds the seed\'s two changes', async () => {
    const ray: RayLaunchOptions = { python: realPython as string };
    if (process.env.CUIPC_TEST_RAY_ADDRESS) ray.address = process.env.CUIPC_TEST_RAY_ADDRESS;
    // A local cluster's actors inherit this environment: two simulated devices, one per Ray GPU id;
    // its session folder goes into a temp folder of this test's (RAY_TMPDIR), removed at the end.
    const temp = mkdtempSync(join(tmpdir(), 'cuipc-b0-'));
    const saved = { CUIPC_SIM_DEVICES: process.env.CUIPC_SIM_DEVICES, RAY_TMPDIR: process.env.RAY_TMPDIR };
    Object.assign(process.env, { CUIPC_SIM_DEVICES: '2', RAY_TMPDIR: temp });
    try {
      const result = await bisect({ good: shell({}, 'shell'), bad: shell(SEED, 'actor'), launcher: 'ray', ray, backend: 'sim', ranks: 2, inputs: 2, bytes: 1024, timeoutMs: 60_000 });
      expectSeed(result);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      rmSync(temp, { recursive: true, force: true });
    }
  }, 600_000);
});

describeWithRay('bisect --launcher ray starts one Ray for every probe (real Ray, no cluster)', (python) => {
  it('starts exactly one local Ray, joins it from every probe, names the minimal set and leaves no Ray behind', async () => {
    const temp = mkdtempSync(join(tmpdir(), 'cuipc-b1-'));
    const saved = { RAY_TMPDIR: process.env.RAY_TMPDIR, RAY_ADDRESS: process.env.RAY_ADDRESS, CUIPC_SIM_DEVICES: process.env.CUIPC_SIM_DEVICES };
    // A fresh RAY_TMPDIR: no other Ray on the machine is found, and each Ray started makes one session folder in it.
    process.env.RAY_TMPDIR = temp;
    delete process.env.RAY_ADDRESS;
    delete process.env.CUIPC_SIM_DEVICES;
    const ownRay = (): number[] => processesMentioning(temp);
    try {
      const seed = { LD_PRELOAD: tmsStandinPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1', NCCL_NVLS_ENABLE: '1' };
      const events: string[] = [];
      const result = await bisect({
        good: shell({}, 'shell'), bad: shell(seed, 'actor'), launcher: 'ray', ray: { python }, backend: 'sim', ranks: 2, inputs: 2, bytes: 1024, timeoutMs: 60_000,
        onRay: (r) => events.push(`ray started=${r.started}`), onProgress: (p) => events.push(`probe ${p.probe}`),
      });
      expectSeed(result);
      expect(events.slice(0, 2)).toEqual(['ray started=true', 'probe 1']); // Ray's start-up comes before, and apart from, the probes
      expect(events.filter((e) => e.startsWith('ray'))).toHaveLength(1);
      expect(result.ray).toMatchObject({ started: true, address: expect.stringMatching(/:\d+$/) });
      expect(result.probeCount).toBeGreaterThanOrEqual(4);
      const sessions = readdirSync(join(temp, 'ray')).filter((name) => /^session_\d/.test(name));
      expect(sessions, 'Ray session folders: one Ray for the whole bisect').toHaveLength(1);
      expect(renderBisect(result)).toMatch(/^Ray: a local Ray started once in \d+(\.\d+)? s \(\S+:\d+\), joined by every probe/m);
      await until('the local Ray to end', () => ownRay().length === 0, 20_000);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      rmSync(temp, { recursive: true, force: true });
    }
  }, 300_000);
});

describeWithRay('cuipc bisect --launcher ray interrupted (real Ray, no cluster)', (python) => {
  it('SIGINT while a probe runs: the CLI says what it found so far and exits 130, and its one Ray and the session are gone', async () => {
    const temp = mkdtempSync(join(tmpdir(), 'cuipc-b2-'));
    try {
      const seed = { LD_PRELOAD: tmsStandinPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' };
      writeFileSync(join(temp, 'good.json'), JSON.stringify(shell({}, 'shell')));
      writeFileSync(join(temp, 'bad.json'), JSON.stringify(shell(seed, 'actor')));
      const env: NodeJS.ProcessEnv = { ...process.env, RAY_TMPDIR: temp };
      delete env.RAY_ADDRESS;
      delete env.CUIPC_SIM_DEVICES;
      // Every probe hangs in its open, so the interrupt lands while a probe runs.
      const cli = spawn(process.execPath, [fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url)), 'bisect', join(temp, 'good.json'), join(temp, 'bad.json'),
        '--launcher', 'ray', '--python', python, '--backend', 'sim', '--ranks', '2', '--inputs', '2', '--bytes', '1024', '--timeout', '60000',
        '--env', 'CUIPC_SIM_FAULT=cudaIpcOpenMemHandle@1#1=hang'], { stdio: ['ignore', 'pipe', 'pipe'], env });
      let stdout = '';
      cli.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      const closed = new Promise<number | null>((resolve) => cli.once('close', (code) => resolve(code)));
      const cmdlines = (): Array<{ pid: number; cmd: string }> => [...processTable().keys()].flatMap((pid) => {
        try {
          return [{ pid, cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8') }];
        } catch {
          return [];
        }
      });
      const ours = (): number[] => cmdlines().filter((p) => p.cmd.includes(temp) || (p.cmd.includes('cuipc_ray.session') && descendants([cli.pid as number]).includes(p.pid))).map((p) => p.pid);
      let session: number | undefined;
      await until('the session and a probe\'s driver', () => {
        const below = new Set(descendants([cli.pid as number]));
        const list = cmdlines().filter((p) => below.has(p.pid));
        session ??= list.find((p) => p.cmd.includes('cuipc_ray.session'))?.pid;
        return session !== undefined && list.some((p) => p.cmd.includes('--spec'));
      }, 60_000);
      const ray = [session as number, ...cmdlines().filter((p) => p.cmd.includes(temp)).map((p) => p.pid)];
      expect(ray.length).toBeGreaterThan(1); // the session and its Ray's processes
      cli.kill('SIGINT');
      expect(await closed).toBe(130);
      // GOOD's probe was the one running: stopped, and said so.
      expect(stdout).toMatch(/^Answer: interrupted by SIGINT after 1 probe\(s\): BAD's verdict was not known yet\.$/m);
      expect(stdout).toMatch(/^Probes so far:\n {2}1\. GOOD: stopped by the signal$/m);
      await until('the session and its Ray to end', () => ray.every((pid) => !isAlive(pid)) && ours().length === 0, 30_000);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  }, 120_000);
});
