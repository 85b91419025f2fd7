// A rank that died (or hung) inside someone else's allocator: the call it was in is served by an
// interposing library (an LD_PRELOAD hook such as torch_memory_saver's), not by the CUDA
// runtime. The probe still could not run (exit 3), but the abort says whose code it died in, on
// which call and size, with the library's last words, and whether a PyTorch process would make
// that call at all: a hook that dies on a size PyTorch never asks for is not the server's fate.
// The report's JSON carries it in the abort's message (the schema has no field for it yet);
// the rendered report gives the whole account, worked out again from the report's own parts.
import type { SymbolOrigin } from '../../binding.js';
import { formatSize, LARGE_BUFFER, MIN_LARGE_ALLOC, ROUND_LARGE, roundSize, segmentSize, SMALL_BUFFER } from '../env/caching-allocator.js';
import { interposerName } from './interposers.js';
import type { ProbeAbort, RankReport } from './types.js';
import type { CallArguments, MemorySaverRegion } from '../model/vocabulary.js';

/** The call a rank died in, served by an interposing library (an LD_PRELOAD hook), not the CUDA runtime. */
export interface InterposedAbort {
  /** The object that provides the entry point (the rank's loader). */
  library: string;
  /** The library in words: "torch_memory_saver's preload hook". */
  name: string;
  call: string;
  /** The size the call asked for; null when it has none. */
  bytes: number | null;
  /** The library's line on the rank's stderr (else its last line); null when it wrote nothing or hung. */
  lastWords: string | null;
  /** Whether a PyTorch process makes the same call (null: not known), and why. */
  pytorch: { same: boolean | null; reason: string };
  /** One clause for the abort's message: whose call, its size, and PyTorch's verdict. */
  summary: string;
  /** All of it in a paragraph, for a person. */
  explanation: string;
}

/** What is known of the rank and its call when it died; nothing here is the probe's own. */
export interface AbortedCall {
  how: 'crashed' | 'hung';
  /** The entry point in flight (cudaMalloc) and its arguments (bytes or size). */
  call: string;
  args: CallArguments;
  /** Which objects provide the allocation entry points (the rank's loader). */
  symbolOrigins: readonly SymbolOrigin[];
  /** The memory-saver region the rank entered or not; null where unknown. */
  memorySaver: MemorySaverRegion | null;
  /** The end of what the rank wrote to stderr. */
  stderrTail: string;
}

const PYTORCH_RULE = `2 MiB for requests up to 1 MiB, 20 MiB for requests up to 10 MiB, larger ones rounded up to a multiple of 2 MiB`;

/** The sizes PyTorch's caching allocator asks cudaMalloc for (get_allocation_size's results). */
function isPytorchSegment(bytes: number): boolean {
  return bytes === SMALL_BUFFER || bytes === LARGE_BUFFER || (bytes >= MIN_LARGE_ALLOC && bytes % ROUND_LARGE === 0);
}

function sizeOf(args: CallArguments): number | null {
  const value = args.bytes ?? args.size;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

/** Whether a PyTorch process makes this call, and why (c10/cuda/CUDACachingAllocator.cpp). */
export function pytorchMakesCall(call: string, bytes: number | null): InterposedAbort['pytorch'] {
  if (call === 'cudaMalloc' && bytes !== null && bytes > 0) {
    if (isPytorchSegment(bytes)) {
      return { same: true, reason: `yes: PyTorch's caching allocator asks cudaMalloc for ${formatSize(bytes)} segments (${PYTORCH_RULE})` };
    }
    const segment = segmentSize(roundSize(bytes));
    return {
      same: false,
      reason: `no: PyTorch's caching allocator asks cudaMalloc only for whole segments (${PYTORCH_RULE}), never for ${bytes} bytes (${formatSize(bytes)}); for tensors of this size it would ask for ${segment} bytes (${formatSize(segment)}) and carve them out of that segment`,
    };
  }
  if (call === 'cudaFree') return { same: true, reason: "yes: PyTorch's caching allocator returns whole segments with cudaFree (empty_cache, or to retry after running out of memory)" };
  return { same: null, reason: `not known: PyTorch's caching allocator calls cudaMalloc and cudaFree, and ${call} is neither` };
}

/** The line the library left on stderr: the last one that names it, else the last line. */
function lastWordsOf(stderrTail: string, library: string): string | null {
  const lines = stderrTail.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const stem = (library.split('/').pop() ?? '').replace(/^lib/, '').replace(/\..*$/, '').toLowerCase();
  const naming = stem ? lines.filter((l) => l.toLowerCase().includes(stem) || /torch_memory_saver/i.test(l)) : [];
  const line = naming.at(-1) ?? lines.at(-1);
  return line === undefined ? null : line.slice(0, 400);
}

/** cuMemCreate refused a size that is not a multiple of the granularity: what its words and the size say together. */
function granularityHint(lastWords: string | null, bytes: number | null): string | null {
  if (lastWords === null || bytes === null || bytes % ROUND_LARGE === 0) return null;
  if (!/cu_?mem_?create/i.test(lastWords) || !/\b1\b|invalid argument|INVALID_VALUE/i.test(lastWords)) return null;
  return `cuMemCreate accepts only sizes that are a multiple of the VMM allocation granularity (2 MiB on current NVIDIA data-center GPUs); the library passed ${bytes} bytes without rounding them up, and the driver answered invalid argument`;
}

/**
 * The abort's account of a rank that died or hung in a call an interposing library serves, or
 * null when the call in flight is the CUDA runtime's own (or the loader is not known).
 */
export function explainInterposedAbort(a: AbortedCall): InterposedAbort | null {
  // A cudaMalloc on the runtime library's own handle (allocation kind device-direct, as SGLang's
  // CudaRTLibrary calls it) never reaches an interposer, whatever the loader says of the symbol.
  if (a.args.kind === 'device-direct') return null;
  const served = a.symbolOrigins.find((o) => o.interposed && o.symbol === a.call.replace(/_v\d+$/, ''));
  if (!served) return null;
  const library = served.path;
  const hook = a.memorySaver?.hooks.find((h) => h.library === library);
  const name = interposerName(library, hook?.abi);
  const bytes = sizeOf(a.args);
  const purpose = typeof a.args.purpose === 'string' ? a.args.purpose : null;
  const lastWords = a.how === 'crashed' ? lastWordsOf(a.stderrTail, library) : null;
  const pytorch = pytorchMakesCall(a.call, bytes);
  // Only what the rank knew of the hook's region: inside it from the start, or entered for capture.
  const region = hook && a.memorySaver
    ? hook.insideBefore
      ? `the rank's thread was inside the hook's region from the start${hook.abi === 'torch_memory_saver' ? ' (as TMS_INIT_ENABLE=1 makes it)' : ''}, where the hook serves cudaMalloc from cuMemCreate + cuMemMap`
      : a.memorySaver.entered
        ? `the rank entered the hook's region, where it serves cudaMalloc from cuMemCreate + cuMemMap, for graph-input allocation and capture (${a.memorySaver.reason})`
        : `the rank did not enter the hook's region (${a.memorySaver.reason})`
    : null;
  const asked = `${a.call}${bytes !== null ? ` of ${bytes} bytes` : ''}${purpose !== null ? ` for ${purpose}` : ''}`;
  const hint = granularityHint(lastWords, bytes);
  const explanation = [
    `The rank ${a.how === 'crashed' ? 'died' : 'hung'} inside ${name} (${library}): its ${asked} is served by that library, not by the CUDA runtime${region ? `; ${region}` : ''}.`,
    a.how === 'crashed' ? (lastWords !== null ? `Its last words: ${lastWords}.` : 'It wrote nothing on stderr before it died.') : null,
    hint !== null ? `${hint}.` : null,
    `Would a PyTorch process make this call? ${pytorch.reason}.`,
    pytorch.same === false
      ? `So this is the library failing on a call the probe made its own way; allocate as PyTorch does (the probe's default, --alloc torch) to see what the real server meets.`
      : pytorch.same === true
        ? `So a PyTorch process running with this library makes this same call: the death is not an artefact of how the probe allocates.`
        : null,
  ].filter((line): line is string => line !== null);
  const verdict = pytorch.same === true ? 'a PyTorch process makes the same call' : pytorch.same === false ? 'a PyTorch process never makes this call' : 'whether a PyTorch process makes this call is not known';
  const summary = `it ${a.how === 'crashed' ? 'died' : 'hung'} inside ${name} (${library}), which serves ${a.call}${bytes !== null ? ` (${bytes} bytes)` : ''}; ${verdict}`;
  return { library, name, call: a.call, bytes, lastWords, pytorch, summary, explanation: explanation.join(' ') };
}

/**
 * The account for a report's abort, from the report's own parts (the rank's loader, region and
 * stderr, the call in flight); null unless a rank crashed or hung in an interposed call.
 */
export function interposedAbortOf(abort: ProbeAbort | null, ranks: readonly RankReport[]): InterposedAbort | null {
  if (abort === null || (abort.reason !== 'crashed' && abort.reason !== 'hung') || abort.rank === undefined || abort.call === undefined) return null;
  const rank = ranks.find((r) => r.rank === abort.rank);
  if (!rank?.loader) return null;
  return explainInterposedAbort({
    how: abort.reason,
    call: abort.call,
    args: abort.args ?? {},
    symbolOrigins: rank.loader.allocation,
    memorySaver: rank.memorySaver ?? null,
    stderrTail: rank.stderrTail,
  });
}
