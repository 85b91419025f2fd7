// Test fixtures: shared objects that export CUDA allocation entry points, built with `cc` when
// it is here, or written by hand as a minimal ELF64 with a .dynsym when it is not; and the
// snapshots of a shell and of a Ray actor that the diff and rendering tests compare.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { captureEnvironment, type EnvSnapshot } from '../../lib/env/capture.js';

const made: string[] = [];
// Registered while the importing test file is collected: its folders go when it ends.
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A new folder in the temporary directory, removed after the test file. */
export function makeTempDir(prefix = 'cuipc-env-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export interface ElfFixtureSpec {
  exported: string[];
  imported?: string[];
  /** Exported names given hidden visibility (the reader must skip them). */
  hidden?: string[];
}

/** A minimal little-endian ELF64 shared object: section headers, .dynsym, .dynstr, .shstrtab, .text. */
export function buildElfFixture(spec: ElfFixtureSpec): Buffer {
  const imported = spec.imported ?? [];
  const hidden = spec.hidden ?? [];
  const names = [...spec.exported, ...hidden, ...imported];
  let dynstr = '\0';
  const nameOffsets = new Map<string, number>();
  for (const n of names) { nameOffsets.set(n, dynstr.length); dynstr += `${n}\0`; }
  const shstr = '\0.dynsym\0.dynstr\0.shstrtab\0.text\0';
  const shName = (s: string): number => shstr.indexOf(`${s}\0`);
  const align8 = (n: number): number => (n + 7) & ~7;

  const dynstrOff = 64;
  const dynsymOff = align8(dynstrOff + dynstr.length);
  const symCount = 1 + names.length;
  const dynsymSize = symCount * 24;
  const shstrOff = dynsymOff + dynsymSize;
  const textOff = align8(shstrOff + shstr.length);
  const textSize = 16;
  const shOff = align8(textOff + textSize);
  const shnum = 5;
  const buf = Buffer.alloc(shOff + shnum * 64);

  buf.write('\x7fELF', 0, 'latin1');
  buf[4] = 2; buf[5] = 1; buf[6] = 1; // ELFCLASS64, little endian, version 1
  buf.writeUInt16LE(3, 16); // ET_DYN
  buf.writeUInt16LE(62, 18); // x86-64
  buf.writeUInt32LE(1, 20);
  buf.writeBigUInt64LE(BigInt(shOff), 0x28);
  buf.writeUInt16LE(64, 0x34); // e_ehsize
  buf.writeUInt16LE(64, 0x3a); // e_shentsize
  buf.writeUInt16LE(shnum, 0x3c);
  buf.writeUInt16LE(3, 0x3e); // e_shstrndx

  buf.write(dynstr, dynstrOff, 'latin1');
  buf.write(shstr, shstrOff, 'latin1');
  names.forEach((n, i) => {
    const at = dynsymOff + (i + 1) * 24;
    const isImport = imported.includes(n);
    buf.writeUInt32LE(nameOffsets.get(n) ?? 0, at);
    buf[at + 4] = (1 << 4) | 2; // STB_GLOBAL, STT_FUNC
    buf[at + 5] = hidden.includes(n) ? 2 : 0; // STV_HIDDEN or default
    buf.writeUInt16LE(isImport ? 0 : 4, at + 6);
    buf.writeBigUInt64LE(isImport ? 0n : BigInt(textOff), at + 8);
  });

  const section = (i: number, name: number, type: number, off: number, size: number, link: number, entsize: number): void => {
    const at = shOff + i * 64;
    buf.writeUInt32LE(name, at);
    buf.writeUInt32LE(type, at + 4);
    buf.writeBigUInt64LE(BigInt(off), at + 24);
    buf.writeBigUInt64LE(BigInt(size), at + 32);
    buf.writeUInt32LE(link, at + 40);
    buf.writeBigUInt64LE(BigInt(entsize), at + 56);
  };
  section(1, shName('.dynsym'), 11, dynsymOff, dynsymSize, 2, 24);
  section(2, shName('.dynstr'), 3, dynstrOff, dynstr.length, 0, 0);
  section(3, shName('.shstrtab'), 3, shstrOff, shstr.length, 0, 0);
  section(4, shName('.text'), 1, textOff, textSize, 0, 0);
  return buf;
}

export function hasCc(): boolean {
  return spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * A shared object at dir/fileName exporting cudaMalloc and cudaFree (plus `extraExports`) and
 * importing cuMemCreate, as an allocator interposer does. Built with cc when available.
 */
export function buildAllocatorInterposer(dir: string, fileName: string, extraExports: string[] = []): { path: string; builtWith: 'cc' | 'fixture' } {
  const path = join(dir, fileName);
  if (hasCc()) {
    const source = join(dir, `${fileName}.c`);
    writeFileSync(source, [
      'typedef unsigned long size_t;',
      'extern int cuMemCreate(unsigned long long*, size_t, const void*, unsigned long long);',
      'int cudaMalloc(void** p, size_t n) { unsigned long long h; return cuMemCreate(&h, n, 0, 0); }',
      'int cudaFree(void* p) { (void)p; return 0; }',
      ...extraExports.map((s) => `void ${s}(void) {}`),
      'static int hidden_helper(void) { return 1; }',
      'int (*keep_helper)(void) = hidden_helper;',
    ].join('\n'));
    const r = spawnSync('cc', ['-shared', '-fPIC', '-o', path, source], { encoding: 'utf8' });
    if (r.status === 0) return { path, builtWith: 'cc' };
  }
  writeFileSync(path, buildElfFixture({ exported: ['cudaMalloc', 'cudaFree', ...extraExports], imported: ['cuMemCreate'] }));
  return { path, builtWith: 'fixture' };
}

/** A shell and a Ray actor whose launch environments differ in CUDA-relevant ways (the actor preloads `interposer`). */
export function shellAndActor(): { shell: EnvSnapshot; actor: EnvSnapshot; interposer: string } {
  const dir = makeTempDir();
  const interposer = buildAllocatorInterposer(dir, 'libvmm_alloc_hook.so').path;
  const common = { PATH: '/usr/bin:/bin', HOME: '/home/me', NCCL_DEBUG: 'WARN', TERM: 'xterm' };
  const shell = captureEnvironment({ env: { ...common, EDITOR: 'vi' }, label: 'shell' });
  const actor = captureEnvironment({
    env: {
      ...common, TERM: 'dumb', RAY_ADDRESS: '10.0.0.1:6379', LD_PRELOAD: interposer,
      PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True', CUDA_VISIBLE_DEVICES: '1', CUDA_DEVICE_MAX_CONNECTIONS: '1',
    },
    label: 'actor',
  });
  return { shell, actor, interposer };
}
