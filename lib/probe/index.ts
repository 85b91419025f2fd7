// The library API: probe() replays a tensor-parallel server's graph-input sharing in rank
// processes and resolves to the report; matrix() runs it over allocators x share strategies.
// Neither calls process.exit: bad options reject with ProbeUsageError, and a probe that
// could not run resolves to a report with result 'aborted' (exit status 3).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openCuda, type Cuda } from '../cuda/index.js';
import { buildProbeReport } from '../report/build.js';
import { buildMatrixReport, cellOf, skipReason } from './matrix.js';
import { type MatrixCell, type MatrixReport, type ProbeAbort, type ProbeReport } from '../report/types.js';
import { INPUT_ALLOCATORS, SHARE_STRATEGIES, type InputAllocator, type ShareStrategy } from '../model/vocabulary.js';
import { getLauncher } from '../launch/builtin.js';
import { LaunchUsageError, type RankLauncher, type RankProgram } from '../launch/launcher.js';
import { coordinate } from './coordinator/index.js';
import { countDevicesWithoutCuda, countSimulatedDevices } from './device-count.js';
import { devicesHint } from './early-init.js';
import { checkFixes } from './fix-checks.js';
import { assignDevices, ProbeUsageError, reportOptionsOf, resolveProbeOptions, type ProbeOptions, type ProbeRunControls, type ResolvedProbeOptions } from './options.js';

export type * from '../report/types.js';
export type * from '../model/vocabulary.js';
export { FIX_TABLE, type FixChange, type FixCheckEvent, type FixRow } from './fix-checks.js';
export { ProbeUsageError, DEFAULTS as PROBE_DEFAULTS, MAX_RANKS, parseEnvFile, type ProbeOptions, type ProbeProgress, type ProbeRunControls, type RayLaunchOptions } from './options.js';
export { renderProbeReport, renderMatrixReport } from '../report/render.js';

/**
 * Node's flags for every rank. A rank's live JavaScript heap stays near 4 MB at any size, but as
 * it works through thousands of inputs V8 grows its young generation from 2 to 8 MB of committed
 * memory; held to semi-spaces of 1 MB, a rank at 8 x 4096 peaks about 2 MB lower, with no change
 * in wall time beyond the noise (docs/benchmarks.md).
 */
const RANK_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The rank program; the same relative path works from lib/probe (tests) and dist/probe. */
export function rankProgramPath(): string {
  // The rank program as one file (scripts/bundle.mjs): each rank starts without resolving a module tree.
  return fileURLToPath(new URL('../../dist/bundle/rank.cjs', import.meta.url));
}

function abortedBeforeStart(resolved: ResolvedProbeOptions, devices: number[], abort: ProbeAbort, simulated: boolean | null): ProbeReport {
  return buildProbeReport({
    options: reportOptionsOf(resolved, devices),
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

/** What the CLI passes that the library API does not (yet) expose. */
export interface InternalRunOptions {
  /** Aborted with the signal's name ('SIGINT', ...): stop every rank, clean up, report 'interrupted'. */
  interrupt?: AbortSignal;
}

/**
 * Replays a tensor-parallel server's CUDA-graph input sharing (share_graph_inputs) in
 * `options.ranks` rank processes and resolves to the report: `result` 'passed', 'failed' (with
 * the pinpoint: rank, step, call, pointer provenance and the ranked explanations) or 'aborted'
 * (the probe could not run: no driver, a rank died or hung, or `signal` was aborted). A CUDA
 * failure is a result, never a rejection; a bad option rejects with ProbeUsageError. Nothing is
 * left behind: rank processes, sockets and shared memory are gone when it resolves.
 * `onAnswer` gets the report as soon as the verdict is known, while the ranks still tear down
 * (see ProbeRunControls.onAnswer for how it can differ from the final one).
 *
 * @example
 * const report = await probe({ ranks: 4, backend: 'sim', onProgress: (p) => console.log(p.step) });
 * if (report.result === 'failed') console.log(report.pinpoint.call, report.pinpoint.explanations[0].title);
 */
export async function probe(options: ProbeOptions & ProbeRunControls = {}): Promise<ProbeReport> {
  return runProbe(options);
}

/** The user's AbortSignal and the CLI's signal handler as one: the reason is the signal's name, or 'abort'. */
function combinedInterrupt(user: AbortSignal | undefined, cli: AbortSignal | undefined): AbortSignal | undefined {
  if (user !== undefined && !(user instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  if (!user) return cli;
  const merged = new AbortController();
  const forward = (from: AbortSignal, reason: () => string): void => {
    if (from.aborted) merged.abort(reason());
    else from.addEventListener('abort', () => merged.abort(reason()), { once: true });
  };
  forward(user, () => 'abort');
  if (cli) forward(cli, () => String(cli.reason ?? 'SIGINT'));
  return merged.signal;
}

/**
 * probe() with the CLI's interrupt; see InternalRunOptions. onAnswer is called exactly once: by
 * the coordinator before the ranks leave, or here with the final report when the probe ended
 * before any rank started.
 */
export async function runProbe(options: ProbeOptions & ProbeRunControls, internal: InternalRunOptions = {}): Promise<ProbeReport> {
  const given = options.onAnswer;
  if (given !== undefined && typeof given !== 'function') throw new TypeError('onAnswer must be a function');
  let answered = false;
  const onAnswer = given && ((report: ProbeReport): void => {
    answered = true;
    given(report);
  });
  const { checkFixes: check = false, onFixCheck, ...probeOptions } = options;
  if (typeof check !== 'boolean') throw new TypeError('checkFixes must be a boolean');
  if (onFixCheck !== undefined && typeof onFixCheck !== 'function') throw new TypeError('onFixCheck must be a function');
  const report = await runProbeSteps({ ...probeOptions, onAnswer }, internal);
  if (given && !answered) given(report);
  if (!check || report.result !== 'failed') return report;
  // Each replay is a whole probe of its own, with the same options and interrupt, less the controls.
  const { signal, onProgress: _progress, onAnswer: _answer, ...same } = probeOptions;
  const interrupt = combinedInterrupt(signal, internal.interrupt);
  const fixChecks = await checkFixes({
    report,
    options: same,
    run: (replay) => runProbeSteps(replay, interrupt ? { interrupt } : {}),
    ...(interrupt ? { interrupt } : {}),
    ...(onFixCheck ? { onFixCheck } : {}),
  });
  return { ...report, fixChecks };
}

async function runProbeSteps(options: ProbeOptions & ProbeRunControls, internal: InternalRunOptions): Promise<ProbeReport> {
  const resolved = resolveProbeOptions(options);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new TypeError('onProgress must be a function');
  const interrupt = combinedInterrupt(options.signal, internal.interrupt);
  // Plain ranks on a GPU: the count from the kernel driver's listing where that is exact
  // (device-count.ts), so that this process need not load CUDA; else CUDA's own answer.
  const launchDefinition = getLauncher(resolved.launch.kind);
  // A replayed snapshot's ranks see its devices, not this process's: count in that view (device-count.ts).
  const view = launchDefinition.coordinatorAssignsDevices ? launchDefinition.deviceView?.(resolved.launch.settings) ?? null : null;
  const listed = !launchDefinition.coordinatorAssignsDevices
    ? null
    : resolved.backend === 'cuda'
      ? countDevicesWithoutCuda(view ?? process.env)
      : resolved.backend === 'sim' && view !== null ? countSimulatedDevices(view) : null;
  if (listed === 0) {
    const why = `no device is visible in the ranks' environment (CUDA_VISIBLE_DEVICES=${JSON.stringify(view?.CUDA_VISIBLE_DEVICES ?? null)}, CUIPC_SIM_DEVICES=${JSON.stringify(view?.CUIPC_SIM_DEVICES ?? null)})`;
    return abortedBeforeStart(resolved, resolved.devices ?? [], { reason: 'no-driver', message: why }, null);
  }
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
  // Under a launcher that places ranks (Ray), each gets its GPU from its placement; the coordinator's own view does not decide them.
  const devices = launchDefinition.coordinatorAssignsDevices ? assignDevices(resolved, deviceCount) : Array.from({ length: resolved.ranks }, () => 0);
  const program = rankProgramPath();
  if (!existsSync(program)) {
    return abortedBeforeStart(
      resolved,
      devices,
      { reason: 'spawn-failed', message: `the rank program ${program} is missing; build it with \`npm run build:ts\`` },
      simulated,
    );
  }
  const rankProgram: RankProgram = { program: process.execPath, args: [...RANK_NODE_FLAGS, program] };
  let launcher: RankLauncher;
  try {
    const created = launchDefinition.create(resolved, resolved.launch.settings, devices, rankProgram);
    launcher = launchDefinition.coordinatorAssignsDevices ? withDeviceHint(created, resolved.ranks) : created;
  } catch (error) {
    // The launch layer below names its own usage errors; here they are the probe's.
    if (error instanceof LaunchUsageError) throw new ProbeUsageError(error.message);
    throw error;
  }
  if (interrupt?.aborted) {
    const signal = String(interrupt.reason ?? 'SIGINT');
    return abortedBeforeStart(resolved, devices, { reason: 'interrupted', message: `interrupted by ${signal} before any rank started`, signal, exitCode: null }, simulated);
  }
  return coordinate({
    options: resolved,
    launcher,
    coordinatorSimulated: simulated,
    ...(interrupt ? { interrupt } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.onAnswer ? { onAnswer: options.onAnswer } : {}),
  });
}

export interface MatrixOptions extends Omit<ProbeOptions, 'alloc' | 'share'>, ProbeRunControls {
  /** Default: every allocator. */
  allocs?: InputAllocator[];
  /** Default: every share strategy. */
  shares?: ShareStrategy[];
  /** Called as each cell finishes, with its number and the number of cells (for progress output). */
  onCell?: (cell: MatrixCell, done: number, total: number) => void;
}

/**
 * The probe over allocators x share strategies (one probe per meaningful cell): which cells pass
 * here, and per allocator the remedy that works. `signal` stops the running cell and starts no
 * further one; `onProgress` reports within each cell, `onCell` as each cell ends.
 */
export async function matrix(options: MatrixOptions = {}): Promise<MatrixReport> {
  return runMatrix(options);
}

/** matrix() with the CLI's interrupt: the cell that runs is interrupted and no further cell starts. */
export async function runMatrix(options: MatrixOptions, internal: InternalRunOptions = {}): Promise<MatrixReport> {
  // A matrix is its own comparison of remedies: its cells replay no fixes.
  const { allocs = [...INPUT_ALLOCATORS], shares = [...SHARE_STRATEGIES], onCell, signal, checkFixes: _check, onFixCheck: _onCheck, ...probeOptions } = options;
  const interrupt = combinedInterrupt(signal, internal.interrupt);
  const total = allocs.length * shares.length;
  // Check once, before any cell starts.
  const resolved = resolveProbeOptions(probeOptions);
  for (const alloc of allocs) resolveProbeOptions({ ...probeOptions, alloc });
  for (const share of shares) resolveProbeOptions({ ...probeOptions, share });
  const started = Date.now();
  const startedAt = new Date();
  const runs: Array<{ alloc: InputAllocator; share: ShareStrategy; report: ProbeReport | null; skipped?: string }> = [];
  for (const alloc of allocs) {
    for (const share of shares) {
      if (interrupt?.aborted) break;
      const skipped = skipReason(alloc, share);
      const report = skipped ? null : await runProbe({ ...probeOptions, alloc, share }, interrupt ? { interrupt } : {});
      runs.push({ alloc, share, report, ...(skipped ? { skipped } : {}) });
      onCell?.(cellOf(alloc, share, report, skipped ?? undefined), runs.length, total);
    }
  }
  return buildMatrixReport(runs, resolved, startedAt, Date.now() - started);
}
