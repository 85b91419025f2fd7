// The floor comparison as Markdown: cuipc / raw per size with the H200 targets, where each
// side's time goes, and the memory floors a rank is held against.
import { rawStepMedian, type FloorResult, type FloorSize } from './floor.js';
import type { ProbeRun } from './probe-runs.js';
import { timelineTable } from './timeline.js';
import { formatKiB, formatMs, formatRatio, median } from './stats.js';

function maxOf(values: number[]): number | null {
  return values.length ? Math.max(...values) : null;
}

function judged(simulated: boolean, ratio: number, target: number): string {
  if (simulated) return 'n/a (SIMULATED)';
  if (!Number.isFinite(ratio)) return 'n/a';
  return ratio <= target ? 'met' : 'missed';
}

function outcomes(size: FloorSize): string {
  const raw = size.raw.map((r) => (r.passed ? 'passed' : `failed: ${r.note ?? ''}`));
  const cuipc = size.cuipc.map((r: ProbeRun) => (r.exitCode === 0 ? 'passed' : `${r.result}${r.note ? `: ${r.note}` : ''}`));
  return `raw ${[...new Set(raw)].join('; ')}; cuipc ${[...new Set(cuipc)].join('; ')}`;
}

/** The cuipc side's slowest-rank step sum (the report's per-step figures). */
function cuipcStepsMs(run: ProbeRun): number {
  return Object.values(run.stepMs).reduce((sum, ms) => sum + (ms ?? 0), 0);
}

/**
 * What bounds cuipc / raw: the Node start-ups before a rank's first statement, which the raw
 * program (forked ranks) does not pay, added to the raw wall as if all else cost what raw pays.
 */
function boundTable(floor: FloorResult): string[] {
  const lines = [
    '',
    'What bounds the ratio: a cuipc rank makes its first CUDA call from JavaScript, so no rank begins its context before two Node processes have started (the coordinator, then the rank); the raw program forks its ranks at once. "Node start-ups" is an empty Node parent spawning as many empty Node children as there are ranks, from the spawn of the parent to the last child\'s first statement (no module loading, no CUDA). The least ratio adds it to the raw wall, as if everything after a rank\'s first statement cost cuipc what it costs raw.',
    '',
    '| ranks x inputs | raw C++ | Node start-ups | the least cuipc / raw with them | cuipc / raw measured | cuipc less the Node start-ups, / raw |',
    '|---|---|---|---|---|---|',
  ];
  for (const size of floor.sizes) {
    const raw = median(size.raw.map((r) => r.wallMs));
    const cuipc = median(size.cuipc.map((r) => r.wallMs));
    const chain = floor.nodeChains.find((c) => c.ranks === size.ranks);
    if (!chain || 'error' in chain) {
      lines.push(`| ${size.ranks} x ${size.inputs} | ${formatMs(raw)} | not measured${chain ? `: ${chain.error}` : ''} | n/a | ${formatRatio(cuipc, raw)} | n/a |`);
      continue;
    }
    lines.push(
      `| ${size.ranks} x ${size.inputs} | ${formatMs(raw)} | ${formatMs(chain.lastChildMs)} | ${formatRatio(raw + chain.lastChildMs, raw)} | ${formatRatio(cuipc, raw)} | ${formatRatio(cuipc - chain.lastChildMs, raw)} |`,
    );
  }
  return lines;
}

export function floorTables(floor: FloorResult, simulated: boolean, tag: string): string[] {
  const n = floor.runsPerSize;
  const lines = [
    `### Against the raw C++ floor${tag}`,
    '',
    `\`cuipc probe\` and \`cuipc_bench_raw_probe\` (native/bench/raw_probe.cc: the same nine steps, sizes and checks in forked C++ ranks, CUDA loaded through the same table, all-gathers through the parent over socketpairs), run alternately, ${n} time${n === 1 ? '' : 's'} each per size; medians of wall time from spawn to exit.`,
    '',
    '| ranks x inputs | raw C++ | cuipc | cuipc / raw | H200 target | target | raw peak RSS per rank | cuipc peak RSS per rank | handles per rank (raw / cuipc) | outcome |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const size of floor.sizes) {
    const raw = median(size.raw.map((r) => r.wallMs));
    const cuipc = median(size.cuipc.map((r) => r.wallMs));
    const rawRss = maxOf(size.raw.flatMap((r) => r.perRank.map((rank) => rank.peakRssKiB)));
    const cuipcRss = maxOf(size.cuipc.flatMap((r) => r.rankPeakRssKiB));
    const rawHandles = maxOf(size.raw.flatMap((r) => r.perRank.map((rank) => rank.handles)));
    const cuipcHandles = maxOf(size.cuipc.map((r) => r.exportedHandles).filter((v): v is number => v !== null));
    lines.push(
      `| ${size.ranks} x ${size.inputs} | ${formatMs(raw)} | ${formatMs(cuipc)} | ${formatRatio(cuipc, raw)} | <= ${size.target}x | ${judged(simulated, cuipc / raw, size.target)} | ${formatKiB(rawRss)} | ${formatKiB(cuipcRss)} | ${rawHandles ?? 'n/a'} / ${cuipcHandles ?? 'n/a'} | ${outcomes(size)} |`,
    );
  }
  lines.push(
    '',
    'Where the time goes (medians; a step is the slowest rank\'s). Raw: loading the libraries and cuInit, context creation (plus the device queries the probe makes), the steps. cuipc: its report\'s init step (backend load and context), its other steps, the probe\'s own clock (coordinator start of the rendezvous to the ranks\' exit), and wall time outside it (Node start and module loading in the coordinator, the backend check, the report).',
    '',
    '| ranks x inputs | raw: load | raw: context | raw: other steps | raw wall | cuipc: init | cuipc: other steps | cuipc: the probe itself | cuipc wall | cuipc: rank start + rendezvous + rounds | cuipc: outside the probe |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const size of floor.sizes) {
    const rawLoad = rawStepMedian(size.raw, 'load');
    const rawInit = rawStepMedian(size.raw, 'init');
    const rawOther = median(size.raw.filter((r) => r.perRank.length).map((r) => Math.max(...r.perRank.map((k) => Object.entries(k.stepMs).filter(([s]) => s !== 'load' && s !== 'init').reduce((a, [, ms]) => a + ms, 0)))));
    const init = median(size.cuipc.map((r) => r.stepMs.init ?? Number.NaN).filter(Number.isFinite));
    const steps = median(size.cuipc.map((r) => cuipcStepsMs(r) - (r.stepMs.init ?? 0)));
    const probe = median(size.cuipc.map((r) => r.probeMs ?? Number.NaN).filter(Number.isFinite));
    const wall = median(size.cuipc.map((r) => r.wallMs));
    const inProbe = median(size.cuipc.filter((r) => r.probeMs !== null).map((r) => (r.probeMs as number) - cuipcStepsMs(r)));
    const outside = median(size.cuipc.filter((r) => r.probeMs !== null).map((r) => r.wallMs - (r.probeMs as number)));
    lines.push(
      `| ${size.ranks} x ${size.inputs} | ${formatMs(rawLoad)} | ${formatMs(rawInit)} | ${formatMs(rawOther)} | ${formatMs(median(size.raw.map((r) => r.wallMs)))} | ${formatMs(init)} | ${formatMs(steps)} | ${formatMs(probe)} | ${formatMs(wall)} | ${formatMs(inProbe)} | ${formatMs(outside)} |`,
    );
  }
  lines.push(...boundTable(floor));
  const ctx = floor.context;
  const ctxRss = 'error' in ctx ? null : ctx.rssKiB;
  const both = ctxRss !== null && floor.node.rssKiB !== null ? ctxRss + floor.node.rssKiB : null;
  const rank472 = floor.sizes.find((s) => s.ranks === 4 && s.inputs === 72);
  const cuipcRank = rank472 ? maxOf(rank472.cuipc.flatMap((r) => r.rankPeakRssKiB)) : null;
  lines.push(
    '',
    '| floor | wall | peak RSS |',
    '|---|---|---|',
    `| an empty Node process, \`node -e 0\` | ${formatMs(floor.node.wallMs)} | ${formatKiB(floor.node.rssKiB)} |`,
    'error' in ctx
      ? `| a bare C++ process after CUDA load and context creation | not measured: ${ctx.error} | |`
      : `| a bare C++ process after CUDA load and context creation (\`--context-only\`) | load ${formatMs(ctx.loadMs)}, context ${formatMs(ctx.contextMs)} | ${formatKiB(ctx.rssKiB)} |`,
    `| the two together: what a rank is held to | - | ${formatKiB(both)} |`,
    `| a cuipc rank, 4 x 72 (largest over the runs) | - | ${formatKiB(cuipcRank)}${both !== null && cuipcRank !== null ? ` (${cuipcRank <= both ? 'within' : `${formatKiB(cuipcRank - both)} over`} the floors' sum)` : ''} |`,
  );
  const check = floor.backendCheck;
  lines.push(
    'error' in check
      ? `| the coordinator's backend check (openCuda + cudaGetDeviceCount in Node) | not measured: ${check.error} | |`
      : `| the coordinator's backend check in a fresh Node: import lib/cuda, openCuda (addon, dlopen, cuInit), cudaGetDeviceCount | ${formatMs(check.importMs)} + ${formatMs(check.openMs)} + ${formatMs(check.countMs)} | ${formatKiB(check.rssBeforeKiB)} before, ${formatKiB(check.rssAfterKiB)} after |`,
  );
  for (const teardown of floor.teardown) {
    const who = teardown.processes === 1 ? 'a Node process holding a context, from its last statement to its exit' : `${teardown.processes} Node processes holding a context on the device, from their last statement to the last exit`;
    lines.push(
      'error' in teardown
        ? `| the teardown floor: ${who} | not measured: ${teardown.error} | |`
        : `| the teardown floor: ${who} (median of ${teardown.runsMs.length}) | ${formatMs(teardown.medianMs)} | - |`,
    );
  }
  lines.push('');
  const timelineFloor = floor.timeline ? floor.teardown.find((t) => t.processes === floor.timeline?.ranks) : undefined;
  const timeline = floor.timeline;
  if (timeline) {
    const sameSize = floor.sizes.find((s) => s.ranks === timeline.ranks && s.inputs === timeline.inputs);
    const rawTails = (sameSize?.raw ?? []).filter((r) => r.passed && Number.isFinite(r.tailMs)).map((r) => r.tailMs);
    lines.push(...timelineTable(timeline, tag, timelineFloor && !('error' in timelineFloor) ? timelineFloor.medianMs : undefined, rawTails.length ? median(rawTails) : undefined));
  }
  return lines;
}
