// The growth part (growth.ts) as one SVG a person reads at a glance, kept beside the Markdown
// tables: time and peak RSS per rank, against ranks and against inputs, cuipc beside the raw
// C++ replay. Standalone (inline attributes, a generic font) so that it renders the same in a
// browser, on GitHub and in an image converter; pure and deterministic (same result, same
// text), so tests read it back with an XML parser and a rerun changes the file only when the
// figures change. The figures come from growthRow, as in the tables.
import type { GrowthResult, GrowthSeries } from './growth.js';
import { growthRow, type GrowthRow } from './growth-report.js';
import { formatMs } from './stats.js';

/** The file the plot of section `key` is written to, in the document's folder. */
export function growthSvgFileName(sectionKey: string): string {
  return `benchmarks-growth-${sectionKey}.svg`;
}

const WIDTH = 900;
const HEADER = 64;
const PANEL_W = WIDTH / 2;
const PANEL_H = 330;
const HEIGHT = HEADER + 2 * PANEL_H + 6;
/** The plot area inside a panel: room above for the panel's title and legend, below for the x labels. */
const PLOT = { left: 72, right: 22, top: 62, bottom: 56 };
const PLOT_W = PANEL_W - PLOT.left - PLOT.right;
const PLOT_H = PANEL_H - PLOT.top - PLOT.bottom;

interface Line {
  name: string;
  color: string;
  /** Dashed for the raw side, so the lines differ without colour too. */
  dash: string | null;
  side: 'raw' | 'cuipc';
  value: (row: GrowthRow) => number;
}

const TIME_LINES: Line[] = [
  { name: 'raw C++', color: '#555555', dash: '6 4', side: 'raw', value: (r) => r.rawMs },
  { name: 'cuipc answer', color: '#1f77b4', dash: null, side: 'cuipc', value: (r) => r.answerMs },
  { name: 'cuipc exit', color: '#d95f02', dash: null, side: 'cuipc', value: (r) => r.exitMs },
];

const RSS_LINES: Line[] = [
  { name: 'raw C++', color: '#555555', dash: '6 4', side: 'raw', value: (r) => r.rawRssKiB / 1024 },
  { name: 'cuipc', color: '#1f77b4', dash: null, side: 'cuipc', value: (r) => r.cuipcRssKiB / 1024 },
];

interface Quantity {
  axis: string;
  lines: Line[];
  /** A y tick's label. */
  label: (value: number) => string;
}

const TIME: Quantity = { axis: 'time from spawn', lines: TIME_LINES, label: (v) => (v === 0 ? '0' : formatMs(v)) };
const RSS: Quantity = { axis: 'peak RSS per rank', lines: RSS_LINES, label: (v) => `${v} MB` };

/** XML text and attribute values: the title names a machine, which may hold any character. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** A coordinate to one decimal, so output does not carry float noise. */
function n(value: number): string {
  const rounded = Math.round(value * 10) / 10;
  return Object.is(rounded, -0) ? '0' : String(rounded);
}

/** 4 to 6 ticks from 0 on a 1, 2, 2.5, 5 step, the last at or above `max`. */
export function niceTicks(max: number): number[] {
  const top = Number.isFinite(max) && max > 0 ? max : 1;
  const base = 10 ** Math.floor(Math.log10(top / 5));
  for (const m of [1, 2, 2.5, 5, 10]) {
    const step = m * base;
    const count = Math.ceil(top / step - 1e-9);
    if (count <= 5) return Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
  }
  return [0, top]; // not reached: a step of 10 * base gives at most 5
}

/** Whether a line has a point at this row: its side passed and the figure exists. */
function drawn(line: Line, row: GrowthRow): boolean {
  return (line.side === 'raw' ? row.rawOk : row.cuipcOk) && Number.isFinite(line.value(row));
}

function unitOf(over: 'ranks' | 'inputs', size: number): string {
  return over === 'ranks' ? `${size} rank${size === 1 ? '' : 's'}` : `${size} inputs`;
}

function panelTitle(quantity: Quantity, over: 'ranks' | 'inputs', series: GrowthSeries | undefined): string {
  const what = quantity === TIME ? 'Time' : 'Peak RSS per rank';
  if (series === undefined) return `${what} against ${over}`;
  return over === 'ranks' ? `${what} against ranks (${series.fixed} inputs each)` : `${what} against inputs (${series.fixed} ranks)`;
}

function legend(lines: Line[]): string[] {
  const out: string[] = [];
  let x = PLOT.left;
  for (const line of lines) {
    out.push(
      `<line x1="${n(x)}" y1="40" x2="${n(x + 24)}" y2="40" stroke="${line.color}" stroke-width="2"${line.dash ? ` stroke-dasharray="${line.dash}"` : ''}/>`,
      `<circle cx="${n(x + 12)}" cy="40" r="3" fill="${line.color}"/>`,
      `<text x="${n(x + 30)}" y="44" font-size="12" fill="#222222">${escapeXml(line.name)}</text>`,
    );
    x += 30 + line.name.length * 6.5 + 20;
  }
  return [`<g data-legend="">`, ...out, '</g>'];
}

/** The sizes a series did not run, and the ones where a side failed, for the x axis title. */
function notes(series: GrowthSeries, rows: GrowthRow[]): string {
  const parts: string[] = [];
  const failed = rows.filter((r) => !r.ok).map((r) => `${r.size} (${!r.rawOk && !r.cuipcOk ? 'both' : r.rawOk ? 'cuipc' : 'raw'})`);
  if (failed.length) parts.push(`failed: ${failed.join(', ')}`);
  const skipped = series.skipped.map((s) => (series.over === 'ranks' ? s.ranks : s.inputs));
  if (skipped.length) parts.push(`not run: ${skipped.join(', ')}`);
  return parts.length ? `; ${parts.join('; ')}` : '';
}

function centredMessage(lines: string[]): string[] {
  const cy = PLOT.top + PLOT_H / 2;
  return lines.map((text, i) => `<text x="${n(PLOT.left + PLOT_W / 2)}" y="${n(cy + i * 18)}" text-anchor="middle" font-size="${i === 0 ? 15 : 11}" fill="#777777">${escapeXml(text)}</text>`);
}

function panel(quantity: Quantity, over: 'ranks' | 'inputs', series: GrowthSeries | undefined, column: number, row: number): string[] {
  const id = `${quantity === TIME ? 'time' : 'rss'}-${over}`;
  const out = [
    `<g data-panel="${id}" transform="translate(${n(column * PANEL_W)},${n(HEADER + row * PANEL_H)})">`,
    `<text x="${n(PLOT.left)}" y="20" font-size="13" font-weight="bold" fill="#222222">${escapeXml(panelTitle(quantity, over, series))}</text>`,
    ...legend(quantity.lines),
    `<rect x="${n(PLOT.left)}" y="${n(PLOT.top)}" width="${n(PLOT_W)}" height="${n(PLOT_H)}" fill="none" stroke="#bbbbbb"/>`,
  ];
  if (series === undefined || series.points.length === 0) {
    const why = series?.skipped[0]?.why;
    out.push(...centredMessage(why ? ['not measured', why] : ['not measured']), '</g>');
    return out;
  }
  const rows = series.points.map((p) => growthRow(series, p));
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
  const lo = Math.log2(sizes[0]);
  const hi = Math.log2(sizes[sizes.length - 1]);
  // Room beside the first and last point so their markers and labels sit inside the plot.
  const pad = hi > lo ? (hi - lo) * 0.06 : 1;
  const x = (size: number): number => PLOT.left + ((Math.log2(size) - (lo - pad)) / (hi - lo + 2 * pad)) * PLOT_W;
  const values = quantity.lines.flatMap((line) => rows.filter((r) => drawn(line, r)).map((r) => line.value(r)));
  const ticks = niceTicks(values.length ? Math.max(...values) : 1);
  const yMax = ticks[ticks.length - 1];
  const y = (value: number): number => PLOT.top + PLOT_H - (value / yMax) * PLOT_H;
  const bottom = PLOT.top + PLOT_H;

  for (const tick of ticks) {
    out.push(
      `<line x1="${n(PLOT.left)}" y1="${n(y(tick))}" x2="${n(PLOT.left + PLOT_W)}" y2="${n(y(tick))}" stroke="${tick === 0 ? '#888888' : '#e4e4e4'}"/>`,
      `<text x="${n(PLOT.left - 6)}" y="${n(y(tick) + 4)}" text-anchor="end" font-size="11" fill="#444444">${escapeXml(quantity.label(tick))}</text>`,
    );
  }
  for (const size of sizes) {
    out.push(
      `<line x1="${n(x(size))}" y1="${n(PLOT.top)}" x2="${n(x(size))}" y2="${n(bottom)}" stroke="#f0f0f0"/>`,
      `<line x1="${n(x(size))}" y1="${n(bottom)}" x2="${n(x(size))}" y2="${n(bottom + 5)}" stroke="#888888"/>`,
      `<text data-x-tick="${size}" x="${n(x(size))}" y="${n(bottom + 18)}" text-anchor="middle" font-size="11" fill="#444444">${size}</text>`,
    );
  }
  out.push(
    `<text x="${n(PLOT.left + PLOT_W / 2)}" y="${n(bottom + 40)}" text-anchor="middle" font-size="11" fill="#444444">${escapeXml(`${over}, log2 scale${notes(series, rows)}`)}</text>`,
    `<text transform="translate(16,${n(PLOT.top + PLOT_H / 2)}) rotate(-90)" text-anchor="middle" font-size="11" fill="#444444">${escapeXml(quantity.axis)}</text>`,
  );
  if (!values.length) out.push(...centredMessage(['no point passed']));

  for (const line of quantity.lines) {
    const points = rows.filter((r) => drawn(line, r));
    if (!points.length) continue;
    out.push(
      `<polyline data-line="${escapeXml(line.name)}" points="${points.map((r) => `${n(x(r.size))},${n(y(line.value(r)))}`).join(' ')}" fill="none" stroke="${line.color}" stroke-width="2"${line.dash ? ` stroke-dasharray="${line.dash}"` : ''}/>`,
    );
    for (const r of points) {
      const shown = quantity === TIME ? formatMs(line.value(r)) : `${line.value(r).toFixed(1)} MB`;
      out.push(`<circle cx="${n(x(r.size))}" cy="${n(y(line.value(r)))}" r="3.5" fill="${line.color}"><title>${escapeXml(`${line.name}, ${unitOf(over, r.size)}: ${shown}`)}</title></circle>`);
    }
  }
  out.push('</g>');
  return out;
}

/** The whole plot: a title, then (time, RSS) x (against ranks, against inputs). */
export function growthSvg(result: GrowthResult, title: string): string {
  const byRanks = result.series.find((s) => s.over === 'ranks');
  const byInputs = result.series.find((s) => s.over === 'inputs');
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" role="img">`,
    `<title>${escapeXml(`Growth: ${title}`)}</title>`,
    // An opaque background: on a dark page the grey text would otherwise not read.
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text data-title="" x="${WIDTH / 2}" y="26" text-anchor="middle" font-size="18" font-weight="bold" fill="#111111">${escapeXml(title)}</text>`,
    `<text x="${WIDTH / 2}" y="48" text-anchor="middle" font-size="12" fill="#555555">cuipc probe beside the raw C++ replay, one run per point; time from spawn; RSS of the largest rank; a side that failed is left out</text>`,
    ...panel(TIME, 'ranks', byRanks, 0, 0),
    ...panel(TIME, 'inputs', byInputs, 1, 0),
    ...panel(RSS, 'ranks', byRanks, 0, 1),
    ...panel(RSS, 'inputs', byInputs, 1, 1),
    '</svg>',
    '',
  ];
  return lines.join('\n');
}
