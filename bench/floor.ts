// The end-to-end floor: `cuipc probe` against cuipc_bench_raw_probe (native/bench/raw_probe.cc),
// the same nine steps, sizes and checks as forked C++ ranks, run alternately in one bench run
// and reported as cuipc / raw per size. And the two floors a rank's memory is held against: an
// empty Node process, and a bare C++ process that has loaded CUDA and created its context.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Backend } from '../binding.js';
import { addonPath, findShippedLibrary, packageRoot, simulatedDevicePath } from '../dist/binding/native.js';
import type { Cuda } from '../dist/cuda/index.js';
import { runProbe, type ProbeRun } from './probe-runs.js';
import { measureNodeChain, type NodeChain } from './node-chain.js';
import { measureTimeline, type Timeline } from './timeline.js';
import { median, nowNs } from './stats.js';

/** The sizes the issue sets targets for, with the H200 target for cuipc / raw. */
export const FLOOR_SIZES: ReadonlyArray<{ ranks: number; inputs: number; target: number }> = [
  { ranks: 1, inputs: 72, target: 1.3 },
  { ranks: 4, inputs: 72, target: 1.15 },
  { ranks: 8, inputs: 4096, target: 1.0 },
];

/** The ranks of the timeline's probe (and of the teardown floor it is held to). */
export const TIMELINE_RANKS = 4;

export const RAW_STEPS = ['load', 'init', 'register', 'capture', 'export', 'exchange', 'import', 'replay', 'verify', 'teardown'] as const;
export type RawStep = (typeof RAW_STEPS)[number];

export interface RawRank {
  rank: number;
  startMs: number;
  endMs: number;
  contextRssKiB: number;
  peakRssKiB: number;
  handles: number;
  opened: number;
  bytesChecked: number;
  mismatches: number;
  stepMs: Record<RawStep, number>;
}

export interface RawProbeRun {
  /** Spawn to exit, as the probe is timed. */
  wallMs: number;
  passed: boolean;
  verify: string | null;
  perRank: RawRank[];
  parentPeakRssKiB: number | null;
  /**
   * The raw program's own clock, from its last rank's last statement (after teardown's frees) to
   * every rank reaped: what the driver takes to tear down ranks that did this work, the floor for
   * the probe's exit tail at the same size. NaN when the run failed.
   */
  tailMs: number;
  note: string | null;
}

export interface FloorSize {
  ranks: number;
  inputs: number;
  target: number;
  raw: RawProbeRun[];
  cuipc: ProbeRun[];
}

export interface FloorResult {
  sizes: FloorSize[];
  runsPerSize: number;
  node: { wallMs: number; rssKiB: number | null };
  /** Per rank count of the sizes: the two Node start-ups a rank waits for (node-chain.ts). */
  nodeChains: Array<NodeChain | { ranks: number; error: string }>;
  context: { loadMs: number; contextMs: number; rssKiB: number } | { error: string };
  /** What loading the backend and counting devices costs a Node process (the coordinator's check). */
  backendCheck: BackendCheck | { error: string };
  /** Node processes holding a context: from their last statement until their parent sees them exit (the driver's teardown); one, and as many as the timeline's ranks. */
  teardown: Array<TeardownFloor | { processes: number; error: string }>;
  timeline: Timeline | null;
  program: string;
}

export interface BackendCheck {
  importMs: number;
  openMs: number;
  countMs: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
}

/**
 * JavaScript for a child Node process's own peak RSS in KiB (VmHWM), given an expression for
 * node:fs. Not process.resourceUsage().maxRSS: getrusage keeps the peak from before execve,
 * which in a child of this bench is the bench's RSS. The preload's ownPeakRssKiB
 * (bench/rss-preload.cts) reads the same line; it cannot be shared, since these run as script
 * text in a fresh Node and the preload must stay a file of its own.
 */
function peakRssOf(fs: string): string {
  return `Number(/^VmHWM:\\s*(\\d+)/m.exec(${fs}.readFileSync('/proc/self/status', 'utf8'))[1])`;
}

/** In a fresh Node: import lib/cuda, openCuda, cudaGetDeviceCount, each timed, RSS before and after. */
export function measureBackendCheck(backend: Backend): BackendCheck | { error: string } {
  const module = pathToFileURL(join(packageRoot, 'dist', 'cuda', 'index.js')).href;
  const script = `const fs = await import('node:fs'); const t0 = performance.now(); const rss0 = ${peakRssOf('fs')};
const m = await import(${JSON.stringify(module)}); const t1 = performance.now();
const cuda = m.openCuda({ backend: ${JSON.stringify(backend)} }); const t2 = performance.now();
const count = cuda.getDeviceCount(); const t3 = performance.now();
process.stdout.write(JSON.stringify({ ok: count.ok, importMs: t1 - t0, openMs: t2 - t1, countMs: t3 - t2, rssBeforeKiB: rss0, rssAfterKiB: ${peakRssOf('fs')} }));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '' } });
  const parsed = lastJson(result.stdout ?? '');
  if (!parsed || parsed.ok !== true) return { error: `exit ${result.status ?? result.signal}: ${(result.stderr ?? '').trim().split('\n').slice(-1)[0] ?? ''}` };
  return parsed as unknown as BackendCheck;
}

export interface TeardownFloor {
  /** How many processes held a context on the device and left together. */
  processes: number;
  /** Median over the runs, and each run's figure. */
  medianMs: number;
  runsMs: number[];
}

/**
 * The teardown floor: `processes` fresh Node processes each load the backend and create a
 * context on `device` as a rank does (initDeviceAsync), write one byte as their last statement
 * and end; the time from the last of those bytes reaching this process to the last exit event
 * is what leaving costs them (the driver tears each context down, exit or SIGKILL alike, and
 * one device's driver does that one context at a time). A coordinator cannot exit before its
 * last rank has paid it, so its exit tail is held to the floor of as many processes as ranks.
 */
export async function measureTeardownFloor(backend: Backend, device: number, runs: number, processes = 1): Promise<TeardownFloor | { error: string }> {
  const module = pathToFileURL(join(packageRoot, 'dist', 'cuda', 'index.js')).href;
  const script = `const m = await import(${JSON.stringify(module)});
const cuda = m.openCuda({ backend: ${JSON.stringify(backend)} });
const status = await cuda.initDeviceAsync(${device});
if (!status.ok) { process.stderr.write(status.name + ' ' + status.message); process.exit(3); }
process.stdout.write('x');`;
  const one = (): Promise<{ lastStatement: number; exit: number } | string> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let lastStatement: number | null = null;
      let stderr = '';
      child.stdout.once('data', () => {
        lastStatement = nowNs();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('error', (error) => resolve(error.message));
      child.on('exit', (code, signal) => {
        const exit = nowNs();
        if (code !== 0 || lastStatement === null) resolve(`exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
        else resolve({ lastStatement, exit });
      });
    });
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const ended = await Promise.all(Array.from({ length: processes }, one));
    const failed = ended.find((e): e is string => typeof e === 'string');
    if (failed !== undefined) return { error: failed };
    const done = ended as Array<{ lastStatement: number; exit: number }>;
    times.push((Math.max(...done.map((e) => e.exit)) - Math.max(...done.map((e) => e.lastStatement))) / 1e6);
  }
  return { processes, medianMs: median(times), runsMs: times };
}

export function rawProbeProgramPath(): string {
  return findShippedLibrary('cuipc_bench_raw_probe', { addonDir: dirname(addonPath()) }).path ?? join(packageRoot, 'build', 'Release', 'cuipc_bench_raw_probe');
}

/** The libraries the raw program loads: the very files the addon mapped (the simulated device for sim). */
export function rawLibraryArgs(cuda: Cuda | null, backend: Backend): string[] {
  if (backend === 'sim') {
    const sim = simulatedDevicePath();
    return ['--backend', 'sim', '--driver', sim, '--runtime', sim];
  }
  const driver = cuda?.report.driver?.path;
  const runtime = cuda?.report.runtime?.path;
  return ['--backend', 'cuda', ...(driver ? ['--driver', driver] : []), ...(runtime ? ['--runtime', runtime] : [])];
}

function lastJson(stdout: string): Record<string, unknown> | null {
  try {
    return JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    return null;
  }
}

export async function runRawProbe(libraryArgs: string[], ranks: number, inputs: number, devices: number[]): Promise<RawProbeRun> {
  const program = rawProbeProgramPath();
  if (!existsSync(program)) {
    return { wallMs: Number.NaN, passed: false, verify: null, perRank: [], parentPeakRssKiB: null, tailMs: Number.NaN, note: `${program} is missing; build it with \`npm run build:native\`` };
  }
  const args = [...libraryArgs, '--ranks', String(ranks), '--inputs', String(inputs), '--devices', devices.join(',')];
  // The probe's own switch to copies applies to its floor too.
  if (process.env.CUIPC_PROBE_VERIFY === 'copy') args.push('--verify', 'copy');
  const t0 = nowNs();
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(null));
    child.on('close', (c) => resolve(c));
  });
  const wallMs = (nowNs() - t0) / 1e6;
  const parsed = lastJson(stdout);
  if (!parsed || typeof parsed.error === 'string' || !Array.isArray(parsed.perRank)) {
    const why = parsed && typeof parsed.error === 'string' ? parsed.error : `exit ${code}: ${stderr.trim().split('\n').slice(-2).join(' ')}`;
    return { wallMs, passed: false, verify: null, perRank: [], parentPeakRssKiB: null, tailMs: Number.NaN, note: why };
  }
  const perRank = parsed.perRank as RawRank[];
  const passed = parsed.passed === true && code === 0;
  const mismatches = perRank.reduce((n, r) => n + r.mismatches, 0);
  return {
    wallMs,
    passed,
    verify: typeof parsed.verify === 'string' ? parsed.verify : null,
    perRank,
    parentPeakRssKiB: typeof parsed.parentPeakRssKiB === 'number' ? parsed.parentPeakRssKiB : null,
    tailMs: typeof parsed.wallMs === 'number' && perRank.length > 0 ? parsed.wallMs - Math.max(...perRank.map((r) => r.endMs)) : Number.NaN,
    note: passed ? null : `${mismatches} mismatching inputs; exit ${code}`,
  };
}

/** An empty Node process: spawn to exit, and its own peak RSS (a second, equally empty run). */
export function measureEmptyNode(runs: number): { wallMs: number; rssKiB: number | null } {
  const walls: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = nowNs();
    spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } });
    walls.push((nowNs() - t0) / 1e6);
  }
  const rss = spawnSync(process.execPath, ['-e', `process.stdout.write(String(${peakRssOf("require('node:fs')")}))`], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const kib = Number(rss.stdout);
  return { wallMs: median(walls), rssKiB: Number.isFinite(kib) && kib > 0 ? kib : null };
}

/** A bare C++ process that loads CUDA and creates a context, nothing more. */
export function measureContextFloor(libraryArgs: string[], device: number): FloorResult['context'] {
  const program = rawProbeProgramPath();
  if (!existsSync(program)) return { error: `${program} is missing` };
  const result = spawnSync(program, [...libraryArgs, '--ranks', '1', '--devices', String(device), '--context-only'], { encoding: 'utf8', timeout: 120_000 });
  const parsed = lastJson(result.stdout ?? '');
  if (!parsed || typeof parsed.contextRssKiB !== 'number') {
    return { error: parsed && typeof parsed.error === 'string' ? parsed.error : `exit ${result.status ?? result.signal}` };
  }
  return { loadMs: parsed.loadMs as number, contextMs: parsed.contextMs as number, rssKiB: parsed.contextRssKiB };
}

/**
 * Each size: raw then cuipc, `runs` times, alternating, so drift on the machine falls on both.
 * `devices(ranks)` is the device each rank gets, as the probe assigns them.
 */
export async function measureFloor(
  cuda: Cuda | null,
  backend: Backend,
  runs: number,
  devices: (ranks: number) => number[],
  progress: (message: string) => void,
): Promise<FloorResult> {
  const libraryArgs = rawLibraryArgs(cuda, backend);
  const node = measureEmptyNode(Math.max(3, runs));
  const nodeChains = [...new Set(FLOOR_SIZES.map((s) => s.ranks))].map((ranks) => measureNodeChain(ranks, Math.max(3, runs)));
  const deviceList0 = devices(1);
  const context = measureContextFloor(libraryArgs, deviceList0[0] ?? 0);
  const sizes: FloorSize[] = [];
  for (const size of FLOOR_SIZES) {
    const entry: FloorSize = { ...size, raw: [], cuipc: [] };
    for (let i = 0; i < runs; i++) {
      progress(`floor: ${size.ranks} x ${size.inputs}, raw C++ then cuipc, run ${i + 1}/${runs}`);
      entry.raw.push(await runRawProbe(libraryArgs, size.ranks, size.inputs, devices(size.ranks)));
      entry.cuipc.push(await runProbe(size.ranks, size.inputs, backend));
    }
    sizes.push(entry);
  }
  progress('floor: the coordinator\'s backend check, and one 4 x 72 probe with its timeline');
  const backendCheck = measureBackendCheck(backend);
  progress('floor: the teardown floor (Node processes holding a context, from their last statement to their exit)');
  const teardown: FloorResult['teardown'] = [];
  for (const processes of [1, TIMELINE_RANKS]) {
    const floor = await measureTeardownFloor(backend, devices(processes)[0] ?? 0, Math.max(5, runs), processes);
    teardown.push('error' in floor ? { processes, error: floor.error } : floor);
  }
  const timeline = await measureTimeline(TIMELINE_RANKS, 72, backend);
  return { sizes, runsPerSize: runs, node, nodeChains, context, backendCheck, teardown, timeline, program: rawProbeProgramPath() };
}

/** The slowest rank's duration of a raw step, per run, then the median over runs. */
export function rawStepMedian(runs: RawProbeRun[], step: RawStep): number {
  return median(runs.filter((r) => r.perRank.length > 0).map((r) => Math.max(...r.perRank.map((rank) => rank.stepMs[step]))));
}
