// A pointer's provenance for the report: the driver's attribute answers, made JSON-friendly
// and classified, from the binding's answers (a probe) or a trace's line (trace/failure.ts).
// VMM memory looks exactly like cudaMalloc memory by memory type and range; only
// IS_LEGACY_CUDA_IPC_CAPABLE, ALLOWED_HANDLE_TYPES and cuMemRetainAllocationHandle tell them
// apart (docs/hardware-facts.md#vmm-looks-like-device-memory), so those decide.
import type { AttributeAnswer, PointerAttributes } from '../../binding.js';
import type { Provenance } from '../model/vocabulary.js';

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

function classify(p: Omit<Provenance, 'classification'>): Provenance['classification'] {
  if (p.vmm === true) return 'vmm';
  if (p.mempool !== null) return 'pool';
  if (p.isManaged === true) return 'managed';
  if (p.memoryType === 1) return 'host';
  if (p.memoryType === 2 && p.legacyIpcCapable === true) return 'device';
  return 'unknown';
}

/** The driver's answers as the report holds them: the named and classified fields filled in. */
type DriverAnswers = Omit<Provenance, 'classification' | 'memoryTypeName' | 'allowedHandleTypeNames'>;

export function completeProvenance(answers: DriverAnswers): Provenance {
  const { memoryType, allowedHandleTypes } = answers;
  // In the report's key order (JSON readers see the same document as before).
  const named: Omit<Provenance, 'classification'> = {
    ptr: answers.ptr,
    memoryType,
    memoryTypeName: memoryType === null ? 'unknown (the driver does not know this pointer)' : (MEMORY_TYPES[memoryType] ?? `type ${memoryType}`),
    device: answers.device,
    isManaged: answers.isManaged,
    rangeStart: answers.rangeStart,
    rangeSize: answers.rangeSize,
    legacyIpcCapable: answers.legacyIpcCapable,
    allowedHandleTypes,
    allowedHandleTypeNames: allowedHandleTypes === null ? [] : handleTypeNames(allowedHandleTypes),
    vmm: answers.vmm,
    mempool: answers.mempool,
    refused: answers.refused,
  };
  return { ...named, classification: classify(named) };
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
  const pool = answer(attributes.mempool);
  const rangeStart = answer(attributes.rangeStart);
  // retainAllocationHandle's "code" is the retain call's own: non-zero just means "not VMM".
  const retain = attributes.retainAllocationHandle;
  return completeProvenance({
    ptr: hex(attributes.ptr),
    memoryType,
    device: answer(attributes.deviceOrdinal),
    isManaged: answer(attributes.isManaged),
    rangeStart: rangeStart === null ? null : hex(rangeStart),
    rangeSize: answer(attributes.rangeSize),
    legacyIpcCapable: answer(attributes.isLegacyIpcCapable),
    allowedHandleTypes: answer(attributes.allowedHandleTypes),
    vmm: retain.value ?? (memoryType === null ? null : retain.code === 0),
    mempool: pool === null || pool === 0n ? null : hex(pool),
    refused,
  });
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
