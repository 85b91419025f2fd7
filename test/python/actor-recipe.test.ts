// README's actor recipe against real Ray (issue 21): capture_env() inside a Ray actor that Ray
// gave a GPU (CUDA_VISIBLE_DEVICES assigned by Ray) with the seed's variables in its
// runtime_env, capture_env() in the driver, then `cuipc bisect` on the host names the seed's two
// changes and models the actor's visibility as per-rank, never CUDA_VISIBLE_DEVICES=<its GPU>.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { tmsStandinPath } from '../../lib/binding/native.js';
import { describeWithRay } from '../launch/ray-cluster.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

const SCRIPT = `
import json, os, sys, ray, cuipc_ray
scratch, standin = sys.argv[1], sys.argv[2]
ray.init(num_gpus=2, num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=os.path.join(scratch, "ray"))
try:
    @ray.remote(num_gpus=1, runtime_env={"env_vars": {"LD_PRELOAD": standin, "SGLANG_MEMORY_SAVER_CUDA_GRAPH": "1"}})
    class Engine:
        def __init__(self):
            cuipc_ray.capture_env(label="actor", path=os.path.join(scratch, "actor.json"))
        def ready(self):
            return True
    ray.get(Engine.remote().ready.remote(), timeout=120)
    cuipc_ray.capture_env(label="host", path=os.path.join(scratch, "host.json"))
finally:
    ray.shutdown()
`;

describeWithRay('README: the actor recipe (capture in a Ray actor, bisect on the host)', (python) => {
  const scratch = mkdtempSync(join(tmpdir(), 'cuipc-recipe-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('names the hook and SGLANG_MEMORY_SAVER_CUDA_GRAPH from a snapshot with a Ray-assigned CUDA_VISIBLE_DEVICES', () => {
    const { LD_PRELOAD: _p, SGLANG_MEMORY_SAVER_CUDA_GRAPH: _s, CUDA_VISIBLE_DEVICES: _c, ...clean } = process.env;
    const env = { ...clean, CUIPC_SIM_DEVICES: '2', PYTHONPATH: join(repo, 'python'), RAY_USAGE_STATS_ENABLED: '0' };
    const captured = spawnSync(python, ['-c', SCRIPT, scratch, tmsStandinPath()], { encoding: 'utf8', timeout: 240_000, env, cwd: scratch });
    expect(captured.status, captured.stderr.slice(-3000)).toBe(0);
    const actor = JSON.parse(readFileSync(join(scratch, 'actor.json'), 'utf8')) as { visibility: { assignedBy: string; cudaVisibleDevices: string; ray: { nodeId: string | null; gpuIds: string[] } } };
    expect(actor.visibility.assignedBy).toBe('ray');
    expect(actor.visibility.ray.nodeId).toMatch(/^[0-9a-f]{20,}$/);
    expect(actor.visibility.ray.gpuIds).toHaveLength(1);
    const bisect = spawnSync(process.execPath, [join(repo, 'bin', 'cuipc.js'), 'bisect', join(scratch, 'host.json'), join(scratch, 'actor.json'),
      '--backend', 'sim', '--ranks', '2', '--inputs', '2', '--bytes', '1024', '--json'], { encoding: 'utf8', timeout: 240_000, env: { ...clean, CUIPC_SIM_DEVICES: '2' } });
    expect(bisect.status, bisect.stderr + bisect.stdout).toBe(0);
    const result = JSON.parse(bisect.stdout) as { outcome: string; answer: string; minimal: Array<{ id: string }>; changes: Array<{ id: string; variable: string }> };
    expect(result.outcome).toBe('found');
    expect(result.minimal.map((c) => c.id)).toEqual([`LD_PRELOAD+${tmsStandinPath()}`, 'SGLANG_MEMORY_SAVER_CUDA_GRAPH']);
    expect(result.changes.filter((c) => c.variable === 'CUDA_VISIBLE_DEVICES').map((c) => c.id)).toEqual(['per-rank visibility']);
    expect(result.answer).not.toMatch(/CUDA_VISIBLE_DEVICES/);
  }, 480_000);
});
