// The Python package Ray users install (python/, issue 21): pip installs it into a fresh virtual
// environment from the local index's build tools, and there capture_env() writes the snapshot
// `cuipc env capture --json` writes (compared field by field, in one environment), and probe()
// runs the CLI and returns the report, refusing unknown keys and bad values first.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tmsStandinPath } from '../../lib/binding/native.js';
import { parseSnapshot } from '../../lib/env/read-snapshot.js';
import { MAX_INPUTS } from '../../lib/probe/option-table.js';
import { describeWithRay } from '../launch/ray-cluster.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(repo, 'bin', 'cuipc.js');

describeWithRay('python/: the cuipc_ray package, pip-installed into a fresh venv', (basePython) => {
  const scratch = mkdtempSync(join(tmpdir(), 'cuipc-pip-'));
  const python = join(scratch, 'venv', 'bin', 'python');
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  beforeAll(() => {
    // A copy with its links followed: pip builds in the folder it is given, and the repository stays clean.
    cpSync(join(repo, 'python'), join(scratch, 'src'), { recursive: true, dereference: true, filter: (p) => !p.includes('__pycache__') });
    const venv = spawnSync(basePython, ['-m', 'venv', join(scratch, 'venv')], { encoding: 'utf8', timeout: 120_000 });
    expect(venv.status, venv.stderr).toBe(0);
    const pip = spawnSync(python, ['-m', 'pip', 'install', '-q', join(scratch, 'src')], { encoding: 'utf8', timeout: 300_000, cwd: scratch });
    expect(pip.status, pip.stderr).toBe(0);
  }, 420_000);

  const py = (code: string, env: NodeJS.ProcessEnv = process.env) =>
    spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 120_000, cwd: scratch, env });

  it('is installed from the copy, not imported from the source tree', () => {
    const where = py('import cuipc_ray, os; print(os.path.dirname(cuipc_ray.__file__))');
    expect(where.status, where.stderr).toBe(0);
    expect(where.stdout.trim()).toMatch(/venv\/lib\/python[\d.]+\/site-packages\/cuipc_ray$/);
  });

  it('capture_env() writes the snapshot `cuipc env capture --json` writes, field by field', () => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, HOME: process.env.HOME ?? '/', LD_PRELOAD: tmsStandinPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1',
      CUDA_VISIBLE_DEVICES: '0', HF_API_TOKEN: 'hunter2', HTTPS_PROXY: 'http://me:pw@proxy:3128', PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True',
      LANG: 'C.UTF-8', RAY_JOB_ID: '01000000',
    };
    const fromPython = py('import json, cuipc_ray; print(json.dumps(cuipc_ray.capture_env(label="actor")))', env);
    expect(fromPython.status, fromPython.stderr).toBe(0);
    const fromNode = spawnSync(process.execPath, [cli, 'env', 'capture', '--json', '--label', 'actor'], { encoding: 'utf8', timeout: 60_000, cwd: scratch, env });
    expect(fromNode.status, fromNode.stderr).toBe(0);
    const p = JSON.parse(fromPython.stdout) as Record<string, unknown>;
    const n = JSON.parse(fromNode.stdout) as Record<string, unknown>;
    // Of this process alone: its pid, when, which program; hazards are recomputed on reading (below).
    const own = ['pid', 'ppid', 'capturedAt', 'nodeVersion', 'execPath', 'hazards', 'devices'];
    expect(Object.keys(p).filter((k) => !own.includes(k)).sort()).toEqual(Object.keys(n).filter((k) => !own.includes(k)).sort());
    for (const key of Object.keys(n).filter((k) => !own.includes(k))) expect(p[key], key).toEqual(n[key]);
    expect((p.environment as Record<string, string>).HF_API_TOKEN).toBe('<redacted>');
    expect((p.preload as Array<{ identity: string; inspected: boolean }>)[0]).toMatchObject({ inspected: true, identity: 'torch_memory_saver' });
    expect(parseSnapshot(p).hazards).toEqual(parseSnapshot(n).hazards);
    expect(p.capturedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('probe() runs the CLI and returns the report; options are checked first', () => {
    const env = { ...process.env, CUIPC_CLI: cli, CUIPC_NODE: process.execPath };
    const run = py([
      'import json, cuipc_ray',
      'r = cuipc_ray.probe(ranks=2, backend="sim", inputs=2, bytes=1024, timeout_s=120)',
      'print(json.dumps({"result": r["result"], "ranks": len(r["ranks"]), "schema": r.get("schema")}))',
    ].join('\n'), env);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ result: 'passed', ranks: 2 });
    const refusals = py([
      'import cuipc_ray',
      'for kw, err in (({"rank_count": 2}, TypeError), ({"alloc": "bogus"}, ValueError), ({"inputs": 0}, ValueError)):',
      '    try:',
      '        cuipc_ray.probe(**kw)',
      '    except err as e:',
      '        print(type(e).__name__, e)',
    ].join('\n'), env);
    expect(refusals.status, refusals.stderr).toBe(0);
    expect(refusals.stdout).toMatch(/^TypeError unknown probe option\(s\) rank_count; accepted: .*ranks/m);
    expect(refusals.stdout).toMatch(/^ValueError alloc must be one of torch, /m);
    expect(refusals.stdout).toMatch(new RegExp(`^ValueError inputs must be an integer from 1 to ${MAX_INPUTS}, got 0`, 'm'));
  });

  it('without Node: one error that says what to install', () => {
    const run = py('import cuipc_ray\ntry:\n    cuipc_ray.probe(ranks=2)\nexcept cuipc_ray.ProbeError as e:\n    print(e)', { PATH: '/nonexistent', HOME: '/' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/runs on Node\.js \(20 or later\), which was not found: install it .* or set CUIPC_NODE/);
  });
});
