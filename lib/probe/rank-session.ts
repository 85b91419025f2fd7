// What one rank does in each step, with every CUDA call recorded: its arguments, its status,
// and for a failure the last-error slot around it, the pointer's provenance and the capture
// state at that moment. A step stops at its first failing call, as a server would; teardown
// goes on through failures so that nothing is left behind.
import { readlinkSync } from 'node:fs';
import type { Allocation, AllocationKind, CudaStatus, Ptr } from '../../binding.js';
import { openCuda, IPC_MEM_LAZY_ENABLE_PEER_ACCESS, type Cuda } from '../cuda/index.js';
import { detectHazards } from '../env/hazards.js';
import { toProvenance } from '../report/provenance.js';
import type {
  CallArguments,
  CallRecord,
  CaptureSnapshot,
  ErrorCode,
  FailureRecord,
  MemorySaverRegion,
  RankLoader,
  StepName,
  VerifySummary,
} from '../report/types.js';
import {
  bytesToHex,
  hexToBytes,
  hexToPtr,
  LOAD_CALL,
  ptrToHex,
  type ExportData,
  type InitData,
  type RankConfig,
  type RankStepResult,
  type RegisteredExport,
  type RoundData,
  type RoundInput,
  type RoundPhase,
  type SharedBase,
} from './protocol.js';
import { startEarly, type EarlyInit } from './early-init.js';
import { decideMemorySaverRegion, enterRegions } from './memory-saver.js';
import { expectedSumBytes, fillBytes, firstMismatch, seedOf } from './values.js';

/** Graph inputs share allocations, as a caching allocator's blocks do, so export de-duplicates bases. */
export const INPUTS_PER_ALLOCATION = 8;

export type Announce = (step: StepName, call: string, method: string, args: CallArguments) => void;

const ALLOC_ENTRY_POINT: Record<AllocationKind, string> = {
  device: 'cudaMalloc',
  pool: 'cudaMallocAsync',
  managed: 'cudaMallocManaged',
  host: 'cudaHostAlloc',
  vmm: 'cuMemCreate',
  'vmm-fd': 'cuMemCreate',
};

interface Failure {
  ptr?: Ptr;
  peer?: FailureRecord['peer'];
  detail?: string;
}

function pseudoStatus(call: string, name: string, message: string): CudaStatus {
  return { ok: false, code: -1, name, message, call };
}

function errorCode(status: CudaStatus): ErrorCode {
  return { code: status.code, name: status.name, message: status.message };
}

class StepLog {
  readonly calls: CallRecord[] = [];
  readonly failures: FailureRecord[] = [];
  readonly notes: string[] = [];
  constructor(readonly step: StepName) {}
}

export class RankSession {
  private cuda: Cuda | null = null;
  private config: RankConfig | null = null;
  private kernels = false;
  private log: StepLog = new StepLog('init');
  private memorySaver: MemorySaverRegion | null = null;
  private early: EarlyInit | null = null;

  private registered: Allocation | null = null;
  private registeredPeers: Ptr[] = [];
  private segments: Allocation[] = [];
  private inputs: Ptr[] = [];
  private outputs: Allocation | null = null;
  private tables: Allocation | null = null;
  private hostTables: Ptr[][] = [];
  private stream: Ptr | null = null;
  private capturing = false;
  private graph: Ptr | null = null;
  private exec: Ptr | null = null;
  private exported: ExportData | null = null;
  private peers: Array<ExportData | null> = [];
  private ipcImports: Ptr[] = [];
  private vmmImports: Ptr[] = [];
  private exportedFds: number[] = [];
  private importedFds: number[] = [];

  constructor(private readonly announce: Announce) {}

  async run(step: StepName, phase: RoundPhase, input: RoundInput): Promise<RankStepResult> {
    const started = performance.now();
    this.log = new StepLog(step);
    let data: RoundData = { kind: 'none' };
    try {
      data = await this.dispatch(step, phase, input);
    } catch (error) {
      // A programming error (TypeError/RangeError from the binding) fails the step, not the rank.
      const message = (error as Error).stack?.split('\n').slice(0, 2).join(' | ') ?? String(error);
      this.fail('exception', {}, pseudoStatus('exception', (error as Error).name ?? 'Error', message), { detail: message });
    }
    return {
      step,
      phase,
      outcome: this.log.failures.length > 0 ? 'failed' : 'passed',
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      calls: this.log.calls,
      failures: this.log.failures,
      notes: this.log.notes,
      data,
    };
  }

  private async dispatch(step: StepName, phase: RoundPhase, input: RoundInput): Promise<RoundData> {
    switch (step) {
      case 'init':
        if (input.kind !== 'init') throw new TypeError('init without a configuration');
        return this.init(input.config);
      case 'register':
        if (phase === 'export') return this.registerExport();
        if (input.kind !== 'registered') throw new TypeError('register/import without the registered buffers');
        await this.registerImport(input.peers);
        return { kind: 'none' };
      case 'capture':
        await this.capture();
        return { kind: 'none' };
      case 'export':
        return this.exportInputs();
      case 'exchange':
        if (input.kind !== 'exchange') throw new TypeError('exchange without the all-gathered data');
        this.exchange(input.peers);
        return { kind: 'none' };
      case 'import':
        await this.importInputs();
        return { kind: 'none' };
      case 'replay':
        await (phase === 'fill' ? this.fill() : this.launch());
        return { kind: 'none' };
      case 'verify':
        return this.verify();
      case 'teardown':
        if (phase === 'close') this.teardownClose();
        else this.teardownFree();
        return { kind: 'none' };
    }
  }

  // ---- call recording ----------------------------------------------------------------

  private get api(): Cuda {
    if (!this.cuda) throw new TypeError('the backend is not loaded');
    return this.cuda;
  }

  private get cfg(): RankConfig {
    if (!this.config) throw new TypeError('init has not run');
    return this.config;
  }

  /** Makes one call: announce it, note the last error before, record the result. `made`: a call prestart() already made, with the last error it saw before. */
  private async call<T extends CudaStatus>(entry: string, method: string, args: CallArguments, fn: () => T | Promise<T>, failure: Failure = {}, made?: { before?: CudaStatus }): Promise<T> {
    this.announce(this.log.step, entry, method, args);
    // An ...Async call runs on a worker thread, whose last-error slot this thread cannot read.
    const before = made ? made.before : this.cuda && !method.endsWith('Async') ? this.cuda.peekAtLastError() : undefined;
    const result = await fn();
    if (result.ok) this.succeeded(result.call || entry, method, args);
    else this.fail(method, args, result, failure, before);
    return result;
  }

  private succeeded(call: string, method: string, args: CallArguments, count = 1): void {
    const last = this.log.calls[this.log.calls.length - 1];
    if (last && last.ok && last.call === call && last.method === method) {
      last.count += count;
      return;
    }
    this.log.calls.push({ call, method, args, ok: true, code: 0, name: 'cudaSuccess', message: 'no error', count });
  }

  /** Records a failing call with the last-error slot, the pointer's provenance and the capture state. */
  private fail(method: string, args: CallArguments, status: CudaStatus, failure: Failure, before?: CudaStatus): void {
    const record: CallRecord = {
      call: status.call || method,
      method,
      args,
      ok: false,
      code: status.code,
      name: status.name,
      message: status.message,
      count: 1,
    };
    if (this.cuda && before) {
      const afterPeek = this.cuda.peekAtLastError();
      const afterGet = this.cuda.getLastError();
      record.lastError = { before: errorCode(before), afterPeek: errorCode(afterPeek), afterGet: errorCode(afterGet) };
      record.origin = before.code !== 0 && before.code === status.code ? 'stale' : 'own';
    }
    this.log.calls.push(record);
    this.log.failures.push({
      rank: this.config?.rank ?? -1,
      step: this.log.step,
      call: record,
      provenance: failure.ptr !== undefined ? this.provenanceOf(failure.ptr) : null,
      capture: this.captureSnapshot(),
      ...(failure.peer ? { peer: failure.peer } : {}),
      ...(failure.detail !== undefined ? { detail: failure.detail } : {}),
    });
  }

  private provenanceOf(ptr: Ptr): FailureRecord['provenance'] {
    if (!this.cuda) return null;
    const answer = this.cuda.pointerAttributes(ptr);
    return answer.ok && answer.value ? toProvenance(answer.value) : null;
  }

  private captureSnapshot(): CaptureSnapshot | null {
    if (!this.cuda || !this.config) return null;
    if (this.stream === null) return { stream: null, mode: this.config.captureMode, status: null, captureId: null, queryCode: 0 };
    const info = this.cuda.streamGetCaptureInfo(this.stream);
    return {
      stream: ptrToHex(this.stream),
      mode: this.config.captureMode,
      status: info.value?.status ?? null,
      captureId: info.value ? info.value.id.toString() : null,
      queryCode: info.code,
    };
  }

  private failed(): boolean {
    return this.log.failures.length > 0;
  }

  // ---- init ---------------------------------------------------------------------------

  /** Before the init round: load the backend, start the context (early-init.ts); init() records the calls. */
  prestart(backend: string | undefined, device: number | undefined): void {
    if (!this.early && !this.config) this.early = startEarly(backend, device, this.announce);
  }

  private async init(config: RankConfig): Promise<RoundData> {
    this.config = config;
    const init: InitData = { pid: process.pid, device: null, loader: null, hazards: this.hazards(), memorySaver: null };
    // What prestart() began counts only when it is what this round asks for.
    const early = this.early && this.early.backend === config.backend ? this.early : null;
    const made = early && early.device === config.device ? early : null;
    try {
      if (early?.loadError) throw early.loadError;
      this.cuda = early?.cuda ?? openCuda({ backend: config.backend });
    } catch (error) {
      this.fail('openCuda', { backend: config.backend }, pseudoStatus(LOAD_CALL, (error as Error).name, (error as Error).message), {
        detail: (error as Error).message,
      });
      return { kind: 'init', init };
    }
    const cuda = this.cuda;
    const report = cuda.report;
    const available = cuda.kernelsAvailable();
    // CUIPC_PROBE_VERIFY=copy takes the path a build without kernels takes, to compare or to test it.
    const kernels = process.env.CUIPC_PROBE_VERIFY === 'copy' && available.available
      ? { available: false, reason: 'disabled by CUIPC_PROBE_VERIFY=copy' }
      : available;
    this.kernels = kernels.available;
    const loader: RankLoader = {
      backend: report.backend,
      simulated: report.simulated,
      driver: report.driver?.path ?? null,
      runtime: report.runtime?.path ?? null,
      allocation: report.allocation,
      kernels,
    };
    init.loader = loader;
    // Decided from the rank's own environment, as SGLang decides in its scheduler process.
    this.memorySaver = decideMemorySaverRegion(config.memorySaverRegion, process.env, cuda.allocatorHooks());
    init.memorySaver = this.memorySaver;
    if (!kernels.available) this.log.notes.push(`kernels unavailable (${kernels.reason}): replay fills with copies and verify reads peers' inputs with copies`);
    const device = config.device;
    const set = made?.set;
    if (!(await this.call('cudaSetDevice', 'setDevice', { device }, () => set ?? cuda.setDevice(device), {}, set ? made : undefined)).ok) return { kind: 'init', init };
    const context = made?.context;
    if (!(await this.call('cudaFree', 'initDeviceAsync', { device }, () => context ?? cuda.initDeviceAsync(device))).ok) return { kind: 'init', init };
    const info = await this.call('cudaGetDeviceProperties', 'getDeviceInfo', { device }, () => cuda.getDeviceInfo(device));
    if (info.ok && info.value) {
      init.device = { ordinal: info.value.ordinal, uuid: info.value.uuid, pciBusId: info.value.pciBusId, name: info.value.name };
    }
    return { kind: 'init', init };
  }

  private hazards(): InitData['hazards'] {
    let pidNamespace: string | null = null;
    try {
      pidNamespace = readlinkSync('/proc/self/ns/pid');
    } catch {
      // not Linux, or /proc is hidden
    }
    try {
      return detectHazards(process.env, { pidNamespace });
    } catch (error) {
      this.log.notes.push(`environment hazards could not be read: ${(error as Error).message}`);
      return [];
    }
  }

  // ---- register: the communicator's own buffer ------------------------------------------

  private async malloc(kind: AllocationKind, bytes: number, purpose: string): Promise<Allocation | null> {
    const cuda = this.api;
    const result = await this.call(ALLOC_ENTRY_POINT[kind], 'malloc', { kind, bytes, purpose }, () => cuda.malloc(kind, bytes));
    return result.ok && result.value ? result.value : null;
  }

  private async registerExport(): Promise<RoundData> {
    const { inputs, bytes } = this.cfg;
    const cuda = this.api;
    this.registered = await this.malloc('device', inputs * bytes, 'registered buffer');
    if (!this.registered) return { kind: 'none' };
    const base = this.registered.ptr;
    const handle = await this.call('cudaIpcGetMemHandle', 'ipcGetMemHandle', { ptr: ptrToHex(base) }, () => cuda.ipcGetMemHandle(base), { ptr: base });
    if (!handle.ok || !handle.value) return { kind: 'none' };
    const registered: RegisteredExport = { pid: process.pid, base: ptrToHex(base), bytes: this.registered.bytes, handle: bytesToHex(handle.value) };
    return { kind: 'registered', registered };
  }

  private async registerImport(peers: Array<RegisteredExport | null>): Promise<void> {
    const { rank, ranks } = this.cfg;
    const cuda = this.api;
    if (!this.registered) throw new TypeError('register/import before register/export');
    this.registeredPeers = new Array<Ptr>(ranks).fill(0n);
    this.registeredPeers[rank] = this.registered.ptr;
    for (let peer = 0; peer < ranks; peer += 1) {
      if (peer === rank) continue;
      const shared = peers[peer];
      if (!shared || !/^[0-9a-f]{128}$/i.test(shared.handle)) {
        this.fail('exchange', { peer }, pseudoStatus('all-gather', 'MalformedExchange', `rank ${peer} sent no valid registered-buffer handle`), { detail: `rank ${peer} sent no valid registered-buffer handle` });
        return;
      }
      const handle = hexToBytes(shared.handle);
      const opened = await this.call(
        'cudaIpcOpenMemHandle',
        'ipcOpenMemHandleAsync',
        { handle: shared.handle, flags: IPC_MEM_LAZY_ENABLE_PEER_ACCESS, peer },
        () => cuda.ipcOpenMemHandleAsync(handle, IPC_MEM_LAZY_ENABLE_PEER_ACCESS),
        { peer: { rank: peer, base: shared.base, handle: shared.handle, pid: shared.pid } },
      );
      if (!opened.ok || opened.value === undefined) return;
      this.ipcImports.push(opened.value);
      this.registeredPeers[peer] = opened.value;
    }
  }

  // ---- capture: allocate graph inputs, record the all-reduce into a graph ---------------

  private async capture(): Promise<void> {
    const { inputs, ranks, alloc } = this.cfg;
    const cuda = this.api;
    const kind: AllocationKind = alloc === 'cudaMalloc' ? 'device' : alloc;
    // The communicator's pointer tables exist before capture, outside any region (as rank_data does).
    this.tables = await this.malloc('device', inputs * ranks * 8, 'peer pointer tables');
    if (!this.tables) return;
    // SGLang under SGLANG_MEMORY_SAVER_CUDA_GRAPH allocates graph inputs and captures inside the
    // memory saver's region (memory-saver.ts); the thread-local region is entered on this thread,
    // the one that allocates, and left as it was found.
    const region = this.memorySaver;
    const leave = region ? enterRegions(cuda, region) : () => {};
    if (region?.entered) this.log.notes.push(`graph inputs allocated and captured inside the region of ${region.hooks.map((h) => `${h.abi} (${h.library ?? 'unknown library'})`).join(' and ')}: ${region.reason}`);
    try {
      await this.allocateAndCapture(kind);
    } finally {
      leave();
    }
  }

  private async allocateAndCapture(kind: AllocationKind): Promise<void> {
    const { inputs, bytes, ranks, captureMode } = this.cfg;
    const cuda = this.api;
    for (let first = 0; first < inputs; first += INPUTS_PER_ALLOCATION) {
      const count = Math.min(INPUTS_PER_ALLOCATION, inputs - first);
      const segment = await this.malloc(kind, count * bytes, `graph inputs ${first}..${first + count - 1}`);
      if (!segment) return;
      this.segments.push(segment);
      for (let j = 0; j < count; j += 1) this.inputs.push(segment.ptr + BigInt(j * bytes));
    }
    this.outputs = await this.malloc('device', inputs * bytes, 'all-reduce outputs');
    if (!this.outputs || !this.tables) return;

    const stream = await this.call('cudaStreamCreateWithFlags', 'streamCreate', { nonBlocking: true }, () => cuda.streamCreate(true));
    if (!stream.ok || stream.value === undefined) return;
    this.stream = stream.value;
    const s = this.stream;
    const begun = await this.call('cudaStreamBeginCapture', 'streamBeginCapture', { stream: ptrToHex(s), mode: captureMode }, () => cuda.streamBeginCapture(s, captureMode));
    if (!begun.ok) return;
    this.capturing = true;
    if (this.kernels) {
      const outputs = this.outputs.ptr;
      const tables = this.tables.ptr;
      const count = bytes / 4;
      for (let i = 0; i < inputs; i += 1) {
        const table = tables + BigInt(i * ranks * 8);
        const out = outputs + BigInt(i * bytes);
        const launched = await this.call(
          'cuLaunchKernel',
          'launchAllReduce',
          { table: ptrToHex(table), ranks, out: ptrToHex(out), count, stream: ptrToHex(s), input: ptrToHex(this.inputs[i]) },
          () => cuda.launchAllReduce(table, ranks, out, count, s),
        );
        if (!launched.ok) break;
      }
    } else {
      this.log.notes.push('kernels unavailable: the graph is captured without the all-reduce kernel');
    }
    // End the capture even after a failed launch, as a server's capture context manager does.
    const ended = await this.call('cudaStreamEndCapture', 'streamEndCapture', { stream: ptrToHex(s) }, () => cuda.streamEndCapture(s));
    this.capturing = false;
    if (ended.ok && ended.value !== undefined) this.graph = ended.value;
    if (this.failed() || !ended.ok || this.graph === null) return;
    const graph = this.graph;
    const exec = await this.call('cudaGraphInstantiate', 'graphInstantiate', { graph: ptrToHex(graph) }, () => cuda.graphInstantiate(graph));
    if (exec.ok && exec.value !== undefined) this.exec = exec.value;
    this.log.notes.push(`recorded ${this.inputs.length} graph inputs in ${this.segments.length} allocations`);
  }

  // ---- export: allocation bases, de-duplicated, then a handle (or fd) per base ----------

  private async exportInputs(): Promise<RoundData> {
    const { share, bytes } = this.cfg;
    const cuda = this.api;
    this.announce('export', 'cuPointerGetAttribute', 'rangeStartBatch', { count: this.inputs.length });
    const before = cuda.peekAtLastError();
    const ranges = cuda.rangeStartBatch(this.inputs);
    const baseIndex = new Map<bigint, number>();
    const bases: Ptr[] = [];
    const inputs: ExportData['inputs'] = [];
    for (let i = 0; i < ranges.count; i += 1) {
      const args = { ptr: ptrToHex(this.inputs[i]), attribute: 'CU_POINTER_ATTRIBUTE_RANGE_START_ADDR', input: i };
      if (ranges.codes[i] !== 0) {
        this.fail('rangeStartBatch', args, ranges.status(i), { ptr: this.inputs[i] }, before);
        return { kind: 'none' };
      }
      this.succeeded(ranges.call, 'rangeStartBatch', args);
      const base = ranges.bases[i];
      let index = baseIndex.get(base);
      if (index === undefined) {
        index = bases.length;
        baseIndex.set(base, index);
        bases.push(base);
      }
      inputs.push({ base: index, offset: Number(this.inputs[i] - base) });
    }
    this.log.notes.push(`${this.inputs.length} inputs in ${bases.length} allocation bases`);

    if (share === 'copy') {
      // The v1 path: inputs are copied into the registered buffer at replay; its handle went out in register.
      this.exported = { pid: process.pid, via: 'registered', bases: [], inputs: this.inputs.map((_, i) => ({ base: -1, offset: i * bytes })) };
      this.log.notes.push('share copy: inputs are copied into the registered buffer, whose handle was shared in register');
      return { kind: 'export', export: this.exported };
    }

    const shared: SharedBase[] = [];
    if (share === 'ipc') {
      this.announce('export', 'cudaIpcGetMemHandle', 'ipcGetMemHandleBatch', { count: bases.length });
      const beforeHandles = cuda.peekAtLastError();
      const handles = cuda.ipcGetMemHandleBatch(bases);
      let first = true;
      for (let b = 0; b < handles.count; b += 1) {
        const args = { ptr: ptrToHex(bases[b]), baseIndex: b, of: bases.length };
        const handle = handles.handle(b);
        if (!handle) {
          // Every failing base is recorded; the last-error slot belongs to the first.
          this.fail('ipcGetMemHandleBatch', args, handles.status(b), { ptr: bases[b] }, first ? beforeHandles : undefined);
          first = false;
          continue;
        }
        this.succeeded(handles.call, 'ipcGetMemHandleBatch', args);
        shared.push({ base: ptrToHex(bases[b]), bytes: this.allocationBytes(bases[b]), handle: bytesToHex(handle) });
      }
      if (this.failed()) return { kind: 'none' };
    } else {
      for (const base of bases) {
        const fd = await this.call('cuMemExportToShareableHandle', 'vmmExportFd', { ptr: ptrToHex(base), handleType: 'CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR' }, () => cuda.vmmExportFd(base), { ptr: base });
        if (!fd.ok || fd.value === undefined) return { kind: 'none' };
        this.exportedFds.push(fd.value);
        shared.push({ base: ptrToHex(base), bytes: this.allocationBytes(base), fd: fd.value });
      }
    }
    this.exported = { pid: process.pid, via: share === 'ipc' ? 'ipc' : 'vmm-fd', bases: shared, inputs };
    return { kind: 'export', export: this.exported };
  }

  /** The mapped size of the allocation at `base` (what an importer maps). */
  private allocationBytes(base: Ptr): number {
    const segment = this.segments.find((s) => s.ptr === base);
    return segment ? segment.mappedBytes : 0;
  }

  // ---- exchange: check what the all-gather brought ---------------------------------------

  private exchange(peers: Array<ExportData | null>): void {
    const { rank, ranks, inputs, share } = this.cfg;
    this.peers = peers;
    for (let peer = 0; peer < ranks; peer += 1) {
      if (peer === rank) continue;
      const problem = checkExportData(peers[peer], inputs, share);
      if (problem) {
        this.fail('exchange', { peer }, pseudoStatus('all-gather', 'MalformedExchange', `rank ${peer}: ${problem}`), { detail: `rank ${peer}: ${problem}` });
        return;
      }
    }
    const total = peers.reduce((n, p) => n + (p ? p.bases.length : 0), 0);
    this.succeeded('all-gather', 'exchange', { ranks, bases: total });
  }

  // ---- import: open peers' handles, build the pointer tables ----------------------------

  private async importInputs(): Promise<void> {
    const { rank, ranks, inputs, bytes, share } = this.cfg;
    const cuda = this.api;
    const peerBases: Ptr[][] = [];
    for (let peer = 0; peer < ranks; peer += 1) {
      peerBases.push([]);
      const data = this.peers[peer];
      if (peer === rank || !data || share === 'copy') continue;
      // One probe shares every base one way (--share), so what is opened below lines up with
      // data.bases, which the peer's inputs index. Legacy IPC handles: one pass off the JS thread.
      const ipcBases = data.bases.filter((shared) => shared.handle !== undefined);
      if (ipcBases.length > 0) {
        this.announce('import', 'cudaIpcOpenMemHandle', 'ipcOpenMemHandleBatchAsync', { peer, count: ipcBases.length, flags: IPC_MEM_LAZY_ENABLE_PEER_ACCESS });
        const opened = await cuda.ipcOpenMemHandleBatchAsync(ipcBases.map((shared) => hexToBytes(shared.handle as string)), IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
        for (let b = 0; b < opened.count; b += 1) {
          const shared = ipcBases[b];
          const args = { handle: shared.handle as string, flags: IPC_MEM_LAZY_ENABLE_PEER_ACCESS, peer, base: shared.base };
          if (opened.codes[b] !== 0) {
            const peerInfo = { rank: peer, base: shared.base, pid: data.pid, handle: shared.handle as string };
            this.fail('ipcOpenMemHandleBatchAsync', args, opened.status(b), { peer: peerInfo });
            continue;
          }
          this.succeeded(opened.call, 'ipcOpenMemHandleBatchAsync', args);
          this.ipcImports.push(opened.ptrs[b]);
          peerBases[peer].push(opened.ptrs[b]);
        }
        if (opened.failed > 0) return;
      }
      // VMM bases shared as file descriptors (--share vmm-export): take each fd, import, map.
      for (const shared of data.bases.filter((entry) => entry.fd !== undefined)) {
        const fd = shared.fd as number;
        const peerInfo = { rank: peer, base: shared.base, pid: data.pid, fd };
        const args = { pid: data.pid, fd, peer };
        this.announce('import', 'pidfd_getfd', 'fdFromProcess', args);
        const local = cuda.fdFromProcess(data.pid, fd);
        if (!local.ok) {
          this.fail('fdFromProcess', { ...args, via: local.via }, pseudoStatus(local.via || 'pidfd_getfd', `errno ${local.errno}`, local.message), { peer: peerInfo, detail: `could not take fd ${fd} from pid ${data.pid}: ${local.message}` });
          return;
        }
        this.succeeded(local.via || 'pidfd_getfd', 'fdFromProcess', { ...args, via: local.via });
        this.importedFds.push(local.fd);
        const mapped = await this.call(
          'cuMemImportFromShareableHandle',
          'vmmImportFd',
          { fd: local.fd, bytes: shared.bytes, peer, base: shared.base },
          () => cuda.vmmImportFd(local.fd, shared.bytes),
          { peer: peerInfo },
        );
        if (!mapped.ok || mapped.value === undefined) return;
        this.vmmImports.push(mapped.value);
        peerBases[peer].push(mapped.value);
      }
    }
    // Pointer table i: for each rank r, where input i of rank r is visible from here.
    const tables = this.tables;
    if (!tables) throw new TypeError('import before capture');
    this.hostTables = [];
    for (let i = 0; i < inputs; i += 1) {
      const row: Ptr[] = [];
      for (let r = 0; r < ranks; r += 1) {
        if (share === 'copy') {
          row.push(this.registeredPeers[r] + BigInt(i * bytes));
        } else if (r === rank) {
          row.push(this.inputs[i]);
        } else {
          const entry = (this.peers[r] as ExportData).inputs[i];
          row.push(peerBases[r][entry.base] + BigInt(entry.offset));
        }
      }
      this.hostTables.push(row);
    }
    // All tables are one allocation, table i at i * ranks pointers: one copy writes them all.
    const data = new Uint8Array(BigUint64Array.from(this.hostTables.flat()).buffer);
    await this.call('cudaMemcpy', 'copyFromHost', { dst: ptrToHex(tables.ptr), bytes: data.byteLength, tables: inputs }, () => cuda.copyFromHost(tables.ptr, data), { ptr: tables.ptr });
  }

  // ---- replay -----------------------------------------------------------------------------

  private async fill(): Promise<void> {
    const { rank, inputs, bytes, share } = this.cfg;
    const cuda = this.api;
    const stream = this.stream as Ptr;
    const count = bytes / 4;
    for (let i = 0; i < inputs; i += 1) {
      const ptr = this.inputs[i];
      const seed = seedOf(rank, i);
      const filled = this.kernels
        ? await this.call('cuLaunchKernel', 'launchFill', { ptr: ptrToHex(ptr), count, seed, stream: ptrToHex(stream) }, () => cuda.launchFill(ptr, count, seed, stream), { ptr })
        : await this.call('cudaMemcpy', 'copyFromHost', { dst: ptrToHex(ptr), bytes, seed }, () => cuda.copyFromHost(ptr, fillBytes(seed, count)), { ptr });
      if (!filled.ok) return;
    }
    const synced = await this.call('cudaStreamSynchronize', 'streamSynchronizeAsync', { stream: ptrToHex(stream) }, () => cuda.streamSynchronizeAsync(stream));
    if (!synced.ok || share !== 'copy') return;
    const registered = (this.registered as Allocation).ptr;
    for (let i = 0; i < inputs; i += 1) {
      const dst = registered + BigInt(i * bytes);
      const src = this.inputs[i];
      const copied = await this.call('cudaMemcpy', 'memcpy', { dst: ptrToHex(dst), src: ptrToHex(src), bytes }, () => cuda.memcpy(dst, src, bytes), { ptr: src });
      if (!copied.ok) return;
    }
  }

  private async launch(): Promise<void> {
    const cuda = this.api;
    const stream = this.stream as Ptr;
    const exec = this.exec as Ptr;
    const launched = await this.call('cudaGraphLaunch', 'graphLaunch', { exec: ptrToHex(exec), stream: ptrToHex(stream) }, () => cuda.graphLaunch(exec, stream));
    if (!launched.ok) return;
    await this.call('cudaStreamSynchronize', 'streamSynchronizeAsync', { stream: ptrToHex(stream) }, () => cuda.streamSynchronizeAsync(stream));
  }

  // ---- verify -----------------------------------------------------------------------------

  private async verify(): Promise<RoundData> {
    const { ranks, inputs, bytes } = this.cfg;
    const cuda = this.api;
    const count = bytes / 4;
    const summary: VerifySummary = { mode: this.kernels ? 'kernel' : 'copy', inputsChecked: 0, bytesChecked: 0, mismatches: 0 };
    for (let i = 0; i < inputs; i += 1) {
      const checks: Array<{ ptr: Ptr; expected: Buffer; peer?: number }> = this.kernels
        ? [{ ptr: (this.outputs as Allocation).ptr + BigInt(i * bytes), expected: expectedSumBytes(ranks, i, count) }]
        : this.hostTables[i].map((ptr, r) => ({ ptr, expected: fillBytes(seedOf(r, i), count), peer: r }));
      for (const check of checks) {
        const ptr = check.ptr;
        const read = await this.call('cudaMemcpy', 'copyToHost', { src: ptrToHex(ptr), bytes, input: i, ...(check.peer !== undefined ? { peer: check.peer } : {}) }, () => cuda.copyToHost(ptr, bytes), { ptr });
        if (!read.ok || !read.value) return { kind: 'verify', verify: summary };
        summary.bytesChecked += bytes;
        const mismatch = firstMismatch(check.expected, read.value);
        if (mismatch) {
          summary.mismatches += 1;
          if (!summary.firstMismatch) {
            summary.firstMismatch = { input: i, ...mismatch, ...(check.peer !== undefined ? { peer: check.peer } : {}) };
            const what = check.peer !== undefined ? `rank ${check.peer}'s input ${i} read through ${ptrToHex(ptr)}` : `all-reduce output ${i}`;
            const detail = `${what}: element ${mismatch.element} is ${mismatch.actual}, expected ${mismatch.expected}`;
            this.fail('verify', { input: i, ptr: ptrToHex(ptr) }, pseudoStatus('verify', 'VerificationMismatch', detail), { detail });
          }
        }
      }
      summary.inputsChecked += 1;
    }
    if (!this.kernels) this.log.notes.push('verified with copies: kernels are unavailable');
    return { kind: 'verify', verify: summary };
  }

  // ---- teardown: every resource, failures recorded and passed over ------------------------

  private teardownCall(entry: string, method: string, args: CallArguments, fn: () => CudaStatus): void {
    this.announce('teardown', entry, method, args);
    const before = this.api.peekAtLastError();
    const status = fn();
    if (status.ok) this.succeeded(status.call || entry, method, args);
    else this.fail(method, args, status, {}, before);
  }

  private teardownClose(): void {
    if (!this.cuda) return;
    const cuda = this.cuda;
    if (this.capturing && this.stream !== null) {
      const stream = this.stream;
      const ended = cuda.streamEndCapture(stream);
      this.capturing = false;
      if (ended.ok && ended.value !== undefined) this.graph = ended.value;
      cuda.getLastError();
    }
    for (const ptr of this.ipcImports.splice(0)) this.teardownCall('cudaIpcCloseMemHandle', 'ipcCloseMemHandle', { ptr: ptrToHex(ptr) }, () => cuda.ipcCloseMemHandle(ptr));
    for (const ptr of this.vmmImports.splice(0)) this.teardownCall('cuMemUnmap', 'vmmUnmapImported', { ptr: ptrToHex(ptr) }, () => cuda.vmmUnmapImported(ptr));
    for (const fd of this.importedFds.splice(0)) cuda.closeFd(fd);
  }

  private teardownFree(): void {
    if (!this.cuda) return;
    const cuda = this.cuda;
    if (this.exec !== null) {
      const exec = this.exec;
      this.teardownCall('cudaGraphExecDestroy', 'graphExecDestroy', { exec: ptrToHex(exec) }, () => cuda.graphExecDestroy(exec));
      this.exec = null;
    }
    if (this.graph !== null) {
      const graph = this.graph;
      this.teardownCall('cudaGraphDestroy', 'graphDestroy', { graph: ptrToHex(graph) }, () => cuda.graphDestroy(graph));
      this.graph = null;
    }
    if (this.stream !== null) {
      const stream = this.stream;
      this.teardownCall('cudaStreamDestroy', 'streamDestroy', { stream: ptrToHex(stream) }, () => cuda.streamDestroy(stream));
      this.stream = null;
    }
    const allocations = [...this.segments, this.outputs, this.tables, this.registered].filter((a): a is Allocation => a !== null);
    this.segments = [];
    this.outputs = this.tables = this.registered = null;
    for (const allocation of allocations) {
      this.teardownCall('cudaFree', 'free', { ptr: ptrToHex(allocation.ptr), kind: allocation.kind }, () => cuda.free(allocation.ptr));
    }
    for (const fd of this.exportedFds.splice(0)) cuda.closeFd(fd);
  }

  /** When the coordinator is gone: let go of everything without recording (best effort). */
  abandon(): void {
    try {
      this.log = new StepLog('teardown');
      this.teardownClose();
      this.teardownFree();
    } catch {
      // The process exits next anyway.
    }
  }
}

/** Why a peer's export data cannot be used, or null. */
export function checkExportData(data: ExportData | null | undefined, inputs: number, share: RankConfig['share']): string | null {
  if (!data) return 'sent nothing';
  if (!Number.isInteger(data.pid) || data.pid <= 0) return 'no pid';
  if (!Array.isArray(data.inputs) || data.inputs.length !== inputs) return `${data.inputs?.length ?? 0} inputs, expected ${inputs}`;
  if (!Array.isArray(data.bases)) return 'no bases';
  const expectedVia = share === 'copy' ? 'registered' : share === 'ipc' ? 'ipc' : 'vmm-fd';
  if (data.via !== expectedVia) return `shared via ${data.via}, expected ${expectedVia}`;
  for (const base of data.bases) {
    try {
      hexToPtr(base.base);
    } catch {
      return `a malformed base ${String(base.base).slice(0, 20)}`;
    }
    if (share === 'ipc' && !(typeof base.handle === 'string' && /^[0-9a-f]{128}$/i.test(base.handle))) return `base ${base.base} has no 64-byte handle`;
    if (share === 'vmm-export' && !(Number.isInteger(base.fd) && (base.fd as number) >= 0 && base.bytes > 0)) return `base ${base.base} has no fd or size`;
  }
  for (const entry of data.inputs) {
    const inRange = share === 'copy' ? entry.base === -1 : Number.isInteger(entry.base) && entry.base >= 0 && entry.base < data.bases.length;
    if (!inRange || !Number.isInteger(entry.offset) || entry.offset < 0) return 'an input refers to no base';
  }
  return null;
}
