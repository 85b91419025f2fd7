// Describes LD_PRELOAD entries: which file ld.so would load, and whether it replaces the CUDA
// allocation entry points (the way torch_memory_saver's preload hook turns cudaMalloc into
// cuMemCreate + cuMemMap, which makes the memory unexportable with cudaIpcGetMemHandle).
import { accessSync, constants, statSync } from 'node:fs';
import { arch } from 'node:os';
import { basename, join } from 'node:path';
import { ElfFormatError, readElfDynamicSymbols } from './elf.js';

type PreloadIdentity =
  | 'torch_memory_saver'
  | 'cuipc-vmm-interposer'
  | 'cuda-allocator-interposer'
  | 'cuda-driver-interposer'
  | 'other';

export interface PreloadEntry {
  /** The entry as written in LD_PRELOAD. */
  entry: string;
  /** The file it names (searched for when the entry has no slash); null when none was found. */
  path: string | null;
  exists: boolean;
  /** Whether the dynamic symbol table could be read. */
  inspected: boolean;
  exportsCudaMalloc: boolean;
  exportsCudaFree: boolean;
  exportsCuMemCreate: boolean;
  /** Exported CUDA runtime/driver entry points (cuda*, cu[A-Z]*), at most 64. */
  cudaExports: string[];
  /** VMM driver calls it imports (cuMemCreate, cuMemMap, ...): evidence that it allocates VMM memory. */
  vmmImports: string[];
  identity: PreloadIdentity;
  /** How the identity was decided: 'file name', 'exports tms_set_interesting_region', ... */
  identifiedBy: string[];
  error?: string;
}

const TMS_SYMBOLS = ['tms_set_interesting_region', 'tms_pause', 'tms_resume', 'tms_set_current_tag'];
const CUIPC_SYMBOL = 'cuipcInterposerName';
const VMM_CALLS = ['cuMemCreate', 'cuMemMap', 'cuMemAddressReserve', 'cuMemSetAccess', 'cuMemExportToShareableHandle'];
const MAX_LISTED_EXPORTS = 64;

/** ld.so accepts spaces and colons between LD_PRELOAD entries (ld.so(8)). */
export function splitLdPreload(value: string): string[] {
  return value.split(/[\s:]+/).filter((e) => e.length > 0);
}

function multiarchDirectory(): string | null {
  switch (arch()) {
    case 'x64': return 'x86_64-linux-gnu';
    case 'arm64': return 'aarch64-linux-gnu';
    case 'ppc64': return 'powerpc64le-linux-gnu';
    default: return null;
  }
}

function isReadableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where ld.so would find a bare library name: LD_LIBRARY_PATH, then the default directories (ld.so.cache is not consulted). */
function searchLibrary(name: string, env: Record<string, string | undefined>): string | null {
  const multiarch = multiarchDirectory();
  const dirs = [
    ...(env['LD_LIBRARY_PATH'] ?? '').split(/[:;]/).filter((d) => d.length > 0),
    ...(multiarch ? [`/lib/${multiarch}`, `/usr/lib/${multiarch}`] : []),
    '/lib64', '/usr/lib64', '/lib', '/usr/lib',
  ];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isReadableFile(candidate)) return candidate;
  }
  return null;
}

function identify(entry: string, path: string | null, exported: ReadonlySet<string>, vmmImports: readonly string[]): {
  identity: PreloadIdentity; identifiedBy: string[];
} {
  const fileName = basename(path ?? entry);
  const by: string[] = [];
  if (/cuipc_vmm_interposer/.test(fileName)) by.push('file name');
  if (exported.has(CUIPC_SYMBOL)) by.push(`exports ${CUIPC_SYMBOL}`);
  if (by.length > 0) return { identity: 'cuipc-vmm-interposer', identifiedBy: by };
  // torch_memory_saver's own Python helpers find the hook by this substring of the path.
  if (/torch_memory_saver/.test(path ?? entry)) by.push('file name');
  for (const s of TMS_SYMBOLS) if (exported.has(s)) by.push(`exports ${s}`);
  if (by.length > 0) return { identity: 'torch_memory_saver', identifiedBy: by };
  const allocation = ['cudaMalloc', 'cudaFree'].filter((s) => exported.has(s));
  if (allocation.length > 0) {
    return { identity: 'cuda-allocator-interposer', identifiedBy: [...allocation.map((s) => `exports ${s}`), ...vmmImports.map((s) => `imports ${s}`)] };
  }
  const driver = VMM_CALLS.filter((s) => exported.has(s));
  if (driver.length > 0) return { identity: 'cuda-driver-interposer', identifiedBy: driver.map((s) => `exports ${s}`) };
  return { identity: 'other', identifiedBy: [] };
}

/** Describes one LD_PRELOAD entry. With inspectFiles false only the name is used (no file access). */
function describePreloadEntry(entry: string, env: Record<string, string | undefined> = process.env, inspectFiles = true): PreloadEntry {
  const described: PreloadEntry = {
    entry, path: null, exists: false, inspected: false,
    exportsCudaMalloc: false, exportsCudaFree: false, exportsCuMemCreate: false,
    cudaExports: [], vmmImports: [], identity: 'other', identifiedBy: [],
  };
  let exported = new Set<string>();
  if (!inspectFiles) {
    described.path = entry.includes('/') ? entry : null;
  } else if (entry.includes('$')) {
    // $LIB, $PLATFORM and $ORIGIN are expanded by ld.so itself; their expansion is not reproduced here.
    described.error = 'the entry contains an ld.so dynamic string token ($LIB, $PLATFORM or $ORIGIN); not expanded';
  } else {
    described.path = entry.includes('/') ? entry : searchLibrary(entry, env);
    described.exists = described.path !== null && isReadableFile(described.path);
    if (!described.exists) {
      described.error = described.path === null
        ? 'not found in LD_LIBRARY_PATH or the default library directories; ld.so ignores it'
        : 'no readable file there; ld.so ignores it';
    } else if (described.path !== null) {
      try {
        const symbols = readElfDynamicSymbols(described.path);
        described.inspected = true;
        exported = new Set(symbols.exported.map((s) => s.name));
        described.cudaExports = symbols.exported.map((s) => s.name).filter((n) => /^(cuda|cu[A-Z])/.test(n)).sort().slice(0, MAX_LISTED_EXPORTS);
        described.vmmImports = VMM_CALLS.filter((s) => symbols.imported.includes(s) || symbols.imported.includes(`${s}_v2`));
      } catch (err) {
        described.error = err instanceof ElfFormatError ? err.message : `cannot read it: ${(err as Error).message}`;
      }
    }
  }
  described.exportsCudaMalloc = exported.has('cudaMalloc');
  described.exportsCudaFree = exported.has('cudaFree');
  described.exportsCuMemCreate = exported.has('cuMemCreate');
  Object.assign(described, identify(entry, described.path, exported, described.vmmImports));
  return described;
}

/** Describes every entry of an LD_PRELOAD value, in load order. */
export function describeLdPreload(value: string | undefined, env: Record<string, string | undefined> = process.env, inspectFiles = true): PreloadEntry[] {
  return value ? splitLdPreload(value).map((e) => describePreloadEntry(e, env, inspectFiles)) : [];
}

/** One line for a person: "/x/libfoo.so (exists; exports cudaMalloc, cudaFree; torch_memory_saver)". */
export function summarizePreloadEntry(p: PreloadEntry): string {
  const facts: string[] = [];
  facts.push(p.exists ? 'exists' : p.error !== undefined ? 'not loadable' : 'file not checked');
  const exports = [p.exportsCudaMalloc && 'cudaMalloc', p.exportsCudaFree && 'cudaFree', p.exportsCuMemCreate && 'cuMemCreate'].filter((x): x is string => typeof x === 'string');
  if (p.inspected) facts.push(exports.length > 0 ? `exports ${exports.join(', ')}` : 'exports no CUDA allocation entry point');
  if (p.vmmImports.length > 0) facts.push(`imports ${p.vmmImports.join(', ')}`);
  if (p.identity !== 'other') facts.push(`${p.identity} (${p.identifiedBy.join(', ')})`);
  return `${p.path ?? p.entry} (${facts.join('; ')})`;
}
