// The change model: what counts as one change, what is held fixed, and the environment that
// GOOD + a set of changes gives (no probes run here).
import { describe, expect, it } from 'vitest';
import { applyChanges, changesBetween, globToRegExp, visibilityOfTrial, type Change } from '../../lib/bisect/changes.js';
import { captureEnvironment, REDACTED, type EnvSnapshot } from '../../lib/env/capture.js';

const snap = (env: Record<string, string>, label = 'x'): EnvSnapshot => captureEnvironment({ env, label, inspectFiles: false });
const BASE = { PATH: '/usr/bin', HOME: '/home/a', PWD: '/home/a', SHLVL: '1' };
const pick = (cs: Change[], ...ids: string[]) => cs.filter((c) => ids.includes(c.id));

describe('changesBetween', () => {
  it('each LD_PRELOAD entry and each allocator option is a change of its own', () => {
    const good = snap({ ...BASE, LD_PRELOAD: '/a/libx.so', PYTORCH_CUDA_ALLOC_CONF: 'max_split_size_mb:128' });
    const bad = snap({ ...BASE, LD_PRELOAD: '/a/libx.so:/b/libtorch_memory_saver_hook_mode_preload.so /c/liby.so', PYTORCH_CUDA_ALLOC_CONF: 'max_split_size_mb:256,expandable_segments:True' });
    const { changes } = changesBetween(good, bad);
    expect(changes.map((c) => [c.id, c.change])).toEqual([
      ['LD_PRELOAD+/b/libtorch_memory_saver_hook_mode_preload.so', 'added'],
      ['LD_PRELOAD+/c/liby.so', 'added'],
      ['PYTORCH_CUDA_ALLOC_CONF:expandable_segments', 'added'],
      ['PYTORCH_CUDA_ALLOC_CONF:max_split_size_mb', 'changed'],
    ]);
    const expandable = changes.find((c) => c.id === 'PYTORCH_CUDA_ALLOC_CONF:expandable_segments');
    expect(expandable?.hazards.map((h) => h.id)).toEqual(['alloc-conf.expandable-segments']);
    expect(changes.find((c) => c.id === 'PYTORCH_CUDA_ALLOC_CONF:max_split_size_mb')?.hazards).toEqual([]);
    // The entry is judged by name here (files not read): torch_memory_saver's preload library.
    const tms = changes[0];
    expect(tms?.hazards.map((h) => h.id)).toEqual(['ld-preload.torch-memory-saver']);
    expect(tms?.label).toBe('the torch_memory_saver preload entry (libtorch_memory_saver_hook_mode_preload.so)');
  });

  it('holds run-specific variables and the probe\'s own ones fixed; --include and --exclude move them', () => {
    const good = snap({ ...BASE, CUDA_VISIBLE_DEVICES: '0,1' });
    const bad = snap({ ...BASE, PWD: '/tmp/ray/session_1/runtime_resources', SHLVL: '0', HOME: '/home/ray', RAY_JOB_ID: '02000000', RAY_RAYLET_PID: '77',
      RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES: '1', CUIPC_BACKEND: 'cuda', CUDA_VISIBLE_DEVICES: '1', NCCL_NVLS_ENABLE: '1' });
    const model = changesBetween(good, bad);
    expect(model.changes.map((c) => c.id)).toEqual(['CUDA_VISIBLE_DEVICES', 'NCCL_NVLS_ENABLE', 'RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES']);
    expect(Object.fromEntries(model.heldFixed.map((h) => [h.variable, h.reason]))).toEqual({
      CUIPC_BACKEND: 'set-by-probe', HOME: 'run-specific', PWD: 'run-specific', RAY_JOB_ID: 'run-specific', RAY_RAYLET_PID: 'run-specific', SHLVL: 'run-specific',
    });
    const scoped = changesBetween(good, bad, { include: ['RAY_*', 'PWD'], exclude: ['NCCL_*', 'RAY_JOB_ID', 'CUIPC_*'] });
    expect(scoped.changes.map((c) => c.id)).toEqual(['CUDA_VISIBLE_DEVICES', 'PWD', 'RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES', 'RAY_RAYLET_PID']);
    expect(scoped.heldFixed.find((h) => h.variable === 'NCCL_NVLS_ENABLE')?.reason).toBe('excluded');
    // A variable the probe sets itself stays fixed whatever --include says.
    expect(changesBetween(good, bad, { include: ['CUIPC_BACKEND'] }).heldFixed.find((h) => h.variable === 'CUIPC_BACKEND')?.reason).toBe('set-by-probe');
    expect(changesBetween(good, bad, { givenEnv: { NCCL_NVLS_ENABLE: '0' } }).heldFixed.find((h) => h.variable === 'NCCL_NVLS_ENABLE')?.reason).toBe('given-with-env');
  });

  it('a redacted value is not compared: held fixed', () => {
    const good = snap({ ...BASE });
    const bad = snap({ ...BASE, HF_TOKEN: 'hf_abc' });
    expect(bad.environment.HF_TOKEN).toBe(REDACTED);
    const model = changesBetween(good, bad);
    expect(model.changes).toEqual([]);
    expect(model.heldFixed).toEqual([{ variable: 'HF_TOKEN', good: null, bad: REDACTED, reason: 'redacted' }]);
  });

  it('globs: * and ? only, anchored; an empty glob is refused', () => {
    expect(globToRegExp('RAY_*_ID').test('RAY_JOB_ID')).toBe(true);
    expect(globToRegExp('RAY_*_ID').test('XRAY_JOB_ID')).toBe(false);
    expect(globToRegExp('A?C').test('ABC')).toBe(true);
    expect(globToRegExp('A.C').test('ABC')).toBe(false);
    expect(() => globToRegExp('')).toThrow(TypeError);
  });
});

describe('applyChanges', () => {
  const good = snap({ ...BASE, LD_PRELOAD: '/g/a.so:/g/b.so', PYTORCH_CUDA_ALLOC_CONF: 'max_split_size_mb:128,garbage_collection_threshold:0.6', GONE: 'x', SAME: 'y' });
  const bad = snap({ ...BASE, LD_PRELOAD: '/g/b.so:/n/tms.so:/g/a.so', PYTORCH_CUDA_ALLOC_CONF: 'max_split_size_mb:128,expandable_segments:True', NEW: '1', SAME: 'y' });
  const model = changesBetween(good, bad);

  it('no change gives GOOD, every change gives BAD (LD_PRELOAD order included)', () => {
    expect(applyChanges(model, [], bad)).toEqual(good.environment);
    expect(applyChanges(model, model.changes, bad)).toEqual(bad.environment);
    expect(model.changes.map((c) => c.id)).toEqual([
      'GONE', 'LD_PRELOAD order', 'LD_PRELOAD+/n/tms.so', 'NEW',
      'PYTORCH_CUDA_ALLOC_CONF:expandable_segments', 'PYTORCH_CUDA_ALLOC_CONF:garbage_collection_threshold',
    ]);
  });

  it('one change at a time', () => {
    const only = (...ids: string[]) => applyChanges(model, pick(model.changes, ...ids), bad);
    // The new entry keeps its slot in BAD's list (second); the shared ones keep GOOD's order.
    expect(only('LD_PRELOAD+/n/tms.so').LD_PRELOAD).toBe('/g/a.so:/n/tms.so:/g/b.so');
    expect(only('LD_PRELOAD+/n/tms.so', 'LD_PRELOAD order').LD_PRELOAD).toBe('/g/b.so:/n/tms.so:/g/a.so');
    expect(only('LD_PRELOAD order').LD_PRELOAD).toBe('/g/b.so:/g/a.so');
    expect(only('PYTORCH_CUDA_ALLOC_CONF:expandable_segments').PYTORCH_CUDA_ALLOC_CONF).toBe('max_split_size_mb:128,garbage_collection_threshold:0.6,expandable_segments:True');
    expect(only('PYTORCH_CUDA_ALLOC_CONF:garbage_collection_threshold').PYTORCH_CUDA_ALLOC_CONF).toBe('max_split_size_mb:128');
    expect(only('GONE').GONE).toBeUndefined();
    expect(only('NEW')).toEqual({ ...good.environment, NEW: '1' });
  });

  it('removing the last entry or option unsets the variable', () => {
    const g = snap({ ...BASE, LD_PRELOAD: '/x.so', PYTORCH_ALLOC_CONF: 'expandable_segments:True' });
    const b = snap({ ...BASE });
    const m = changesBetween(g, b);
    expect(m.changes.map((c) => [c.id, c.change])).toEqual([['LD_PRELOAD-/x.so', 'removed'], ['PYTORCH_ALLOC_CONF:expandable_segments', 'removed']]);
    expect(applyChanges(m, m.changes, b)).toEqual(b.environment);
    expect(m.changes[0]?.label).toBe('no LD_PRELOAD entry x.so');
  });
});

describe('changesBetween: a snapshot taken in a Ray actor', () => {
  const RAY = { RAY_RAYLET_PID: '7', RAY_JOB_ID: '01000000' };
  it('a Ray-assigned CUDA_VISIBLE_DEVICES against a shell is one change, per-rank visibility, that names no ordinal', () => {
    const good = snap({ ...BASE });
    const bad = snap({ ...BASE, ...RAY, CUDA_VISIBLE_DEVICES: '2' });
    const model = changesBetween(good, bad);
    const [change] = model.changes;
    expect(model.changes).toHaveLength(1);
    expect(change).toMatchObject({ id: 'per-rank visibility', kind: 'visibility', variable: 'CUDA_VISIBLE_DEVICES', good: null, bad: 'per-rank (as Ray assigns)' });
    expect(`${change?.label} ${change?.description}`).not.toMatch(/=2/);
    expect(visibilityOfTrial(model, []).assignedBy).toBe('environment');
    expect(visibilityOfTrial(model, model.changes).assignedBy).toBe('ray');
    expect(applyChanges(model, model.changes, bad).CUDA_VISIBLE_DEVICES).toBe('2');
  });

  it('the same literal value on both sides is still a change when only one side had it from Ray', () => {
    const model = changesBetween(snap({ ...BASE, CUDA_VISIBLE_DEVICES: '0' }), snap({ ...BASE, ...RAY, CUDA_VISIBLE_DEVICES: '0' }));
    expect(model.changes.map((c) => c.id)).toEqual(['per-rank visibility']);
  });

  it('two actors on different GPUs differ in nothing: the ordinals are held fixed as Ray-assigned', () => {
    const model = changesBetween(snap({ ...BASE, ...RAY, CUDA_VISIBLE_DEVICES: '0' }), snap({ ...BASE, ...RAY, CUDA_VISIBLE_DEVICES: '3' }));
    expect(model.changes).toEqual([]);
    expect(model.heldFixed).toContainEqual({ variable: 'CUDA_VISIBLE_DEVICES', good: '0', bad: '3', reason: 'ray-assigned' });
  });

  it('GOOD in an actor, BAD in a shell with a literal list: the literal value is the change', () => {
    const model = changesBetween(snap({ ...BASE, ...RAY, CUDA_VISIBLE_DEVICES: '1' }), snap({ ...BASE, CUDA_VISIBLE_DEVICES: '0,1' }));
    expect(model.changes.map((c) => [c.id, c.label])).toEqual([['per-rank visibility', 'CUDA_VISIBLE_DEVICES=0,1']]);
  });
});
