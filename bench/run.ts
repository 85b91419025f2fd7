// `npm run bench`: speed and memory, measured side by side in one run, printed as ratios with
// the machine they ran on, and kept per machine kind in docs/benchmarks.md. A development tool,
// not shipped: it measures the built package (its imports are ../dist/) and compiles to
// dist-bench/ (tsconfig.bench.json).
//
//   npm run bench [-- --backend cuda|sim|auto] [--quick] [--out docs/benchmarks.md | --out -]
//                 [--python python3] [--only calls,e2e,floor,scale,growth,trace]
//                 [--growth-ranks 1,2,4,8,16,32] [--growth-inputs 72,256,1024,4096,16384]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Backend } from '../binding.js';
import { requestedBackend, type BackendChoice } from '../dist/binding/backend.js';
import { driverLibraryPresent, openCuda, type Cuda } from '../dist/cuda/index.js';
import { BenchSetupError, measureCallOverhead } from './calls.js';
import { describeMachine } from './machine.js';
import { measureTraceOverhead } from './trace-overhead.js';
import { measureFloor } from './floor.js';
import { measureBisectCost } from './bisect-cost.js';
import { assignDevices, resolveProbeOptions } from '../dist/probe/options.js';
import { MAX_INPUTS } from '../dist/probe/option-table.js';
import { probeCommand, runProbe, runTorch, torchProgramPath, torchSkipReason, type ProbeRun, type TorchRun } from './probe-runs.js';
import { renderSection, writeSection, type BenchResults } from './report.js';
import { measureGrowth, pointRunner } from './growth.js';
import { growthSvg, growthSvgFileName } from './growth-svg.js';
import { writeOutputFile } from '../dist/cli/files.js';
import { rawLibraryArgs } from './floor.js';

/** Growth: a point over this ends its series; no point starts after the part has taken the total. */
const GROWTH_POINT_BUDGET_MS = 20_000;
const GROWTH_TOTAL_BUDGET_MS = 120_000;

const USAGE = `usage: npm run bench [-- --backend cuda|sim|auto] [--quick] [--out FILE | --out -] [--python EXE]
  --backend  cuda: a real GPU; sim: the SIMULATED device; auto (the default when CUIPC_BACKEND is unset):
             cuda when a driver is found, else sim
  --quick    fewer sizes and repetitions
  --out      the Markdown document to update (default docs/benchmarks.md); '-' writes nothing
             the growth part's plot goes beside it, as benchmarks-growth-<section>.svg
  --python   the interpreter for the PyTorch comparison (default python3)
  --only     some parts only, comma-separated: calls, e2e, floor, scale, growth, trace, bisect
             (default all); the document is then written only where --out names it
  --growth-ranks   the ranks of the growth series (default 1,2,4,8,16,32; --quick 1,2,4)
  --growth-inputs  the inputs of the growth series (default 72,256,1024,4096,16384; --quick 72,1024)
             both series stop growing once a point takes over ${GROWTH_POINT_BUDGET_MS / 1000} s, and start no
             point after ${GROWTH_TOTAL_BUDGET_MS / 1000} s, so that the bench ends on a small machine`;

const PARTS = ['calls', 'e2e', 'floor', 'scale', 'growth', 'trace', 'bisect'] as const;
type Part = (typeof PARTS)[number];

/** Set by a parent bench that fell back to sim, so the child records why. */
const FALLBACK_ENV = 'CUIPC_BENCH_FELL_BACK';

interface Plan {
  callRepetitions: number;
  endToEndRuns: number;
  scaleRanks: number[];
  scaleInputs: number[];
  growthRanks: number[];
  growthInputs: number[];
}

/** The fixed side of each growth series. */
const GROWTH_INPUTS_FOR_RANKS = 72;
const GROWTH_RANKS_FOR_INPUTS = 4;

const FULL: Plan = { callRepetitions: 15, endToEndRuns: 3, scaleRanks: [1, 2, 4, 8], scaleInputs: [72, 1024, 4096], growthRanks: [1, 2, 4, 8, 16, 32], growthInputs: [72, 256, 1024, 4096, 16384] };
const QUICK: Plan = { callRepetitions: 5, endToEndRuns: 1, scaleRanks: [1, 4], scaleInputs: [72, 1024], growthRanks: [1, 2, 4], growthInputs: [72, 1024] };
const BUFFERS = 4096;
const BUFFER_BYTES = 64 * 1024;
const E2E = { ranks: 4, inputs: 72 };

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/**
 * The command as a person would retype it. --out and --python are left out: they say where the
 * document goes and which interpreter ran, not what was measured, and may name local paths.
 */
function commandLine(argv: string[]): string {
  const shown: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out' || arg === '--python') i++;
    else if (!arg.startsWith('--out=') && !arg.startsWith('--python=')) shown.push(arg);
  }
  const env = process.env.CUIPC_BACKEND ? `CUIPC_BACKEND=${process.env.CUIPC_BACKEND} ` : '';
  return `${env}npm run bench${shown.length ? ` -- ${shown.join(' ')}` : ''}`;
}

/** Runs this same bench in a child on the simulated device and exits with its status. */
function rerunOnSimulatedDevice(argv: string[], why: string): never {
  progress(`${why}; running on the SIMULATED device instead`);
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [script, ...argv, '--backend', 'sim'], {
    stdio: 'inherit',
    env: { ...process.env, [FALLBACK_ENV]: why },
  });
  process.exit(child.status ?? 3);
}

/** A comma-separated list of sizes, each 1..max; `fallback` when absent. */
function sizeList(text: string | undefined, flag: string, fallback: number[], max: number): number[] {
  if (text === undefined) return fallback;
  const sizes = text.split(',').map((s) => Number(s.trim()));
  if (!sizes.length || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > max)) throw new RangeError(`${flag} takes sizes 1..${max}, comma-separated, got '${text}'`);
  return sizes;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let values: { backend?: string; quick?: boolean; out?: string; python?: string; only?: string; help?: boolean; 'growth-ranks'?: string; 'growth-inputs'?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        backend: { type: 'string' },
        quick: { type: 'boolean' },
        out: { type: 'string' },
        python: { type: 'string' },
        only: { type: 'string' },
        'growth-ranks': { type: 'string' },
        'growth-inputs': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const parts = new Set<Part>();
  for (const part of (values.only ?? PARTS.join(',')).split(',').map((p) => p.trim())) {
    if (!(PARTS as readonly string[]).includes(part)) {
      process.stderr.write(`--only takes ${PARTS.join(', ')}, got '${part}'\n${USAGE}\n`);
      return 2;
    }
    parts.add(part as Part);
  }
  const notes: string[] = [];
  if (parts.size < PARTS.length) notes.push(`--only ${[...parts].join(',')}: the other parts were not run`);
  if (process.env[FALLBACK_ENV]) notes.push(`fell back to the SIMULATED device: ${process.env[FALLBACK_ENV]}`);
  let requested: BackendChoice;
  try {
    // The benchmark's own default is 'auto': it measures a GPU where there is one.
    requested = requestedBackend(values.backend, process.env, 'auto').choice;
  } catch (error) {
    process.stderr.write(`--backend: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  // Argument order matters to the fallback child: a later --backend wins in parseArgs.
  const forwarded = argv;
  let backend: Backend;
  if (requested === 'auto') {
    if (!driverLibraryPresent()) rerunOnSimulatedDevice(forwarded, 'no CUDA driver (libcuda.so.1) found');
    backend = 'cuda';
  } else {
    backend = requested as Backend;
  }

  const cuda: Cuda = openCuda({ backend });
  const count = cuda.getDeviceCount();
  if (!count.ok || !count.value) {
    const why = count.ok ? 'no CUDA device is visible' : `cudaGetDeviceCount returned ${count.code} ${count.name} ("${count.message}")`;
    if (requested === 'auto') rerunOnSimulatedDevice(forwarded, why);
    process.stderr.write(`bench: ${why}; try --backend sim\n`);
    return 3;
  }
  let plan: Plan = values.quick ? QUICK : FULL;
  try {
    plan = {
      ...plan,
      growthRanks: sizeList(values['growth-ranks'], '--growth-ranks', plan.growthRanks, 64),
      growthInputs: sizeList(values['growth-inputs'], '--growth-inputs', plan.growthInputs, MAX_INPUTS),
    };
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const machine = describeMachine(cuda);
  const simulated = machine.simulated;
  const label = simulated ? ' (SIMULATED)' : '';
  progress(`backend ${backend}${label}; ${machine.title}`);

  // 1. Call overhead, raw C++ then the addon.
  progress(`call overhead${label}: ${BUFFERS} buffers x ${plan.callRepetitions} repetitions, raw C++ then the addon`);
  let calls: BenchResults['calls'];
  if (parts.has('calls')) {
    try {
      calls = await measureCallOverhead(cuda, { count: BUFFERS, bytes: BUFFER_BYTES, repetitions: plan.callRepetitions, device: 0 });
    } catch (error) {
      if (!(error instanceof BenchSetupError)) throw error;
      calls = { error: error.message };
      progress(`call overhead not measured: ${error.message}`);
    }
  }

  // 2. The probe end to end against the PyTorch program.
  const python = values.python ?? 'python3';
  const cuipcRuns: ProbeRun[] = [];
  for (let i = 0; parts.has('e2e') && i < plan.endToEndRuns; i++) {
    progress(`${probeCommand(E2E.ranks, E2E.inputs, backend)}${label}, run ${i + 1}/${plan.endToEndRuns}`);
    cuipcRuns.push(await runProbe(E2E.ranks, E2E.inputs, backend));
  }
  const torchSkipped = parts.has('e2e') || parts.has('trace') ? torchSkipReason(python, backend) : 'not run (--only)';
  const torchRuns: TorchRun[] = [];
  if (torchSkipped) {
    progress(`PyTorch comparison ${torchSkipped}`);
  } else {
    for (let i = 0; parts.has('e2e') && i < plan.endToEndRuns; i++) {
      progress(`PyTorch program, ${E2E.ranks} ranks x ${E2E.inputs} inputs, run ${i + 1}/${plan.endToEndRuns}`);
      torchRuns.push(await runTorch(python, E2E.ranks, E2E.inputs));
    }
  }

  // 3. Against the raw C++ floor, alternately, at the sizes with targets.
  let floor: BenchResults['floor'];
  if (parts.has('floor')) {
    const devices = (ranks: number): number[] => assignDevices(resolveProbeOptions({ ranks, backend }), count.value ?? 1);
    floor = await measureFloor(cuda, backend, plan.endToEndRuns, devices, progress);
  }

  // 4. Scale.
  const scale: ProbeRun[] = [];
  const scaleStarted = Date.now();
  for (const ranks of parts.has('scale') ? plan.scaleRanks : []) {
    for (const inputs of plan.scaleInputs) {
      progress(`scale${label}: ${ranks} ranks x ${inputs} inputs`);
      scale.push(await runProbe(ranks, inputs, backend));
    }
  }
  progress(`scale took ${((Date.now() - scaleStarted) / 1000).toFixed(1)} s`);

  // 5. Growth: raw and cuipc side by side against ranks and against inputs, bounded.
  let growth: BenchResults['growth'];
  if (parts.has('growth')) {
    const devices = (ranks: number): number[] => assignDevices(resolveProbeOptions({ ranks, backend }), count.value ?? 1);
    growth = await measureGrowth(
      {
        ranks: plan.growthRanks,
        inputsForRanks: GROWTH_INPUTS_FOR_RANKS,
        inputs: plan.growthInputs,
        ranksForInputs: GROWTH_RANKS_FOR_INPUTS,
        pointBudgetMs: GROWTH_POINT_BUDGET_MS,
        totalBudgetMs: GROWTH_TOTAL_BUDGET_MS,
      },
      pointRunner(rawLibraryArgs(cuda, backend), backend, devices),
      (message) => progress(`${message}${label}`),
    );
    progress(`growth took ${(growth.tookMs / 1000).toFixed(1)} s`);
  }

  // 6. What `cuipc trace` costs a real program.
  let traceOverhead: BenchResults['traceOverhead'];
  if (parts.has('trace')) {
    progress('trace overhead: the PyTorch program without and with cuipc trace');
    traceOverhead = await measureTraceOverhead(python, torchSkipped, values.quick ? 1 : 3);
  }
  // 7. What `cuipc bisect` costs: its wall against its probes, its probes against ddmin's bounds.
  let bisect: BenchResults['bisect'];
  if (parts.has('bisect')) {
    progress('bisect cost: the seed and an interposer pair among growing numbers of distractors');
    bisect = await measureBisectCost({ backend, ...(values.quick ? { distractors: [4, 16] } : {}), progress: (message) => progress(`${message}${label}`) });
  }
  if (values.quick) notes.push('--quick: fewer sizes and repetitions');
  if (simulated) {
    notes.push('SIMULATED peak RSS includes the simulated device memory (host shared memory, the inputs and the opened peer mappings); on a GPU that memory is not resident in the process');
  }

  const out = values.out ?? 'docs/benchmarks.md';
  const writeDocument = out !== '-' && (values.out !== undefined || parts.size === PARTS.length);
  // The growth plot goes beside the document, so the section's image link is relative to it.
  const growthPlot = growth && writeDocument ? growthSvgFileName(machine.sectionKey) : undefined;
  const results: BenchResults = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    // A fallback child got '--backend sim' appended; the person typed the command without it.
    command: commandLine(process.env[FALLBACK_ENV] ? argv.slice(0, -2) : argv),
    backend,
    machine,
    calls,
    floor,
    endToEnd: !parts.has('e2e') ? undefined : {
      ...E2E,
      command: probeCommand(E2E.ranks, E2E.inputs, backend),
      cuipc: cuipcRuns,
      torch: torchRuns,
      torchSkipped,
      torchCommand: `python3 bench/${torchProgramPath().split('/').pop() ?? ''} --ranks ${E2E.ranks} --inputs ${E2E.inputs}`,
    },
    scale: parts.has('scale') ? scale : undefined,
    growth,
    growthSvg: growthPlot,
    traceOverhead,
    bisect,
    notes,
  };
  const section = renderSection(results);
  process.stdout.write(`\n${section}\n`);
  if (writeDocument) {
    writeSection(out, machine.sectionKey, section);
    progress(`wrote the '${machine.sectionKey}' section of ${out}`);
  }
  if (growth && growthPlot !== undefined) {
    const plotPath = join(dirname(out), growthPlot);
    writeOutputFile(plotPath, growthSvg(growth, `${machine.title}, ${results.date.slice(0, 10)}`), 'the growth plot'); // atomic, as the document
    progress(`wrote the growth plot ${plotPath}`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 3;
  },
);
