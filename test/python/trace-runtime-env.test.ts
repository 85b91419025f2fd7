// cuipc_ray.trace_runtime_env(DIR): the runtime_env that gives every CUDA process of a Ray job
// cuipc trace's injection variables. No GPU here, so the traced program is the trace tests' fake
// one (it checks the variables reached it and writes a trace as the library would), run inside a
// Ray actor of a job started with that runtime_env; `cuipc trace report DIR` then reads it back.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeWithRay, processesMentioning } from '../launch/ray-cluster.js';

const pythonDir = fileURLToPath(new URL('../../python', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
const FAKE = fileURLToPath(new URL('../trace/fake_traced_program.mjs', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/trace/expandable_segments.synthetic.jsonl', import.meta.url));

function python(program: string, code: string, args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const { CUDA_INJECTION64_PATH: _i, CUIPC_TRACE_DIR: _d, CUIPC_TRACE_LIBRARY: _l, RAY_ADDRESS: _a, ...own } = process.env;
  return spawnSync(program, ['-c', code, ...args], { encoding: 'utf8', env: { ...own, PYTHONPATH: pythonDir, ...env }, timeout: 180_000 });
}

describe('trace_runtime_env (no Ray needed)', () => {
  it('adds the three variables to a copy of the runtime_env, and refuses another injection or a missing library', () => {
    const temp = mkdtempSync(join(tmpdir(), 'cuipc-tre-'));
    try {
      const library = join(temp, 'libcuipc_trace.so');
      writeFileSync(library, '');
      const code = `
import json, sys, cuipc_ray
given = {"env_vars": {"A": "1"}, "pip": ["x"]}
env = cuipc_ray.trace_runtime_env(sys.argv[1] + "/traces", runtime_env=given)
out = {"env": env, "given": given}
for case in ({"env_vars": {"CUDA_INJECTION64_PATH": "/opt/nsight/libinj.so"}}, None):
    try:
        cuipc_ray.trace_runtime_env(sys.argv[1], runtime_env=case, library=None if case else sys.argv[1] + "/missing.so")
    except cuipc_ray.TraceSetupError as error:
        out.setdefault("errors", []).append(str(error))
print(json.dumps(out))`;
      const run = python('python3', code, [temp], { CUIPC_TRACE_LIBRARY: library });
      expect(run.status, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout) as { env: { env_vars: Record<string, string>; pip: string[] }; given: { env_vars: Record<string, string> }; errors: string[] };
      expect(out.env.pip).toEqual(['x']);
      expect(out.env.env_vars).toMatchObject({ A: '1', CUDA_INJECTION64_PATH: library, CUIPC_TRACE_DIR: join(temp, 'traces') });
      expect(out.env.env_vars.CUIPC_TRACE_RUN).toMatch(/^[0-9a-z]+[0-9a-f]{6}$/);
      expect(out.given.env_vars).toEqual({ A: '1' }); // the caller's dict is not changed
      expect(out.errors[0]).toMatch(/already sets CUDA_INJECTION64_PATH=\/opt\/nsight\/libinj\.so/);
      expect(out.errors[1]).toMatch(/missing\.so does not exist/);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });
});

const JOB = `
import json, os, subprocess, sys, ray, cuipc_ray
trace_dir, node, fake, fixture = sys.argv[1:5]
runtime_env = cuipc_ray.trace_runtime_env(trace_dir)
ray.init(num_cpus=1, num_gpus=0, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)

@ray.remote
class Engine:
    def run(self):
        # A CUDA process the actor starts: the fake one checks the variables are its and writes its trace.
        done = subprocess.run([node, fake, fixture, "0", runtime_env["env_vars"]["CUDA_INJECTION64_PATH"]], capture_output=True, text=True)
        return done.returncode, done.stderr

code, err = ray.get(Engine.remote().run.remote())
print(json.dumps({"code": code, "stderr": err, "run": runtime_env["env_vars"]["CUIPC_TRACE_RUN"]}))
ray.shutdown()
`;

describeWithRay('trace_runtime_env in a Ray job (real Ray)', (rayPython) => {
  it('every process the job\'s actors start gets the injection; cuipc trace report DIR finds the failing IPC call', () => {
    const temp = mkdtempSync(join(tmpdir(), 'cuipc-trj-'));
    try {
      const traces = join(temp, 'traces');
      const run = python(rayPython, JOB, [traces, process.execPath, FAKE, FIXTURE], { RAY_TMPDIR: temp });
      expect(run.status, run.stderr.slice(-3000)).toBe(0);
      const out = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { code: number; stderr: string; run: string };
      expect(out.code, out.stderr).toBe(0);
      const report = spawnSync(process.execPath, [bin, 'trace', 'report', traces, '--run', out.run], { encoding: 'utf8', timeout: 60_000 });
      expect(report.stdout + report.stderr).toContain('First failing IPC call: cudaIpcGetMemHandle(ptr=0x7f2a00000000) -> 1 cudaErrorInvalidValue');
      const left = processesMentioning(temp);
      expect(left).toEqual([]);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  }, 240_000);
});
