// The bench's results as Markdown (printed, and kept in docs/benchmarks.md), one section per
// machine kind. Every figure in a simulated section is marked SIMULATED.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeOutputFile } from '../dist/cli/files.js';
import { dirname } from 'node:path';
import { STEPS } from '../dist/model/vocabulary.js';
import { CALL_KINDS, CALL_LABELS, type CallOverheadResult } from './calls.js';
import { machineLine, type MachineDescription } from './machine.js';
import type { TraceOverheadResult } from './trace-overhead.js';
import type { FloorResult } from './floor.js';
import { floorTables } from './floor-report.js';
import type { GrowthResult } from './growth.js';
import { growthTables } from './growth-report.js';
import type { BisectCostResult } from './bisect-cost.js';
import { bisectCostTable } from './bisect-report.js';
import type { ProbeRun, TorchRun } from './probe-runs.js';
import { formatKiB, formatMs, formatNs, formatRatio, median } from './stats.js';

export interface EndToEndResult {
  ranks: number;
  inputs: number;
  command: string;
  cuipc: ProbeRun[];
  torch: TorchRun[];
  /** Why the PyTorch side did not run, e.g. "skipped: no PyTorch with CUDA". */
  torchSkipped: string | null;
  torchCommand: string;
}

export interface BenchResults {
  date: string;
  command: string;
  backend: 'cuda' | 'sim';
  machine: MachineDescription;
  /** Each part is absent when `--only` left it out. */
  calls?: CallOverheadResult | { error: string };
  endToEnd?: EndToEndResult;
  floor?: FloorResult;
  scale?: ProbeRun[];
  growth?: GrowthResult;
  /** The growth plot's file name beside the document, when run.ts writes one. */
  growthSvg?: string;
  traceOverhead?: TraceOverheadResult;
  bisect?: BisectCostResult;
  notes: string[];
}

const PER_RANK_RSS_TARGET_KIB = 100 * 1024;
const WALL_TARGET = 10;

function maxOrNull(values: number[]): number | null {
  return values.length ? Math.max(...values) : null;
}

function outcome(run: ProbeRun): string {
  const base = run.exitCode === 0 ? 'passed' : `${run.result} (exit ${run.exitCode ?? 'signal'})`;
  return run.note ? `${base}; ${run.note}` : base;
}

function targetCell(simulated: boolean, met: boolean | null): string {
  if (simulated) return 'n/a (SIMULATED)';
  if (met === null) return 'n/a';
  return met ? 'met' : 'missed';
}

function callsTable(calls: CallOverheadResult | { error: string }, simulated: boolean, tag: string): string[] {
  if ('error' in calls) return [`### Call overhead${tag}`, '', `Not measured: ${calls.error}`, ''];
  const lines = [
    `### Call overhead${tag}`,
    '',
    `${calls.count} cudaMalloc buffers of ${calls.bytes / 1024} KiB; each side times every call kind over all buffers, ${calls.repetitions} repetitions; the median per-call time. Raw: \`cuipc_bench_raw\` (C++, the same dlopen'd libraries). Addon: the \`cuda.*\` call from JavaScript, timed with process.hrtime.bigint().`,
    '',
    '| call | raw C++ | addon | addon call | addon / raw | H200 target | target |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const kind of CALL_KINDS) {
    const label = CALL_LABELS[kind];
    const raw = calls.raw.kinds[kind];
    const addon = calls.addon.kinds[kind];
    const ratio = addon.medianNs / raw.medianNs;
    const failures = raw.failures + addon.failures ? ` (failures: raw ${raw.failures}, addon ${addon.failures})` : '';
    const target = label.target === null ? '-' : `<= ${label.target}x`;
    const met = label.target === null || !Number.isFinite(ratio) ? null : ratio <= label.target;
    lines.push(
      `| ${label.call}${failures} | ${formatNs(raw.medianNs)} | ${formatNs(addon.medianNs)} | \`${label.addon}\` | ${formatRatio(addon.medianNs, raw.medianNs)} | ${target} | ${label.target === null ? '-' : targetCell(simulated, met)} |`,
    );
  }
  lines.push(
    `| first CUDA call: cudaSetDevice + cudaFree(0), once | ${formatNs(calls.raw.contextNs)} | ${formatNs(calls.addon.contextNs)} | \`initDeviceAsync(0)\` | ${formatRatio(calls.addon.contextNs, calls.raw.contextNs)} | - | - |`,
    `| peak RSS of the process right after that first call (a CUDA context's floor; the addon side is the whole Node process) | ${formatKiB(calls.raw.contextRssKiB)} | ${formatKiB(calls.addon.contextRssKiB)} | - | - | - | - |`,
    '',
  );
  return lines;
}

function endToEndTable(e2e: EndToEndResult, simulated: boolean, tag: string): string[] {
  const cuipcWall = median(e2e.cuipc.map((r) => r.wallMs));
  const cuipcRank = maxOrNull(e2e.cuipc.flatMap((r) => r.rankPeakRssKiB));
  const cuipcCoordinator = maxOrNull(e2e.cuipc.map((r) => r.coordinatorPeakRssKiB).filter((v): v is number => v !== null));
  const runs = e2e.cuipc.length;
  const handleCounts = [...new Set(e2e.cuipc.map((r) => r.exportedHandles).filter((v): v is number => v !== null))].sort((a, b) => a - b);
  const cuipcHandles = handleCounts.length ? `${handleCounts.join(' or ')} (one per allocation base)` : 'n/a';
  const probeMs = e2e.cuipc.map((r) => r.probeMs).filter((v): v is number => v !== null);
  const lines = [
    `### Probe end to end${tag}: ${e2e.ranks} ranks x ${e2e.inputs} inputs`,
    '',
    `Wall time from spawn to exit, median of ${runs} run${runs === 1 ? '' : 's'} each; "the probe itself" is the report's durationMs (without Node start-up and module loading); peak RSS: the largest rank process over all runs.`,
    '',
    '| program | wall | of which the probe itself | peak RSS per rank | coordinator / launcher peak RSS | handles exported per rank | outcome |',
    '|---|---|---|---|---|---|---|',
    `| \`${e2e.command}\`${simulated ? ' (SIMULATED)' : ''} | ${formatMs(cuipcWall)} | ${formatMs(median(probeMs))} | ${formatKiB(cuipcRank)} | ${formatKiB(cuipcCoordinator)} | ${cuipcHandles} | ${e2e.cuipc.map(outcome).join('; ')} |`,
  ];
  let torchWall = Number.NaN;
  let torchRank: number | null = null;
  if (e2e.torchSkipped) {
    lines.push(`| \`${e2e.torchCommand}\` | ${e2e.torchSkipped} | | | | | |`);
  } else {
    torchWall = median(e2e.torch.map((r) => r.wallMs));
    torchRank = maxOrNull(e2e.torch.flatMap((r) => r.rankPeakRssKiB));
    const torchLauncher = maxOrNull(e2e.torch.map((r) => r.launcherPeakRssKiB).filter((v): v is number => v !== null));
    const version = e2e.torch.find((r) => r.torchVersion)?.torchVersion;
    const status = e2e.torch.map((r) => (r.passed ? 'passed' : `failed: ${r.note ?? ''}`)).join('; ');
    const selfMs = e2e.torch.map((r) => r.selfWallMs).filter((v): v is number => v !== null);
    const handles = [...new Set(e2e.torch.flatMap((r) => r.handlesPerRank))].sort((a, b) => a - b).join(' or ');
    lines.push(
      `| \`${e2e.torchCommand}\`${version ? ` (torch ${version})` : ''} | ${formatMs(torchWall)} | ${formatMs(median(selfMs))} (its own clock, from before \`import torch\`) | ${formatKiB(torchRank)} | ${formatKiB(torchLauncher)} | ${handles || 'n/a'} (the caching allocator packs inputs into segments; one handle per base) | ${status} |`,
    );
  }
  lines.push('');
  const wallRatio = torchWall / cuipcWall;
  const rssRatio = torchRank !== null && cuipcRank !== null ? torchRank / cuipcRank : Number.NaN;
  lines.push(
    '| comparison | figure | H200 target | target |',
    '|---|---|---|---|',
    `| wall time, PyTorch / cuipc | ${e2e.torchSkipped ? 'n/a (PyTorch not run)' : formatRatio(torchWall, cuipcWall)} | >= ${WALL_TARGET}x | ${e2e.torchSkipped ? 'n/a' : targetCell(simulated, wallRatio >= WALL_TARGET)} |`,
    `| peak RSS per rank, cuipc | ${formatKiB(cuipcRank)} | < ${PER_RANK_RSS_TARGET_KIB / 1024} MB | ${targetCell(simulated, cuipcRank === null ? null : cuipcRank < PER_RANK_RSS_TARGET_KIB)} |`,
    `| peak RSS per rank, PyTorch / cuipc | ${e2e.torchSkipped ? 'n/a (PyTorch not run)' : Number.isFinite(rssRatio) ? `${rssRatio.toFixed(1)}x` : 'n/a'} | - | - |`,
    '',
  );
  return lines;
}

function scaleTable(runs: ProbeRun[], tag: string): string[] {
  const lines = [
    `### Scale${tag}`,
    '',
    '`cuipc probe` at each size, one run each. Wall: spawn to exit; the probe itself: the report\'s durationMs. Where the time goes: init (context creation, the slowest rank), the other steps (per step, the slowest rank, summed; the largest named), and the rest: process start, module loading, rendezvous and coordinator.',
    '',
    '| ranks | inputs | wall | the probe itself | init (context) | other steps | largest step | process start + rendezvous + coordinator | peak RSS per rank | coordinator peak RSS | handles per rank | outcome |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const run of runs) {
    const init = run.stepMs.init ?? Number.NaN;
    const others = STEPS.filter((s) => s !== 'init' && run.stepMs[s] !== undefined);
    const otherMs = others.reduce((sum, s) => sum + (run.stepMs[s] ?? 0), 0);
    const largest = others.reduce<{ step: string; ms: number } | null>((best, s) => {
      const ms = run.stepMs[s] ?? 0;
      return best === null || ms > best.ms ? { step: s, ms } : best;
    }, null);
    const rest = run.wallMs - (Number.isFinite(init) ? init : 0) - otherMs;
    lines.push(
      `| ${run.ranks} | ${run.inputs} | ${formatMs(run.wallMs)} | ${formatMs(run.probeMs ?? Number.NaN)} | ${formatMs(init)} | ${others.length ? formatMs(otherMs) : 'n/a'} | ${largest ? `${largest.step} ${formatMs(largest.ms)}` : 'n/a'} | ${formatMs(rest)} | ${formatKiB(maxOrNull(run.rankPeakRssKiB))} | ${formatKiB(run.coordinatorPeakRssKiB)} | ${run.exportedHandles ?? 'n/a'} | ${outcome(run)} |`,
    );
  }
  lines.push('');
  return lines;
}

function traceOverheadTable(t: TraceOverheadResult): string[] {
  const lines = ['', `### What \`cuipc trace\` costs: the PyTorch program, ${t.ranks} ranks x ${t.inputs} inputs`, ''];
  if (t.skipped) return [...lines, t.skipped, ''];
  const self = (runs: TorchRun[]) => median(runs.map((r) => r.selfWallMs).filter((v): v is number => v !== null));
  const wall = (runs: TorchRun[]) => median(runs.map((r) => r.wallMs));
  const ok = (runs: TorchRun[]) => runs.map((r) => (r.passed ? 'passed' : `failed${r.note ? ` (${r.note})` : ''}`)).join('; ');
  lines.push(
    `Run alternately, ${t.untraced.length} times each; medians. "The program's own clock" is what the program measured from before \`import torch\` to its end; "spawn to exit" adds, for the traced side, cuipc's start-up and its summary.`,
    '',
    '| | untraced | under `cuipc trace` | traced / untraced |',
    '|---|---|---|---|',
    `| the program's own clock | ${formatMs(self(t.untraced))} | ${formatMs(self(t.traced))} | ${formatRatio(self(t.traced), self(t.untraced))} |`,
    `| spawn to exit | ${formatMs(wall(t.untraced))} | ${formatMs(wall(t.traced))} | ${formatRatio(wall(t.traced), wall(t.untraced))} |`,
    `| outcome | ${ok(t.untraced)} | ${ok(t.traced)} | |`,
    '',
  );
  return lines;
}

/** The section for this machine kind, without its begin/end markers. */
export function renderSection(results: BenchResults): string {
  const simulated = results.machine.simulated;
  const tag = simulated ? ' (SIMULATED)' : '';
  const lines = [`## ${results.machine.title}`, ''];
  if (simulated) {
    lines.push(
      '**SIMULATED.** Every figure in this section comes from the simulated device (libcuipc_sim): it measures cuipc\'s CPU-side and process overhead, never a GPU. The targets are for the H200 and are not judged here.',
      '',
    );
  }
  lines.push(`- Date: ${results.date}`, `- Machine: ${machineLine(results.machine)}`, `- Command: \`${results.command}\``);
  for (const note of results.notes) lines.push(`- Note: ${note}`);
  lines.push('');
  if (results.calls) lines.push(...callsTable(results.calls, simulated, tag));
  if (results.endToEnd) lines.push(...endToEndTable(results.endToEnd, simulated, tag));
  if (results.floor) lines.push(...floorTables(results.floor, simulated, tag));
  if (results.scale) lines.push(...scaleTable(results.scale, tag));
  if (results.growth) lines.push(...growthTables(results.growth, tag, results.growthSvg));
  if (results.traceOverhead) lines.push(...traceOverheadTable(results.traceOverhead));
  if (results.bisect) lines.push(...bisectCostTable(results.bisect, tag));
  return lines.join('\n');
}

const DOC_HEADER = `# Benchmarks

\`npm run bench\` measures speed and memory (the tests check correctness): the addon's hot
calls against the same calls from C++, \`cuipc probe\` end to end against a PyTorch program
that does the same steps (\`bench/torch_share_graph_inputs.py\`), and the probe at several
sizes. Every figure in a table was measured in the same run as the figures it is compared
with; ratios are computed from them.

Each run replaces the section for its kind of machine and keeps the others. Sections from the
simulated device are marked SIMULATED: they measure cuipc's CPU and process overhead and are
not GPU figures.

How to run: \`npm run bench\` (on a GPU machine), \`CUIPC_BACKEND=sim npm run bench\` (no GPU),
\`npm run bench -- --quick\` (fewer sizes and repetitions), \`--out <file>\` to write elsewhere.

How it measures:
- Call overhead: \`cuipc_bench_raw\` (native/bench/raw_calls.cc) dlopens the very runtime and
  driver files the addon loaded and resolves them through the same entry-point table; it runs
  first, in its own process, then the addon in the bench's process. Both time each call kind
  over 4096 cudaMalloc buffers of 64 KiB per repetition, after one untimed pass.
- End to end: \`cuipc probe\` and the PyTorch program are both timed from spawn to exit. Peak
  RSS of the probe's processes comes from each process itself at exit (a CommonJS preload given
  through NODE_OPTIONS=--require, so no process starts an ES module loader it would not; the
  report carries no memory figures); the PyTorch ranks report theirs the same way. Each figure
  is the process's own peak (VmHWM), not getrusage's, which in a spawned child keeps its
  parent's size from before execve. The two programs share what a server shares, but not byte for byte:
  PyTorch's caching allocator packs the graph inputs into one segment, so it exports fewer
  handles (the tables say how many).
- Against the raw floor: \`cuipc_bench_raw_probe\` (native/bench/raw_probe.cc) does the probe's
  nine steps with its sizes and checks in forked C++ ranks (the same loader table, the same
  kernels, all-gathers and barriers through the parent over socketpairs), alternately with
  \`cuipc probe\` at 1 x 72, 4 x 72 and 8 x 4096; ratios cuipc / raw. The floors: an empty
  \`node -e 0\` and a bare C++ process that loaded CUDA and created a context. The bound: an
  empty Node parent spawning as many empty Node children as there are ranks, to the last
  child's first statement (bench/node-chain.ts); no cuipc rank can begin its context
  earlier, so the raw wall plus it is the least ratio a Node coordinator with Node ranks allows.
- Scale: the report's per-step durations (the slowest rank per step); what is left of the wall
  time is process start, module loading, the rendezvous and the coordinator.
- Growth: raw C++ then \`cuipc probe\` at each point of two series, against ranks (inputs
  fixed) and against inputs (ranks fixed), with cuipc / raw and the growth from row to row;
  bounded by a time budget per point and for the part, so that it ends on a small machine.
- Trace overhead: the PyTorch program alone and under \`cuipc trace\`, alternately.
- Bisect cost: \`cuipc bisect\` through the library between two environments that differ in a
  failing pair and a growing number of distractors; its wall against the sum of its probes, and
  the probes it ran against ddmin's bounds (reference bounds, not targets).
`;

function markers(key: string): { begin: string; end: string } {
  return { begin: `<!-- cuipc-bench:begin ${key} -->`, end: `<!-- cuipc-bench:end ${key} -->` };
}

/**
 * Writes `section` under `key` into the document at `path`: replaces that key's section,
 * keeps every other one. A GPU section goes before the simulated one, and replaces the
 * placeholder that waits for the first GPU figures.
 */
export function writeSection(path: string, key: string, section: string): void {
  let text = existsSync(path) ? readFileSync(path, 'utf8') : DOC_HEADER;
  const own = markers(key);
  const block = `${own.begin}\n${section.trimEnd()}\n${own.end}`;
  const remove = (k: string): void => {
    const m = markers(k);
    const start = text.indexOf(m.begin);
    const stop = text.indexOf(m.end);
    if (start >= 0 && stop > start) text = (text.slice(0, start).trimEnd() + '\n\n' + text.slice(stop + m.end.length).trimStart()).trimEnd() + '\n';
  };
  const start = text.indexOf(own.begin);
  const stop = text.indexOf(own.end);
  if (start >= 0 && stop > start) {
    text = text.slice(0, start) + block + text.slice(stop + own.end.length);
  } else {
    if (key !== 'simulated') remove('gpu-pending');
    const simulatedAt = text.indexOf(markers('simulated').begin);
    if (key !== 'simulated' && simulatedAt >= 0) text = `${text.slice(0, simulatedAt)}${block}\n\n${text.slice(simulatedAt)}`;
    else text = `${text.trimEnd()}\n\n${block}\n`;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeOutputFile(path, text, 'the benchmarks document'); // atomic: an interrupted bench keeps the old document
}
