// Why a call failed: a table of known causes, each a check over the evidence (evidence.ts: the
// call and its code, the pointer's provenance, the capture state, the launch environment and
// loader), each ending in what to try. Ranked by likelihood, then table order. The probe's
// pinpoint and the trace summary both come here with an Evidence, so both say the same.
import { ALLOC_CONF_CALL } from '../env/alloc-conf.js';
import { citeFacts } from '../env/hardware-facts.js';
import { whereFailed, whoFailed, type Evidence } from './evidence.js';
import { fileName, interposerName, knownInterposer } from './interposers.js';
import { describeProvenance } from './provenance.js';
import type { Explanation } from './types.js';

type Rule = (ev: Evidence) => Explanation | null;

const ERR = {
  invalidValue: 1,
  invalidDevice: 101,
  deviceUninitialized: 201,
  peerAccessUnsupported: 217,
  captureUnsupported: 900,
  captureInvalidated: 901,
} as const;

const EXPORT_CALLS = new Set(['cudaIpcGetMemHandle', 'cuIpcGetMemHandle', 'cuPointerGetAttribute', 'cuMemRetainAllocationHandle', 'cuMemExportToShareableHandle']);
const OPEN_CALLS = new Set(['cudaIpcOpenMemHandle', 'cuIpcOpenMemHandle']);
const MATRIX_HINT = 'run `cuipc matrix` (same --ranks and environment) to see which remedy passes on this machine';
const TRACE_COMPARE_HINT = 'change one thing at a time and run the command again under `cuipc trace` to see which change makes the call pass';
const SGLANG_COPY = 'in SGLang the v1 path, SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2=0, or the upstream fix';

/**
 * Remedies fit whoever collected the evidence: a probe's name the probe option that tries them
 * and `cuipc matrix`; a trace's name only what the traced program can change.
 */
const fromProbe = (ev: Evidence): boolean => ev.where.kind === 'rank';

/** A remedy, with the probe option that tries it when a probe asks. */
function remedy(ev: Evidence, text: string, probeOption: string): string {
  return fromProbe(ev) ? `${text} (${probeOption})` : text;
}

/** What to compare next: the probe's matrix, or for a trace the program run again. */
const compareHint = (ev: Evidence): string => (fromProbe(ev) ? MATRIX_HINT : TRACE_COMPARE_HINT);

const copyRemedy = (ev: Evidence): string =>
  `share graph inputs by copying them into the communicator's registered buffer before the all-reduce (${fromProbe(ev) ? `--share copy; ${SGLANG_COPY}` : SGLANG_COPY})`;

/** The entry point without its ABI suffix, as the rules name calls (cuIpcOpenMemHandle_v2 -> cuIpcOpenMemHandle). */
function entryPoint(ev: Evidence): string {
  return ev.call.call.replace(/_ptsz$/, '').replace(/_v\d+$/, '');
}

function codeIs(ev: Evidence, code: number, name: string): boolean {
  return ev.call.code === code || ev.call.name === name;
}

function isExportFailure(ev: Evidence): boolean {
  return EXPORT_CALLS.has(entryPoint(ev)) && codeIs(ev, ERR.invalidValue, 'cudaErrorInvalidValue');
}

const usesVmmAllocator = (ev: Evidence): boolean => ev.allocator === 'vmm' || ev.allocator === 'vmm-fd';

/**
 * What in the launch made the memory VMM, each with its evidence, most specific first. A
 * source that only restates an entered memory-saver region (its hook's library, the variable,
 * the preload entry) keeps its evidence but adds no remedy of its own: the region's covers it.
 */
interface VmmSource {
  source: string;
  /** The source in one clause, for the report's first line. */
  cause: string;
  evidence: string;
  remedy?: string;
  /** Whether the remedy is a change to the user's own launch (a variable, a preload entry), not a probe option. */
  launch?: boolean;
}

function vmmSources(ev: Evidence): VmmSource[] {
  const sources: VmmSource[] = [];
  const region = ev.memorySaver;
  const regionCovers = region?.entered === true;
  if (region?.entered) {
    for (const hook of region.hooks) {
      sources.push({
        source: `the graph inputs were allocated inside the region of ${interposerName(hook.library, hook.abi)} (${hook.library ?? 'library unknown'}), whose cudaMalloc serves them from cuMemCreate + cuMemMap; the rank entered it as SGLang does (${region.reason})`,
        cause: `the graph inputs are VMM memory from ${interposerName(hook.library, hook.abi)}, entered because ${region.mode === 'auto' && region.variable !== null ? `SGLANG_MEMORY_SAVER_CUDA_GRAPH=${region.variable}` : `--memory-saver-region ${region.mode}`}`,
        launch: region.mode === 'auto',
        evidence: `${whoFailed(ev.where)}: ${hook.symbol}(true) in ${hook.library ?? 'an LD_PRELOAD library'} around graph-input allocation and capture; ${region.reason}`,
        remedy: region.mode === 'auto'
          ? 'keep CUDA-graph capture out of the memory saver\'s region: unset SGLANG_MEMORY_SAVER_CUDA_GRAPH (graph memory is then not released with the memory saver)'
          : 'compare with --memory-saver-region off',
      });
    }
  }
  for (const origin of ev.symbolOrigins) {
    if (!origin.interposed) continue;
    const hook = region?.hooks.find((h) => h.library === origin.path);
    const which = interposerName(origin.path, hook?.abi);
    sources.push({
      source: `${which}: ${origin.symbol} is provided by ${origin.path}, not by the CUDA runtime`,
      cause: `the graph inputs are VMM memory: ${origin.symbol} is ${which} (LD_PRELOAD)`,
      launch: true,
      evidence: `loader: ${origin.symbol} resolves to ${origin.path} (interposed)`,
      ...(regionCovers && hook
        ? {}
        : { remedy: `launch without that LD_PRELOAD entry, or keep CUDA-graph capture out of its region (SGLang: unset SGLANG_MEMORY_SAVER_CUDA_GRAPH)` }),
    });
  }
  for (const hazard of ev.hazards) {
    const vmmRelated =
      hazard.severity !== 'info' &&
      (hazard.variable === 'LD_PRELOAD' ||
        /expandable/i.test(hazard.id) ||
        /expandable_segments/i.test(hazard.value) ||
        hazard.variable === 'SGLANG_MEMORY_SAVER_CUDA_GRAPH' ||
        hazard.variable.startsWith('TMS_'));
    if (!vmmRelated) continue;
    const restatesRegion = regionCovers && (hazard.variable === 'LD_PRELOAD' || hazard.variable === 'SGLANG_MEMORY_SAVER_CUDA_GRAPH');
    sources.push({
      source: `${hazard.variable}=${hazard.value}: ${hazard.effect}`,
      cause: `the graph inputs are VMM memory, because ${hazard.variable}=${hazard.value}`,
      launch: true,
      evidence: `environment hazard ${hazard.id} (${hazard.severity}): ${hazard.evidence}`,
      ...(restatesRegion ? {} : { remedy: hazard.remedy ?? `remove ${hazard.variable} from the launch environment` }),
    });
  }
  if (usesVmmAllocator(ev)) {
    sources.push({
      source: `the probe allocated the graph inputs with cuMemCreate + cuMemMap (--alloc ${ev.allocator}), as PyTorch expandable segments and torch_memory_saver do`,
      cause: `the graph inputs are VMM memory (--alloc ${ev.allocator}), which legacy CUDA IPC cannot export`,
      evidence: `probe option --alloc ${ev.allocator}`,
      remedy: 'compare with --alloc cudaMalloc',
    });
  }
  return sources;
}

function provenanceEvidence(ev: Evidence): string[] {
  const p = ev.provenance;
  if (!p) return [];
  const lines = [`pointer ${p.ptr}: ${describeProvenance(p)}`];
  if (p.memoryType !== null) lines.push(`CU_POINTER_ATTRIBUTE_MEMORY_TYPE = ${p.memoryType} (${p.memoryTypeName})`);
  if (p.legacyIpcCapable !== null) lines.push(`CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE = ${p.legacyIpcCapable ? 1 : 0}`);
  if (p.allowedHandleTypes !== null) lines.push(`CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES = 0x${p.allowedHandleTypes.toString(16)}`);
  if (p.vmm !== null) lines.push(`cuMemRetainAllocationHandle ${p.vmm ? 'succeeds (VMM memory)' : 'fails (not VMM memory)'}`);
  if (p.mempool !== null) lines.push(`CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE = ${p.mempool}`);
  if (p.rangeStart !== null) lines.push(`allocation range ${p.rangeStart} + ${p.rangeSize ?? '?'} bytes on device ${p.device ?? '?'}`);
  return lines;
}

/** The failing call and where, then (from a trace) which allocation made its pointer. */
const failedCall = (ev: Evidence): string[] => [
  `${ev.call.call} returned ${ev.call.code} ${ev.call.name} ("${ev.call.message}") ${whereFailed(ev.where)}`,
  ...(ev.pointerOrigin !== null ? [`trace: ${ev.pointerOrigin}`] : []),
];

/** Memory that legacy CUDA IPC cannot export, by the pointer's classification: one rule each. */
const NOT_EXPORTABLE: ReadonlyArray<{
  classification: 'pool' | 'managed' | 'host';
  id: string;
  title: string;
  summary: string;
  fact: string;
  remedy: string;
}> = [
  {
    classification: 'pool',
    id: 'pool-memory',
    title: 'The pointer comes from a cudaMallocAsync memory pool; legacy CUDA IPC cannot export it',
    summary: 'Pool allocations are not legacy-IPC-capable; cudaIpcGetMemHandle returns cudaErrorInvalidValue for them.',
    fact: `${citeFacts('pool-not-exportable')}: cudaMallocAsync (default pool) -> IS_LEGACY_CUDA_IPC_CAPABLE 0, cudaIpcGetMemHandle 1 cudaErrorInvalidValue`,
    remedy: 'allocate graph inputs with cudaMalloc, or from a pool created with a shareable handle type and share them with cudaMemPoolExportToShareableHandle + cudaMemPoolExportPointer',
  },
  {
    classification: 'managed',
    id: 'managed-memory',
    title: 'The pointer is managed (unified) memory; legacy CUDA IPC cannot export it',
    summary: 'cudaMallocManaged memory is not legacy-IPC-capable; cudaIpcGetMemHandle returns cudaErrorInvalidValue for it.',
    fact: `${citeFacts('managed-not-exportable')}: cudaMallocManaged -> IS_LEGACY_CUDA_IPC_CAPABLE 0, cudaIpcGetMemHandle 1 cudaErrorInvalidValue`,
    remedy: 'allocate graph inputs with cudaMalloc',
  },
  {
    classification: 'host',
    id: 'host-memory',
    title: 'The pointer is pinned host memory; CUDA IPC exports device memory only',
    summary: 'cudaHostAlloc memory lives in host RAM; cudaIpcGetMemHandle returns cudaErrorInvalidValue for it.',
    fact: `${citeFacts('host-not-exportable')}: cudaHostAlloc (mapped, pinned host) -> IS_LEGACY_CUDA_IPC_CAPABLE 0, cudaIpcGetMemHandle 1 cudaErrorInvalidValue`,
    remedy: 'share host memory through the operating system instead (a /dev/shm mapping registered in each process with cudaHostRegister)',
  },
];

function notExportable(kind: (typeof NOT_EXPORTABLE)[number]): Rule {
  return (ev) => {
    if (!isExportFailure(ev) || ev.provenance?.classification !== kind.classification) return null;
    return {
      id: kind.id,
      title: kind.title,
      likelihood: 'high',
      summary: kind.summary,
      evidence: [...failedCall(ev), ...provenanceEvidence(ev), kind.fact],
      tryNext: [copyRemedy(ev), kind.remedy, compareHint(ev)],
    };
  };
}

/** Frees that release runtime allocations only (cudaMalloc, cuMemAlloc). */
const RUNTIME_FREES = new Set(['cudaFree', 'cuMemFree', 'cudaFreeAsync', 'cuMemFreeAsync']);
/** The driver's VMM calls: meant for VMM memory, so a failure there is another rule's. */
const VMM_CALLS = new Set([
  'cuMemCreate', 'cuMemRelease', 'cuMemAddressReserve', 'cuMemAddressFree', 'cuMemMap', 'cuMemUnmap', 'cuMemSetAccess',
  'cuMemRetainAllocationHandle', 'cuMemExportToShareableHandle', 'cuMemImportFromShareableHandle', 'cuMemGetAllocationPropertiesFromHandle',
]);

/**
 * A runtime call (cudaFree above all) on memory that a library made with cuMemCreate and mapped
 * with cuMemMap returns invalid argument: the runtime releases only its own allocations. Under an
 * LD_PRELOAD hook that serves cudaMalloc from VMM memory and frees it in its cudaFree, the
 * runtime's cudaFree sees such a pointer only when the hook passed it on: it no longer knew it.
 */
function runtimeCallOnVmm(ev: Evidence): Explanation | null {
  const call = entryPoint(ev);
  const vmm = ev.pointerSource?.how === 'vmm' || ev.provenance?.classification === 'vmm';
  if (!vmm || ev.call.ok || !codeIs(ev, ERR.invalidValue, 'cudaErrorInvalidValue') || isExportFailure(ev) || OPEN_CALLS.has(call) || VMM_CALLS.has(call)) return null;
  const free = RUNTIME_FREES.has(call);
  const mapper = ev.pointerSource?.library ?? null;
  // Which allocation entry points the mapping library provides in place of the runtime.
  const hooked = ev.symbolOrigins.filter((o) => o.interposed && (mapper === null || o.path === mapper));
  const hookPath = mapper ?? hooked[0]?.path ?? null;
  const isHook = hooked.length > 0;
  const name = hookPath === null ? 'the library that mapped it' : isHook || knownInterposer(hookPath) !== null ? `${interposerName(hookPath)} (${hookPath})` : hookPath;
  const hookFrees = hooked.some((o) => o.symbol === 'cudaFree');
  const released = ev.pointerSource?.releasedBy ?? null;
  const why = released !== null
    ? `It had already been unmapped (${released}) before this call, so this is a second release of memory the mapping library had let go.`
    : hookFrees && free
      ? `The hook also provides cudaFree: it releases the memory it mapped and passes every other pointer on to the runtime. That the runtime's ${call} received this pointer means the hook no longer recognised it: it had left the hook's bookkeeping (freed or released outside it, or twice), or the hook's region, tag or thread state when it was freed differed from when it was allocated.`
      : `The library that mapped it must release it; ${call} cannot.`;
  return {
    id: free ? 'runtime-free-of-vmm-memory' : 'runtime-call-on-vmm-memory',
    title: free
      ? `${call} was given VMM memory (cuMemCreate + cuMemMap) that ${hookPath === null ? 'another library' : fileName(hookPath)} mapped; only that library can release it`
      : `${call} was given VMM memory (cuMemCreate + cuMemMap) that ${hookPath === null ? 'another library' : fileName(hookPath)} mapped, and refused it`,
    likelihood: free ? 'high' : 'medium',
    summary:
      (free
        ? `${call} releases only what the runtime allocated (cudaMalloc, cuMemAlloc). Memory made with cuMemCreate and mapped with cuMemMap is released by the library that mapped it, with cuMemUnmap + cuMemAddressFree + cuMemRelease; given such a pointer, ${call} returns invalid argument. `
        : `${call} expects memory the runtime allocated; this pointer is VMM memory (cuMemCreate + cuMemMap), which it refused with invalid argument. `) +
      `This pointer was mapped by ${name}. ${why}`,
    evidence: [
      ...failedCall(ev),
      ...provenanceEvidence(ev),
      ...hooked.map((o) => `loader: ${o.symbol} resolves to ${o.path} (interposed)`),
      ...(released !== null ? [`released before the call by ${released}`] : []),
      `${citeFacts('not-measured')}: cudaFree on cuMemCreate + cuMemMap memory -> 1 "invalid argument" with cuMemFree_v2 -> 1 inside it, seen with torch_memory_saver 0.0.9's preload hook under PyTorch 2.11 on an H100; VMM memory is released with cuMemUnmap, cuMemAddressFree and cuMemRelease (CUDA Driver API)`,
    ],
    tryNext: [
      `release the memory through ${name}: its own free path unmaps it (cuMemUnmap + cuMemAddressFree + cuMemRelease); never hand VMM memory to ${call}`,
      ...(hookFrees && free && released === null
        ? [`find why the hook did not recognise the pointer when it was freed: freed twice or outside the hook's bookkeeping, allocated in one thread's region and freed from another thread or after the region was left, or two copies of the hook loaded, each with its own bookkeeping`]
        : []),
      compareHint(ev),
    ],
  };
}

const RULES: Rule[] = [
  function vmmMemory(ev) {
    const p = ev.provenance;
    const fromAttributes = p?.classification === 'vmm';
    const fromOptions = p === null && usesVmmAllocator(ev);
    if (!isExportFailure(ev) || !(fromAttributes || fromOptions) || entryPoint(ev).startsWith('cuMem')) return null;
    const sources = vmmSources(ev);
    return {
      id: 'vmm-memory',
      title: 'The pointer is VMM memory (cuMemCreate + cuMemMap); legacy CUDA IPC cannot export it',
      likelihood: 'high',
      summary:
        'cudaIpcGetMemHandle only exports memory that is legacy-IPC-capable (cudaMalloc). VMM memory has memory type device and a normal range, like cudaMalloc memory, but IS_LEGACY_CUDA_IPC_CAPABLE is 0, so the export returns cudaErrorInvalidValue ("invalid argument"). ' +
        (sources.length ? `What made it VMM here: ${sources[0].source}.` : 'Nothing in the environment explains why the allocator made VMM memory; look for an allocator that calls cuMemCreate.'),
      evidence: [
        ...failedCall(ev),
        ...provenanceEvidence(ev),
        ...sources.map((s) => s.evidence),
        `${citeFacts('vmm-not-exportable', 'expandable-segments')}: cuMemCreate + cuMemMap (VMM) -> IS_LEGACY_CUDA_IPC_CAPABLE 0, cudaIpcGetMemHandle 1 cudaErrorInvalidValue; PyTorch expandable_segments -> the same`,
      ],
      tryNext: [
        copyRemedy(ev),
        remedy(ev, 'export VMM memory the way NCCL and PyTorch do: allocate with a POSIX-fd handle type and pass cuMemExportToShareableHandle fds over a Unix socket', '--alloc vmm-fd --share vmm-export'),
        ...sources.flatMap((s) => (s.remedy === undefined ? [] : [s.remedy])),
        compareHint(ev),
      ],
      cause: sources[0]?.cause ?? 'the pointer is VMM memory (cuMemCreate + cuMemMap), which legacy CUDA IPC cannot export',
      launchFix: sources.flatMap((s) => (s.remedy !== undefined && s.launch === true ? [s.remedy] : [])),
    };
  },
  ...NOT_EXPORTABLE.map(notExportable),
  runtimeCallOnVmm,
  function graphAllocationNotYetMapped(ev) {
    const p = ev.provenance;
    const asyncBackend = ev.hazards.find((h) => h.id === 'alloc-conf.cuda-malloc-async');
    if (!isExportFailure(ev) || !asyncBackend || (p !== null && p.memoryType !== null)) return null;
    return {
      id: 'graph-allocation-not-mapped',
      title: "The graph input is an allocation node of the CUDA graph (PyTorch's cudaMallocAsync backend): it has no memory until the graph runs",
      likelihood: 'high',
      summary: `${asyncBackend.variable}=${asyncBackend.value} makes PyTorch allocate every tensor made during capture with cudaMallocAsync on the capturing stream, so it becomes an allocation node of the graph. Until the graph's first launch the driver knows no memory at that address: every attribute query, RANGE_START_ADDR included, answers CUDA_ERROR_INVALID_VALUE. share_graph_inputs looks the bases up right after capture, before any replay; and once the graph has run, the memory is pool memory, which legacy IPC cannot export either.`,
      evidence: [...failedCall(ev), ...(p ? [`pointer ${p.ptr}: attribute queries refused (${Object.entries(p.refused).map(([k, c]) => `${k} ${c}`).join(', ')})`] : []), `environment hazard ${asyncBackend.id} (${asyncBackend.severity}): ${asyncBackend.evidence}`, `${citeFacts('graph-allocation', 'pool-not-exportable')}: a tensor made during capture under backend:cudaMallocAsync -> every attribute 1 until the graph runs; afterwards pool memory, cudaIpcGetMemHandle 1`],
      tryNext: [`use the native backend for the inference server (unset ${asyncBackend.variable}, or backend:native)`, copyRemedy(ev), compareHint(ev)],
      cause: `the graph inputs are allocation nodes of the graph (${asyncBackend.variable}=${asyncBackend.value}), with no memory until it runs`,
      launchFix: [`use the native backend for the inference server (unset ${asyncBackend.variable}, or backend:native)`],
    };
  },
  function notAnAllocation(ev) {
    const p = ev.provenance;
    if (!isExportFailure(ev) || !p || p.memoryType !== null) return null;
    if (ev.hazards.some((h) => h.id === 'alloc-conf.cuda-malloc-async')) return null; // graphAllocationNotYetMapped explains it
    return {
      id: 'not-an-allocation',
      title: 'The driver does not know this pointer: freed, never allocated, or a host address',
      likelihood: 'high',
      summary: 'Every pointer attribute query was refused, so the pointer is not (or no longer) a CUDA allocation.',
      evidence: [...failedCall(ev), `pointer ${p.ptr}: attribute queries refused (${Object.entries(p.refused).map(([k, c]) => `${k} ${c}`).join(', ')})`, `${citeFacts('invalid-pointers')}: nullptr, 0xdeadbeef000, a host stack address -> cudaIpcGetMemHandle 1 cudaErrorInvalidValue`],
      tryNext: ['check that the recorded graph-input address is still allocated when it is exported (not freed or reused after capture)'],
    };
  },
  function vmmExportWithoutHandleType(ev) {
    const call = entryPoint(ev);
    if (!(call === 'cuMemExportToShareableHandle' || call === 'cuMemRetainAllocationHandle') || ev.call.ok) return null;
    const p = ev.provenance;
    const notVmm = call === 'cuMemRetainAllocationHandle' || p?.vmm === false;
    return {
      id: notVmm ? 'vmm-export-not-vmm' : 'vmm-export-no-handle-type',
      title: notVmm
        ? 'cuMemExportToShareableHandle needs VMM memory, and this is not VMM memory'
        : 'The VMM allocation was created without a shareable handle type, so it has no fd to export',
      likelihood: 'high',
      summary: notVmm
        ? 'A file descriptor can be exported only from memory made with cuMemCreate; cuMemRetainAllocationHandle fails on anything else.'
        : 'cuMemExportToShareableHandle(POSIX fd) works only when cuMemCreate was asked for CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR (ALLOWED_HANDLE_TYPES has bit 0x1).',
      evidence: [...failedCall(ev), ...provenanceEvidence(ev), `${citeFacts('handle-types')}: VMM with no handle type -> ALLOWED_HANDLE_TYPES 0x0; with POSIX fd -> 0x1`],
      tryNext: notVmm
        ? [fromProbe(ev) ? 'use --share ipc for cudaMalloc memory, or --share copy for anything else' : 'share cudaMalloc memory with cudaIpcGetMemHandle, anything else by copying it into memory that can be exported', compareHint(ev)]
        : [remedy(ev, 'allocate with CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR in CUmemAllocationProp.requestedHandleTypes', '--alloc vmm-fd'), copyRemedy(ev), compareHint(ev)],
    };
  },
  function ownHandle(ev) {
    if (!OPEN_CALLS.has(entryPoint(ev))) return null;
    const samePid = ev.peer?.pid !== undefined && ev.pid !== null && ev.peer.pid === ev.pid;
    if (!codeIs(ev, ERR.deviceUninitialized, 'cudaErrorDeviceUninitialized') && !samePid) return null;
    const peer = ev.peer;
    return {
      id: 'own-handle',
      title: 'The process opened a handle that it exported itself',
      likelihood: 'high',
      summary:
        'cudaIpcOpenMemHandle refuses handles from the calling process: it returns 201 cudaErrorDeviceUninitialized. The pointer table must use the local pointer for the own rank, and each rank must be a separate process.',
      evidence: [
        ...failedCall(ev),
        ...(peer ? [`the handle came from rank ${peer.rank}${peer.pid !== undefined ? ` (pid ${peer.pid})` : ''}; the opener is ${whoFailed(ev.where)} (pid ${ev.pid ?? '?'})`] : []),
        `${citeFacts('open-own-process')}: valid handle, the exporting process itself -> 201 cudaErrorDeviceUninitialized`,
      ],
      tryNext: [
        'skip the own rank when opening peer handles (use the local pointer)',
        'check that the all-gather puts each handle at its sender\'s index (a shifted or duplicated list hands a rank its own handle)',
        'check that the ranks are distinct processes (PID namespaces: two containers can show the same pid)',
      ],
    };
  },
  function invalidHandle(ev) {
    if (!OPEN_CALLS.has(entryPoint(ev)) || !codeIs(ev, ERR.invalidValue, 'cudaErrorInvalidValue')) return null;
    const handle = ev.peer?.handle ?? (typeof ev.call.args.handle === 'string' ? ev.call.args.handle : undefined);
    const zero = handle !== undefined && /^0*$/.test(handle);
    const peerExit = ev.peer?.exit;
    return {
      id: 'invalid-handle',
      title: 'The IPC handle is invalid or corrupted',
      likelihood: 'high',
      summary:
        'cudaIpcOpenMemHandle returns cudaErrorInvalidValue for a handle the driver cannot resolve: all zero bytes, bytes changed on the way (string encoding, truncation), or a handle from another machine or container.',
      evidence: [
        ...failedCall(ev),
        ...(handle ? [`handle ${handle.slice(0, 32)}...${zero ? ' (all zero bytes)' : ''}`] : []),
        ...(ev.peer ? [`from rank ${ev.peer.rank}, base ${ev.peer.base}`] : []),
        // A peer that died says something about its handle; one that left normally after the probe does not.
        ...(peerExit && (peerExit.signal !== null || peerExit.code !== 0) ? [`rank ${ev.peer?.rank} exit: ${peerExit.signal ?? peerExit.code}`] : []),
        `${citeFacts('open-zero-handle')}: 64 zero bytes, another process -> 1 cudaErrorInvalidValue`,
      ],
      tryNext: [
        'exchange handles as raw 64-byte buffers (or hex), never through a text encoding that can change bytes',
        'check that exporter and importer run on the same machine, in containers that share the IPC namespace (docker --ipc=host)',
        'check that the exporter exported the allocation base, not a pointer the driver does not know',
      ],
    };
  },
  function invalidDevice(ev) {
    if (!codeIs(ev, ERR.invalidDevice, 'cudaErrorInvalidDevice')) return null;
    const hazards = ev.hazards.filter((h) => h.variable === 'CUDA_VISIBLE_DEVICES' || h.variable === 'RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES');
    const requested = ev.requestedDevice;
    return {
      id: 'invalid-device',
      title: 'The device ordinal does not exist in this process: device ids were remapped',
      likelihood: 'high',
      summary:
        'Ordinals count the devices this process can see. When CUDA_VISIBLE_DEVICES is narrowed (Ray does it per GPU actor) but the code still uses a global device id, cudaSetDevice returns 101 cudaErrorInvalidDevice ("invalid device ordinal").',
      evidence: [
        ...failedCall(ev),
        ...(requested !== null ? [`${whoFailed(ev.where)} was asked to use device ${requested}`] : []),
        ...hazards.map((h) => `${h.variable}=${h.value}: ${h.effect}`),
        `${citeFacts('device-ordinal-remapping')} (not measured: the CUDA Runtime API documentation): device-id remapping gives invalid device ordinal (101), not invalid value (1)`,
      ],
      tryNext: [
        'use the ordinal within CUDA_VISIBLE_DEVICES (0 when Ray gives each actor one GPU), or set RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES=1 and map ranks to global ids yourself, not both',
        '`cuipc doctor` in the same environment lists the visible ordinals and their physical devices',
      ],
    };
  },
  function peerAccess(ev) {
    if (!codeIs(ev, ERR.peerAccessUnsupported, 'cudaErrorPeerAccessUnsupported')) return null;
    const mine = ev.device;
    const theirs = ev.peer?.device;
    return {
      id: 'peer-access-unsupported',
      title: 'Peer access between the two devices is not supported',
      likelihood: 'high',
      summary:
        'Opening a handle with cudaIpcMemLazyEnablePeerAccess maps the peer\'s memory through peer access; between devices without P2P (no NVLink or PCIe P2P, or P2P disabled) it fails with 217 cudaErrorPeerAccessUnsupported.',
      evidence: [
        ...failedCall(ev),
        ...(mine ? [`this rank: device ${mine.ordinal} ${mine.name} ${mine.pciBusId}`] : []),
        ...(theirs ? [`peer rank ${ev.peer?.rank}: device ${theirs.ordinal} ${theirs.name} ${theirs.pciBusId}`] : []),
      ],
      tryNext: [
        '`cuipc doctor` shows the peer-access matrix; place communicating ranks on devices that have it',
        'check for P2P being disabled in the platform (IOMMU/ACS settings, virtualisation) or in the environment (NCCL_P2P_DISABLE affects NCCL only)',
        'use an all-reduce that does not read peer memory directly (NCCL) on these devices',
      ],
    };
  },
  function captureInvalidated(ev) {
    if (
      !codeIs(ev, ERR.captureUnsupported, 'cudaErrorStreamCaptureUnsupported') &&
      !codeIs(ev, ERR.captureInvalidated, 'cudaErrorStreamCaptureInvalidated')
    ) {
      return null;
    }
    const capture = ev.capture;
    return {
      id: 'capture-invalidated',
      title: 'A call that is forbidden during stream capture invalidated the capture',
      likelihood: 'high',
      summary:
        'In global and thread-local capture modes, calls such as cudaMalloc or a synchronising copy are forbidden while a stream captures: the call returns 900 cudaErrorStreamCaptureUnsupported and the capture is invalidated, so cudaStreamEndCapture returns 901 cudaErrorStreamCaptureInvalidated. In relaxed mode the same calls are allowed.',
      evidence: [
        ...failedCall(ev),
        ...(capture ? [`capture state at the time: ${capture.status ?? 'unknown'} (mode ${capture.mode}${capture.captureId ? `, id ${capture.captureId}` : ''})`] : []),
        ...(ev.captureMode !== null ? [`capture mode of the probe: ${ev.captureMode}`] : []),
        `${citeFacts('capture')}: cudaMalloc while capturing -> 900 (global, thread_local), 0 (relaxed); cudaStreamEndCapture afterwards -> 901`,
      ],
      tryNext: [
        'move the call (allocation, synchronisation, IPC open) out of the capture, before cudaStreamBeginCapture',
        remedy(ev, 'capture in relaxed mode, or wrap the call in cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureModeRelaxed)', '--capture-mode relaxed to compare'),
      ],
    };
  },
  function staleLastError(ev) {
    const call = ev.call;
    if (call.origin !== 'stale' || !call.lastError) return null;
    return {
      id: 'stale-last-error',
      title: 'The error was already pending before this call: an earlier call failed',
      likelihood: 'medium',
      summary: `cudaPeekAtLastError returned ${call.lastError.before.code} ${call.lastError.before.name} before ${call.call} ran; the call may only be reporting an earlier failure. Look for the first call that failed on this rank.`,
      evidence: [...failedCall(ev), `last error before the call: ${call.lastError.before.code} ${call.lastError.before.name}`],
      tryNext: ['find the earlier call (CUDA_LAUNCH_BLOCKING=1 makes errors surface at the call that caused them)'],
    };
  },
  function stickyAfterwards(ev) {
    const call = ev.call;
    if (call.origin === 'stale' || !call.lastError || call.lastError.afterPeek.code === 0) return null;
    return {
      id: 'error-left-in-last-error',
      title: 'This call is the one that failed; its error stays in cudaGetLastError for later checks to find',
      likelihood: 'low',
      summary: `After ${call.call} failed, cudaPeekAtLastError still returned ${call.lastError.afterPeek.code} ${call.lastError.afterPeek.name}. A later, unrelated check (a framework's next allocation or kernel launch) reports the same "${call.message}" although that later call did nothing wrong; the call that failed first is ${call.call}.`,
      evidence: [
        `cudaPeekAtLastError after the call: ${call.lastError.afterPeek.code} ${call.lastError.afterPeek.name}; cudaGetLastError then returned ${call.lastError.afterGet.code}`,
        `${citeFacts('last-error', 'not-measured')}: a failed call leaves its code in cudaGetLastError (after the failed export under expandable segments, the next PyTorch allocation raised "CUDA error: invalid argument" too; that PyTorch part was seen before this project measured the runtime side)`,
      ],
      tryNext: ['when a report blames a different call with the same message, look for this one first'],
    };
  },
  function allocatorConfigRejected(ev) {
    if (ev.call.call !== ALLOC_CONF_CALL) return null;
    return {
      id: 'allocator-config-rejected',
      title: 'PyTorch rejects the allocator settings: the server fails at its first CUDA allocation, before any IPC',
      likelihood: 'high',
      summary: `${ev.detail ?? ev.call.message}. PyTorch reads PYTORCH_CUDA_ALLOC_CONF (else PYTORCH_ALLOC_CONF) with case-sensitive keys and True/False values, and raises ValueError on anything else; nothing was allocated or exported.`,
      evidence: [...failedCall(ev), 'PyTorch c10/core/AllocatorConfig.cpp: unknown keys and values other than True/False raise'],
      tryNext: ['fix the variable in the launch environment (for example expandable_segments:True, not :true), or unset it'],
      cause: 'PyTorch rejects the allocator settings (PYTORCH_CUDA_ALLOC_CONF)',
      launchFix: ['fix the variable in the launch environment (for example expandable_segments:True, not :true), or unset it'],
    };
  },
  function verificationMismatch(ev) {
    if (ev.where.kind !== 'rank' || ev.where.step !== 'verify' || ev.detail === null) return null;
    return {
      id: 'verification-mismatch',
      title: 'The all-reduce read wrong data through the imported pointers',
      likelihood: 'high',
      summary: 'Every call succeeded, but the sums differ from what the ranks wrote: a pointer table entry points at the wrong place (wrong offset or base), or a peer\'s inputs were not written before the graph ran.',
      evidence: [ev.detail],
      tryNext: ['check that peer pointer = imported base + the offset of the input within its allocation', 'check that every rank finishes writing its inputs before any rank replays the graph'],
    };
  },
];

const ORDER = { high: 0, medium: 1, low: 2 } as const;

export function explainFailure(ev: Evidence): Explanation[] {
  const found = RULES.map((rule) => rule(ev)).filter((e): e is Explanation => e !== null);
  if (!found.some((e) => e.likelihood !== 'low')) {
    found.push({
      id: 'unrecognised',
      title: `No known cause matches ${ev.call.code} ${ev.call.name} from ${entryPoint(ev)}`,
      likelihood: 'medium',
      summary: ev.detail ?? `The call failed with "${ev.call.message}". The evidence below is what the rank could collect.`,
      evidence: [...failedCall(ev), ...provenanceEvidence(ev)],
      tryNext: ['`cuipc doctor` in the same environment', compareHint(ev)],
    });
  }
  return found
    .map((e, i) => ({ e: { ...e, evidence: [...new Set(e.evidence)], tryNext: [...new Set(e.tryNext)], ...(e.launchFix ? { launchFix: [...new Set(e.launchFix)] } : {}) }, i }))
    .sort((a, b) => ORDER[a.e.likelihood] - ORDER[b.e.likelihood] || a.i - b.i)
    .map(({ e }) => e);
}
