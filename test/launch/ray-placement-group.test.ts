// probe() from Python inside a Ray job, into the job's own placement group: colocated RL
// frameworks hold every GPU in a group of their own and place their engines on its bundles, so a
// probe that made a group of its own could not be placed. Real Ray, a local one in a temp folder.
// A group is found by its id, or by its name: the probe's driver joins a namespace of its own,
// so a name is looked up in the namespace given (--ray-namespace) or, unique, in any.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rayDriverSpec, type RaySettings } from '../../lib/launch/ray.js';
import { resolveProbeOptions } from '../../lib/probe/options.js';
import { describeWithRay, processesMentioning } from './ray-cluster.js';

const pythonDir = fileURLToPath(new URL('../../python', import.meta.url));

// The job holds both GPUs of its Ray in one group; the probe must use that group's bundles.
const JOB = `
import json, os, subprocess, sys, ray
from ray.util import placement_group, placement_group_table
import cuipc_ray
ray.init(num_gpus=2, num_cpus=2, namespace="engines", _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
pg = placement_group([{"GPU": 1, "CPU": 1}, {"GPU": 1, "CPU": 1}], strategy="STRICT_PACK", name="rollout")
ray.get(pg.ready())
common = dict(launcher="ray", backend="sim", python=sys.executable, num_gpus=0.25, inputs=2, bytes=1024, timeout_s=120)
def outcome(report):
    return {"result": report["result"], "abort": (report.get("abort") or {}).get("message")}
out = {"byObject": outcome(cuipc_ray.probe(ranks=2, placement_group=pg, bundle_indices=[1, 0], **common)),
       # The probe's driver is in a namespace of its own: the name is found in "engines", the one group so named.
       "byName": outcome(cuipc_ray.probe(ranks=2, placement_group="rollout", **common)),
       "wrongNamespace": outcome(cuipc_ray.probe(ranks=2, placement_group="rollout", namespace="elsewhere", **common)),
       "missing": outcome(cuipc_ray.probe(ranks=2, placement_group="no-such-group", **common))}
# Another job names a group "rollout" too, in its own namespace: the bare name is now ambiguous.
other = """
import ray, sys
from ray.util import placement_group
ray.init(address=sys.argv[1], namespace="other", log_to_driver=False)
placement_group([{"CPU": 1}], name="rollout", lifetime="detached")
"""
subprocess.run([sys.executable, "-c", other, ray.get_runtime_context().gcs_address], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
out["ambiguous"] = outcome(cuipc_ray.probe(ranks=2, placement_group="rollout", **common))
out["inNamespace"] = outcome(cuipc_ray.probe(ranks=2, placement_group="rollout", namespace="engines", **common))
out["id"] = pg.id.hex()
out["state"] = placement_group_table(pg)["state"]
print(json.dumps(out))
ray.shutdown()
`;

describeWithRay('probe() into an existing placement group (real Ray)', (python) => {
  it('places the ranks on the job\'s bundles by object, by name in another namespace and in the one given (the group stays); says why a name finds none or several', () => {
    const temp = mkdtempSync(join(tmpdir(), 'cuipc-pg-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, RAY_TMPDIR: temp, CUIPC_SIM_DEVICES: '2', CUIPC_RAY_STARTUP_TIMEOUT_S: '30', PYTHONPATH: pythonDir };
      delete env.RAY_ADDRESS;
      const run = spawnSync(python, ['-c', JOB], { encoding: 'utf8', env, timeout: 240_000 });
      expect(run.status, run.stderr.slice(-3000)).toBe(0);
      type Outcome = { result: string; abort: string | null };
      const out = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as Record<'byObject' | 'byName' | 'wrongNamespace' | 'missing' | 'ambiguous' | 'inNamespace', Outcome> & { id: string; state: string };
      for (const passing of [out.byObject, out.byName, out.inNamespace]) expect(passing.result, passing.abort ?? '').toBe('passed');
      expect(out.state).toBe('CREATED'); // not removed by the probe
      for (const refused of [out.wrongNamespace, out.missing, out.ambiguous]) expect(refused.result).toBe('aborted');
      expect(out.wrongNamespace.abort).toMatch(
        new RegExp(`no placement group 'rollout' in Ray namespace 'elsewhere' \\(--ray-namespace\\); the cluster has one in namespace 'engines' \\(id ${out.id}\\): give that namespace or the id`),
      );
      expect(out.missing.abort).toMatch(/no placement group 'no-such-group' in any Ray namespace of this cluster: its named live groups: 'rollout' in namespace 'engines'/);
      expect(out.ambiguous.abort).toMatch(
        new RegExp(`placement group name 'rollout' is ambiguous in this Ray cluster: 2 live groups are named 'rollout': .*one in namespace 'engines' \\(id ${out.id}\\).*; give the one meant with --ray-namespace or its hex id`),
      );
      expect(out.ambiguous.abort).toMatch(/one in namespace 'other' \(id [0-9a-f]+\)/);
      const left = processesMentioning(temp);
      expect(left).toEqual([]);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('placement group options (no Ray needed)', () => {
  const sim = { launcher: 'ray', backend: 'sim', ranks: 2 } as const;
  it('go into the driver spec', () => {
    const resolved = resolveProbeOptions({ ...sim, ray: { placementGroup: 'engines', bundleIndices: '3, 1', namespace: 'rl' } });
    const spec = rayDriverSpec(resolved, resolved.launch.settings as RaySettings, { program: 'node', args: [] }, {});
    expect(spec).toMatchObject({ placement_group: 'engines', bundle_indices: [3, 1], namespace: 'rl' });
    const plain = resolveProbeOptions(sim);
    expect(rayDriverSpec(plain, plain.launch.settings as RaySettings, { program: 'node', args: [] }, {})).toMatchObject({ placement_group: null, bundle_indices: null, namespace: null });
  });
  it('refuse bundle indices without a group, or that are not bundle numbers', () => {
    expect(() => resolveProbeOptions({ ...sim, ray: { bundleIndices: '0,1' } })).toThrow(/bundle indices apply to an existing placement group/);
    expect(() => resolveProbeOptions({ ...sim, ray: { placementGroup: 'g', bundleIndices: '0,x' } })).toThrow(/comma-separated list of bundle numbers/);
    expect(() => resolveProbeOptions({ ...sim, ray: { placementGroup: 'g', bundleIndices: '1,1' } })).toThrow(/must differ/);
    expect(() => resolveProbeOptions({ ...sim, ray: { namespace: ' ' } })).toThrow(/Ray namespace must be a non-empty string/);
    expect(() => resolveProbeOptions({ ...sim, ray: { namespace: 'a\nb' } })).toThrow(/the Ray namespace must be a name without control characters/);
  });
});
