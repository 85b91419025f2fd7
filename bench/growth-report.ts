// The growth part (growth.ts) as Markdown: per series one row per point, cuipc beside the raw
// C++ replay of the same run, with the ratios cuipc / raw and how each figure grew from the
// previous row, then one line that says how much each side grew over the whole series and
// what each added rank (or input) costs. Pure: tests check the rows from made-up runs.
import type { GrowthPoint, GrowthResult, GrowthSeries } from './growth.js';
import { formatKiB, formatMs, formatRatio } from './stats.js';

/** The largest per-rank peak RSS of a side, or null when no rank reported one. */
export function rawRankPeakKiB(point: GrowthPoint): number | null {
  const values = point.raw.perRank.map((r) => r.peakRssKiB).filter((v) => Number.isFinite(v) && v > 0);
  return values.length ? Math.max(...values) : null;
}

export function cuipcRankPeakKiB(point: GrowthPoint): number | null {
  // A rank that left no record reads null here (Math.max would count it as 0).
  const values = (point.cuipc.rankPeakRssKiB as Array<number | null>).filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  return values.length ? Math.max(...values) : null;
}

/** The figures a row shows, as numbers (NaN where missing), so tests can check them. */
export interface GrowthRow {
  size: number;
  rawMs: number;
  answerMs: number;
  exitMs: number;
  rawRssKiB: number;
  cuipcRssKiB: number;
  ok: boolean;
  /** Each side on its own, so a plot can leave out only the side that failed. */
  rawOk: boolean;
  cuipcOk: boolean;
  outcome: string;
}

function orNaN(value: number | null | undefined): number {
  return value === null || value === undefined ? Number.NaN : value;
}

export function growthRow(series: GrowthSeries, point: GrowthPoint): GrowthRow {
  const rawOk = point.raw.passed;
  const cuipcOk = point.cuipc.exitCode === 0;
  const outcome = rawOk && cuipcOk ? 'both passed' : [rawOk ? null : `raw: ${point.raw.note ?? 'failed'}`, cuipcOk ? null : `cuipc: ${point.cuipc.result}${point.cuipc.note ? ` (${point.cuipc.note})` : ''}`].filter(Boolean).join('; ');
  return {
    size: series.over === 'ranks' ? point.ranks : point.inputs,
    rawMs: rawOk ? point.raw.wallMs : Number.NaN,
    answerMs: orNaN(point.cuipc.answerMs),
    exitMs: point.cuipc.wallMs,
    rawRssKiB: orNaN(rawRankPeakKiB(point)),
    cuipcRssKiB: orNaN(cuipcRankPeakKiB(point)),
    ok: rawOk && cuipcOk,
    rawOk,
    cuipcOk,
    outcome,
  };
}

/** "1.52x" of this row over the previous one; '-' on the first row. */
function grew(now: number, before: number | undefined): string {
  return before === undefined ? '-' : formatRatio(now, before);
}

function mb(kib: number): string {
  return formatKiB(Number.isFinite(kib) ? kib : null);
}

function deltaMb(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return 'n/a';
  const d = (a - b) / 1024;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)} MB`;
}

/** Over the whole series (the points both sides passed): how much each figure grew, and the cost of one more rank or input. */
export function growthSummary(series: GrowthSeries): string | null {
  // Only points where both sides passed: a failed run's wall says nothing about growth.
  const rows = series.points.map((p) => growthRow(series, p)).filter((r) => r.ok);
  if (rows.length < 2) return null;
  const first = rows[0];
  const last = rows[rows.length - 1];
  const unit = series.over === 'ranks' ? 'rank' : 'input';
  const span = last.size - first.size;
  const per = (a: number, b: number, scale: number, digits: number, suffix: string): string =>
    Number.isFinite(a) && Number.isFinite(b) && span > 0 ? `${(((a - b) / span) * scale).toFixed(digits)} ${suffix}` : 'n/a';
  const perMs = (a: number, b: number): string => (series.over === 'ranks' ? per(a, b, 1, 1, 'ms') : per(a, b, 1000, 1, 'ms per 1000 inputs'));
  return [
    `From ${first.size} to ${last.size} ${unit}s (${formatRatio(last.size, first.size)}):`,
    `raw wall ${formatRatio(last.rawMs, first.rawMs)}, cuipc exit ${formatRatio(last.exitMs, first.exitMs)}, cuipc answer ${formatRatio(last.answerMs, first.answerMs)};`,
    `peak RSS per rank raw ${formatRatio(last.rawRssKiB, first.rawRssKiB)}, cuipc ${formatRatio(last.cuipcRssKiB, first.cuipcRssKiB)}.`,
    `Each added ${unit}${series.over === 'ranks' ? '' : ' (per 1000)'}: raw ${perMs(last.rawMs, first.rawMs)}, cuipc exit ${perMs(last.exitMs, first.exitMs)};`,
    `cuipc rank RSS ${series.over === 'ranks' ? per(last.cuipcRssKiB, first.cuipcRssKiB, 1 / 1024, 2, 'MB') : per(last.cuipcRssKiB, first.cuipcRssKiB, 1000 / 1024, 2, 'MB per 1000 inputs')}, raw ${series.over === 'ranks' ? per(last.rawRssKiB, first.rawRssKiB, 1 / 1024, 2, 'MB') : per(last.rawRssKiB, first.rawRssKiB, 1000 / 1024, 2, 'MB per 1000 inputs')}.`,
  ].join(' ');
}

function seriesTable(series: GrowthSeries, tag: string): string[] {
  const what = series.over === 'ranks' ? `ranks (${series.fixed} inputs each)` : `inputs (${series.fixed} ranks)`;
  const lines = [
    `#### Against ${what}${tag}`,
    '',
    `| ${series.over} | raw C++ wall | cuipc: answer | cuipc: exit | answer / raw | exit / raw | raw peak RSS per rank | cuipc peak RSS per rank | cuipc - raw RSS | grew from the row above: raw wall / cuipc exit / cuipc RSS | outcome |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  let previous: GrowthRow | undefined;
  for (const point of series.points) {
    const row = growthRow(series, point);
    const growth = previous === undefined ? '-' : `${grew(row.rawMs, previous.rawMs)} / ${grew(row.exitMs, previous.exitMs)} / ${grew(row.cuipcRssKiB, previous.cuipcRssKiB)}`;
    lines.push(
      `| ${row.size} | ${formatMs(row.rawMs)} | ${formatMs(row.answerMs)} | ${formatMs(row.exitMs)} | ${formatRatio(row.answerMs, row.rawMs)} | ${formatRatio(row.exitMs, row.rawMs)} | ${mb(row.rawRssKiB)} | ${mb(row.cuipcRssKiB)} | ${deltaMb(row.cuipcRssKiB, row.rawRssKiB)} | ${growth} | ${row.outcome} |`,
    );
    previous = row;
  }
  for (const skip of series.skipped) {
    const size = series.over === 'ranks' ? skip.ranks : skip.inputs;
    lines.push(`| ${size} | not run: ${skip.why} | | | | | | | | | |`);
  }
  lines.push('');
  const summary = growthSummary(series);
  if (summary) lines.push(summary, '');
  return lines;
}

/** `image`: the plot's file name relative to the document (growth-svg.ts), shown under the intro. */
export function growthTables(result: GrowthResult, tag: string, image?: string): string[] {
  const plan = result.plan;
  const lines = [
    `### Growth${tag}: cuipc beside the raw C++ replay`,
    '',
    `One run per point, raw C++ (\`cuipc_bench_raw_probe\`) then \`cuipc probe\`, in this run. Raw wall and cuipc exit: spawn to exit. cuipc answer: spawn to the first byte of the verdict on stdout (the ranks may still be tearing down). Peak RSS per rank: the largest rank of the point. A series stops once a point takes over ${Math.round(plan.pointBudgetMs / 1000)} s, and no point starts after ${Math.round(plan.totalBudgetMs / 1000)} s of this part; the part took ${formatMs(result.tookMs)}.`,
    '',
  ];
  if (image !== undefined) lines.push(`![Growth: time and peak RSS per rank against ranks and inputs, cuipc beside the raw C++ replay](${image})`, '');
  for (const series of result.series) lines.push(...seriesTable(series, tag));
  return lines;
}
