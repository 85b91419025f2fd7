// The library API: probe() replays a tensor-parallel server's graph-input sharing in rank
// processes and resolves to the report; matrix() runs it over allocators x share strategies.
// Neither calls process.exit: bad options reject with ProbeUsageError, and a probe that
// could not run resolves to a report with result 'aborted' (exit status 3).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openCuda, type Cuda } from '../cuda/index.js';
import { buildProbeReport } from '../report/build.js';
import { buildMatrixReport, cellOf, skipReason } from './matrix.js';
import {
  INPUT_ALLOCATORS,
  SHARE_STRATEGIES,
  type InputAllocator,
  type MatrixCell,
  type MatrixReport,
  type ProbeAbort,
  type ProbeReport,
  type ShareStrategy,
} from '../report/types.js';
import type { RankLauncher, RankProgram } from '../launch/launcher.js';
import { plainLauncher } from '../launch/plain.js';
import { rayLauncher } from '../launch/ray.js';
import { coordinate } from './coordinator.js';
import { countDevicesWithoutCuda } from './device-count.js';
import { devicesHint } from './early-init.js';
import { assignDevices, launchSettings, ProbeUsageError, resolveProbeOptions, type ProbeOptions, type ResolvedProbeOptions } from './options.js';

export type * from '../report/types.js';
export { ProbeUsageError, DEFAULTS as PROBE_DEFAULTS, MAX_RANKS, parseEnvFile, type ProbeOptions, type RayLaunchOptions } from './options.js';
export { renderProbeReport, renderMatrixReport } from '../report/render.js';

/** The rank program; the same relative path works from lib/probe (tests) and dist/probe. */
export function rankProgramPath(): string {
  return fileURLToPath(new URL('../../dist/probe/rank.js', import.meta.url));
}

function abortedBeforeStart(resolved: ResolvedProbeOptions, devices: number[], abort: ProbeAbort, simulated: boolean | null): ProbeReport {
  return buildProbeReport({
    options: {
      ranks: resolved.ranks,
      inputs: resolved.inputs,
      bytes: resolved.bytes,
      alloc: resolved.alloc,
      share: resolved.share,
      captureMode: resolved.captureMode,
      devices,
      backend: resolved.backend,
      envKeys: Object.keys(resolved.env).sort(),
      timeoutMs: resolved.timeoutMs,
      rendezvous: resolved.rendezvous.kind,
      launch: launchSettings(resolved),
      memorySaverRegion: resolved.memorySaverRegion,
    },
    startedAt: new Date(),
    durationMs: 0,
    coordinatorSimulated: simulated ?? resolved.backend === 'sim',
    ranks: [],
    failures: [],
    abort,
    rejected: [],
    rejectedDropped: 0,
    cleanedUp: [],
  });
}

/** Each rank learns at spawn the device its init round will name (early-init.ts); known up front only for plain ranks. */
function withDeviceHint(launcher: RankLauncher, ranks: number): RankLauncher {
  const devices = Array.from({ length: ranks }, (_, rank) => launcher.deviceFor(rank, null));
  return { ...launcher, start: (coordinatorEnv) => launcher.start({ ...coordinatorEnv, ...devicesHint(devices) }) };
}

export async function probe(options: ProbeOptions = {}): Promise<ProbeReport> {
  const resolved = resolveProbeOptions(options);
  // Plain ranks on a GPU: the count from the kernel driver's listing where that is exact
  // (device-count.ts), so that this process need not load CUDA; else CUDA's own answer.
  const listed = resolved.backend === 'cuda' && resolved.launch.kind === 'plain' ? countDevicesWithoutCuda(process.env) : null;
  let simulated: boolean | null = null;
  let deviceCount = listed ?? 0;
  if (listed === null) {
    let cuda: Cuda;
    try {
      cuda = openCuda({ backend: resolved.backend });
    } catch (error) {
      if (error instanceof RangeError) throw new ProbeUsageError(error.message);
      return abortedBeforeStart(resolved, resolved.devices ?? [], { reason: 'no-driver', message: (error as Error).message }, null);
    }
    simulated = cuda.report.simulated;
    const count = cuda.getDeviceCount();
    if (!count.ok || count.value === undefined || count.value < 1) {
      const why = count.ok ? 'no CUDA device is visible' : `cudaGetDeviceCount returned ${count.code} ${count.name} ("${count.message}")`;
      return abortedBeforeStart(resolved, resolved.devices ?? [], { reason: 'no-driver', message: why }, simulated);
    }
    deviceCount = count.value;
  }
  // Under Ray, actors get their GPUs from Ray; the coordinator's own view does not decide them.
  const devices = resolved.launch.kind === 'ray' ? Array.from({ length: resolved.ranks }, () => 0) : assignDevices(resolved, deviceCount);
  const program = rankProgramPath();
  if (!existsSync(program)) {
    return abortedBeforeStart(
      resolved,
      devices,
      { reason: 'spawn-failed', message: `the rank program ${program} is missing; build it with \`npm run build:ts\`` },
      simulated,
    );
  }
  const rankProgram: RankProgram = { program: process.execPath, args: [program] };
  const launcher: RankLauncher = resolved.launch.kind === 'ray' ? rayLauncher(resolved, rankProgram) : withDeviceHint(plainLauncher(resolved, devices, rankProgram), resolved.ranks);
  return coordinate({ options: resolved, launcher, coordinatorSimulated: simulated });
}

export interface MatrixOptions extends Omit<ProbeOptions, 'alloc' | 'share'> {
  /** Default: every allocator. */
  allocs?: InputAllocator[];
  /** Default: every share strategy. */
  shares?: ShareStrategy[];
  /** Called as each cell finishes (for progress output). */
  onCell?: (cell: MatrixCell) => void;
}

export async function matrix(options: MatrixOptions = {}): Promise<MatrixReport> {
  const { allocs = [...INPUT_ALLOCATORS], shares = [...SHARE_STRATEGIES], onCell, ...probeOptions } = options;
  // Check once, before any cell starts.
  const resolved = resolveProbeOptions(probeOptions);
  for (const alloc of allocs) resolveProbeOptions({ ...probeOptions, alloc });
  for (const share of shares) resolveProbeOptions({ ...probeOptions, share });
  const started = Date.now();
  const startedAt = new Date();
  const runs: Array<{ alloc: InputAllocator; share: ShareStrategy; report: ProbeReport | null; skipped?: string }> = [];
  for (const alloc of allocs) {
    for (const share of shares) {
      const skipped = skipReason(alloc, share);
      const report = skipped ? null : await probe({ ...probeOptions, alloc, share });
      runs.push({ alloc, share, report, ...(skipped ? { skipped } : {}) });
      onCell?.(cellOf(alloc, share, report, skipped ?? undefined));
    }
  }
  return buildMatrixReport(runs, resolved, startedAt, Date.now() - started);
}
