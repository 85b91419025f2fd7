// Launch-environment hazards: what in a process's environment changes how CUDA IPC behaves.
// The one declarative table of rules (RULES) is here; the rule kinds it uses, and how each is
// checked, are hazard-rule-kinds.ts's.
// Every rule cites a measured fact (docs/hardware-facts.md) or a public source as its evidence.
import { citeFacts } from './hardware-facts.js';
import { preloadCase, preloadEntries, runRule, type Env, type EnvContext, type Hazard, type HazardSeverity, type Rule, type ShmInfo, type ValueRule } from './hazard-rule-kinds.js';
import { describeLdPreload } from './preload.js';
import { MEMORY_SAVER_CUDA_GRAPH, readSglangBool } from './sglang.js';
import { parseAllocConf, readTorchAllocConf, type TorchAllocConf } from './alloc-conf.js';

// What a hazard is lives with the rule kinds (which build hazards); the rest of cuipc imports it from here.
export type { Env, EnvContext, Hazard, HazardSeverity, ShmInfo } from './hazard-rule-kinds.js';

export const SEVERITY_ORDER: Readonly<Record<HazardSeverity, number>> = { high: 0, medium: 1, info: 2 };

/** What SGLang's get_bool_env_var, Ray and torch_memory_saver read as on. */
function isTruthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}
/** SGLang's own reading (EnvBool), which decides whether capture runs in the memory saver's region. */
function sglangFlagOn(value: string | undefined): boolean {
  const read = readSglangBool(value);
  return read.set && read.on;
}
function isFalsy(value: string | undefined): boolean {
  return value !== undefined && /^(0|false|no|off)$/i.test(value.trim());
}

/** The settings PyTorch takes from this one variable's value; null when it raises on them. */
function strictConf(variable: string, value: string): TorchAllocConf | null {
  const reading = readTorchAllocConf({ [variable]: value });
  return reading.ok ? reading.conf : null;
}

function anyVmmSource(env: Env, ctx: EnvContext): string | null {
  for (const name of ['PYTORCH_CUDA_ALLOC_CONF', 'PYTORCH_ALLOC_CONF']) {
    const v = env[name];
    if (v !== undefined && strictConf(name, v)?.expandableSegments) return `${name}=${v}`;
  }
  if (sglangFlagOn(env[MEMORY_SAVER_CUDA_GRAPH])) return MEMORY_SAVER_CUDA_GRAPH;
  const preload = preloadEntries(env, ctx).find((p) => preloadCase(p) === 'torch_memory_saver' || preloadCase(p) === 'cuipc-vmm-interposer');
  return preload ? `LD_PRELOAD ${preload.entry}` : null;
}

function hasTmsHook(env: Env, ctx: EnvContext): boolean {
  return preloadEntries(env, ctx).some((p) => preloadCase(p) === 'torch_memory_saver');
}

const VMM_NOT_EXPORTABLE = `${citeFacts('vmm-not-exportable')}: cuMemCreate + cuMemMap (VMM), no handle type requested -> IS_LEGACY_CUDA_IPC_CAPABLE 0, cudaIpcGetMemHandle 1 cudaErrorInvalidValue`;
const COPY_OR_VMM_EXPORT = 'share graph inputs by copying them into the registered IPC buffer (SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2=0), or export VMM memory with cuMemExportToShareableHandle over a Unix socket; `cuipc matrix` shows which remedy works on this machine';
const PROCESS_INIT_PID_NS = 'pid:[4026531836]'; // PROC_PID_INIT_INO, Linux include/linux/proc_ns.h

function allocConfRule(variable: string): ValueRule {
  return {
    kind: 'value', variable, cases: [
      {
        id: 'alloc-conf.invalid',
        when: (v) => !readTorchAllocConf({ [variable]: v }).ok,
        severity: 'high',
        effect: (v) => {
          const reading = readTorchAllocConf({ [variable]: v });
          return `PyTorch raises "${reading.ok ? '' : reading.message}" at its first CUDA allocation (keys and True/False are case-sensitive): the process fails before any IPC happens`;
        },
        evidence: 'PyTorch c10/core/AllocatorConfig.cpp (parseArgs: unknown keys and values other than True/False raise)',
        remedy: `fix ${variable}: keys as PyTorch spells them, booleans as True or False`,
      },
      {
        id: 'alloc-conf.expandable-segments',
        when: (v) => {
          const conf = strictConf(variable, v);
          return conf?.expandableSegments === true && conf.backend === 'native';
        },
        severity: 'high',
        effect: 'PyTorch maps its cached segments with cuMemCreate/cuMemMap (VMM). Tensors, CUDA-graph inputs included, are not legacy-IPC-capable: cudaIpcGetMemHandle on their base returns 1 cudaErrorInvalidValue ("invalid argument"), and the error stays in cudaGetLastError, so the next PyTorch call reports it again',
        evidence: `${citeFacts('expandable-segments')}: PyTorch tensor under PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True -> cudaIpcGetMemHandle 1 cudaErrorInvalidValue (default allocator: 0 cudaSuccess)`,
        remedy: `remove expandable_segments:True from the inference server's environment (Ray runtime_env env_vars are inherited by every actor), or ${COPY_OR_VMM_EXPORT}`,
      },
      {
        id: 'alloc-conf.cuda-malloc-async',
        when: (v) => strictConf(variable, v)?.backend === 'cudaMallocAsync',
        severity: 'high',
        effect: 'PyTorch allocates from the cudaMallocAsync stream-ordered pool; pool memory is not legacy-IPC-capable, so cudaIpcGetMemHandle on tensors returns 1 cudaErrorInvalidValue',
        evidence: `${citeFacts('pool-not-exportable')}: cudaMallocAsync (default pool) -> IS_LEGACY_CUDA_IPC_CAPABLE 0, cudaIpcGetMemHandle 1 cudaErrorInvalidValue`,
        remedy: `use the native backend (backend:native) for the inference server, or ${COPY_OR_VMM_EXPORT}`,
      },
      {
        id: 'alloc-conf.both-set',
        when: (v, env) => {
          const other = env[variable === 'PYTORCH_ALLOC_CONF' ? 'PYTORCH_CUDA_ALLOC_CONF' : 'PYTORCH_ALLOC_CONF'];
          return other !== undefined && other !== v;
        },
        severity: 'medium',
        effect: 'PYTORCH_ALLOC_CONF and PYTORCH_CUDA_ALLOC_CONF are both set, to different values; which one PyTorch honours depends on its version, so the allocator may not be the one you read here',
        evidence: 'PyTorch c10 allocator configuration: PYTORCH_ALLOC_CONF is the newer, device-generic name, PYTORCH_CUDA_ALLOC_CONF the older one',
        remedy: 'set only one of them',
      },
      {
        id: 'alloc-conf.set',
        when: () => true,
        severity: 'info',
        effect: (v) => `allocator options ${[...parseAllocConf(v).keys()].join(', ') || '(none)'}; none of them changes whether tensors can be exported with cudaIpcGetMemHandle`,
        evidence: `${citeFacts('cudamalloc-exportable')}: PyTorch tensor, default allocator -> cudaIpcGetMemHandle 0 cudaSuccess`,
      },
    ],
  };
}


function visibleDeviceList(v: string): string[] {
  return v.split(',').map((d) => d.trim()).filter((d) => d.length > 0);
}

export const RULES: readonly Rule[] = [
  {
    kind: 'preload',
    cases: {
      torch_memory_saver: {
        id: 'ld-preload.torch-memory-saver', severity: 'high',
        effect: 'torch_memory_saver\'s preload hook replaces cudaMalloc: inside its regions (TMS_INIT_ENABLE=1 makes the whole process one) memory comes from cuMemCreate + cuMemMap with no shareable handle type, so tensors and CUDA-graph inputs allocated there make cudaIpcGetMemHandle return 1 cudaErrorInvalidValue',
        evidence: `${VMM_NOT_EXPORTABLE}; torch_memory_saver csrc/entrypoint.cpp (TMS_HOOK_MODE_PRELOAD: cudaMalloc served by TorchMemorySaver::malloc inside an interesting region)`,
        remedy: `keep CUDA-graph capture out of the memory-saver region (unset SGLANG_MEMORY_SAVER_CUDA_GRAPH), or ${COPY_OR_VMM_EXPORT}`,
      },
      'cuipc-vmm-interposer': {
        id: 'ld-preload.cuipc-interposer', severity: 'high',
        effect: 'cuipc\'s test interposer serves every cudaMalloc from cuMemCreate + cuMemMap, as torch_memory_saver\'s preload mode does; cudaIpcGetMemHandle on that memory returns 1 cudaErrorInvalidValue',
        evidence: `${VMM_NOT_EXPORTABLE}; cuipc native/interposer/vmm_malloc.cc`,
        remedy: 'remove it from LD_PRELOAD unless you are reproducing the failure on purpose',
      },
      'cuda-allocator-interposer': {
        id: 'ld-preload.allocator-interposer',
        severity: (_v, env, ctx) => preloadEntries(env, ctx).some((p) => p.identity === 'cuda-allocator-interposer' && p.vmmImports.length > 0) ? 'high' : 'medium',
        effect: 'an allocator interposer replaces cudaMalloc/cudaFree for the whole process; if it serves memory from cuMemCreate (VMM), cudaMallocAsync pools or managed memory, cudaIpcGetMemHandle on that memory returns 1 cudaErrorInvalidValue',
        evidence: `${VMM_NOT_EXPORTABLE}; cudaMallocAsync and cudaMallocManaged rows of the same table -> 1 cudaErrorInvalidValue`,
        remedy: 'run `cuipc probe` with and without this LD_PRELOAD entry to see whether its memory exports',
      },
      'cuda-driver-interposer': {
        id: 'ld-preload.driver-interposer', severity: 'medium',
        effect: 'it exports CUDA driver VMM entry points (cuMemCreate, ...) and so stands between the process and the driver\'s virtual memory management; allocations it makes need not be legacy-IPC-capable',
        evidence: VMM_NOT_EXPORTABLE,
        remedy: 'run `cuipc probe` with and without this LD_PRELOAD entry',
      },
      other: {
        id: 'ld-preload.other', severity: 'info',
        effect: 'not an allocator interposer: it does not change what cudaMalloc returns',
        evidence: 'the entry\'s ELF .dynsym (read by cuipc)',
      },
      unreadable: {
        id: 'ld-preload.unreadable', severity: 'medium',
        effect: 'it could not be read as an ELF shared object, so cuipc cannot tell whether it replaces cudaMalloc',
        evidence: 'the entry\'s ELF header and .dynsym (read by cuipc)',
        remedy: 'check the file; run `cuipc probe` with and without it',
      },
      uninspected: {
        id: 'ld-preload.uninspected', severity: 'info',
        effect: 'judged by name only (the file was not read here); nothing in the name marks it as an allocator interposer',
        evidence: 'LD_PRELOAD entry name',
      },
      missing: {
        id: 'ld-preload.missing', severity: 'info',
        effect: 'ld.so cannot load it and skips it (printing "cannot be preloaded ... ignored"); a process where the file exists behaves differently',
        evidence: 'ld.so(8): LD_PRELOAD entries that cannot be loaded are ignored with an error message',
        remedy: 'fix the path, or remove the entry',
      },
    },
  },
  allocConfRule('PYTORCH_CUDA_ALLOC_CONF'),
  allocConfRule('PYTORCH_ALLOC_CONF'),
  {
    kind: 'value', variable: 'PYTORCH_NO_CUDA_MEMORY_CACHING', cases: [{
      id: 'pytorch.no-caching', when: isTruthy, severity: 'info',
      effect: 'PyTorch calls cudaMalloc for every tensor: exportable (unless an LD_PRELOAD interposer serves cudaMalloc), but slow, and every tensor is its own allocation base',
      evidence: `${citeFacts('cudamalloc-exportable')}: cudaMalloc -> IS_LEGACY_CUDA_IPC_CAPABLE 1, cudaIpcGetMemHandle 0 cudaSuccess`,
    }],
  },
  {
    kind: 'value', variable: 'SGLANG_MEMORY_SAVER_CUDA_GRAPH', cases: [{
      id: 'sglang.memory-saver-cuda-graph', when: sglangFlagOn, severity: 'high',
      effect: 'with --enable-memory-saver, SGLang captures CUDA graphs inside a torch_memory_saver region, so memory allocated during capture (graph inputs included) comes from cuMemCreate and is not legacy-IPC-capable; custom all-reduce v2\'s share_graph_inputs then gets 1 cudaErrorInvalidValue ("invalid argument") from cudaIpcGetMemHandle',
      evidence: `${VMM_NOT_EXPORTABLE}; SGLang cuda_graph_runner (TorchMemorySaverAdapter enabled by enable_memory_saver and SGLANG_MEMORY_SAVER_CUDA_GRAPH); SGLang custom_all_reduce.py reads the same flag (tms_cudagraph); slime and miles set it for colocated rollout engines`,
      remedy: 'use the custom all-reduce that copies graph inputs into its registered buffer (SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2=0, what slime sets for colocated engines with more than one GPU), or unset this flag (graphs then stay resident when memory is released)',
    }],
  },
  {
    kind: 'value', variable: 'SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2', cases: [
      {
        id: 'sglang.custom-all-reduce-v2', when: isTruthy,
        severity: (_v, env, ctx) => anyVmmSource(env, ctx) !== null ? 'high' : 'medium',
        effect: (_v, env, ctx) => {
          const source = anyVmmSource(env, ctx);
          return 'custom all-reduce v2 registers CUDA-graph inputs for IPC after capture (share_graph_inputs: cudaIpcGetMemHandle on each input\'s allocation base); that is the call that fails with "invalid argument" when graph inputs are VMM memory' +
            (source ? `, and this environment makes them VMM memory (${source})` : '');
        },
        evidence: `the reported crash: SGLang 0.5.12 custom_all_reduce.cuh:37 "CUDA error: invalid argument" in share_graph_inputs under Ray colocate; ${VMM_NOT_EXPORTABLE}; slime sets it to 0 for colocated engines with more than one GPU`,
        remedy: 'set SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2=0 where graph inputs can be VMM memory',
      },
      {
        id: 'sglang.custom-all-reduce-v1', when: isFalsy, severity: 'info',
        effect: 'custom all-reduce v2 is off: graph inputs are not exported with cudaIpcGetMemHandle one by one, so VMM-backed graph inputs do not break capture',
        evidence: 'slime sets SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2=0 for colocated engines with more than one GPU per engine',
      },
    ],
  },
  {
    kind: 'value', variable: 'CUDA_VISIBLE_DEVICES', cases: [
      {
        id: 'visible-devices.none', when: (v) => visibleDeviceList(v).length === 0 || /^\s*(-1|none|void)\s*(,|$)/i.test(v), severity: 'high',
        effect: 'no device is visible: the first CUDA call returns 100 cudaErrorNoDevice',
        evidence: 'CUDA programming guide, CUDA_VISIBLE_DEVICES: devices after an invalid entry are hidden; an empty list hides all',
        remedy: 'give the rank its GPU (Ray sets this per GPU actor; check the actor\'s num_gpus and placement-group bundle)',
      },
      {
        id: 'visible-devices.duplicate', when: (v) => new Set(visibleDeviceList(v)).size !== visibleDeviceList(v).length, severity: 'medium',
        effect: 'a device is listed twice; CUDA stops enumerating at the repeat, so fewer ordinals exist than the list suggests and a higher ordinal gives 101 cudaErrorInvalidDevice',
        evidence: 'CUDA programming guide, CUDA_VISIBLE_DEVICES (enumeration stops at an invalid entry)',
      },
      {
        id: 'visible-devices.remapped', when: () => true, severity: 'info',
        effect: (v, env) => {
          const list = visibleDeviceList(v);
          const noset = (env['RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES'] ?? '') !== '';
          return `the process sees ${list.length} device(s): ordinal ${list.map((d, i) => `${i} -> ${d}`).join(', ')}. Ordinals are renumbered: a device id computed from the physical index or the rank gives 101 cudaErrorInvalidDevice ("invalid device ordinal"), not 1; ranks whose lists differ must match peers by UUID, not ordinal` +
            (noset ? '. RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES is also set, so this list came from the launcher, not from Ray' : '');
        },
        evidence: `${citeFacts('device-ordinal-remapping')} (the CUDA Runtime API documentation): device-id remapping is the second suspect in such reports; the error it gives is usually invalid device ordinal (101), not invalid value (1)`,
      },
    ],
  },
  {
    kind: 'value', variable: 'RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES', cases: [{
      id: 'ray.noset-visible-devices', when: (v) => v !== '', severity: 'medium',
      effect: (v) => `Ray does not set CUDA_VISIBLE_DEVICES for GPU actors (any non-empty value counts, "${v}" included): each actor sees every GPU and the framework picks the device itself; a wrong mapping gives 101 cudaErrorInvalidDevice or puts two ranks on one GPU`,
      evidence: `Ray python/ray/_private/accelerators/nvidia_gpu.py (a non-empty RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES skips setting CUDA_VISIBLE_DEVICES); ${citeFacts('device-ordinal-remapping')}: remapping gives invalid device ordinal (101)`,
      remedy: 'check each rank\'s chosen device UUID (`cuipc env capture` with devices, or `cuipc doctor`) against the GPU its placement-group bundle reserved',
    }],
  },
  {
    kind: 'value', variable: 'NCCL_CUMEM_ENABLE', cases: [
      {
        id: 'nccl.cumem-on', when: isTruthy, severity: 'info',
        effect: 'NCCL allocates its own buffers with cuMem* (VMM) and shares them as POSIX fds over Unix sockets, never with cudaIpcGetMemHandle; that fd exchange needs the ranks in one PID namespace. Graph inputs of the application are not affected',
        evidence: `NCCL src/misc/cudawrap.cc (ncclCuMemEnable) and src/transport/p2p.cc (cuMemExportToShareableHandle for cuMem buffers); ${citeFacts('handle-types')}: VMM memory with a POSIX fd handle type -> ALLOWED_HANDLE_TYPES 0x1, cudaIpcGetMemHandle 1`,
      },
      {
        id: 'nccl.cumem-off', when: isFalsy, severity: 'info',
        effect: 'NCCL allocates its buffers with cudaMalloc and shares them with legacy CUDA IPC (cudaIpcGetMemHandle), which works for cudaMalloc memory',
        evidence: `NCCL src/transport/p2p.cc (legacy IPC path when cuMem is off); ${citeFacts('cudamalloc-exportable')}: cudaMalloc -> cudaIpcGetMemHandle 0 cudaSuccess`,
      },
    ],
  },
  {
    kind: 'value', variable: 'NCCL_P2P_DISABLE', cases: [{
      id: 'nccl.p2p-disable', when: isTruthy, severity: 'medium',
      effect: 'NCCL stops using direct GPU peer access (P2P/CUDA IPC) and moves data through shared memory (/dev/shm) or the network: slower, and /dev/shm becomes load-bearing. It does not stop a custom all-reduce from opening IPC handles itself, but it often means someone found P2P broken on this machine',
      evidence: 'NCCL environment variables documentation (NCCL_P2P_DISABLE); NCCL src/transport/p2p.cc',
      remedy: 'run `cuipc doctor` for the peer-access matrix before relying on P2P here',
    }],
  },
  {
    kind: 'value', variable: 'NCCL_P2P_LEVEL', cases: [{
      id: 'nccl.p2p-level', when: () => true, severity: 'info',
      effect: (v) => `NCCL uses P2P only between GPUs whose topology distance is within "${v}" (LOC, NVL, PIX, PXB, PHB, SYS); other pairs go through shared memory or the network`,
      evidence: 'NCCL environment variables documentation (NCCL_P2P_LEVEL)',
    }],
  },
  {
    kind: 'prefix', prefix: 'NCCL_P2P_', cases: [{
      id: 'nccl.p2p-other', when: () => true, severity: 'info',
      effect: 'tunes how NCCL moves data between GPU peers; it does not change what cudaIpcGetMemHandle accepts',
      evidence: 'NCCL environment variables documentation (NCCL_P2P_*)',
    }],
  },
  {
    kind: 'value', variable: 'CUDA_DEVICE_MAX_CONNECTIONS', cases: [{
      id: 'cuda.max-connections', when: () => true,
      severity: 'info',
      effect: (v) => `${v} hardware work queue(s) per device${v.trim() === '1' ? ' (Megatron-LM sets 1 for its communication/compute ordering)' : ''}; colocated processes inherit it from the Ray runtime_env. It serialises or spreads independent streams but does not change what can be exported by IPC`,
      evidence: 'CUDA programming guide, CUDA environment variables (CUDA_DEVICE_MAX_CONNECTIONS); slime\'s example Ray runtime_env sets it to 1 next to SGLANG_MEMORY_SAVER_CUDA_GRAPH',
    }],
  },
  {
    kind: 'value', variable: 'TMS_INIT_ENABLE', cases: [{
      id: 'tms.init-enable', when: isTruthy,
      severity: (_v, env, ctx) => hasTmsHook(env, ctx) ? 'high' : 'medium',
      effect: (_v, env, ctx) => 'every thread starts inside torch_memory_saver\'s region, so with its preload hook every cudaMalloc in the process (graph inputs, communicator buffers) is VMM memory that cudaIpcGetMemHandle rejects with 1 cudaErrorInvalidValue' +
        (hasTmsHook(env, ctx) ? '; the hook is in LD_PRELOAD here' : '; no torch_memory_saver hook is in LD_PRELOAD here, so it only matters if one is loaded another way'),
      evidence: `torch_memory_saver csrc/entrypoint.cpp (is_interesting_region defaults to TMS_INIT_ENABLE); ${VMM_NOT_EXPORTABLE}`,
      remedy: 'do not pass TMS_INIT_ENABLE to the inference server\'s processes; it is meant for the training actors',
    }],
  },
  {
    kind: 'value', variable: 'TMS_INIT_ENABLE_CPU_BACKUP', cases: [{
      id: 'tms.cpu-backup', when: () => true, severity: 'info',
      effect: 'torch_memory_saver keeps a CPU copy of paused regions; this marks the process as configured for torch_memory_saver',
      evidence: 'torch_memory_saver csrc/entrypoint.cpp (enable_cpu_backup defaults to TMS_INIT_ENABLE_CPU_BACKUP)',
    }],
  },
  {
    kind: 'prefix', prefix: 'TMS_', cases: [{
      id: 'tms.other', when: () => true, severity: 'info',
      effect: 'a torch_memory_saver setting: this process is configured for torch_memory_saver, whose regions allocate VMM memory',
      evidence: 'torch_memory_saver csrc/entrypoint.cpp (TMS_* configuration)',
    }],
  },
  {
    kind: 'context', variable: 'PID namespace', value: (ctx) => ctx.pidNamespace ?? null, cases: [
      {
        id: 'pid-namespace.differs',
        when: (v, _env, ctx) => (ctx.peerPidNamespaces ?? []).some((p) => typeof p === 'string' && p !== v),
        severity: 'high',
        effect: (v, _env, ctx) => `this process is in ${v}, a peer in ${(ctx.peerPidNamespaces ?? []).filter((p) => typeof p === 'string' && p !== v).join(', ')}: legacy CUDA IPC handles are not opened across PID namespaces, and fds cannot be fetched with pidfd_getfd from a process the other namespace cannot name`,
        evidence: 'NVIDIA/nccl issue 360 (CUDA IPC across containers fails the driver\'s PID check); openucx/ucx cuda_ipc (legacy CUDA IPC handles cannot be exchanged across PID namespaces; VMM POSIX-fd import rejects peers in another PID namespace)',
        remedy: 'run all ranks in one container or pod, or share the host PID namespace (docker --pid=host, Kubernetes hostPID: true)',
      },
      {
        id: 'pid-namespace.container', when: (v) => v !== PROCESS_INIT_PID_NS, severity: 'info',
        effect: (v) => `the process runs in a non-initial PID namespace (${v}): a container or sandbox. Ranks outside it cannot open its CUDA IPC handles or fetch its fds`,
        evidence: 'Linux include/linux/proc_ns.h (PROC_PID_INIT_INO 0xEFFFFFFC = 4026531836 is the initial PID namespace); openucx/ucx cuda_ipc (no legacy CUDA IPC across PID namespaces)',
      },
    ],
  },
  {
    kind: 'context', variable: '/dev/shm',
    value: (ctx) => ctx.shm === undefined ? null : ctx.shm === null ? 'not mounted' : formatShm(ctx.shm),
    cases: [
      {
        id: 'shm.missing', when: (v) => v === 'not mounted', severity: 'medium',
        effect: 'no /dev/shm: NCCL\'s shared-memory transport, gloo and PyTorch multiprocessing cannot create shared segments',
        evidence: 'NCCL troubleshooting documentation (shared memory in containers); NCCL src/transport/shm.cc',
        remedy: 'mount a tmpfs at /dev/shm (docker --ipc=host or --shm-size=1g)',
      },
      {
        id: 'shm.small', when: (_v, _env, ctx) => ctx.shm != null && (ctx.shm.sizeBytes < 1024 ** 3 || ctx.shm.freeBytes < 256 * 1024 ** 2), severity: 'medium',
        effect: 'a small /dev/shm (Docker\'s default is 64 MiB): NCCL\'s shared-memory transport and gloo fail with "unhandled system error" or bus errors once their segments outgrow it, more so with NCCL_P2P_DISABLE',
        evidence: 'NCCL troubleshooting documentation (Docker: the default 64 MiB shared memory is too small; use --shm-size=1g or --ipc=host)',
        remedy: 'give the container more shared memory: docker --shm-size=16g or --ipc=host; in Kubernetes an emptyDir with medium: Memory at /dev/shm',
      },
    ],
  },
];

// Variables a value rule names are not reported again by a prefix rule.
const NAMED = new Set<string>(RULES.flatMap((r) => r.kind === 'value' ? [r.variable] : []));

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${u === 0 ? v : v.toFixed(v >= 10 ? 0 : 1)} ${units[u]}`;
}

/** /dev/shm as every report shows it: its size and what is free. */
export function formatShm(shm: ShmInfo): string {
  return `${formatBytes(shm.sizeBytes)} (${formatBytes(shm.freeBytes)} free)`;
}

/** The hazards of an environment, most severe first (rule order within a severity). */
export function detectHazards(env: Record<string, string | undefined>, context: EnvContext = {}): Hazard[] {
  const ctx: EnvContext = context.preload
    ? context
    : { ...context, preload: describeLdPreload(env['LD_PRELOAD'], env, context.inspectFiles !== false) };
  const hazards = RULES.flatMap((rule) => runRule(rule, env, ctx, NAMED));
  return hazards
    .map((h, i) => ({ h, i }))
    .sort((x, y) => SEVERITY_ORDER[x.h.severity] - SEVERITY_ORDER[y.h.severity] || x.i - y.i)
    .map(({ h }) => h);
}

/** A short single-line rendering: "[high] PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True: effect". */
export function formatHazard(h: Hazard): string {
  return `[${h.severity}] ${h.variable}=${h.value}: ${h.effect}`;
}
