// A probe started from inside a Ray task, against real Ray: the task waits for the probe and
// holds what it was given until then, so on a Ray with one CPU, bundles of {GPU: 1, CPU: 1} could
// never be placed and the probe would wait out Ray's whole start-up budget (minutes). Under a
// task or actor the driver asks bundles without a CPU (python/cuipc_ray/placement.py), and a
// group the task's own GPUs keep from placing is refused within seconds, naming the task. The
// start-up budget is set far above the test's own limit, so a wait for it fails the test.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describeWithRay, processesMentioning } from './ray-cluster.js';

const pythonDir = fileURLToPath(new URL('../../python', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));

// A Ray of one CPU and two GPUs; every task below holds that CPU while it probes.
const JOB = `
import json, subprocess, sys, ray
import cuipc_ray
ray.init(num_cpus=1, num_gpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
common = dict(launcher="ray", backend="sim", python=sys.executable, inputs=2, bytes=1024)
NODE, CLI = sys.argv[1], sys.argv[2]  # read here: a task's sys.argv is its worker's

@ray.remote(num_cpus=1)
def holder(ranks):
    report = cuipc_ray.probe(ranks=ranks, **common)
    return {"result": report["result"], "abort": report.get("abort"), "gpus": [r["placement"]["ray"]["gpuIds"] for r in report["ranks"]]}

@ray.remote(num_cpus=1, num_gpus=1)
def greedy():
    # The CLI, as a user runs it from an actor: its stderr says what the driver chose.
    done = subprocess.run([NODE, CLI, "probe", "--launcher", "ray", "--backend", "sim", "--ranks", "2", "--inputs", "2",
                           "--bytes", "1024", "--python", sys.executable, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return {"code": done.returncode, "report": json.loads(done.stdout), "stderr": done.stderr}

out = {"one": ray.get(holder.remote(1)), "two": ray.get(holder.remote(2)), "greedy": ray.get(greedy.remote())}
print(json.dumps(out))
ray.shutdown()
`;

interface Held {
  result: string;
  abort: unknown;
  gpus: string[][];
}

describeWithRay('a probe started inside a Ray task that holds the only CPU (real Ray)', (python) => {
  it('works: the ranks\' bundles ask no CPU; and when the task holds a GPU the ranks need, it is refused at once, naming the task', () => {
    const temp = mkdtempSync(join(tmpdir(), 'cuipc-task-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, RAY_TMPDIR: temp, CUIPC_SIM_DEVICES: '2', CUIPC_RAY_STARTUP_TIMEOUT_S: '600', PYTHONPATH: pythonDir };
      delete env.RAY_ADDRESS;
      const run = spawnSync(python, ['-c', JOB, process.execPath, bin], { encoding: 'utf8', env, timeout: 240_000 });
      expect(run.status, `${run.error?.message ?? ''} ${run.stderr.slice(-3000)}`).toBe(0);
      const out = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as {
        one: Held;
        two: Held;
        greedy: { code: number; report: { result: string; abort: { reason: string; message: string } | null }; stderr: string };
      };
      // One rank in a Ray of one CPU, which the task holds: placed, passes.
      expect(out.one.result, JSON.stringify(out.one.abort)).toBe('passed');
      // Two ranks, one GPU each, the one CPU still the task's.
      expect(out.two.result, JSON.stringify(out.two.abort)).toBe('passed');
      expect(out.two.gpus.map((ids) => ids.length)).toEqual([1, 1]);
      expect(new Set(out.two.gpus.flat()).size).toBe(2);
      // The task holds one of the two GPUs: two ranks cannot be placed while it waits for them.
      const { code, report, stderr } = out.greedy;
      expect(code).toBe(3);
      expect(report.result).toBe('aborted');
      expect(report.abort?.message).toMatch(
        /this probe runs inside the Ray task or actor ray::greedy \(pid \d+\), which waits for it, and Ray cannot place 2 bundles of \{GPU: 1\} \(no CPU\), STRICT_PACK while it runs: the cluster has 1 node: CPU 1, GPU 2 \(available now: CPU 0, GPU 1\); .*run the probe from the job's driver/,
      );
      expect(report.abort?.message).not.toMatch(/start-up budget/);
      expect(stderr).toMatch(/^cuipc: Ray: this probe runs inside the Ray task or actor ray::greedy \(pid \d+\), which holds its resources until the probe ends: the ranks' bundles ask no CPU/m);
      expect(processesMentioning(temp)).toEqual([]);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  }, 300_000);
});
