// The report for a person: the answer first (what failed, where, why; then the fix; answer.ts),
// then the evidence: brief (the CLI's default) only the facts behind the answer (about 30 lines
// at 80 columns); in full (--verbose, and the library's default) everything: every rank and
// device, the rank x step grid, the pinpoint and all explanations. A report from the simulated device says so first.
import { answerLines, keyEvidence, matrixAnswer, probeAnswer, rangeList } from './answer.js';
import { probeEvidence } from './build.js';
import { explainFailure } from './explain.js';
import { interposedAbortOf } from './interposed-abort.js';
import { describeProvenance } from './provenance.js';
import { fitText } from './text.js';
import { type LaunchSettings, type MatrixReport, type ProbeReport } from './types.js';
import { INPUT_ALLOCATORS, SHARE_STRATEGIES, type CallArguments, type RankPlacement, type Provenance, type StepOutcome } from '../model/vocabulary.js';

export const SIMULATED_BANNER = 'SIMULATED DEVICE -- not a GPU: every answer below comes from the simulated device, which follows recorded H200 behaviour';

const CELL: Record<StepOutcome, string> = {
  passed: 'ok',
  failed: 'FAIL',
  skipped: 'skip',
  'not-run': '-',
  crashed: 'DIED',
  hung: 'HUNG',
  interrupted: 'killed',
};

function pad(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text + ' '.repeat(width - text.length);
}

function formatArgs(args: CallArguments): string {
  const entries = Object.entries(args);
  return entries.length ? entries.map(([k, v]) => `${k}=${v === null ? 'null' : String(v)}`).join(', ') : '(none)';
}

function yesNo(value: boolean | null): string {
  return value === null ? 'unknown' : value ? 'yes' : 'no';
}

function provenanceLines(p: Provenance): string[] {
  return [
    `pointer ${p.ptr}: ${describeProvenance(p)}`,
    `  memory type ${p.memoryType ?? '?'} (${p.memoryTypeName}), device ${p.device ?? '?'}, managed ${yesNo(p.isManaged)}`,
    `  legacy-IPC-capable ${yesNo(p.legacyIpcCapable)}, allowed handle types ${p.allowedHandleTypes === null ? 'unknown' : `0x${p.allowedHandleTypes.toString(16)}${p.allowedHandleTypeNames.length ? ` (${p.allowedHandleTypeNames.join(', ')})` : ' (none)'}`}`,
    `  VMM (cuMemRetainAllocationHandle ok) ${yesNo(p.vmm)}, pool ${p.mempool ?? 'none'}, range ${p.rangeStart ?? '?'} + ${p.rangeSize ?? '?'} bytes`,
  ];
}

function launchLine(l: LaunchSettings): string {
  if (l.launcher === 'ray' && l.ray) {
    const r = l.ray;
    return `  launcher ray: num_gpus ${r.numGpus} per actor, ${r.placementStrategy}, ${r.nosetVisibleDevices ? 'RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES set (Ray leaves CUDA_VISIBLE_DEVICES alone)' : 'Ray sets CUDA_VISIBLE_DEVICES per actor'}${r.address ? `, address ${r.address}` : ''}`;
  }
  const s = l.envSnapshot;
  const replay = s ? `; environment replayed from snapshot${s.label ? ` '${s.label}'` : ''} (pid ${s.pid} on ${s.hostname || '?'}, ${s.capturedAt || 'time unknown'})` : '';
  return `  launcher plain: ${l.visibility === 'per-rank' ? 'one device per rank (CUDA_VISIBLE_DEVICES)' : 'every device visible to every rank'}${replay}`;
}

function placementText(p: RankPlacement): string {
  const parts = [`CUDA_VISIBLE_DEVICES=${p.cudaVisibleDevices ?? '<unset>'}`];
  if (p.ray) parts.push(`Ray GPU ids [${p.ray.gpuIds.join(', ')}]`, `node ${p.ray.nodeId.slice(0, 12)}`);
  return parts.join(', ');
}

function grid(report: ProbeReport, width: number): string[] {
  const column = Math.max(...report.steps.map((s) => s.length), 6) + 2;
  if (9 + column * report.steps.length <= width) {
    const lines = [pad('', 9) + report.steps.map((s) => pad(s, column)).join('').trimEnd()];
    for (const rank of report.ranks) {
      lines.push(pad(`rank ${rank.rank}`, 9) + report.steps.map((s) => pad(CELL[rank.steps[s].outcome], column)).join('').trimEnd());
    }
    return lines;
  }
  // Narrow: steps down, ranks across, and ranks whose steps all ended alike share a column.
  const groups: Array<{ ranks: number[]; outcomes: StepOutcome[] }> = [];
  for (const rank of report.ranks) {
    const outcomes = report.steps.map((s) => rank.steps[s].outcome);
    const same = groups.find((g) => g.outcomes.every((o, i) => o === outcomes[i]));
    if (same) same.ranks.push(rank.rank);
    else groups.push({ ranks: [rank.rank], outcomes });
  }
  const labels = groups.map((g) => `rank${g.ranks.length > 1 ? 's' : ''} ${rangeList(g.ranks)}`);
  const widths = labels.map((l) => Math.max(l.length, 6) + 2);
  const lines = [pad('', 10) + labels.map((l, i) => pad(l, widths[i])).join('').trimEnd()];
  report.steps.forEach((step, s) => {
    lines.push(pad(step, 10) + groups.map((g, i) => pad(CELL[g.outcomes[s]], widths[i])).join('').trimEnd());
  });
  return lines;
}

export interface RenderOptions {
  /** Fit every line to this many columns (the CLI passes the terminal's width); default: no limit. */
  width?: number;
  /** Only the answer, the fix and the key evidence (the CLI's default, about 30 lines); default: everything, answer first. */
  brief?: boolean;
  /** The environment the probe ran in (the CLI's), for hints the report cannot hold: an empty CUDA_VISIBLE_DEVICES. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** A probe's steps, alike ranks and alike neighbouring steps together: "ranks 0-3: init..capture ok, export FAIL, teardown ok". */
function stepSummary(report: ProbeReport): string[] {
  const groups: Array<{ ranks: number[]; text: string }> = [];
  for (const rank of report.ranks) {
    const runs: Array<{ first: string; last: string; cell: string }> = [];
    for (const step of report.steps) {
      const cell = CELL[rank.steps[step].outcome];
      const run = runs[runs.length - 1];
      if (run && run.cell === cell) run.last = step;
      else runs.push({ first: step, last: step, cell });
    }
    // Steps skipped after a failure are left out (what the grid of --verbose shows): a step
    // named after a FAIL ran anyway (teardown), and the brief report keeps its line budget.
    const shown = runs.filter((r) => r.cell !== CELL.skipped);
    const text = shown.map((r) => `${r.first}${r.last !== r.first ? `..${r.last}` : ''} ${r.cell}`).join(', ');
    const same = groups.find((g) => g.text === text);
    if (same) same.ranks.push(rank.rank);
    else groups.push({ ranks: [rank.rank], text });
  }
  return groups.map((g) => `rank${g.ranks.length > 1 ? 's' : ''} ${rangeList(g.ranks)}: ${g.text}`);
}

/** What the environment holds that the run did not exercise: right under the answer, in both forms. */
function warningLines(report: ProbeReport): string[] {
  return report.warnings.flatMap((w) => [
    `  NOT EXERCISED [${w.severity}] (rank${w.ranks.length > 1 ? 's' : ''} ${w.ranks.join(', ')}): ${w.message}`,
    ...(w.command ? [`    to exercise it: ${w.command}`] : []),
  ]);
}

function runLine(report: ProbeReport): string {
  const o = report.options;
  return `cuipc probe${report.simulated ? ' (SIMULATED)' : ''}: ${o.ranks} rank(s), ${o.inputs} input(s) x ${o.bytes} bytes, --alloc ${o.alloc}, --share ${o.share}, --capture-mode ${o.captureMode}, backend ${o.backend}`;
}

/** The default report: the answer, the fix, the facts behind them, and how to see the rest. */
function renderProbeSummary(report: ProbeReport, width: number, env: RenderOptions['env']): string {
  const out: string[] = [];
  if (report.simulated) out.push(SIMULATED_BANNER, '');
  out.push(...answerLines(probeAnswer(report, env), 3), ...warningLines(report));
  const evidence = [...keyEvidence(report), ...(report.result === 'passed' ? [] : stepSummary(report))];
  if (report.abort) {
    const a = report.abort;
    const tail = a.rank !== undefined ? report.ranks.find((r) => r.rank === a.rank)?.stderrTail.trim() : '';
    if (tail) evidence.push(`rank ${a.rank} stderr ended with: ${tail.split('\n').slice(-2).join(' | ')}`);
    const interposed = interposedAbortOf(a, report.ranks);
    if (interposed) evidence.push(interposed.explanation);
  }
  // A replayed Fix list is longer by its marks: its end needs no blank line to stay within 30 lines.
  if (evidence.length) out.push(...(report.fixChecks ? [] : ['']), `Evidence (all of it, every rank and call: --verbose):`, ...evidence.map((e) => `  - ${e}`));
  // Only a likely alternative earns a line here; the unlikely ones are in --verbose.
  const others = (report.pinpoint?.explanations.slice(1) ?? []).filter((e) => e.likelihood !== 'low');
  if (others.length) out.push(`Also possible: [${others[0].likelihood}] ${others[0].title}${others.length > 1 ? ` (+${others.length - 1} more)` : ''}`);
  const o = report.options;
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  out.push(`probe: ${plural(o.ranks, 'rank')} x ${plural(o.inputs, 'input')} x ${o.bytes} bytes, --alloc ${o.alloc} --share ${o.share}, backend ${o.backend} (exit ${report.exitCode})`);
  return fitText(`${out.join('\n')}\n`, width);
}

export function renderProbeReport(report: ProbeReport, options: RenderOptions = {}): string {
  const width = options.width ?? Infinity;
  if (options.brief) return renderProbeSummary(report, width, options.env);
  const out: string[] = [];
  if (report.simulated) out.push(SIMULATED_BANNER, '');
  out.push(...answerLines(probeAnswer(report, options.env)), ...warningLines(report), '');
  const o = report.options;
  out.push(runLine(report));
  if (o.launch) out.push(launchLine(o.launch));
  for (const rank of report.ranks) {
    const d = rank.device;
    const placed = rank.placement ? ` [${placementText(rank.placement)}]` : '';
    out.push(`  rank ${rank.rank} (pid ${rank.pid ?? '?'}): device ${rank.requestedDevice}${d ? ` = ${d.name}, ${d.uuid}, ${d.pciBusId}` : ''}${placed}`);
  }
  if (report.kernels && !report.kernels.available) out.push(`  kernels unavailable (${report.kernels.reason}): replay and verify used copies instead`);
  out.push('');
  if (report.ranks.length) out.push(...grid(report, width), '');

  if (report.result === 'passed') {
    const verify = report.ranks.map((r) => r.verify).filter((v) => v !== undefined);
    const bytes = verify.reduce((n, v) => n + v.bytesChecked, 0);
    out.push(`PASSED (exit 0): every step passed on every rank; ${bytes} bytes verified (${verify[0]?.mode ?? 'no'} check).`);
  } else if (report.abort) {
    const a = report.abort;
    out.push(a.reason === 'interrupted' ? `INTERRUPTED (exit ${report.exitCode}): ${a.message}` : `COULD NOT RUN (exit 3, ${a.reason}): ${a.message}`);
    if (a.rank !== undefined) out.push(`  rank ${a.rank}, step ${a.step ?? '?'}, call in flight: ${a.call ?? 'unknown'}${a.args ? ` (${formatArgs(a.args)})` : ''}`);
    const tail = a.rank !== undefined ? report.ranks.find((r) => r.rank === a.rank)?.stderrTail.trim() : '';
    if (tail) out.push('  its stderr ended with:', ...tail.split('\n').slice(-5).map((l) => `    ${l}`));
    const interposed = interposedAbortOf(a, report.ranks);
    if (interposed) out.push(`  ${interposed.explanation}`);
  } else {
    out.push(`FAILED (exit 1): ${report.failures.length} failing call(s).`);
  }

  const p = report.pinpoint;
  if (p) {
    out.push('', 'Pinpoint');
    out.push(`  rank ${p.rank}, step ${p.step}, call ${p.call} (${p.method})`);
    out.push(`  arguments: ${formatArgs(p.args)}`);
    out.push(`  returned ${p.code} ${p.name} ("${p.message}")${p.detail && p.detail !== p.message ? `: ${p.detail}` : ''}`);
    if (p.lastError) {
      const le = p.lastError;
      out.push(
        `  ${p.origin === 'own' ? "the call's own error" : 'a STALE error: it was already pending before the call'}: last error before ${le.before.code} ${le.before.name}, after ${le.afterPeek.code} ${le.afterPeek.name} (peek), ${le.afterGet.code} (get, now cleared)`,
      );
    }
    else if (p.method.endsWith('Async')) out.push("  the call's own error (it ran on a worker thread, whose last-error slot cannot be read here)");
    if (p.peer) out.push(`  handle from rank ${p.peer.rank}${p.peer.pid !== undefined ? ` (pid ${p.peer.pid})` : ''}, base ${p.peer.base}`);
    if (p.provenance) out.push(...provenanceLines(p.provenance).map((l) => `  ${l}`));
    if (p.capture) {
      const state = p.capture.status === null ? 'state unknown' : p.capture.status === 'none' ? 'not capturing' : `capture ${p.capture.status}`;
      out.push(`  capture: ${p.capture.stream === null ? 'no stream yet' : `stream ${p.capture.stream}, ${state}`} (--capture-mode ${p.capture.mode})`);
    }
    out.push('', 'Why (most likely first)');
    p.explanations.forEach((e, i) => {
      out.push(`  ${i + 1}. [${e.likelihood}] ${e.title}`, `     ${e.summary}`);
      if (e.evidence.length) out.push('     evidence:', ...e.evidence.map((x) => `       - ${x}`));
      if (e.tryNext.length) out.push('     try:', ...e.tryNext.map((x) => `       - ${x}`));
    });
  }
  const others = report.failures.length - (p ? 1 : 0);
  if (others > 0) {
    out.push('', `Other failing calls (${others}):`);
    // The same call failing the same way on many pointers and ranks is one line, not hundreds.
    const groups = new Map<string, { ranks: Set<number>; count: number; first: (typeof report.failures)[number] }>();
    for (const f of report.failures) {
      if (p && f.rank === p.rank && f.step === p.step && f.call.call === p.call && f.call.args === p.args) continue;
      const key = `${f.step}: ${f.call.call} -> ${f.call.code} ${f.call.name}${f.detail ? ` (${f.detail})` : ''}`;
      const group = groups.get(key) ?? { ranks: new Set<number>(), count: 0, first: f };
      group.ranks.add(f.rank);
      group.count++;
      groups.set(key, group);
    }
    for (const [key, group] of groups) {
      const ranks = [...group.ranks].sort((a, b) => a - b).join(', ');
      out.push(`  rank${group.ranks.size > 1 ? 's' : ''} ${ranks}, ${key}${group.count > 1 ? `  (${group.count} calls)` : ''}`);
      // A different call from the pinpoint's may have a cause of its own (a hook's memory freed where it does not take it back).
      if (p && group.first.call.call !== p.call) {
        const rank = report.ranks.find((r) => r.rank === group.first.rank) ?? null;
        const why = explainFailure(probeEvidence(group.first, rank, null, report.options))[0];
        if (why) out.push(`    why: [${why.likelihood}] ${why.title}`);
      }
    }
  }
  if (report.rejected.length) {
    out.push('', `Rejected ${report.rejected.length + report.rejectedDropped} message(s) on the rendezvous:`);
    for (const r of report.rejected) out.push(`  ${r.from}: ${r.reason}: "${r.sample}"`);
  }
  if (report.cleanedUp.length) out.push('', `Removed shared memory left by killed ranks: ${report.cleanedUp.join(', ')}`);
  if (report.simulated) out.push('', SIMULATED_BANNER);
  return fitText(`${out.join('\n')}\n`, width);
}

export function renderMatrixReport(report: MatrixReport, options: RenderOptions = {}): string {
  const out: string[] = [];
  if (report.simulated) out.push(SIMULATED_BANNER, '');
  out.push(...answerLines(matrixAnswer(report)), '');
  const o = report.options;
  out.push(`cuipc matrix${report.simulated ? ' (SIMULATED)' : ''}: ${o.ranks} rank(s), ${o.inputs} input(s) x ${o.bytes} bytes, --capture-mode ${o.captureMode}, backend ${o.backend}`, '');
  const allocs = INPUT_ALLOCATORS.filter((a) => report.cells.some((c) => c.alloc === a));
  const shares = SHARE_STRATEGIES.filter((s) => report.cells.some((c) => c.share === s));
  const label = (status: string, step?: string, code?: number): string =>
    status === 'passed' ? 'pass' : status === 'skipped' ? '(n/a)' : status === 'aborted' ? 'COULD NOT RUN' : `FAIL ${step ?? ''}${code !== undefined ? ` ${code}` : ''}`;
  const width = 20;
  out.push(pad('alloc \\ share', 14) + shares.map((s) => pad(s, width)).join('').trimEnd());
  for (const alloc of allocs) {
    const row = shares.map((share) => {
      const cell = report.cells.find((c) => c.alloc === alloc && c.share === share);
      return pad(cell ? label(cell.status, cell.step, cell.code) : '', width);
    });
    out.push(pad(alloc, 14) + row.join('').trimEnd());
  }
  const failed = report.cells.filter((c) => c.status === 'failed' || c.status === 'aborted');
  if (failed.length) {
    out.push('', 'Failing cells:');
    for (const c of failed) out.push(`  ${c.alloc} + ${c.share}: ${c.reason ?? c.status}${c.explanation ? ` -- ${c.explanation}` : ''}`);
  }
  const skipped = report.cells.filter((c) => c.status === 'skipped');
  if (skipped.length) {
    const reasons = [...new Set(skipped.map((c) => c.reason))];
    out.push('', 'Not run (meaningless):', ...reasons.map((r) => `  ${skipped.filter((c) => c.reason === r).map((c) => `${c.alloc} + ${c.share}`).join(', ')}: ${r}`));
  }
  out.push('', 'What works here:', ...report.remedies.map((r) => `  ${r.advice}`));
  if (report.simulated) out.push('', SIMULATED_BANNER);
  return fitText(`${out.join('\n')}\n`, options.width ?? Infinity);
}
