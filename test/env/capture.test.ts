import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureEnvironment, ENV_SNAPSHOT_SCHEMA, isCudaRelevant, looksSecret, REDACTED } from '../../lib/env/capture.js';
import { parseSnapshot } from '../../lib/env/read-snapshot.js';
import filter from '../../lib/env/relevant-variables.json' with { type: 'json' };
import { environmentForReplay } from '../../lib/env/replay.js';
import { buildAllocatorInterposer, makeTempDir } from './fixtures.js';

function actorEnvironment(dir: string): Record<string, string> {
  const { path } = buildAllocatorInterposer(dir, 'torch_memory_saver_hook_mode_preload.so');
  return {
    PATH: '/usr/bin:/bin',
    HOME: '/home/ray',
    LD_PRELOAD: path,
    PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True',
    CUDA_VISIBLE_DEVICES: '2,3',
    SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2: '1',
    HF_TOKEN: 'hf_supersecret',
    OPENAI_API_KEY: 'sk-supersecret',
    AWS_SECRET_ACCESS_KEY: 'aws-supersecret',
    HTTPS_PROXY: 'http://alice:pa55word@proxy.internal:3128',
    SOME_APP_SETTING: 'plain',
  };
}

describe('captureEnvironment', () => {
  it('captures the CUDA-relevant variables, describes LD_PRELOAD and finds the hazards', () => {
    const dir = makeTempDir();
    const env = actorEnvironment(dir);
    const s = captureEnvironment({ env, label: 'actor' });
    expect(s.schema).toBe(ENV_SNAPSHOT_SCHEMA);
    expect(s.schemaVersion).toBe(1);
    expect(s.label).toBe('actor');
    expect(s.relevant).toEqual({
      LD_PRELOAD: env['LD_PRELOAD'], PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True', CUDA_VISIBLE_DEVICES: '2,3',
      SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2: '1',
    });
    expect(Object.keys(s.environment).sort()).toEqual(Object.keys(env).sort());
    expect(s.preload).toHaveLength(1);
    expect(s.preload[0]?.identity).toBe('torch_memory_saver');
    expect(s.preload[0]?.exportsCudaMalloc).toBe(true);
    const ids = s.hazards.map((h) => h.id);
    expect(ids).toContain('ld-preload.torch-memory-saver');
    expect(ids).toContain('alloc-conf.expandable-segments');
    expect(ids).toContain('visible-devices.remapped');
    expect(s.hazards.find((h) => h.id === 'sglang.custom-all-reduce-v2')?.severity).toBe('high');
    expect(s.hazards[0]?.severity).toBe('high');
  });

  it('never stores secret values, including credentials inside URLs', () => {
    const s = captureEnvironment({ env: actorEnvironment(makeTempDir()) });
    const json = JSON.stringify(s);
    expect(json).not.toMatch(/supersecret|pa55word/);
    expect(s.environment['HF_TOKEN']).toBe(REDACTED);
    expect(s.environment['OPENAI_API_KEY']).toBe(REDACTED);
    expect(s.environment['AWS_SECRET_ACCESS_KEY']).toBe(REDACTED);
    expect(s.environment['HTTPS_PROXY']).toBe(`http://${REDACTED}@proxy.internal:3128`);
    expect(s.environment['SOME_APP_SETTING']).toBe('plain');
    expect(s.redacted.sort()).toEqual(['AWS_SECRET_ACCESS_KEY', 'HF_TOKEN', 'OPENAI_API_KEY']);
    expect(looksSecret('NCCL_IB_PKEY')).toBe(false);
    expect(looksSecret('MY_DB_PASSWORD')).toBe(true);
    expect(isCudaRelevant('NCCL_DEBUG')).toBe(true);
    expect(isCudaRelevant('EDITOR')).toBe(false);
  });

  it('filters by the one declarative list (relevant-variables.json), which the tracer holds too', () => {
    for (const prefix of filter.prefixes) expect(isCudaRelevant(`${prefix}ANYTHING`), prefix).toBe(true);
    for (const name of filter.names) expect(isCudaRelevant(name), name).toBe(true);
    expect(isCudaRelevant(`X${filter.names[0]}`)).toBe(false);
    for (const s of filter.secretSubstrings) expect(looksSecret(`MY${s.toLowerCase()}X`), s).toBe(true);
    for (const s of filter.secretSegments) expect(looksSecret(`MY_${s}`), s).toBe(true);
    // Upper case, no repeats: the tracer compares names as they are.
    for (const list of [filter.prefixes, filter.names, filter.secretSubstrings, filter.secretSegments]) {
      expect(new Set(list).size).toBe(list.length);
      for (const entry of list) expect(entry).toBe(entry.toUpperCase());
    }
  });

  it('keeps only CUDA-relevant values when asked', () => {
    const s = captureEnvironment({ env: actorEnvironment(makeTempDir()), values: 'relevant' });
    expect(s.environment['SOME_APP_SETTING']).toBe(REDACTED);
    expect(s.environment['PATH']).toBe(REDACTED);
    expect(s.environment['PYTORCH_CUDA_ALLOC_CONF']).toBe('expandable_segments:True');
  });

  it('records the process facts and the devices it is given', () => {
    const devices = [{ ordinal: 0, uuid: 'GPU-0e7b7959-d1bb-4630-daca-087c43bd5864', pciBusId: '0000:19:00.0', name: 'NVIDIA H200' }];
    const s = captureEnvironment({ env: {}, devices });
    expect(s.devices).toEqual(devices);
    expect(s.pid).toBe(process.pid);
    expect(s.nodeVersion).toBe(process.version);
    expect(typeof s.hostname).toBe('string');
    if (existsSync('/proc/self/ns/pid')) expect(s.pidNamespace).toMatch(/^pid:\[\d+\]$/);
    if (existsSync('/proc/self/cgroup')) expect(Array.isArray(s.cgroup)).toBe(true);
    if (existsSync('/dev/shm')) {
      expect(s.shm?.sizeBytes).toBeGreaterThan(0);
      expect(s.shm?.freeBytes).toBeLessThanOrEqual(s.shm?.sizeBytes ?? 0);
    }
    expect(captureEnvironment({ env: {}, shmPath: join(makeTempDir(), 'no-shm-here') }).shm).toBeNull();
    expect(captureEnvironment({ env: {} }).devices).toBeUndefined();
  });

  it('survives a JSON round trip with the same hazards', () => {
    const s = captureEnvironment({ env: actorEnvironment(makeTempDir()), label: 'actor' });
    const back = parseSnapshot(JSON.parse(JSON.stringify(s)), 'actor.json');
    expect(back).toEqual(s);
  });
});

describe('environmentForReplay', () => {
  it('reproduces the captured variables, live values for redacted ones, and keeps PATH and HOME', () => {
    const captured = captureEnvironment({ env: actorEnvironment(makeTempDir()) });
    const current = { PATH: '/current/bin', HOME: '/current/home', HF_TOKEN: 'live-token', ONLY_HERE: 'x', LD_PRELOAD: '/other.so' };
    const env = environmentForReplay(captured, current);
    expect(env['PYTORCH_CUDA_ALLOC_CONF']).toBe('expandable_segments:True');
    expect(env['LD_PRELOAD']).toBe(captured.relevant['LD_PRELOAD']);
    expect(env['PATH']).toBe('/usr/bin:/bin');
    expect(env['HF_TOKEN']).toBe('live-token');
    expect(env['OPENAI_API_KEY']).toBeUndefined();
    expect(env['HTTPS_PROXY']).toBeUndefined();
    expect(env['ONLY_HERE']).toBeUndefined();
    expect(Object.values(env).some((v) => v.includes(REDACTED))).toBe(false);

    const keysOnly = captureEnvironment({ env: { PATH: '/x', HOME: '/h', CUDA_VISIBLE_DEVICES: '0' }, values: 'relevant' });
    const replay = environmentForReplay(keysOnly, current);
    expect(replay).toEqual({ PATH: '/current/bin', HOME: '/current/home', CUDA_VISIBLE_DEVICES: '0' });
    const lacking = environmentForReplay(captureEnvironment({ env: { CUDA_VISIBLE_DEVICES: '1' } }), current);
    expect(lacking).toEqual({ CUDA_VISIBLE_DEVICES: '1', PATH: '/current/bin', HOME: '/current/home' });
  });

  it('is usable for a file written by capture', () => {
    const dir = makeTempDir();
    const file = join(dir, 'actor.json');
    writeFileSync(file, JSON.stringify(captureEnvironment({ env: { CUDA_VISIBLE_DEVICES: '3', PATH: '/p' } })));
    const env = environmentForReplay(parseSnapshot(JSON.parse(readFileSync(file, 'utf8')), file), { HOME: '/h' });
    expect(env).toEqual({ CUDA_VISIBLE_DEVICES: '3', PATH: '/p', HOME: '/h' });
  });
});
