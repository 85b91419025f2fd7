// The bisect part of the bench: ddmin's reference bounds on known values, the table from a
// made-up result, and one real bisect of the seed on the simulated device (small, so this file stays
// in the quick loop) that must find exactly the two culprits.
import { describe, expect, it } from 'vitest';
import { ddminWorstCase, halvingBound, measureBisectCost, type BisectCostResult, type BisectCostRow } from '../../bench/bisect-cost.js';
import { bisectCostTable } from '../../bench/bisect-report.js';

describe('ddmin reference bounds', () => {
  it('(n^2 + 3n)/2 and 2 * k * ceil(log2 n)', () => {
    expect([0, 1, 2, 4, 16, 66].map(ddminWorstCase)).toEqual([0, 2, 5, 14, 152, 2277]);
    expect(halvingBound(1, 1)).toBe(0);
    expect(halvingBound(1, 2)).toBe(2);
    expect(halvingBound(1, 16)).toBe(8);
    expect(halvingBound(2, 18)).toBe(20); // ceil(log2 18) = 5
    expect(halvingBound(2, 66)).toBe(28); // ceil(log2 66) = 7
  });
});

describe('bisectCostTable', () => {
  const row = (over: Partial<BisectCostRow>): BisectCostRow => ({
    scenario: 'interposer', distractors: 16, outcome: 'found', changes: 18, ddminInput: 18,
    minimal: ['CUIPC_INTERPOSER_REGION=all', 'the cuipc-vmm-interposer preload entry (libcuipc_vmm_interposer.so)'], foundCulprits: true,
    probes: 12, ddminProbes: 9, cacheHits: 2, bounds: { worstCase: 189, halving: 20, exact: 396 },
    wallMs: 2820, totalMs: 2818, probesMs: 2790, overheadMs: 30, wallPerProbeMs: 235, ...over,
  });
  const result: BisectCostResult = {
    backend: 'sim', ranks: 2, inputs: 2, simulated: true, tookMs: 9000,
    rows: [
      row({ scenario: 'seed', distractors: 4, changes: 6, ddminInput: 2, probes: 5, ddminProbes: 2, bounds: { worstCase: 5, halving: 4, exact: 2 }, minimal: ['a', 'b'] }),
      row({}),
      { scenario: 'interposer', distractors: 64, error: 'a | b' },
    ],
  };
  const lines = bisectCostTable(result, ' (SIMULATED)');

  it('one subsection, a paragraph on how it was measured, one table per scenario', () => {
    expect(lines[0]).toBe('### What `cuipc bisect` costs (SIMULATED)');
    expect(lines[2]).toMatch(/^One `bisect\(\)` per row.*2 ranks x 2 inputs.*Zeller and Hildebrandt.*This part took 9\.00 s\.$/);
    expect(lines.filter((l) => l.startsWith('| distractors |'))).toHaveLength(2);
  });

  it('every row has the header\'s 12 cells', () => {
    const cells = (l: string) => l.replace(/\\\|/g, '').split('|').length - 2;
    const table = lines.filter((l) => l.startsWith('|'));
    for (const l of table) expect(cells(l)).toBe(12);
    expect(table).toContain('| 4 | 6 | 2 | a + b (the culprits) | 5 (2 in ddmin) | 2 | 5 | 4 | 2.82 s | 2.79 s | 30 ms | 235 ms |');
    expect(table).toContain('| 16 | 18 | 18 | CUIPC_INTERPOSER_REGION=all + the cuipc-vmm-interposer preload entry (libcuipc_vmm_interposer.so) (the culprits) | 12 (9 in ddmin) | 396 | 189 | 20 | 2.82 s | 2.79 s | 30 ms | 235 ms |');
    expect(table.some((l) => l.startsWith('| 64 | not measured: a \\| b |'))).toBe(true);
  });
});

describe('measureBisectCost on the simulated device', () => {
  // The seed only: 6 probes keep this file in the quick loop; the interposer pair runs in the bench.
  it('the seed among 3 distractors: exactly the two culprits, and the wall holds its probes', async () => {
    const messages: string[] = [];
    const result = await measureBisectCost({ backend: 'sim', distractors: [3], scenarios: ['seed'], progress: (m) => messages.push(m) });
    expect(result.simulated).toBe(true);
    expect(messages).toHaveLength(1);
    expect(result.rows).toHaveLength(1);
    const r = result.rows[0]!;
    if ('error' in r) throw new Error(r.error);
    expect(r).toMatchObject({ scenario: 'seed', distractors: 3, outcome: 'found', foundCulprits: true, changes: 5 });
    expect(r.minimal).toHaveLength(2);
    expect(r.probes).toBeGreaterThanOrEqual(1);
    expect(r.probesMs).toBeGreaterThan(0);
    // Each probe's duration is whole milliseconds of its own clock: allow 1 ms each.
    expect(r.wallMs + r.probes).toBeGreaterThanOrEqual(r.probesMs);
    expect(r.overheadMs).toBeCloseTo(r.wallMs - r.probesMs, 6);
    // The seed's culprits are the hazard table's suspects: ddmin searches only them.
    expect(r.ddminInput).toBe(2);
    expect(r.ddminProbes).toBeLessThanOrEqual(r.bounds.exact);
  }, 60_000);
});
