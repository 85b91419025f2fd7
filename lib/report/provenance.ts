// A pointer's provenance for the report: the driver's attribute answers, made JSON-friendly
// and classified. VMM memory looks exactly like cudaMalloc memory by memory type and range;
// only IS_LEGACY_CUDA_IPC_CAPABLE, ALLOWED_HANDLE_TYPES and cuMemRetainAllocationHandle tell
// them apart (h200-ipc-truth.md), so those decide.
import type { AttributeAnswer, PointerAttributes } from '../../binding.js';
import type { Provenance } from './types.js';

const MEMORY_TYPES: Record<number, string> = { 1: 'host', 2: 'device', 3: 'array', 4: 'unified' };
const HANDLE_TYPES: Array<[number, string]> = [
  [0x1, 'posix-fd'],
  [0x2, 'win32'],
  [0x4, 'win32-kmt'],
  [0x8, 'fabric'],
];

function hex(value: bigint): string {
  return `0x${value.toString(16)}`;
}

function answer<T>(a: AttributeAnswer<T>): T | null {
  return a.code === 0 && a.value !== undefined ? a.value : null;
}

export function handleTypeNames(mask: number): string[] {
  return HANDLE_TYPES.filter(([bit]) => (mask & bit) !== 0).map(([, name]) => name);
}

export function classify(p: Omit<Provenance, 'classification'>): Provenance['classification'] {
  if (p.vmm === true) return 'vmm';
  if (p.mempool !== null) return 'pool';
  if (p.isManaged === true) return 'managed';
  if (p.memoryType === 1) return 'host';
  if (p.memoryType === 2 && p.legacyIpcCapable === true) return 'device';
  return 'unknown';
}

export function toProvenance(attributes: PointerAttributes): Provenance {
  const refused: Record<string, number> = {};
  const keys = [
    'memoryType',
    'deviceOrdinal',
    'isManaged',
    'rangeStart',
    'rangeSize',
    'mapped',
    'isLegacyIpcCapable',
    'allowedHandleTypes',
    'mempool',
  ] as const;
  for (const key of keys) if (attributes[key].code !== 0) refused[key] = attributes[key].code;
  const memoryType = answer(attributes.memoryType);
  const allowed = answer(attributes.allowedHandleTypes);
  const pool = answer(attributes.mempool);
  const rangeStart = answer(attributes.rangeStart);
  // retainAllocationHandle's "code" is the retain call's own: non-zero just means "not VMM".
  const retain = attributes.retainAllocationHandle;
  const base: Omit<Provenance, 'classification'> = {
    ptr: hex(attributes.ptr),
    memoryType,
    memoryTypeName: memoryType === null ? 'unknown (the driver does not know this pointer)' : (MEMORY_TYPES[memoryType] ?? `type ${memoryType}`),
    device: answer(attributes.deviceOrdinal),
    isManaged: answer(attributes.isManaged),
    rangeStart: rangeStart === null ? null : hex(rangeStart),
    rangeSize: answer(attributes.rangeSize),
    legacyIpcCapable: answer(attributes.isLegacyIpcCapable),
    allowedHandleTypes: allowed,
    allowedHandleTypeNames: allowed === null ? [] : handleTypeNames(allowed),
    vmm: retain.value ?? (memoryType === null ? null : retain.code === 0),
    mempool: pool === null || pool === 0n ? null : hex(pool),
    refused,
  };
  return { ...base, classification: classify(base) };
}

/** One line for a person: "VMM device memory, not legacy-IPC-capable, handle types: none". */
export function describeProvenance(p: Provenance): string {
  const what = {
    vmm: 'VMM memory (cuMemCreate + cuMemMap)',
    pool: 'memory-pool memory (cudaMallocAsync)',
    managed: 'managed memory (cudaMallocManaged)',
    host: 'pinned host memory (cudaHostAlloc)',
    device: 'device memory (cudaMalloc)',
    unknown: 'memory the driver does not classify',
  }[p.classification];
  const ipc = p.legacyIpcCapable === null ? 'legacy-IPC-capable: unknown' : p.legacyIpcCapable ? 'legacy-IPC-capable' : 'not legacy-IPC-capable';
  const handles = p.allowedHandleTypes === null ? 'unknown' : p.allowedHandleTypeNames.length ? p.allowedHandleTypeNames.join(', ') : 'none';
  return `${what}, ${ipc}, shareable handle types: ${handles}`;
}
