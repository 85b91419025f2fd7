// cuipc_ray/placement.py without Ray: how the driver tells it runs under a Ray task or actor
// (a worker is a child of the raylet named by RAY_RAYLET_PID; the job supervisor of `ray job
// submit` does not count), which cluster that task belongs to (the raylet's --gcs-address), and
// how many bundles with or without a CPU the nodes hold. A fake /proc stands in for the process
// tree; the real-Ray cases are test/launch/ray-in-task.test.ts.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pythonDir = fileURLToPath(new URL('../../python', import.meta.url));

const SCRIPT = `
import json, os, tempfile
from cuipc_ray.placement import bundles_that_fit, caller_gcs_address, ray_caller

def fake_proc(tree, cmdlines):
    root = tempfile.mkdtemp()
    for pid, ppid in tree.items():
        os.makedirs("%s/%d" % (root, pid))
        with open("%s/%d/stat" % (root, pid), "w") as f:
            f.write("%d (py thon) S %d %d %d 0" % (pid, ppid, pid, pid))
        with open("%s/%d/cmdline" % (root, pid), "wb") as f:
            f.write(cmdlines.get(pid, "python").encode() + b"\\0\\0\\0")
    return root

me = os.getpid()
RAYLET, WORKER, SHELL = 50, 100, 200
tree = {me: SHELL, SHELL: WORKER, WORKER: RAYLET, RAYLET: 1}
raylet_args = "raylet\\0--node_ip_address=10.0.0.1\\0--gcs-address=10.0.0.1:6379\\0--head"
task = fake_proc(tree, {WORKER: "ray::holder", RAYLET: raylet_args})
supervisor = fake_proc(tree, {WORKER: "ray::JobSupervisor.run"})
elsewhere = fake_proc({me: SHELL, SHELL: 1}, {})
env = {"RAY_RAYLET_PID": str(RAYLET)}
nodes = [{"GPU": 2, "CPU": 0}, {"GPU": 2, "CPU": 1}]
print(json.dumps({
    "task": ray_caller(env, task),
    "noVariable": ray_caller({}, task),
    "supervisor": ray_caller(env, supervisor),
    "notBelow": ray_caller(env, elsewhere),
    "address": caller_gcs_address(env, task),
    "noAddress": caller_gcs_address(env, elsewhere),
    "fit": [bundles_that_fit(nodes, s, cpu) for s in ("STRICT_PACK", "PACK", "STRICT_SPREAD") for cpu in (1, 0)],
}))
`;

describe('cuipc_ray.placement (no Ray)', () => {
  it('finds the Ray task it runs under and its cluster; the job supervisor and processes outside Ray are not tasks; bundles with and without a CPU', () => {
    const run = spawnSync('python3', ['-c', SCRIPT], { cwd: pythonDir, encoding: 'utf8', env: { ...process.env, PYTHONPATH: pythonDir }, timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(out).toEqual({
      task: [100, 'ray::holder'],
      noVariable: null,
      supervisor: null,
      notBelow: null,
      address: '10.0.0.1:6379',
      noAddress: null,
      // STRICT_PACK: the best node; PACK: all nodes; STRICT_SPREAD: nodes with room for one. With a CPU, the first node holds none.
      fit: [1, 2, 1, 4, 1, 2],
    });
  });
});
