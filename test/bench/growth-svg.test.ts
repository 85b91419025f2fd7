// The growth plot (bench/growth-svg.ts) from made-up runs, read back with an XML parser: a
// malformed or unescaped SVG would show as a broken image in docs/benchmarks.md, and a line
// that drew a failed point would mislead the person reading it at a glance.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import type { GrowthPlan, GrowthResult, GrowthSeries } from '../../bench/growth.js';
import { growthTables } from '../../bench/growth-report.js';
import { growthSvg, growthSvgFileName, niceTicks } from '../../bench/growth-svg.js';
import { cuipc, point, raw } from './made-up-runs.js';

// 8 ranks: the raw side passed, cuipc aborted; it is drawn for raw only.
const byRanks: GrowthSeries = {
  over: 'ranks',
  fixed: 72,
  points: [
    point(1, 72, 100, 400, 300, 10 * 1024, 60 * 1024),
    point(2, 72, 150, 600, 450, 12 * 1024, 66 * 1024),
    point(4, 72, 300, 1000, 800, 16 * 1024, 78 * 1024),
    { ranks: 8, inputs: 72, raw: raw(500, 8, 20 * 1024), cuipc: cuipc(8, 72, 20_000, null, 90 * 1024, 3) },
  ],
  skipped: [{ ranks: 16, inputs: 72, why: 'the budget was spent' }],
};

// 1024 inputs: the raw side failed; cuipc is drawn, raw is not.
const byInputs: GrowthSeries = {
  over: 'inputs',
  fixed: 4,
  points: [point(4, 72, 300, 1000, 800, 16 * 1024, 78 * 1024), { ranks: 4, inputs: 1024, raw: raw(90, 4, 5000, false), cuipc: cuipc(4, 1024, 1500, 1200, 80 * 1024) }, point(4, 16384, 900, 4000, 3500, 30 * 1024, 120 * 1024)],
  skipped: [],
};

const plan = { pointBudgetMs: 20_000, totalBudgetMs: 120_000 } as GrowthPlan;
const full: GrowthResult = { plan, series: [byRanks, byInputs], tookMs: 5000 };
const noInputs: GrowthResult = { plan, series: [byRanks, { over: 'inputs', fixed: 4, points: [], skipped: [{ ranks: 4, inputs: 72, why: "the growth part's budget of 120 s was spent" }] }], tookMs: 5000 };

interface Element {
  tag: string;
  attrs: Record<string, string>;
  children: Element[];
  text: string;
}

type Ordered = Array<Record<string, unknown>>;

/** fast-xml-parser's ordered output as a tree, so elements can be found by tag and attribute. */
function tree(nodes: Ordered): Element[] {
  const out: Element[] = [];
  for (const node of nodes) {
    const tag = Object.keys(node).find((k) => k !== ':@');
    if (tag === undefined || tag === '#text' || tag === '?xml') continue;
    const children = node[tag] as Ordered;
    const text = children.filter((c) => '#text' in c).map((c) => String(c['#text'])).join('');
    out.push({ tag, attrs: (node[':@'] as Record<string, string> | undefined) ?? {}, children: tree(children), text });
  }
  return out;
}

function all(elements: Element[], match: (e: Element) => boolean): Element[] {
  return elements.flatMap((e) => [...(match(e) ? [e] : []), ...all(e.children, match)]);
}

function parse(svg: string): Element {
  expect(XMLValidator.validate(svg)).toBe(true);
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', preserveOrder: true, parseAttributeValue: false, parseTagValue: false });
  const roots = tree(parser.parse(svg) as Ordered);
  expect(roots.map((r) => r.tag)).toEqual(['svg']);
  return roots[0];
}

function panelOf(svg: Element, id: string): Element {
  const found = all([svg], (e) => e.tag === 'g' && e.attrs['data-panel'] === id);
  expect(found).toHaveLength(1);
  return found[0];
}

function lines(panel: Element): Record<string, Array<[number, number]>> {
  const out: Record<string, Array<[number, number]>> = {};
  for (const line of all([panel], (e) => e.tag === 'polyline')) {
    out[line.attrs['data-line']] = line.attrs.points.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
  }
  return out;
}

const title = 'NVIDIA H100 80GB HBM3 & friends <test>, 2026-12-07';

describe('the growth plot', () => {
  const text = growthSvg(full, title);
  const svg = parse(text);

  it('is a standalone SVG of four panels under the title, escaped', () => {
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(Number(svg.attrs.width)).toBe(900);
    expect(all([svg], (e) => e.tag === 'g' && 'data-panel' in e.attrs).map((e) => e.attrs['data-panel'])).toEqual(['time-ranks', 'time-inputs', 'rss-ranks', 'rss-inputs']);
    expect(text).toContain('NVIDIA H100 80GB HBM3 &amp; friends &lt;test&gt;, 2026-12-07');
    expect(text).not.toContain('& friends');
    const heading = all([svg], (e) => 'data-title' in e.attrs);
    expect(heading[0].text).toBe(title);
    // Nothing outside the document: no stylesheet, script or linked font.
    expect(text).not.toMatch(/<style|<script|@import|href=/);
  });

  it('one line per drawn side, a point per run that side passed; a failed side is left out', () => {
    const time = lines(panelOf(svg, 'time-ranks'));
    expect(Object.keys(time)).toEqual(['raw C++', 'cuipc answer', 'cuipc exit']);
    expect(time['raw C++']).toHaveLength(4);
    expect(time['cuipc answer']).toHaveLength(3);
    expect(time['cuipc exit']).toHaveLength(3);
    // The cuipc lines stop at 4 ranks, left of the raw line's last point (8 ranks).
    expect(Math.max(...time['cuipc exit'].map(([x]) => x))).toBeLessThan(time['raw C++'][3][0]);
    // Time grows upwards: a larger wall is a smaller y.
    expect(time['cuipc exit'][2][1]).toBeLessThan(time['cuipc exit'][0][1]);
    const rss = lines(panelOf(svg, 'rss-inputs'));
    expect(Object.keys(rss)).toEqual(['raw C++', 'cuipc']);
    expect(rss['raw C++']).toHaveLength(2);
    expect(rss.cuipc).toHaveLength(3);
    // Markers match the lines' points.
    expect(all([panelOf(svg, 'rss-inputs')], (e) => e.tag === 'circle' && !('data-legend' in e.attrs)).length).toBeGreaterThanOrEqual(5);
  });

  it('ticks at each measured size on a log2 axis, and says which did not run or failed', () => {
    const ticks = (id: string): string[] => all([panelOf(svg, id)], (e) => 'data-x-tick' in e.attrs).map((e) => e.text);
    expect(ticks('time-ranks')).toEqual(['1', '2', '4', '8']);
    expect(ticks('rss-inputs')).toEqual(['72', '1024', '16384']);
    const xs = all([panelOf(svg, 'time-ranks')], (e) => 'data-x-tick' in e.attrs).map((e) => Number(e.attrs.x));
    // log2: 1, 2, 4, 8 are evenly spaced.
    expect(xs[1] - xs[0]).toBeCloseTo(xs[3] - xs[2], 0);
    const panelText = all([panelOf(svg, 'time-ranks')], (e) => e.tag === 'text').map((e) => e.text);
    expect(panelText).toContain('ranks, log2 scale; failed: 8 (cuipc); not run: 16');
  });

  it('a legend in each panel names the sides', () => {
    const legend = (id: string): string[] => all([panelOf(svg, id)], (e) => 'data-legend' in e.attrs).flatMap((g) => all(g.children, (e) => e.tag === 'text').map((e) => e.text));
    expect(legend('time-ranks')).toEqual(['raw C++', 'cuipc answer', 'cuipc exit']);
    expect(legend('rss-ranks')).toEqual(['raw C++', 'cuipc']);
  });

  it('y ticks from 0 on a nice step, labelled like the tables', () => {
    expect(niceTicks(1000)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(4000)).toEqual([0, 1000, 2000, 3000, 4000]);
    expect(niceTicks(1.01)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
    for (const max of [0.3, 7, 19, 99.9, 123, 1e5]) {
      const ticks = niceTicks(max);
      expect(ticks.length).toBeGreaterThanOrEqual(4);
      expect(ticks.length).toBeLessThanOrEqual(6);
      expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(max);
    }
    const labels = all([panelOf(svg, 'time-inputs')], (e) => e.tag === 'text' && e.attrs['text-anchor'] === 'end').map((e) => e.text);
    expect(labels).toEqual(['0', '1.00 s', '2.00 s', '3.00 s', '4.00 s']);
    const mb = all([panelOf(svg, 'rss-ranks')], (e) => e.tag === 'text' && e.attrs['text-anchor'] === 'end').map((e) => e.text);
    expect(mb[mb.length - 1]).toMatch(/^\d+ MB$/);
  });

  it('coordinates carry at most one decimal, and the same result gives the same text', () => {
    expect(text.match(/\d+\.\d{2,}/g)?.filter((m) => !text.includes(`${m} s<`) && !text.includes(`${m} MB`)) ?? []).toEqual([]);
    expect(growthSvg(full, title)).toBe(text);
  });

  it('a series without points says it was not measured', () => {
    const empty = parse(growthSvg(noInputs, 'SIMULATED'));
    for (const id of ['time-inputs', 'rss-inputs']) {
      const panel = panelOf(empty, id);
      expect(all([panel], (e) => e.tag === 'text').map((e) => e.text)).toContain('not measured');
      expect(all([panel], (e) => e.tag === 'polyline')).toEqual([]);
    }
    expect(Object.keys(lines(panelOf(empty, 'time-ranks')))).toHaveLength(3);
  });

  it('is named after the section it plots', () => {
    expect(growthSvgFileName('gpu-nvidia-h100-80gb-hbm3')).toBe('benchmarks-growth-gpu-nvidia-h100-80gb-hbm3.svg');
  });
});

describe('growth tables and the plot', () => {
  const image = '![Growth: time and peak RSS per rank against ranks and inputs, cuipc beside the raw C++ replay](benchmarks-growth-simulated.svg)';

  it('show the plot right after the intro when given its name', () => {
    const lines = growthTables(full, ' (SIMULATED)', 'benchmarks-growth-simulated.svg');
    expect(lines[0]).toBe('### Growth (SIMULATED): cuipc beside the raw C++ replay');
    expect(lines[2]).toMatch(/^One run per point/);
    expect(lines.slice(3, 6)).toEqual(['', image, '']);
    expect(lines[6]).toMatch(/^#### Against ranks/);
  });

  it('show no image without one', () => {
    const lines = growthTables(full, ' (SIMULATED)');
    expect(lines.some((l) => l.startsWith('!['))).toBe(false);
    expect(lines[4]).toMatch(/^#### Against ranks/);
  });
});
