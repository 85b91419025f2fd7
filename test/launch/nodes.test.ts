// Ranks on several nodes (issue 21): legacy CUDA IPC cannot cross nodes, so such a placement is
// a verdict of its own, naming where each rank ran and the placement that keeps them together.
import { describe, expect, it } from 'vitest';
import { crossNodeProblem, nodeOf } from '../../lib/launch/nodes.js';
import type { RankPlacement } from '../../lib/model/vocabulary.js';

const ray = (nodeId: string, gpu: string, hostname = 'gpu-host'): RankPlacement => ({
  cudaVisibleDevices: gpu, hostname, ray: { gpuIds: [gpu], nodeId, cudaVisibleDevices: gpu, nosetVisibleDevices: false },
});
const A = 'a1b2c3d4e5f6a7b8c9d0';
const B = 'ffeeddccbbaa99887766';

describe('nodes of the ranks', () => {
  it("a rank's node is Ray's node id where Ray placed it, else its host name", () => {
    expect(nodeOf(ray(A, '0'))).toBe(A);
    expect(nodeOf({ cudaVisibleDevices: null, ray: null, hostname: 'h1' })).toBe('h1');
    expect(nodeOf(null)).toBeNull();
  });

  it('one node (two Ray GPUs on it, or plain ranks on one host): no problem', () => {
    expect(crossNodeProblem([ray(A, '0'), ray(A, '1')])).toBeNull();
    expect(crossNodeProblem([{ cudaVisibleDevices: null, ray: null, hostname: 'h' }, { cudaVisibleDevices: null, ray: null, hostname: 'h' }])).toBeNull();
    expect(crossNodeProblem([null, null])).toBeNull();
  });

  it('two Ray nodes (ray.cluster_utils: one host, two node ids): says legacy IPC cannot cross nodes, where each rank ran, and STRICT_PACK', () => {
    const message = crossNodeProblem([ray(A, '0'), ray(A, '1'), ray(B, '0'), ray(B, '1')]);
    expect(message).toMatch(/^the ranks are on 2 nodes \(ranks 0, 1 on node a1b2c3d4e5f6 \(gpu-host\); ranks 2, 3 on node ffeeddccbbaa \(gpu-host\)\): legacy CUDA IPC cannot open a handle exported on another node/);
    expect(message).toMatch(/--placement-strategy STRICT_PACK \(one placement group on one node with 4 GPUs\)/);
  });

  it('plain ranks on two hosts: the host names', () => {
    expect(crossNodeProblem([{ cudaVisibleDevices: null, ray: null, hostname: 'h1' }, { cudaVisibleDevices: null, ray: null, hostname: 'h2' }]))
      .toMatch(/rank 0 on node h1; rank 1 on node h2\).*start every rank on one node$/);
  });
});
