// Call overhead: the addon's hot calls against the same calls from C++ (cuipc_bench_raw), on
// the same backend libraries, in one run. Each side allocates its own buffers, warms up once,
// then times every call kind over all buffers per repetition; the figure is the median of
// the repetitions' per-call times.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Ptr } from '../binding.js';
import { addonPath, findShippedLibrary, packageRoot } from '../dist/binding/native.js';
import type { Cuda } from '../dist/cuda/index.js';
import { median, nowNs } from './stats.js';

export const CALL_KINDS = ['ipcGetMemHandle', 'rangeStart', 'pointerAttributes', 'ipcGetMemHandleBatch', 'rangeStartBatch'] as const;
export type CallKind = (typeof CALL_KINDS)[number];

export interface CallKindFigures {
  medianNs: number;
  perCallNs: number[];
  failures: number;
}

export interface CallSide {
  contextNs: number;
  /** Peak resident memory of the process right after its first CUDA call, KiB. */
  contextRssKiB: number | null;
  kinds: Record<CallKind, CallKindFigures>;
}

export interface CallOverheadResult {
  count: number;
  bytes: number;
  repetitions: number;
  raw: CallSide;
  addon: CallSide;
  rawProgram: string;
}

/** How each kind reads in the tables, and the target the issue sets for the H200. */
export const CALL_LABELS: Record<CallKind, { call: string; addon: string; target: number | null }> = {
  ipcGetMemHandle: { call: 'cudaIpcGetMemHandle, one call', addon: 'ipcGetMemHandle(ptr)', target: 1.5 },
  rangeStart: { call: 'cuPointerGetAttribute(RANGE_START_ADDR), one pointer', addon: 'rangeStart(ptr)', target: 1.5 },
  pointerAttributes: { call: 'pointer attributes (9 cuPointerGetAttribute + cuMemRetainAllocationHandle)', addon: 'pointerAttributes(ptr)', target: 1.5 },
  ipcGetMemHandleBatch: { call: 'cudaIpcGetMemHandle, batch of all buffers (per pointer)', addon: 'ipcGetMemHandleBatch(ptrs)', target: 1.1 },
  rangeStartBatch: { call: 'RANGE_START_ADDR, batch of all buffers (per pointer)', addon: 'rangeStartBatch(ptrs)', target: null },
};

export class BenchSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchSetupError';
  }
}

/** cuipc_bench_raw, made by the native build beside the addon (or the package's own build folder). */
export function rawProgramPath(): string {
  return findShippedLibrary('cuipc_bench_raw', { addonDir: dirname(addonPath()) }).path ?? join(packageRoot, 'build', 'Release', 'cuipc_bench_raw');
}

interface RawOutput {
  error?: string;
  contextNs: number;
  contextRssKiB?: number;
  kinds: Record<CallKind, CallKindFigures>;
}

function runRaw(cuda: Cuda, count: number, bytes: number, repetitions: number, device: number): { side: CallSide; program: string } {
  const program = rawProgramPath();
  if (!existsSync(program)) {
    throw new BenchSetupError(`${program} is missing; build it with \`npx cmake-js compile --out build\` (target cuipc_bench_raw)`);
  }
  const { driver, runtime } = cuda.report;
  if (!driver || !runtime) {
    throw new BenchSetupError(`the ${cuda.backend} backend has no ${driver ? 'runtime' : 'driver'} loaded; \`cuipc doctor\` says what was tried`);
  }
  // The exact files the addon mapped, so both sides call the same code.
  const args = ['--backend', cuda.backend, '--driver', driver.path, '--runtime', runtime.path];
  args.push('--count', String(count), '--bytes', String(bytes), '--reps', String(repetitions), '--device', String(device));
  const result = spawnSync(program, args, { encoding: 'utf8', timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
  if (result.error) throw new BenchSetupError(`${program}: ${result.error.message}`);
  let parsed: RawOutput;
  try {
    parsed = JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as RawOutput;
  } catch {
    throw new BenchSetupError(`${program} exited ${result.status ?? result.signal} without JSON; stderr: ${result.stderr.trim().slice(-500)}`);
  }
  if (parsed.error) throw new BenchSetupError(`${program}: ${parsed.error}`);
  return { side: { contextNs: parsed.contextNs, contextRssKiB: parsed.contextRssKiB ?? null, kinds: parsed.kinds }, program };
}

function emptyKinds(): Record<CallKind, { perCallNs: number[]; failures: number }> {
  const kinds = {} as Record<CallKind, { perCallNs: number[]; failures: number }>;
  for (const kind of CALL_KINDS) kinds[kind] = { perCallNs: [], failures: 0 };
  return kinds;
}

async function runAddon(cuda: Cuda, count: number, bytes: number, repetitions: number, device: number): Promise<CallSide> {
  const c0 = nowNs();
  const init = await cuda.initDeviceAsync(device);
  const contextNs = nowNs() - c0;
  const contextRssKiB = process.resourceUsage().maxRSS;
  if (!init.ok) throw new BenchSetupError(`initDeviceAsync(${device}) returned ${init.code} ${init.name} ("${init.message}")`);
  const ptrs: Ptr[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const allocation = cuda.malloc('device', bytes);
      if (!allocation.ok || !allocation.value) throw new BenchSetupError(`malloc('device', ${bytes}) returned ${allocation.code} ${allocation.name} at buffer ${i}`);
      ptrs.push(allocation.value.ptr);
    }
    // Batched calls take the pointers as a caller keeps them for batching: a BigUint64Array.
    const packed = BigUint64Array.from(ptrs);
    const kinds = emptyKinds();
    // The same order as the C++ program; each loop checks results as a caller would.
    const pass = (timed: boolean): void => {
      const t0 = nowNs();
      for (const ptr of ptrs) if (!cuda.ipcGetMemHandle(ptr).ok && timed) kinds.ipcGetMemHandle.failures++;
      const t1 = nowNs();
      for (const ptr of ptrs) if (!cuda.rangeStart(ptr).ok && timed) kinds.rangeStart.failures++;
      const t2 = nowNs();
      for (const ptr of ptrs) if (!cuda.pointerAttributes(ptr).ok && timed) kinds.pointerAttributes.failures++;
      const t3 = nowNs();
      if (timed) kinds.ipcGetMemHandleBatch.failures += cuda.ipcGetMemHandleBatch(packed).failed;
      else cuda.ipcGetMemHandleBatch(packed);
      const t4 = nowNs();
      if (timed) kinds.rangeStartBatch.failures += cuda.rangeStartBatch(packed).failed;
      else cuda.rangeStartBatch(packed);
      const t5 = nowNs();
      if (!timed) return;
      kinds.ipcGetMemHandle.perCallNs.push((t1 - t0) / count);
      kinds.rangeStart.perCallNs.push((t2 - t1) / count);
      kinds.pointerAttributes.perCallNs.push((t3 - t2) / count);
      kinds.ipcGetMemHandleBatch.perCallNs.push((t4 - t3) / count);
      kinds.rangeStartBatch.perCallNs.push((t5 - t4) / count);
    };
    pass(false);
    for (let r = 0; r < repetitions; r++) pass(true);
    const figures = {} as Record<CallKind, CallKindFigures>;
    for (const kind of CALL_KINDS) figures[kind] = { ...kinds[kind], medianNs: median(kinds[kind].perCallNs) };
    return { contextNs, contextRssKiB, kinds: figures };
  } finally {
    for (const ptr of ptrs) cuda.free(ptr);
  }
}

/**
 * The C++ program first, in its own process, then the addon in this one; both on `device`
 * with the libraries the addon loaded.
 */
export async function measureCallOverhead(
  cuda: Cuda,
  options: { count: number; bytes: number; repetitions: number; device: number },
): Promise<CallOverheadResult> {
  const { count, bytes, repetitions, device } = options;
  const raw = runRaw(cuda, count, bytes, repetitions, device);
  const addon = await runAddon(cuda, count, bytes, repetitions, device);
  return { count, bytes, repetitions, raw: raw.side, addon, rawProgram: raw.program };
}
