// The coordinator's device count without CUDA (lib/probe/device-count.ts), on a made-up /proc
// and /dev: given only where it is exact, null (ask CUDA) everywhere else.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { countDevicesWithoutCuda } from '../../lib/probe/device-count.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A root with the GPUs' minors listed, and device nodes for `nodes`. */
function machine(minors: Array<number | null>, nodes: number[], extra: string[] = [], excluded = false): string {
  const root = mkdtempSync(join(tmpdir(), 'cuipc-devcount-'));
  roots.push(root);
  minors.forEach((minor, i) => {
    const dir = join(root, 'proc', 'driver', 'nvidia', 'gpus', `0000:${(0x18 + i).toString(16)}:00.0`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'information'), `Model: \t\t NVIDIA H200\nIRQ:   \t\t 0\n${minor === null ? '' : `Device Minor: \t ${minor}\n`}Bus Location: \t 0000:18:00.0\nGPU Excluded:\t ${excluded ? 'Yes' : 'No'}\n`);
  });
  mkdirSync(join(root, 'dev'), { recursive: true });
  for (const node of nodes) writeFileSync(join(root, 'dev', `nvidia${node}`), '');
  for (const path of extra) mkdirSync(join(root, path), { recursive: true });
  return root;
}

describe('countDevicesWithoutCuda', () => {
  it('counts the listed GPUs whose device node is here', () => {
    expect(countDevicesWithoutCuda({}, machine([0, 1, 2, 3], [0, 1, 2, 3]))).toBe(4);
    // MIG-capable, not in MIG mode: capability folders without GPU instances
    expect(countDevicesWithoutCuda({}, machine([0], [0], ['proc/driver/nvidia/capabilities/gpu0/mig', 'dev/nvidia-caps']))).toBe(1);
    // a container given GPU 2 only
    expect(countDevicesWithoutCuda({}, machine([0, 1, 2, 3], [2]))).toBe(1);
  });

  it('narrows by a CUDA_VISIBLE_DEVICES of distinct in-range ordinals', () => {
    const root = machine([0, 1, 2], [0, 1, 2]);
    expect(countDevicesWithoutCuda({ CUDA_VISIBLE_DEVICES: '2,0' }, root)).toBe(2);
    expect(countDevicesWithoutCuda({ CUDA_VISIBLE_DEVICES: ' 1 ' }, root)).toBe(1);
  });

  it.each([
    ['no listing', () => join(tmpdir(), 'cuipc-devcount-none'), {}],
    ['no device node', () => machine([0], []), {}],
    ['a listing without the minor', () => machine([null], [0]), {}],
    ['an excluded GPU', () => machine([0], [0], [], true), {}],
    ['MIG instances', () => machine([0], [0], ['proc/driver/nvidia/capabilities/gpu0/mig/gi1']), {}],
    ['an out-of-range ordinal', () => machine([0, 1], [0, 1]), { CUDA_VISIBLE_DEVICES: '0,2' }],
    ['a repeated ordinal', () => machine([0, 1], [0, 1]), { CUDA_VISIBLE_DEVICES: '1,1' }],
    ['a GPU UUID', () => machine([0], [0]), { CUDA_VISIBLE_DEVICES: 'GPU-8d2c1e7a' }],
    ['a MIG name', () => machine([0], [0]), { CUDA_VISIBLE_DEVICES: 'MIG-1f2e' }],
    ['an empty list', () => machine([0], [0]), { CUDA_VISIBLE_DEVICES: '' }],
    ['a negative ordinal', () => machine([0], [0]), { CUDA_VISIBLE_DEVICES: '-1' }],
  ])('leaves it to CUDA with %s', (_what, root, env) => {
    expect(countDevicesWithoutCuda(env as Record<string, string>, root())).toBeNull();
  });
});
