// What one rank holds between its steps: the configuration init received, the loaded backend,
// the recorder every call goes through, and each resource a step made that a later step uses
// or teardown releases. The steps (this folder) are functions that take it, so each step sits
// in a file of its own while rank-session.ts keeps the order and the dispatch.
import type { Allocation, AllocationKind, Ptr } from '../../../binding.js';
import type { Cuda } from '../../cuda/index.js';
import type { CallArguments, CaptureSnapshot, MemorySaverRegion } from '../../model/vocabulary.js';
import { CallRecorder, type Announce } from '../call-recorder.js';
import { ptrToHex } from '../hex.js';
import type { ExportData, RankConfig } from '../protocol.js';
import type { ShareContext, ShareStrategyModule } from '../share/index.js';

const ALLOC_ENTRY_POINT: Record<AllocationKind, string> = {
  device: 'cudaMalloc',
  'device-direct': 'cudaMalloc',
  pool: 'cudaMallocAsync',
  managed: 'cudaMallocManaged',
  host: 'cudaHostAlloc',
  vmm: 'cuMemCreate',
  'vmm-fd': 'cuMemCreate',
};

export class SessionState {
  cuda: Cuda | null = null;
  config: RankConfig | null = null;
  kernels = false;
  readonly rec: CallRecorder;
  strategy: ShareStrategyModule | null = null;
  memorySaver: MemorySaverRegion | null = null;

  registered: Allocation | null = null;
  registeredPeers: Ptr[] = [];
  segments: Allocation[] = [];
  inputs: Ptr[] = [];
  /** The all-reduce outputs and the peer pointer tables when each is an allocation of its own. */
  outputs: Allocation | null = null;
  tables: Allocation | null = null;
  /** Where they are (with --alloc torch, blocks inside segments). */
  outputsPtr: Ptr | null = null;
  tablesPtr: Ptr | null = null;
  /** What each segment --alloc torch made holds, by its base: the report names it for a failing base. */
  segmentNotes = new Map<Ptr, string>();
  /** Memory of the graph's allocation nodes (cudaMallocAsync while capturing): the graph owns it until it runs. */
  graphAllocations: Allocation[] = [];
  /** The graph ran at least once (its allocation nodes' memory is mapped from then on). */
  graphLaunched = false;
  hostTables: Ptr[][] = [];
  stream: Ptr | null = null;
  capturing = false;
  graph: Ptr | null = null;
  exec: Ptr | null = null;
  peers: Array<ExportData | null> = [];
  /** The peers' registered buffers this rank opened (always legacy IPC, as the communicator's are). */
  registeredImports: Ptr[] = [];

  constructor(announce: Announce) {
    this.rec = new CallRecorder(announce, {
      cuda: () => this.cuda,
      rank: () => this.config?.rank ?? -1,
      captureSnapshot: () => this.captureSnapshot(),
    });
  }

  get api(): Cuda {
    if (!this.cuda) throw new TypeError('the backend is not loaded');
    return this.cuda;
  }

  get cfg(): RankConfig {
    if (!this.config) throw new TypeError('init has not run');
    return this.config;
  }

  /** The share strategy's view of this rank. */
  get share(): { strategy: ShareStrategyModule; ctx: ShareContext } {
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
        segmentOf: (base) => this.segmentNotes.get(base) ?? null,
      },
    };
  }

  /** One allocation, recorded under the entry point its kind goes through; null when it failed. */
  async malloc(kind: AllocationKind, bytes: number, purpose: string, stream?: Ptr): Promise<Allocation | null> {
    const cuda = this.api;
    const args: CallArguments = { kind, bytes, purpose, ...(stream === undefined ? {} : { stream: ptrToHex(stream) }) };
    const result = await this.rec.call(ALLOC_ENTRY_POINT[kind], 'malloc', args, () => cuda.malloc(kind, bytes, stream));
    return result.ok && result.value ? result.value : null;
  }

  /** The capture state a failure record shows. */
  captureSnapshot(): CaptureSnapshot | null {
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
}
