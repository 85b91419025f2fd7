// probe() from Python inside a Ray job, into the job's own placement group: colocated RL
// frameworks hold every GPU in a group of their own and place their engines on its bundles, so a
// probe that made a group of its own could not be placed. Real Ray, a local one in a temp folder.
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
import json, os, sys, ray
from ray.util import placement_group, placement_group_table
import cuipc_ray
ray.init(num_gpus=2, num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
pg = placement_group([{"GPU": 1, "CPU": 1}, {"GPU": 1, "CPU": 1}], strategy="STRICT_PACK")
ray.get(pg.ready())
common = dict(launcher="ray", backend="sim", python=sys.executable, num_gpus=0.25, inputs=2, bytes=1024, timeout_s=120)
report = cuipc_ray.probe(ranks=2, placement_group=pg, bundle_indices=[1, 0], **common)
missing = cuipc_ray.probe(ranks=2, placement_group="no-such-group", **common)
print(json.dumps({"result": report["result"], "abort": report.get("abort"), "state": placement_group_table(pg)["state"],
                  "missing": missing["result"], "missingWhy": json.dumps(missing.get("abort"))}))
ray.shutdown()
`;

describeWithRay('probe() into an existing placement group (real Ray)', (python) => {
  it('places the ranks on the job\'s bundles (the group stays), and names a group that does not exist', () => {
    const temp = mkdtempSync(join(tmpdir(), 'cuipc-pg-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, RAY_TMPDIR: temp, CUIPC_SIM_DEVICES: '2', CUIPC_RAY_STARTUP_TIMEOUT_S: '30', PYTHONPATH: pythonDir };
      delete env.RAY_ADDRESS;
      const run = spawnSync(python, ['-c', JOB], { encoding: 'utf8', env, timeout: 240_000 });
      expect(run.status, run.stderr.slice(-3000)).toBe(0);
      const out = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { result: string; abort: unknown; state: string; missing: string; missingWhy: string };
      expect(out.result, JSON.stringify(out.abort)).toBe('passed');
      expect(out.state).toBe('CREATED'); // not removed by the probe
      expect(out.missing).toBe('aborted');
      expect(out.missingWhy).toMatch(/no placement group 'no-such-group' in this Ray cluster/);
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
    const resolved = resolveProbeOptions({ ...sim, ray: { placementGroup: 'engines', bundleIndices: '3, 1' } });
    const spec = rayDriverSpec(resolved, resolved.launch.settings as RaySettings, { program: 'node', args: [] }, {});
    expect(spec).toMatchObject({ placement_group: 'engines', bundle_indices: [3, 1] });
    const plain = resolveProbeOptions(sim);
    expect(rayDriverSpec(plain, plain.launch.settings as RaySettings, { program: 'node', args: [] }, {})).toMatchObject({ placement_group: null, bundle_indices: null });
  });
  it('refuse bundle indices without a group, or that are not bundle numbers', () => {
    expect(() => resolveProbeOptions({ ...sim, ray: { bundleIndices: '0,1' } })).toThrow(/bundle indices apply to an existing placement group/);
    expect(() => resolveProbeOptions({ ...sim, ray: { placementGroup: 'g', bundleIndices: '0,x' } })).toThrow(/comma-separated list of bundle numbers/);
    expect(() => resolveProbeOptions({ ...sim, ray: { placementGroup: 'g', bundleIndices: '1,1' } })).toThrow(/must differ/);
  });
});
