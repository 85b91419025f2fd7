// Which devices a captured process saw and who chose them: Ray's per-actor GPU against a literal
// CUDA_VISIBLE_DEVICES, from the environment alone or with what Ray itself said.
import { describe, expect, it } from 'vitest';
import { captureEnvironment } from '../../lib/env/capture.js';
import { parseSnapshot } from '../../lib/env/read-snapshot.js';
import { environmentForReplay, replayVisibility } from '../../lib/env/replay.js';
import { isRayAssigned, parseVisibility, visibilityOf } from '../../lib/env/visibility.js';

describe('visibilityOf', () => {
  it('outside Ray: as the environment sets it', () => {
    expect(visibilityOf({ CUDA_VISIBLE_DEVICES: '2' })).toEqual({ cudaVisibleDevices: '2', assignedBy: 'environment', ray: null });
    expect(visibilityOf({})).toEqual({ cudaVisibleDevices: null, assignedBy: 'environment', ray: null });
  });

  it('in a Ray worker with a GPU: Ray chose it', () => {
    expect(visibilityOf({ RAY_RAYLET_PID: '1', RAY_JOB_ID: '01000000', CUDA_VISIBLE_DEVICES: '3' })).toEqual({
      cudaVisibleDevices: '3', assignedBy: 'ray', ray: { jobId: '01000000', nodeId: null, gpuIds: null, noset: false },
    });
    expect(visibilityOf({ CUDA_VISIBLE_DEVICES: '0' }, { nodeId: 'abc', gpuIds: ['0'] }).ray).toMatchObject({ nodeId: 'abc', gpuIds: ['0'] });
  });

  it('in a Ray worker with NOSET, or without GPUs, or without the variable: not Ray\'s choice', () => {
    expect(visibilityOf({ RAY_JOB_ID: '1', CUDA_VISIBLE_DEVICES: '0,1', RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES: '1' }).assignedBy).toBe('environment');
    expect(visibilityOf({ RAY_JOB_ID: '1', CUDA_VISIBLE_DEVICES: '0' }, { gpuIds: [] }).assignedBy).toBe('environment');
    expect(visibilityOf({ RAY_JOB_ID: '1' }).assignedBy).toBe('environment');
  });

  it('snapshots record it, read it back, and an older snapshot without it is judged by its environment', () => {
    const s = captureEnvironment({ env: { RAY_JOB_ID: '1', CUDA_VISIBLE_DEVICES: '5' }, inspectFiles: false });
    expect(s.visibility?.assignedBy).toBe('ray');
    const back = parseSnapshot(JSON.parse(JSON.stringify(s)));
    expect(back.visibility).toEqual(s.visibility);
    const { visibility: _v, ...old } = JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
    const oldBack = parseSnapshot(old);
    expect(oldBack.visibility).toBeUndefined();
    expect(isRayAssigned(oldBack.visibility, oldBack.environment)).toBe(true);
    expect(parseVisibility({ assignedBy: 'nobody' })).toBeUndefined();
  });

  it('a replay leaves a Ray-assigned CUDA_VISIBLE_DEVICES out and asks for per-rank visibility; a literal one stays', () => {
    const actor = captureEnvironment({ env: { RAY_JOB_ID: '1', CUDA_VISIBLE_DEVICES: '5', PATH: '/bin' }, inspectFiles: false });
    expect(environmentForReplay(actor, {}).CUDA_VISIBLE_DEVICES).toBeUndefined();
    expect(replayVisibility(actor, 'all')).toBe('per-rank');
    const shell = captureEnvironment({ env: { CUDA_VISIBLE_DEVICES: '5', PATH: '/bin' }, inspectFiles: false });
    expect(environmentForReplay(shell, {}).CUDA_VISIBLE_DEVICES).toBe('5');
    expect(replayVisibility(shell, 'all')).toBe('all');
    expect(replayVisibility(null, 'all')).toBe('all');
  });
});
