import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ElfFormatError, readElfDynamicSymbols } from '../../lib/env/elf.js';
import { parseAllocConf } from '../../lib/env/alloc-conf.js';
import { detectHazards, RULES, type Hazard } from '../../lib/env/hazards.js';
import { describeLdPreload, splitLdPreload } from '../../lib/env/preload.js';
import { buildAllocatorInterposer, buildElfFixture, makeTempDir } from './fixtures.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const byId = (hs: Hazard[], id: string): Hazard | undefined => hs.find((h) => h.id === id);

/** A shared library this Node process has mapped (libc, libm, libstdc++...), from /proc/self/maps. */
function loadedSystemLibrary(pattern: RegExp): string | null {
  if (!existsSync('/proc/self/maps')) return null;
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const path = line.slice(line.indexOf('/'));
    if (line.includes('/') && pattern.test(path) && existsSync(path)) return path;
  }
  return null;
}

describe('ELF .dynsym reader', () => {
  it('reads the exports of a real system library', () => {
    const libc = loadedSystemLibrary(/\/libc[.-][^/]*\.so[.\d]*$|\/libc\.so\.6$/);
    if (libc === null) return; // not glibc on Linux
    const syms = readElfDynamicSymbols(libc);
    const names = new Set(syms.exported.map((s) => s.name));
    expect(names.has('malloc')).toBe(true);
    expect(names.has('free')).toBe(true);
    expect(names.has('cudaMalloc')).toBe(false);
    expect(syms.exported.find((s) => s.name === 'malloc')?.type).toBe('func');
  });

  it('reads the Node-API exports of the node executable itself', () => {
    const syms = readElfDynamicSymbols(process.execPath);
    if (syms.exported.length === 0) return; // a statically linked node exports nothing dynamically
    expect(syms.exported.some((s) => s.name === 'napi_create_object')).toBe(true);
  });

  it('reads a hand-made ELF: exports, imports, and skips hidden symbols', () => {
    const dir = makeTempDir();
    const path = join(dir, 'libhand.so');
    writeFileSync(path, buildElfFixture({ exported: ['cudaMalloc', 'cudaFree'], imported: ['cuMemCreate'], hidden: ['secret_fn'] }));
    const syms = readElfDynamicSymbols(path);
    expect(syms.elfClass).toBe(64);
    expect(syms.littleEndian).toBe(true);
    expect(syms.machine).toBe(62);
    expect(syms.exported.map((s) => s.name).sort()).toEqual(['cudaFree', 'cudaMalloc']);
    expect(syms.imported).toEqual(['cuMemCreate']);
  });

  it('rejects malformed files with ElfFormatError, not a crash', () => {
    const dir = makeTempDir();
    const good = buildElfFixture({ exported: ['cudaMalloc'] });
    const cases: Record<string, Buffer> = {
      empty: Buffer.alloc(0),
      text: Buffer.from('#!/bin/sh\necho this is a script, not a library\n'.repeat(4)),
      truncated: good.subarray(0, 80),
      badClass: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 9, 1]), good.subarray(6)]),
      sectionTableOutside: (() => { const b = Buffer.from(good); b.writeBigUInt64LE(BigInt(b.length + 4096), 0x28); return b; })(),
      noSections: (() => { const b = Buffer.from(good); b.writeUInt16LE(0, 0x3c); return b; })(),
      dynsymOutside: (() => {
        const b = Buffer.from(good);
        const shoff = Number(b.readBigUInt64LE(0x28));
        b.writeBigUInt64LE(BigInt(b.length * 10), shoff + 64 + 24); // section 1 (.dynsym) sh_offset
        return b;
      })(),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const path = join(dir, `${name}.so`);
      writeFileSync(path, bytes);
      expect(() => readElfDynamicSymbols(path), name).toThrow(ElfFormatError);
    }
  });
});

describe('LD_PRELOAD description', () => {
  it('splits on colons and spaces as ld.so does', () => {
    expect(splitLdPreload('/a/x.so:/b/y.so  z.so::')).toEqual(['/a/x.so', '/b/y.so', 'z.so']);
  });

  it('finds an injected allocator interposer and what it exports', () => {
    const dir = makeTempDir();
    const { path } = buildAllocatorInterposer(dir, 'libfakealloc.so');
    const [entry] = describeLdPreload(path, {});
    expect(entry).toBeDefined();
    expect(entry?.exists).toBe(true);
    expect(entry?.inspected).toBe(true);
    expect(entry?.exportsCudaMalloc).toBe(true);
    expect(entry?.exportsCudaFree).toBe(true);
    expect(entry?.vmmImports).toContain('cuMemCreate');
    expect(entry?.identity).toBe('cuda-allocator-interposer');
  });

  it('recognises torch_memory_saver by file name and by its exported symbols', () => {
    const dir = makeTempDir();
    const byName = buildAllocatorInterposer(dir, 'torch_memory_saver_hook_mode_preload.abi3.so').path;
    const bySymbol = buildAllocatorInterposer(dir, 'librenamed.so', ['tms_set_interesting_region', 'tms_pause']).path;
    const [a, b] = describeLdPreload(`${byName}:${bySymbol}`, {});
    expect(a?.identity).toBe('torch_memory_saver');
    expect(a?.identifiedBy).toContain('file name');
    expect(b?.identity).toBe('torch_memory_saver');
    expect(b?.identifiedBy).toContain('exports tms_set_interesting_region');
  });

  it('recognises the project\'s own interposer when it has been built', () => {
    const built = join(repoRoot, 'build', 'Release', 'libcuipc_vmm_interposer.so');
    const dir = makeTempDir();
    const renamed = join(dir, 'librenamed_interposer.so');
    writeFileSync(renamed, buildElfFixture({ exported: ['cudaMalloc', 'cudaFree', 'cuipcInterposerName'] }));
    const [byName] = describeLdPreload(join(dir, 'libcuipc_vmm_interposer.so'), {});
    expect(byName?.identity).toBe('cuipc-vmm-interposer');
    const [bySymbol] = describeLdPreload(renamed, {});
    expect(bySymbol?.identity).toBe('cuipc-vmm-interposer');
    if (existsSync(built)) {
      const [real] = describeLdPreload(built, {});
      expect(real?.exportsCudaMalloc).toBe(true);
      expect(real?.exportsCudaFree).toBe(true);
      expect(real?.identifiedBy).toContain('exports cuipcInterposerName');
    }
  });

  it('searches LD_LIBRARY_PATH for bare names, and reports missing files', () => {
    const dir = makeTempDir();
    buildAllocatorInterposer(dir, 'libbare.so');
    const [found, missing] = describeLdPreload('libbare.so:libdoes_not_exist_cuipc.so', { LD_LIBRARY_PATH: dir });
    expect(found?.path).toBe(join(dir, 'libbare.so'));
    expect(found?.exportsCudaMalloc).toBe(true);
    expect(missing?.exists).toBe(false);
    expect(missing?.error).toMatch(/not found/);
  });
});

describe('detectHazards', () => {
  it('explains expandable_segments:True with the measured truth-table cell', () => {
    for (const variable of ['PYTORCH_CUDA_ALLOC_CONF', 'PYTORCH_ALLOC_CONF']) {
      const hs = detectHazards({ [variable]: 'max_split_size_mb:128, expandable_segments:True' });
      const h = byId(hs, 'alloc-conf.expandable-segments');
      expect(h, variable).toBeDefined();
      expect(h?.severity).toBe('high');
      expect(h?.variable).toBe(variable);
      expect(h?.effect).toMatch(/cudaIpcGetMemHandle/);
      expect(h?.evidence).toMatch(/docs\/hardware-facts\.md#expandable-segments: PyTorch tensor under PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True -> cudaIpcGetMemHandle 1 cudaErrorInvalidValue/);
    }
    expect(byId(detectHazards({ PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:False' }), 'alloc-conf.expandable-segments')).toBeUndefined();
    expect(byId(detectHazards({ PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:False' }), 'alloc-conf.set')?.severity).toBe('info');
  });

  it('flags the cudaMallocAsync backend and conflicting allocator variables', () => {
    expect(byId(detectHazards({ PYTORCH_CUDA_ALLOC_CONF: 'backend:cudaMallocAsync' }), 'alloc-conf.cuda-malloc-async')?.evidence)
      .toMatch(/cudaMallocAsync \(default pool\)/);
    const both = detectHazards({ PYTORCH_CUDA_ALLOC_CONF: 'max_split_size_mb:64', PYTORCH_ALLOC_CONF: 'garbage_collection_threshold:0.6' });
    expect(byId(both, 'alloc-conf.both-set')?.severity).toBe('medium');
  });

  it('describes each LD_PRELOAD entry, worst first', () => {
    const dir = makeTempDir();
    const tms = buildAllocatorInterposer(dir, 'torch_memory_saver_hook_mode_preload.so').path;
    const hs = detectHazards({ LD_PRELOAD: `${join(dir, 'missing.so')} ${tms}` });
    const preload = hs.filter((h) => h.variable === 'LD_PRELOAD');
    expect(preload.map((h) => h.id)).toEqual(['ld-preload.torch-memory-saver', 'ld-preload.missing']);
    expect(preload[0]?.severity).toBe('high');
    expect(preload[0]?.value).toBe(tms);
    expect(preload[0]?.effect).toMatch(/exports cudaMalloc, cudaFree/);
    expect(preload[0]?.evidence).toMatch(/torch_memory_saver csrc\/entrypoint\.cpp/);
    expect(preload[1]?.severity).toBe('info');
  });

  it('judges entries by name only when told not to read files', () => {
    const hs = detectHazards({ LD_PRELOAD: '/nowhere/torch_memory_saver_hook_mode_preload.so' }, { inspectFiles: false });
    expect(byId(hs, 'ld-preload.torch-memory-saver')?.severity).toBe('high');
  });

  it('raises custom all-reduce v2 to high when graph inputs can be VMM memory', () => {
    expect(byId(detectHazards({ SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2: '1' }), 'sglang.custom-all-reduce-v2')?.severity).toBe('medium');
    const combined = detectHazards({ SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2: 'true', SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'True' });
    expect(byId(combined, 'sglang.custom-all-reduce-v2')?.severity).toBe('high');
    expect(byId(combined, 'sglang.custom-all-reduce-v2')?.effect).toMatch(/SGLANG_MEMORY_SAVER_CUDA_GRAPH/);
    expect(byId(combined, 'sglang.memory-saver-cuda-graph')?.severity).toBe('high');
    expect(byId(detectHazards({ SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2: '0' }), 'sglang.custom-all-reduce-v1')?.severity).toBe('info');
    expect(detectHazards({ SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'false' })).toEqual([]);
  });

  it('explains device remapping with 101, not 1', () => {
    const remap = byId(detectHazards({ CUDA_VISIBLE_DEVICES: '4,5,6,7' }), 'visible-devices.remapped');
    expect(remap?.effect).toMatch(/0 -> 4/);
    expect(remap?.effect).toMatch(/101/);
    expect(byId(detectHazards({ CUDA_VISIBLE_DEVICES: '' }), 'visible-devices.none')?.severity).toBe('high');
    expect(byId(detectHazards({ CUDA_VISIBLE_DEVICES: '0,1,0' }), 'visible-devices.duplicate')?.severity).toBe('medium');
    const noset = detectHazards({ RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES: '0', CUDA_VISIBLE_DEVICES: '0,1' });
    expect(byId(noset, 'ray.noset-visible-devices')?.severity).toBe('medium');
    expect(byId(noset, 'visible-devices.remapped')?.effect).toMatch(/not from Ray/);
    expect(byId(detectHazards({ RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES: '' }), 'ray.noset-visible-devices')).toBeUndefined();
  });

  it('covers NCCL, CUDA_DEVICE_MAX_CONNECTIONS and TMS_* variables', () => {
    const hs = detectHazards({
      NCCL_CUMEM_ENABLE: '0', NCCL_P2P_DISABLE: '1', NCCL_P2P_NET_CHUNKSIZE: '524288', CUDA_DEVICE_MAX_CONNECTIONS: '1',
      TMS_INIT_ENABLE: '1', TMS_SOMETHING_NEW: 'x',
    });
    expect(byId(hs, 'nccl.cumem-off')?.severity).toBe('info');
    expect(byId(hs, 'nccl.p2p-disable')?.severity).toBe('medium');
    expect(hs.filter((h) => h.id === 'nccl.p2p-other').map((h) => h.variable)).toEqual(['NCCL_P2P_NET_CHUNKSIZE']);
    expect(byId(hs, 'cuda.max-connections')?.effect).toMatch(/Megatron/);
    expect(byId(hs, 'tms.init-enable')?.severity).toBe('medium'); // no hook preloaded here
    expect(hs.filter((h) => h.id === 'tms.other').map((h) => h.variable)).toEqual(['TMS_SOMETHING_NEW']);

    const dir = makeTempDir();
    const tms = buildAllocatorInterposer(dir, 'torch_memory_saver_hook_mode_preload.so').path;
    expect(byId(detectHazards({ TMS_INIT_ENABLE: '1', LD_PRELOAD: tms }), 'tms.init-enable')?.severity).toBe('high');
  });

  it('judges the PID namespace and /dev/shm from the context', () => {
    const differs = detectHazards({}, { pidNamespace: 'pid:[4026532001]', peerPidNamespaces: ['pid:[4026531836]'] });
    expect(byId(differs, 'pid-namespace.differs')?.severity).toBe('high');
    expect(byId(detectHazards({}, { pidNamespace: 'pid:[4026532001]' }), 'pid-namespace.container')?.severity).toBe('info');
    expect(detectHazards({}, { pidNamespace: 'pid:[4026531836]', peerPidNamespaces: ['pid:[4026531836]', null] })).toEqual([]);
    const small = detectHazards({}, { shm: { path: '/dev/shm', sizeBytes: 64 * 1024 ** 2, freeBytes: 60 * 1024 ** 2 } });
    expect(byId(small, 'shm.small')?.value).toBe('64 MiB (60 MiB free)');
    expect(byId(detectHazards({}, { shm: null }), 'shm.missing')?.severity).toBe('medium');
    expect(detectHazards({}, { shm: { path: '/dev/shm', sizeBytes: 32 * 1024 ** 3, freeBytes: 30 * 1024 ** 3 } })).toEqual([]);
  });

  it('survives malformed values and orders by severity', () => {
    const hs = detectHazards({
      PYTORCH_CUDA_ALLOC_CONF: ':::,,expandable_segments', CUDA_VISIBLE_DEVICES: ',,,', NCCL_CUMEM_ENABLE: 'maybe',
      SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1', LD_PRELOAD: '   ', UNRELATED: undefined, CUDA_DEVICE_MAX_CONNECTIONS: '',
    });
    const order = { high: 0, medium: 1, info: 2 } as const;
    for (let i = 1; i < hs.length; i++) expect(order[hs[i - 1]!.severity] <= order[hs[i]!.severity]).toBe(true);
    // PyTorch raises on ':::,,expandable_segments' (no value): that outranks the rest.
    expect(hs[0]?.id).toBe('alloc-conf.invalid');
    expect(byId(hs, 'sglang.memory-saver-cuda-graph')?.severity).toBe('high');
    expect(byId(hs, 'visible-devices.none')).toBeDefined();
    expect(parseAllocConf(':::,,expandable_segments').get('expandable_segments')).toBe('');
  });

  it('gives every hazard an effect and evidence', () => {
    const dir = makeTempDir();
    const tms = buildAllocatorInterposer(dir, 'torch_memory_saver_hook_mode_preload.so').path;
    const hs = detectHazards({
      LD_PRELOAD: tms, PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True', SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1',
      SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2: '1', CUDA_VISIBLE_DEVICES: '1', RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES: '1',
      NCCL_CUMEM_ENABLE: '1', NCCL_P2P_LEVEL: 'NVL', CUDA_DEVICE_MAX_CONNECTIONS: '1', TMS_INIT_ENABLE: '1', TMS_INIT_ENABLE_CPU_BACKUP: '1',
    }, { pidNamespace: 'pid:[1]', peerPidNamespaces: ['pid:[2]'], shm: { path: '/dev/shm', sizeBytes: 1, freeBytes: 1 } });
    expect(hs.length).toBeGreaterThanOrEqual(13);
    for (const h of hs) {
      expect(h.effect.length, h.id).toBeGreaterThan(20);
      expect(h.evidence, h.id).toMatch(/docs\/hardware-facts\.md#[a-z-]+|[A-Za-z]+.*(\.py|\.cc|\.cpp|\.h|documentation|issue|guide|ld\.so|sglang|slime|\.dynsym|crash)/i);
    }
    expect(RULES.length).toBeGreaterThan(10);
  });
});
