// What one rank does in each step, in order: init, register, capture, export, exchange,
// import, replay, verify, teardown. Every CUDA call goes through the call recorder
// (call-recorder.ts); what differs between share strategies lives in share/. A step stops at
// its first failing call, as a server would; teardown goes on through failures so that nothing
// is left behind.
import { readlinkSync } from 'node:fs';
import type { Allocation, AllocationKind, Ptr } from '../../binding.js';
import { openCuda, IPC_MEM_LAZY_ENABLE_PEER_ACCESS, type Cuda } from '../cuda/index.js';
import { detectHazards } from '../env/hazards.js';
import type { CaptureSnapshot, MemorySaverRegion, RankLoader, StepName, VerifySummary } from '../report/types.js';
import { CallRecorder, pseudoStatus, type Announce } from './call-recorder.js';
import { startEarly, type EarlyInit } from './early-init.js';
import { decideMemorySaverRegion, enterRegions } from './memory-saver.js';
import { checkExportData } from './export-check.js';
import { bytesToHex, hexToBytes, ptrToHex } from './hex.js';
import {
  LOAD_CALL,
  type ExportData,
  type InitData,
  type RankConfig,
  type RankStepResult,
  type RegisteredExport,
  type RoundData,
  type RoundInput,
  type RoundPhase,
} from './protocol.js';
import { shareStrategy, type InputLocator, type ShareContext, type ShareStrategyModule } from './share/index.js';
import { expectedSumBytes, fillBytes, firstMismatch, seedOf } from './values.js';

export type { Announce } from './call-recorder.js';

/** Graph inputs share allocations, as a caching allocator's blocks do, so export de-duplicates bases. */
export const INPUTS_PER_ALLOCATION = 8;

const ALLOC_ENTRY_POINT: Record<AllocationKind, string> = {
  device: 'cudaMalloc',
  pool: 'cudaMallocAsync',
  managed: 'cudaMallocManaged',
  host: 'cudaHostAlloc',
  vmm: 'cuMemCreate',
  'vmm-fd': 'cuMemCreate',
};

export class RankSession {
  private cuda: Cuda | null = null;
  private config: RankConfig | null = null;
  private kernels = false;
  private readonly rec: CallRecorder;
  private strategy: ShareStrategyModule | null = null;
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
  private peers: Array<ExportData | null> = [];
  /** The peers' registered buffers this rank opened (always legacy IPC, as the communicator's are). */
  private registeredImports: Ptr[] = [];

  constructor(private readonly announce: Announce) {
    this.rec = new CallRecorder(announce, {
      cuda: () => this.cuda,
      rank: () => this.config?.rank ?? -1,
      captureSnapshot: () => this.captureSnapshot(),
    });
  }

  async run(step: StepName, phase: RoundPhase, input: RoundInput): Promise<RankStepResult> {
    const started = performance.now();
    this.rec.begin(step);
    let data: RoundData = { kind: 'none' };
    try {
      data = await this.dispatch(step, phase, input);
    } catch (error) {
      // A programming error (TypeError/RangeError from the binding) fails the step, not the rank.
      const message = (error as Error).stack?.split('\n').slice(0, 2).join(' | ') ?? String(error);
      this.rec.fail('exception', {}, pseudoStatus('exception', (error as Error).name ?? 'Error', message), { detail: message });
    }
    const log = this.rec.log;
    return {
      step,
      phase,
      outcome: log.failures.length > 0 ? 'failed' : 'passed',
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      calls: log.calls,
      failures: log.failures,
      notes: log.notes,
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

  private get api(): Cuda {
    if (!this.cuda) throw new TypeError('the backend is not loaded');
    return this.cuda;
  }

  private get cfg(): RankConfig {
    if (!this.config) throw new TypeError('init has not run');
    return this.config;
  }

  /** The share strategy's view of this rank. */
  private get share(): { strategy: ShareStrategyModule; ctx: ShareContext } {
    if (!this.strategy) throw new TypeError('init has not run');
    const self = this;
    return {
      strategy: this.strategy,
      ctx: {
        cuda: this.api,
        rec: this.rec,
        cfg: this.cfg,
        inputs: this.inputs,
        registeredPeers: this.registeredPeers,
        get registered() {
          return self.registered?.ptr ?? null;
        },
        allocationBytes: (base) => this.segments.find((s) => s.ptr === base)?.mappedBytes ?? 0,
      },
    };
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

  // ---- init ---------------------------------------------------------------------------

  /** Before the init round: load the backend, start the context (early-init.ts); init() records the calls. */
  prestart(backend: string | undefined, device: number | undefined): void {
    if (!this.early && !this.config) this.early = startEarly(backend, device, this.announce);
  }

  private async init(config: RankConfig): Promise<RoundData> {
    this.config = config;
    this.strategy = shareStrategy(config.share);
    const init: InitData = { pid: process.pid, device: null, loader: null, hazards: this.hazards(), memorySaver: null };
    // What prestart() began counts only when it is what this round asks for.
    const early = this.early && this.early.backend === config.backend ? this.early : null;
    const made = early && early.device === config.device ? early : null;
    try {
      if (early?.loadError) throw early.loadError;
      this.cuda = early?.cuda ?? openCuda({ backend: config.backend });
    } catch (error) {
      this.rec.fail('openCuda', { backend: config.backend }, pseudoStatus(LOAD_CALL, (error as Error).name, (error as Error).message), {
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
    if (!kernels.available) this.rec.note(`kernels unavailable (${kernels.reason}): replay fills with copies and verify reads peers' inputs with copies`);
    const device = config.device;
    const set = made?.set;
    if (!(await this.rec.call('cudaSetDevice', 'setDevice', { device }, () => set ?? cuda.setDevice(device), {}, set ? made : undefined)).ok) return { kind: 'init', init };
    const context = made?.context;
    if (!(await this.rec.call('cudaFree', 'initDeviceAsync', { device }, () => context ?? cuda.initDeviceAsync(device))).ok) return { kind: 'init', init };
    const info = await this.rec.call('cudaGetDeviceProperties', 'getDeviceInfo', { device }, () => cuda.getDeviceInfo(device));
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
      this.rec.note(`environment hazards could not be read: ${(error as Error).message}`);
      return [];
    }
  }

  // ---- register: the communicator's own buffer ------------------------------------------

  private async malloc(kind: AllocationKind, bytes: number, purpose: string): Promise<Allocation | null> {
    const cuda = this.api;
    const result = await this.rec.call(ALLOC_ENTRY_POINT[kind], 'malloc', { kind, bytes, purpose }, () => cuda.malloc(kind, bytes));
    return result.ok && result.value ? result.value : null;
  }

  private async registerExport(): Promise<RoundData> {
    const { inputs, bytes } = this.cfg;
    const cuda = this.api;
    this.registered = await this.malloc('device', inputs * bytes, 'registered buffer');
    if (!this.registered) return { kind: 'none' };
    const base = this.registered.ptr;
    const handle = await this.rec.call('cudaIpcGetMemHandle', 'ipcGetMemHandle', { ptr: ptrToHex(base) }, () => cuda.ipcGetMemHandle(base), { ptr: base });
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
        this.rec.failWith('exchange', { peer }, 'all-gather', 'MalformedExchange', `rank ${peer} sent no valid registered-buffer handle`);
        return;
      }
      const handle = hexToBytes(shared.handle);
      const opened = await this.rec.call(
        'cudaIpcOpenMemHandle',
        'ipcOpenMemHandleAsync',
        { handle: shared.handle, flags: IPC_MEM_LAZY_ENABLE_PEER_ACCESS, peer },
        () => cuda.ipcOpenMemHandleAsync(handle, IPC_MEM_LAZY_ENABLE_PEER_ACCESS),
        { peer: { rank: peer, base: shared.base, handle: shared.handle, pid: shared.pid } },
      );
      if (!opened.ok || opened.value === undefined) return;
      this.registeredImports.push(opened.value);
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
    if (region?.entered) this.rec.note(`graph inputs allocated and captured inside the region of ${region.hooks.map((h) => `${h.abi} (${h.library ?? 'unknown library'})`).join(' and ')}: ${region.reason}`);
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

    const stream = await this.rec.call('cudaStreamCreateWithFlags', 'streamCreate', { nonBlocking: true }, () => cuda.streamCreate(true));
    if (!stream.ok || stream.value === undefined) return;
    this.stream = stream.value;
    const s = this.stream;
    const begun = await this.rec.call('cudaStreamBeginCapture', 'streamBeginCapture', { stream: ptrToHex(s), mode: captureMode }, () => cuda.streamBeginCapture(s, captureMode));
    if (!begun.ok) return;
    this.capturing = true;
    if (this.kernels) {
      // One all-reduce per input, table i at i * ranks pointers and output i at i * bytes, all
      // launched by one addon call (thousands of launches a rank at the largest sizes).
      const outputs = this.outputs.ptr;
      const tables = this.tables.ptr;
      const count = bytes / 4;
      const tableList = new BigUint64Array(inputs);
      const outList = new BigUint64Array(inputs);
      for (let i = 0; i < inputs; i += 1) {
        tableList[i] = tables + BigInt(i * ranks * 8);
        outList[i] = outputs + BigInt(i * bytes);
      }
      this.rec.batch(
        'cuLaunchKernel',
        'launchAllReduceBatch',
        { launches: inputs, tables: ptrToHex(tables), ranks, outs: ptrToHex(outputs), count, stream: ptrToHex(s) },
        () => cuda.launchAllReduceBatch(tableList, ranks, outList, count, s),
        (i) => ({ table: ptrToHex(tableList[i]), ranks, out: ptrToHex(outList[i]), count, stream: ptrToHex(s), input: ptrToHex(this.inputs[i]) }),
      );
    } else {
      this.rec.note('kernels unavailable: the graph is captured without the all-reduce kernel');
    }
    // End the capture even after a failed launch, as a server's capture context manager does.
    const ended = await this.rec.call('cudaStreamEndCapture', 'streamEndCapture', { stream: ptrToHex(s) }, () => cuda.streamEndCapture(s));
    this.capturing = false;
    if (ended.ok && ended.value !== undefined) this.graph = ended.value;
    if (this.rec.failed() || !ended.ok || this.graph === null) return;
    const graph = this.graph;
    const exec = await this.rec.call('cudaGraphInstantiate', 'graphInstantiate', { graph: ptrToHex(graph) }, () => cuda.graphInstantiate(graph));
    if (exec.ok && exec.value !== undefined) this.exec = exec.value;
    this.rec.note(`recorded ${this.inputs.length} graph inputs in ${this.segments.length} allocations`);
  }

  // ---- export: allocation bases, de-duplicated, then what the strategy shares per base -----

  private async exportInputs(): Promise<RoundData> {
    const cuda = this.api;
    const { strategy, ctx } = this.share;
    this.announce('export', 'cuPointerGetAttribute', 'rangeStartBatch', { count: this.inputs.length });
    const before = cuda.peekAtLastError();
    const ranges = cuda.rangeStartBatch(this.inputs);
    const baseIndex = new Map<bigint, number>();
    const bases: Ptr[] = [];
    const inputs: ExportData['inputs'] = [];
    for (let i = 0; i < ranges.count; i += 1) {
      const args = { ptr: ptrToHex(this.inputs[i]), attribute: 'CU_POINTER_ATTRIBUTE_RANGE_START_ADDR', input: i };
      if (ranges.codes[i] !== 0) {
        this.rec.fail('rangeStartBatch', args, ranges.status(i), { ptr: this.inputs[i] }, before);
        return { kind: 'none' };
      }
      this.rec.succeeded(ranges.call, 'rangeStartBatch', args);
      const base = ranges.bases[i];
      let index = baseIndex.get(base);
      if (index === undefined) {
        index = bases.length;
        baseIndex.set(base, index);
        bases.push(base);
      }
      inputs.push({ base: index, offset: Number(this.inputs[i] - base) });
    }
    this.rec.note(`${this.inputs.length} inputs in ${bases.length} allocation bases`);
    const exported = await strategy.export(ctx, { bases, inputs });
    return exported ? { kind: 'export', export: exported } : { kind: 'none' };
  }

  // ---- exchange: check what the all-gather brought ---------------------------------------

  private exchange(peers: Array<ExportData | null>): void {
    const { rank, ranks, inputs } = this.cfg;
    const { strategy } = this.share;
    this.peers = peers;
    for (let peer = 0; peer < ranks; peer += 1) {
      if (peer === rank) continue;
      const problem = checkExportData(peers[peer], inputs, strategy);
      if (problem) {
        this.rec.failWith('exchange', { peer }, 'all-gather', 'MalformedExchange', `rank ${peer}: ${problem}`);
        return;
      }
    }
    const total = peers.reduce((n, p) => n + (p ? p.bases.length : 0), 0);
    this.rec.succeeded('all-gather', 'exchange', { ranks, bases: total });
  }

  // ---- import: what the strategy maps per peer, then the pointer tables ------------------

  private async importInputs(): Promise<void> {
    const { rank, ranks, inputs } = this.cfg;
    const cuda = this.api;
    const { strategy, ctx } = this.share;
    const locate: InputLocator[] = [];
    for (let peer = 0; peer < ranks; peer += 1) {
      if (peer === rank) {
        locate.push(strategy.ownInputs(ctx));
        continue;
      }
      const data = this.peers[peer];
      if (!data) throw new TypeError(`import without rank ${peer}'s export data`);
      const located = await strategy.importPeer(ctx, peer, data);
      if (!located) return;
      locate.push(located);
    }
    // Pointer table i: for each rank r, where input i of rank r is visible from here.
    const tables = this.tables;
    if (!tables) throw new TypeError('import before capture');
    this.hostTables = Array.from({ length: inputs }, (_, i) => locate.map((at) => at(i)));
    // All tables are one allocation, table i at i * ranks pointers: one copy writes them all.
    const data = new Uint8Array(BigUint64Array.from(this.hostTables.flat()).buffer);
    await this.rec.call('cudaMemcpy', 'copyFromHost', { dst: ptrToHex(tables.ptr), bytes: data.byteLength, tables: inputs }, () => cuda.copyFromHost(tables.ptr, data), { ptr: tables.ptr });
  }

  // ---- replay -----------------------------------------------------------------------------

  private async fill(): Promise<void> {
    const { rank, inputs, bytes } = this.cfg;
    const cuda = this.api;
    const stream = this.stream as Ptr;
    const count = bytes / 4;
    if (this.kernels) {
      // Every input's fill, launched by one addon call.
      const ptrs = BigUint64Array.from(this.inputs);
      const seeds = Uint32Array.from({ length: inputs }, (_, i) => seedOf(rank, i));
      const filled = this.rec.batch(
        'cuLaunchKernel',
        'launchFillBatch',
        { launches: inputs, count, stream: ptrToHex(stream) },
        () => cuda.launchFillBatch(ptrs, count, seeds, stream),
        (i) => ({ ptr: ptrToHex(ptrs[i]), count, seed: seeds[i], stream: ptrToHex(stream) }),
        (i) => ({ ptr: ptrs[i] }),
      );
      if (!filled) return;
    } else {
      for (let i = 0; i < inputs; i += 1) {
        const ptr = this.inputs[i];
        const seed = seedOf(rank, i);
        const filled = await this.rec.call('cudaMemcpy', 'copyFromHost', { dst: ptrToHex(ptr), bytes, seed }, () => cuda.copyFromHost(ptr, fillBytes(seed, count)), { ptr });
        if (!filled.ok) return;
      }
    }
    const synced = await this.rec.call('cudaStreamSynchronize', 'streamSynchronizeAsync', { stream: ptrToHex(stream) }, () => cuda.streamSynchronizeAsync(stream));
    if (!synced.ok) return;
    const { strategy, ctx } = this.share;
    await strategy.afterFill(ctx);
  }

  private async launch(): Promise<void> {
    const cuda = this.api;
    const stream = this.stream as Ptr;
    const exec = this.exec as Ptr;
    const launched = await this.rec.call('cudaGraphLaunch', 'graphLaunch', { exec: ptrToHex(exec), stream: ptrToHex(stream) }, () => cuda.graphLaunch(exec, stream));
    if (!launched.ok) return;
    await this.rec.call('cudaStreamSynchronize', 'streamSynchronizeAsync', { stream: ptrToHex(stream) }, () => cuda.streamSynchronizeAsync(stream));
  }

  // ---- verify -----------------------------------------------------------------------------

  private async verify(): Promise<RoundData> {
    const { ranks, inputs, bytes } = this.cfg;
    const count = bytes / 4;
    const summary: VerifySummary = { mode: this.kernels ? 'kernel' : 'copy', inputsChecked: 0, bytesChecked: 0, mismatches: 0 };
    if (this.kernels) {
      // The outputs are one allocation, output i at i * bytes: one copy reads them all.
      const outputs = (this.outputs as Allocation).ptr;
      const all = await this.read(outputs, inputs * bytes, { outputs: inputs });
      if (!all) return { kind: 'verify', verify: summary };
      for (let i = 0; i < inputs; i += 1) {
        this.check(summary, i, outputs + BigInt(i * bytes), expectedSumBytes(ranks, i, count), all.subarray(i * bytes, (i + 1) * bytes));
        summary.inputsChecked += 1;
      }
    } else {
      for (let i = 0; i < inputs; i += 1) {
        for (let r = 0; r < ranks; r += 1) {
          const ptr = this.hostTables[i][r];
          const read = await this.read(ptr, bytes, { input: i, peer: r });
          if (!read) return { kind: 'verify', verify: summary };
          this.check(summary, i, ptr, fillBytes(seedOf(r, i), count), read, r);
        }
        summary.inputsChecked += 1;
      }
      this.rec.note('verified with copies: kernels are unavailable');
    }
    return { kind: 'verify', verify: summary };
  }

  private async read(ptr: Ptr, bytes: number, args: Record<string, number>): Promise<Buffer | null> {
    const cuda = this.api;
    const read = await this.rec.call('cudaMemcpy', 'copyToHost', { src: ptrToHex(ptr), bytes, ...args }, () => cuda.copyToHost(ptr, bytes), { ptr });
    return read.ok ? read.value : null;
  }

  /** Compares one input's bytes, byte for byte; the first mismatch is a failure of verify. */
  private check(summary: VerifySummary, input: number, ptr: Ptr, expected: Buffer, actual: Buffer, peer?: number): void {
    summary.bytesChecked += actual.length;
    const mismatch = firstMismatch(expected, actual);
    if (!mismatch) return;
    summary.mismatches += 1;
    if (summary.firstMismatch) return;
    summary.firstMismatch = { input, ...mismatch, ...(peer !== undefined ? { peer } : {}) };
    const what = peer !== undefined ? `rank ${peer}'s input ${input} read through ${ptrToHex(ptr)}` : `all-reduce output ${input}`;
    const detail = `${what}: element ${mismatch.element} is ${mismatch.actual}, expected ${mismatch.expected}`;
    this.rec.fail('verify', { input, ptr: ptrToHex(ptr) }, pseudoStatus('verify', 'VerificationMismatch', detail), { detail });
  }

  // ---- teardown: every resource, failures recorded and passed over ------------------------

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
    for (const ptr of this.registeredImports.splice(0)) this.rec.teardownCall('cudaIpcCloseMemHandle', 'ipcCloseMemHandle', { ptr: ptrToHex(ptr) }, () => cuda.ipcCloseMemHandle(ptr));
    if (this.strategy) this.strategy.close(this.share.ctx);
  }

  private teardownFree(): void {
    if (!this.cuda) return;
    const cuda = this.cuda;
    if (this.exec !== null) {
      const exec = this.exec;
      this.rec.teardownCall('cudaGraphExecDestroy', 'graphExecDestroy', { exec: ptrToHex(exec) }, () => cuda.graphExecDestroy(exec));
      this.exec = null;
    }
    if (this.graph !== null) {
      const graph = this.graph;
      this.rec.teardownCall('cudaGraphDestroy', 'graphDestroy', { graph: ptrToHex(graph) }, () => cuda.graphDestroy(graph));
      this.graph = null;
    }
    if (this.stream !== null) {
      const stream = this.stream;
      this.rec.teardownCall('cudaStreamDestroy', 'streamDestroy', { stream: ptrToHex(stream) }, () => cuda.streamDestroy(stream));
      this.stream = null;
    }
    const allocations = [...this.segments, this.outputs, this.tables, this.registered].filter((a): a is Allocation => a !== null);
    this.segments = [];
    this.outputs = this.tables = this.registered = null;
    for (const allocation of allocations) {
      this.rec.teardownCall('cudaFree', 'free', { ptr: ptrToHex(allocation.ptr), kind: allocation.kind }, () => cuda.free(allocation.ptr));
    }
    if (this.strategy) this.strategy.release(this.share.ctx);
  }

  /** When the coordinator is gone: let go of everything without recording (best effort). */
  abandon(): void {
    try {
      this.rec.begin('teardown');
      this.teardownClose();
      this.teardownFree();
    } catch {
      // The process exits next anyway.
    }
  }
}
