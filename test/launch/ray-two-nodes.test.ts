// Ranks on two nodes, against real Ray: legacy CUDA IPC opens memory on the same node only, so a
// probe whose ranks Ray placed on two nodes must never PASS, and must say which placement keeps
// them together. One machine gives two nodes through ray.cluster_utils.Cluster (a raylet per
// node, logical resources: 2 CPUs and 2 GPUs each, whatever the machine has), started by
// fixtures/two_node_cluster.py in its own process group and temp folder. STRICT_SPREAD places one
// rank per node every time; STRICT_PACK both on one. Nothing it started may outlive the file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ProbeOptions, ProbeReport } from '../../lib/probe/index.js';
import { renderProbeReport } from '../../lib/report/render.js';
import { isAlive } from '../probe/helpers.js';
import { describeWithRay, probeThroughRay, processesMentioning, processGroup, sleep } from './ray-cluster.js';

const fixture = fileURLToPath(new URL('./fixtures/two_node_cluster.py', import.meta.url));

interface TwoNodes {
  address: string;
  /** The two worker nodes' Ray node ids. */
  nodes: string[];
}

/** Starts the fixture and reads its one line; rejects with its stderr when it ends first. */
function startTwoNodes(python: string, temp: string): { child: ChildProcess; up: Promise<TwoNodes> } {
  const env: NodeJS.ProcessEnv = { ...process.env, RAY_TMPDIR: temp };
  delete env.RAY_ADDRESS;
  delete env.CUIPC_SIM_DEVICES; // the driver gives the actors theirs through runtime_env
  const child = spawn(python, [fixture], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const up = new Promise<TwoNodes>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) resolve(JSON.parse(line) as TwoNodes);
    });
    child.once('close', (code) => reject(new Error(`the two-node cluster ended (status ${code}) before it was up: ${stderr}`)));
  });
  return { child, up };
}

describeWithRay('ranks on two nodes (real Ray, ray.cluster_utils.Cluster)', (python) => {
  let temp = '';
  let child: ChildProcess | null = null;
  let cluster: TwoNodes;
  const rankPids: number[] = [];

  beforeAll(async () => {
    temp = mkdtempSync(join(tmpdir(), 'cuipc-2n-'));
    const started = startTwoNodes(python, temp);
    child = started.child;
    cluster = await started.up;
  }, 180_000);

  afterAll(async () => {
    const pgid = child?.pid;
    // Told to stop by closing its stdin: it removes every node itself.
    child?.stdin?.end();
    const left = (): number[] => [...new Set([...(pgid === undefined ? [] : processGroup(pgid)), ...processesMentioning(temp)])];
    for (let i = 0; i < 300 && left().length > 0; i += 1) await sleep(100);
    const survivors = left();
    for (const pid of survivors) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    rmSync(temp, { recursive: true, force: true });
    expect(survivors, 'Ray processes left behind by the two-node cluster').toEqual([]);
    for (const pid of rankPids) expect(isAlive(pid), `rank pid ${pid} outlived its probe`).toBe(false);
  }, 60_000);

  const run = (options: ProbeOptions): Promise<ProbeReport> => probeThroughRay(python, cluster.address, rankPids, options, 30_000);

  it('the cluster has two worker nodes', () => {
    expect(cluster.nodes).toHaveLength(2);
    expect(new Set(cluster.nodes).size).toBe(2);
  });

  it('STRICT_SPREAD puts the ranks on two nodes: the probe refuses to pass, says legacy CUDA IPC cannot cross nodes, and names STRICT_PACK', async () => {
    const report = await run({ ranks: 2, ray: { placementStrategy: 'STRICT_SPREAD' } });
    const nodes = report.ranks.map((r) => r.placement?.ray?.nodeId);
    expect(new Set(nodes)).toEqual(new Set(cluster.nodes));
    expect(report.result).toBe('aborted');
    expect(report.exitCode).toBe(3);
    expect(report.abort?.reason).toBe('cross-node');
    expect(report.abort?.message).toMatch(/^the ranks are on 2 nodes \(rank 0 on node [0-9a-f]{12} .*; rank 1 on node [0-9a-f]{12} .*\): legacy CUDA IPC cannot open a handle exported on another node, so the probe cannot pass across nodes/);
    expect(report.abort?.message).toMatch(/--placement-strategy STRICT_PACK \(one placement group on one node with 2 GPUs\)/);
    // The ranks never went past meeting each other: no step ran, none passed.
    for (const rank of report.ranks) expect(rank.steps.export.outcome).not.toBe('passed');
    const text = renderProbeReport(report);
    expect(text).toMatch(/^COULD NOT RUN \(exit 3, cross-node\): the ranks are on 2 nodes/m);
    expect(text).not.toMatch(/^PASSED/m);
  });

  it('STRICT_PACK keeps both ranks on one node of the same cluster, where they pass', async () => {
    const report = await run({ ranks: 2 });
    expect(report.result, JSON.stringify(report.abort)).toBe('passed');
    const nodes = new Set(report.ranks.map((r) => r.placement?.ray?.nodeId));
    expect(nodes.size).toBe(1);
    expect(cluster.nodes).toContain([...nodes][0]);
  });

  it('STRICT_PACK with more ranks than one node has GPUs is refused at once, with each node\'s resources', async () => {
    const report = await run({ ranks: 3 });
    expect(report.exitCode).toBe(3);
    expect(report.abort?.reason).toBe('spawn-failed');
    expect(report.abort?.message).toMatch(/the Ray cluster has 3 nodes: CPU 4, GPU 4 \(per node: CPU 2, GPU 2; CPU 2, GPU 2; CPU 0, GPU 0\)/);
    expect(report.abort?.message).toMatch(/3 bundles of \{GPU: 1, CPU: 1\} cannot be placed with STRICT_PACK/);
  });
});
