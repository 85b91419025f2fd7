// The bisect part (bisect-cost.ts) as Markdown: per scenario, one row per distractor count with
// the probes run beside ddmin's reference bounds, and the bisect's wall beside the sum of its
// probes. Pure: tests check it on made-up results.
import type { BisectCostError, BisectCostResult, BisectCostRow, BisectScenario } from './bisect-cost.js';
import { formatMs } from './stats.js';

const SCENARIO_TEXT: Record<BisectScenario, string> = {
  seed: 'The seed: torch_memory_saver\'s preload hook (the project\'s stand-in) and SGLANG_MEMORY_SAVER_CUDA_GRAPH=true. Both are hazard-table suspects: the suspects probe fails as BAD does, so ddmin searches those 2 changes whatever the number of distractors.',
  interposer: 'cuipc\'s VMM interposer and CUIPC_INTERPOSER_REGION=all. The hazard table names only the preload entry, which alone passes, so ddmin searches every change: this is what the search costs as the changes grow.',
};

function isError(row: BisectCostRow | BisectCostError): row is BisectCostError {
  return 'error' in row;
}

function minimalCell(row: BisectCostRow): string {
  if (row.outcome !== 'found') return `none (${row.outcome})`;
  return `${row.minimal.join(' + ')} (${row.foundCulprits ? 'the culprits' : 'not the culprits'})`;
}

function rowLine(row: BisectCostRow | BisectCostError): string {
  if (isError(row)) return `| ${row.distractors} | not measured: ${row.error.replace(/\|/g, '\\|')} |  |  |  |  |  |  |  |  |  |  |`;
  return [
    '',
    row.distractors,
    row.changes,
    row.ddminInput,
    minimalCell(row),
    `${row.probes} (${row.ddminProbes} in ddmin)`,
    row.bounds.exact,
    row.bounds.worstCase,
    row.bounds.halving,
    formatMs(row.wallMs),
    formatMs(row.probesMs),
    formatMs(row.overheadMs),
    formatMs(row.wallPerProbeMs),
    '',
  ].join(' | ').trim();
}

export function bisectCostTable(result: BisectCostResult, tag: string): string[] {
  const lines = [
    `### What \`cuipc bisect\` costs${tag}`,
    '',
    `One \`bisect()\` per row, through the library as \`cuipc bisect\` runs it, probes of ${result.ranks} ranks x ${result.inputs} inputs, after one untimed probe that loads the backend. GOOD is the bench's own environment without the culprits' variables; BAD is GOOD plus n distractor variables (names no hazard rule or rank reads) and two culprits that fail only together. Bisect wall: performance.now() around the call. Sum of its probes: the probes' own durations from the result (the coordinator's clock in whole milliseconds, from launching the ranks to the report), so wall − probes is bisect's own overhead: building each probe's environment, each probe's setup before its coordinator starts (options, loading the backend, counting devices) and the search. Probes run are probes that started; a test whose environment an earlier probe already had costs none (GOOD with every change is BAD's environment, so that test always is one). The bounds are references for ddmin's input n and the minimal set's size k, not targets: (n²+3n)/2 is ddmin's worst case (Zeller and Hildebrandt, TSE 2002); 2·k·⌈log₂ n⌉ is k independent culprits found by halving (their 2·log₂ n for one), which these interacting pairs need not meet; the exact worst case is the library's own count for its ddmin, the "at most" \`cuipc bisect\` shows. This part took ${formatMs(result.tookMs)}.`,
    '',
  ];
  const scenarios = [...new Set(result.rows.map((r) => r.scenario))];
  for (const scenario of scenarios) {
    lines.push(
      SCENARIO_TEXT[scenario],
      '',
      '| distractors | changes searched | ddmin\'s input n | minimal set found | probes run | this ddmin\'s exact worst case | ddmin worst case (n²+3n)/2 | 2·k·⌈log₂ n⌉ | bisect wall | sum of its probes | wall − probes (bisect\'s own overhead) | wall per probe |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const row of result.rows.filter((r) => r.scenario === scenario)) lines.push(rowLine(row));
    lines.push('');
  }
  return lines;
}
