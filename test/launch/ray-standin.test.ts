// The Ray driver (python/cuipc_ray) on several nodes, against the stand-in Ray (test/ray_standin,
// never shipped): placement per strategy across nodes, per-node resources in the cannot-place
// message, and each rank's node id passed through, checked in a second without starting Ray.
// The probe across two real Ray nodes (its cross-node verdict) is ray-two-nodes.test.ts;
// everything else about the Ray launcher runs against real Ray too (ray.test.ts,
// ray-local.test.ts). The stand-in's nodes are one machine: no probe is run across them, only
// the driver's placement of ranks (see the stand-in's docstring).
import { spawnSync } from 'node:child_process';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rayDriverPath } from '../../lib/launch/ray.js';

const standin = fileURLToPath(new URL('../ray_standin', import.meta.url));

interface Placed {
  rank: number;
  code: number | null;
  out: string;
  gpu_ids: string[];
  node_id: string;
}

/** run_probe_ranks in a caller-held stand-in session over `nodes`; each rank prints what it sees. */
function place(nodes: string, ranks: number, strategy: string): { placed?: Placed[]; error?: string } {
  const script = `
import json, sys, ray, cuipc_ray
ray.init()
argv = [sys.executable, "-c", "import os, sys; sys.stderr.write(repr(os.environ.get('CUDA_VISIBLE_DEVICES')))"]
try:
    results = cuipc_ray.run_probe_ranks({"ranks": ${ranks}, "strategy": "${strategy}", "rank_argv": argv})
    print(json.dumps({"placed": [{"rank": r["rank"], "code": r["code"], "out": r["stderr_tail"],
                                  "gpu_ids": r["placement"]["gpu_ids"], "node_id": r["placement"]["node_id"]} for r in results]}))
except cuipc_ray.PlacementError as error:
    print(json.dumps({"error": str(error)}))
`;
  const result = spawnSync('python3', ['-c', script], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: [rayDriverPath(), standin].join(delimiter), RAY_STANDIN_NODES: nodes },
    timeout: 30_000,
  });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as { placed?: Placed[]; error?: string };
}

describe('cuipc_ray on several nodes (stand-in Ray)', () => {
  it('STRICT_SPREAD puts each rank on a node of its own; GPU ids count per node', () => {
    const { placed } = place('1,1', 2, 'STRICT_SPREAD');
    expect(placed?.map((p) => [p.code, p.out, p.gpu_ids])).toEqual([
      [0, "'0'", ['0']],
      [0, "'0'", ['0']],
    ]);
    expect(new Set(placed?.map((p) => p.node_id)).size).toBe(2);
  });

  it('PACK fills one node, then the next', () => {
    const { placed } = place('2,2', 4, 'PACK');
    expect(placed?.map((p) => p.gpu_ids[0])).toEqual(['0', '1', '0', '1']);
    const nodes = placed?.map((p) => p.node_id) ?? [];
    expect(nodes[0]).toBe(nodes[1]);
    expect(nodes[2]).toBe(nodes[3]);
    expect(nodes[0]).not.toBe(nodes[2]);
  });

  it('STRICT_PACK needs one node with a GPU per rank: refused at once, with each node\'s resources', () => {
    const { error } = place('2,2', 4, 'STRICT_PACK');
    expect(error).toBe(
      'the Ray cluster has 2 nodes: CPU 4, GPU 4 (per node: CPU 2, GPU 2; CPU 2, GPU 2) (available now: CPU 4, GPU 4); ' +
        '4 bundles of {GPU: 1, CPU: 1} cannot be placed with STRICT_PACK: start Ray with enough of them (e.g. `ray start --head --num-gpus=4 --num-cpus=4`) or probe fewer ranks',
    );
  });

  it('STRICT_SPREAD needs a node per rank', () => {
    const { error } = place('2,2', 3, 'STRICT_SPREAD');
    expect(error).toMatch(/^the Ray cluster has 2 nodes: .*; 3 bundles of \{GPU: 1, CPU: 1\} cannot be placed with STRICT_SPREAD: STRICT_SPREAD needs 3 nodes/);
  });
});
