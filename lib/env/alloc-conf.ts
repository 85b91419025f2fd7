// PyTorch's allocator settings (PYTORCH_CUDA_ALLOC_CONF, else PYTORCH_ALLOC_CONF) read the way
// PyTorch reads them (c10/core/AllocatorConfig.cpp, c10/cuda/CUDAAllocatorConfig.cpp): the
// value is split at ',' ':' '[' ']', spaces dropped, keys and the True/False values are
// case-sensitive, and a key PyTorch does not know raises at the first CUDA allocation. The probe
// replays a rank's allocations under these settings (expandable segments, the cudaMallocAsync
// backend), and the hazard table reads them from here too.

/** What a failure record calls PyTorch's reading of the settings (the probe records it, the rules explain it). */
export const ALLOC_CONF_CALL = 'PyTorch allocator config';

/**
 * The variables PyTorch reads, the one that wins first: measured with PyTorch 2.11 on an H100,
 * PYTORCH_ALLOC_CONF=expandable_segments:False with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
 * gave expandable segments (docs/torch-agreement.md).
 */
export const ALLOC_CONF_VARIABLES = ['PYTORCH_CUDA_ALLOC_CONF', 'PYTORCH_ALLOC_CONF'] as const;

/** Every key PyTorch 2.x accepts; the rest raise. */
const KNOWN_KEYS = new Set([
  'max_split_size_mb',
  'max_non_split_rounding_mb',
  'garbage_collection_threshold',
  'roundup_power2_divisions',
  'backend',
  'expandable_segments',
  'release_lock_on_cudamalloc',
  'pinned_use_cuda_host_register',
  'pinned_num_register_threads',
  'pinned_use_background_threads',
  'pinned_reserve_segment_size_mb',
  'graph_capture_record_stream_reuse',
  'per_process_memory_fraction',
]);
const BOOLEAN_KEYS = new Set(['expandable_segments', 'release_lock_on_cudamalloc', 'pinned_use_cuda_host_register', 'pinned_use_background_threads', 'graph_capture_record_stream_reuse']);

export type TorchBackend = 'native' | 'cudaMallocAsync';

export interface TorchAllocConf {
  /** The variable PyTorch took the settings from; null when neither is set. */
  variable: (typeof ALLOC_CONF_VARIABLES)[number] | null;
  value: string | null;
  backend: TorchBackend;
  expandableSegments: boolean;
}

/** The settings, or what PyTorch raises on them (a ValueError at its first CUDA allocation, PyTorch 2.11). */
export type AllocConfReading = { ok: true; conf: TorchAllocConf } | { ok: false; variable: string; value: string; message: string };

/** Loose key -> value view (keys lower-cased), for the hazard table and the bisect's change names. */
export function parseAllocConf(value: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const part of value.split(',')) {
    const at = part.indexOf(':');
    if (at < 0) {
      if (part.trim()) options.set(part.trim().toLowerCase(), '');
      continue;
    }
    options.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  return options;
}

function lex(value: string): string[] {
  const tokens: string[] = [];
  let buf = '';
  for (const ch of value) {
    if (ch === ',' || ch === ':' || ch === '[' || ch === ']') {
      if (buf) tokens.push(buf);
      buf = '';
      tokens.push(ch);
    } else if (ch !== ' ') {
      buf += ch;
    }
  }
  if (buf) tokens.push(buf);
  return tokens;
}

/** Reads the settings a PyTorch process in `env` runs with. */
export function readTorchAllocConf(env: Readonly<Record<string, string | undefined>>): AllocConfReading {
  const variable = ALLOC_CONF_VARIABLES.find((name) => env[name] !== undefined) ?? null;
  const conf: TorchAllocConf = { variable, value: variable ? (env[variable] as string) : null, backend: 'native', expandableSegments: false };
  if (!variable || conf.value === null) return { ok: true, conf };
  const value = conf.value;
  const fail = (message: string): AllocConfReading => ({ ok: false, variable, value, message });
  const tokens = lex(value);
  for (let i = 0; i < tokens.length; i += 1) {
    const key = tokens[i];
    if (!KNOWN_KEYS.has(key)) return fail(`Unrecognized key '${key}' in CUDA allocator config.`);
    if (tokens[i + 1] !== ':') return fail('Error parsing CachingAllocator::AllocatorConfig settings, expected :');
    i += 2;
    // A list value ([a:b,c:d], roundup_power2_divisions) runs to its closing bracket.
    let item = tokens[i];
    if (item === '[') {
      const close = tokens.indexOf(']', i);
      if (close < 0) return fail(`Error parsing ${key} value`);
      i = close;
      item = '[...]';
    }
    if (item === undefined || item === ',') return fail(`Error, expecting ${key} value`);
    if (BOOLEAN_KEYS.has(key) && item !== 'True' && item !== 'False') return fail(`Expected 'True' or 'False' at index ${i} in ConfigTokenizer but got '${item}'`);
    if (key === 'expandable_segments') conf.expandableSegments = item === 'True';
    if (key === 'backend') {
      if (item !== 'native' && item !== 'cudaMallocAsync') return fail('Unknown allocator backend, options are native and cudaMallocAsync');
      conf.backend = item;
    }
    if (i + 1 < tokens.length) {
      if (tokens[i + 1] !== ',') return fail('Error parsing CachingAllocator::AllocatorConfig settings, expected ,');
      i += 1;
    }
  }
  return { ok: true, conf };
}
