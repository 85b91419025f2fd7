// The probe end to end, as a user runs it: `cuipc probe` in a fresh Node process, timed from
// spawn to exit, with each of its processes' peak RSS (rss-preload.cts) and the report's own
// per-step timings. And the PyTorch program that does the same steps, timed the same way.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../binding.js';
import { packageRoot } from '../dist/binding/native.js';
import { type ProbeReport } from '../dist/report/types.js';
import { STEPS, type StepName } from '../dist/model/vocabulary.js';
import { nowNs } from './stats.js';

export interface ProbeRun {
  ranks: number;
  inputs: number;
  /** Spawn of `cuipc probe` to its exit. */
  wallMs: number;
  /**
   * Spawn to the first byte of the verdict on its stdout (the answer a person reads), while
   * the ranks may still be tearing down; null when nothing was printed. Absent in older records.
   */
  answerMs?: number | null;
  exitCode: number | null;
  result: ProbeReport['result'] | 'no report';
  simulated: boolean | null;
  /** The coordinator's own measure, from the report. */
  probeMs: number | null;
  /** Per step, the slowest rank's duration (ranks run each step in lockstep rounds). */
  stepMs: Partial<Record<StepName, number>>;
  /** Peak RSS of each rank process that reported one, in rank order. */
  rankPeakRssKiB: number[];
  coordinatorPeakRssKiB: number | null;
  /** cudaIpcGetMemHandle calls in the export step, the most of any rank (one per distinct base). */
  exportedHandles: number | null;
  /** Why a figure is missing, or what went wrong. */
  note: string | null;
  /** Wall-clock time of the spawn (performance.timeOrigin + now), for timelines. */
  spawnedAtMs: number;
}

function cliPath(): string {
  return join(packageRoot, 'bin', 'cuipc.js');
}

function preloadPath(file = 'rss-preload.cjs'): string {
  return fileURLToPath(new URL(`./${file}`, import.meta.url));
}

interface RssRecord {
  pid: number;
  rank: string | null;
  maxRssKiB: number;
}

function readRssRecords(directory: string): RssRecord[] {
  const records: RssRecord[] = [];
  for (const name of readdirSync(directory)) {
    if (!name.endsWith('.json')) continue;
    try {
      records.push(JSON.parse(readFileSync(join(directory, name), 'utf8')) as RssRecord);
    } catch {
      // a half-written record (a process killed while exiting) counts as missing
    }
  }
  return records;
}

function exitOf(child: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, stderr: `${stderr}${error.message}` }));
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

export function probeCommand(ranks: number, inputs: number, backend: Backend): string {
  return `cuipc probe --ranks ${ranks} --inputs ${inputs} --backend ${backend}`;
}

/** `timelineDir`: also load timeline-preload.cjs, which writes each process's timeline there. */
export async function runProbe(ranks: number, inputs: number, backend: Backend, options: { timelineDir?: string } = {}): Promise<ProbeRun> {
  const scratch = mkdtempSync(join(tmpdir(), 'cuipc-bench-'));
  const reportPath = join(scratch, 'report.json');
  const rssDir = join(scratch, 'rss');
  mkdirSync(rssDir);
  const inherited = process.env.NODE_OPTIONS ? `${process.env.NODE_OPTIONS} ` : '';
  const timeline = options.timelineDir ? ` --require=${JSON.stringify(preloadPath('timeline-preload.cjs'))}` : '';
  const env = {
    ...process.env,
    NODE_OPTIONS: `${inherited}--require=${JSON.stringify(preloadPath())}${timeline}`,
    CUIPC_BENCH_RSS_DIR: rssDir,
    ...(options.timelineDir ? { CUIPC_BENCH_TIMELINE_DIR: options.timelineDir } : {}),
  };
  const args = [cliPath(), 'probe', '--ranks', String(ranks), '--inputs', String(inputs), '--backend', backend, '-o', reportPath];
  try {
    const spawnedAtMs = performance.timeOrigin + performance.now();
    const t0 = nowNs();
    // Not --quiet: the verdict's first byte on stdout is the moment the answer is there.
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let answerMs: number | null = null;
    child.stdout?.on('data', () => {
      if (answerMs === null) answerMs = (nowNs() - t0) / 1e6;
    });
    const exit = await exitOf(child);
    const wallMs = (nowNs() - t0) / 1e6;
    const run: ProbeRun = {
      ranks,
      inputs,
      wallMs,
      answerMs,
      exitCode: exit.code,
      result: 'no report',
      simulated: null,
      probeMs: null,
      stepMs: {},
      rankPeakRssKiB: [],
      coordinatorPeakRssKiB: null,
      exportedHandles: null,
      note: null,
      spawnedAtMs,
    };
    if (existsSync(reportPath)) {
      const report = JSON.parse(readFileSync(reportPath, 'utf8')) as ProbeReport;
      run.result = report.result;
      run.simulated = report.simulated;
      run.probeMs = report.durationMs;
      for (const step of STEPS) {
        const durations = report.ranks.map((rank) => rank.steps[step]?.durationMs).filter((ms): ms is number => typeof ms === 'number');
        if (durations.length) run.stepMs[step] = Math.max(...durations);
      }
      const handles = report.ranks.map((rank) =>
        (rank.steps.export?.calls ?? []).filter((c) => c.call === 'cudaIpcGetMemHandle').reduce((sum, c) => sum + c.count, 0),
      );
      if (handles.length) run.exportedHandles = Math.max(...handles);
      if (report.result !== 'passed') run.note = report.abort?.message ?? report.pinpoint?.message ?? `the probe ${report.result}`;
    } else {
      run.note = `no report; exit ${exit.code ?? exit.signal}: ${exit.stderr.trim().split('\n').slice(-3).join(' ')}`;
    }
    const records = readRssRecords(rssDir);
    const rankRecords = records.filter((r) => r.rank !== null).sort((a, b) => Number(a.rank) - Number(b.rank));
    run.rankPeakRssKiB = rankRecords.map((r) => r.maxRssKiB);
    run.coordinatorPeakRssKiB = records.find((r) => r.rank === null)?.maxRssKiB ?? null;
    if (rankRecords.length < ranks) {
      const missing = `${ranks - rankRecords.length} of ${ranks} ranks left no RSS record`;
      run.note = run.note ? `${run.note}; ${missing}` : missing;
    }
    return run;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export interface TorchRun {
  wallMs: number;
  /** The program's own figure (from before `import torch` to the end). */
  selfWallMs: number | null;
  rankPeakRssKiB: number[];
  launcherPeakRssKiB: number | null;
  passed: boolean;
  torchVersion: string | null;
  /** Distinct allocation bases each rank exported (the caching allocator packs inputs into segments). */
  handlesPerRank: number[];
  note: string | null;
}

export function torchProgramPath(): string {
  return join(packageRoot, 'bench', 'torch_share_graph_inputs.py');
}

/** null when PyTorch with CUDA is usable; otherwise why the comparison is skipped. */
export function torchSkipReason(python: string, backend: Backend): string | null {
  if (backend === 'sim') return 'skipped: SIMULATED backend (the PyTorch program needs a real GPU)';
  const check = spawnSync(python, ['-c', 'import torch; print(torch.cuda.is_available())'], { encoding: 'utf8', timeout: 180_000 });
  if (check.error || check.status !== 0 || check.stdout.trim().split('\n').pop() !== 'True') return 'skipped: no PyTorch with CUDA';
  if (!existsSync(torchProgramPath())) return `skipped: ${torchProgramPath()} is missing`;
  return null;
}

interface TorchOutput {
  error?: string;
  wallMs: number;
  torch: string;
  launcherPeakRssKiB: number;
  rankPeakRssKiB: number[];
  passed: boolean;
  perRank: Array<{ handles: number }>;
}

/** `wrap` runs the program under another command (e.g. `cuipc trace --`), which must pass its stdout through. */
export async function runTorch(python: string, ranks: number, inputs: number, wrap: string[] = []): Promise<TorchRun> {
  const t0 = nowNs();
  const argv = [...wrap, python, torchProgramPath(), '--ranks', String(ranks), '--inputs', String(inputs)];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const exit = await exitOf(child);
  const wallMs = (nowNs() - t0) / 1e6;
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    const parsed = JSON.parse(last) as TorchOutput;
    if (parsed.error) throw new Error(parsed.error);
    return {
      wallMs,
      selfWallMs: parsed.wallMs,
      rankPeakRssKiB: parsed.rankPeakRssKiB,
      launcherPeakRssKiB: parsed.launcherPeakRssKiB,
      passed: parsed.passed,
      torchVersion: parsed.torch,
      handlesPerRank: parsed.perRank.map((rank) => rank.handles),
      note: parsed.passed ? null : 'the PyTorch program reported failed exports, opens or mismatches',
    };
  } catch (error) {
    const why = error instanceof SyntaxError ? `exit ${exit.code ?? exit.signal}: ${exit.stderr.trim().split('\n').slice(-3).join(' ')}` : (error as Error).message;
    return { wallMs, selfWallMs: null, rankPeakRssKiB: [], launcherPeakRssKiB: null, passed: false, torchVersion: null, handlesPerRank: [], note: why };
  }
}
