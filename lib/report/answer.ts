// The answer a report opens with (issue 23: a user should not read 130 lines to find it): one
// line that says what failed, where and why, then what to change, the user's own launch first;
// the evidence follows. Probe, matrix, trace and the Markdown report all start from here.
import { describeProvenance } from './provenance.js';
import type { Explanation, FixCheck, FixChecks, MatrixReport, ProbeReport } from './types.js';

/** The verdict in one line, and the fixes to print under "Fix:" (most direct first). */
export interface Answer {
  headline: string;
  fix: string[];
  /** When the fixes were replayed: how many pass, said beside "Fix:". */
  checked?: string;
}

/** Remedies that only say how to look further are evidence-gathering, not fixes. */
const NOT_A_FIX = /^run `cuipc matrix`|^change one thing at a time|^`cuipc doctor`/;

/** 0,1,2,3,5 -> "0-3, 5". */
export function rangeList(ranks: readonly number[]): string {
  const sorted = [...new Set(ranks)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j += 1;
    parts.push(j > i ? `${sorted[i]}-${sorted[j]}` : `${sorted[i]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

/** "rank 2" or "ranks 0-3". */
export function ranksPhrase(ranks: readonly number[]): string {
  return `rank${new Set(ranks).size > 1 ? 's' : ''} ${rangeList(ranks)}`;
}

/** The cause as a clause: the explanation's own, else its title with a lower-case start. */
export function causeOf(e: Explanation): string {
  return e.cause ?? e.title.charAt(0).toLowerCase() + e.title.slice(1);
}

/** The fixes of an explanation: what the user changes in their launch first, then the rest. */
export function fixesOf(e: Explanation | undefined): string[] {
  if (!e) return [];
  return [...new Set([...(e.launchFix ?? []), ...e.tryNext])].filter((f) => !NOT_A_FIX.test(f));
}

/**
 * The answer of a probe report, whatever its result. `env`: the environment the probe ran in
 * (the CLI's), for what the report cannot know itself: an empty CUDA_VISIBLE_DEVICES.
 */
export function probeAnswer(report: ProbeReport, env: Readonly<Record<string, string | undefined>> = {}): Answer {
  if (report.result === 'passed') {
    const verify = report.ranks.map((r) => r.verify).filter((v) => v !== undefined);
    const bytes = verify.reduce((n, v) => n + v.bytesChecked, 0);
    const notExercised = report.warnings.length ? `; ${report.warnings.length} thing(s) in the environment NOT EXERCISED (below)` : '';
    return { headline: `PASSED: every step passed on ${ranksPhrase(report.ranks.map((r) => r.rank))}; ${bytes} bytes verified (${verify[0]?.mode ?? 'no'} check)${notExercised}`, fix: [] };
  }
  if (report.result === 'aborted') {
    const a = report.abort;
    const where = a.rank !== undefined && !a.message.includes(`rank ${a.rank}`) ? ` (rank ${a.rank}, step ${a.step ?? '?'}, call in flight: ${a.call ?? 'unknown'})` : '';
    const head = a.reason === 'interrupted' ? `INTERRUPTED (exit ${report.exitCode})` : `COULD NOT RUN (exit 3, ${a.reason})`;
    if (a.reason === 'no-driver' && emptyVisibleDevices(report, env)) {
      return {
        headline: `COULD NOT RUN (exit 3, no device): CUDA_VISIBLE_DEVICES is set but empty, which hides every GPU (${a.message})`,
        fix: ['unset CUDA_VISIBLE_DEVICES, or name the devices (CUDA_VISIBLE_DEVICES=0,1)', ...noDriverFix(report)],
      };
    }
    return { headline: `${head}: ${a.message}${where}`, fix: noDriverFix(report) };
  }
  const p = report.pinpoint;
  const ranks = report.failures.filter((f) => f.step === p.step && f.call.call === p.call).map((f) => f.rank);
  const top = p.explanations[0];
  const what = p.detail && p.code === 0 ? `${p.call}: ${p.detail}` : `${p.call} -> ${p.code} (${p.message})`;
  const headline = `FAILED: ${what} at ${p.step} on ${ranksPhrase(ranks.length ? ranks : [p.rank])}${top ? `: ${causeOf(top)}` : ''}`;
  return report.fixChecks ? { headline, ...markedFixes(fixesOf(top), report.fixChecks) } : { headline, fix: fixesOf(top) };
}

const CHECK_ORDER: Readonly<Record<FixCheck['status'], number>> = { verified: 0, cleared: 1, tried: 2, 'not-checked': 3 };

/** A replayed fix's mark: what its probe did. */
export function fixMark(check: FixCheck): string {
  if (check.status === 'verified') return 'verified: passes with it';
  if (check.status === 'cleared') return `clears this failure; later: ${check.outcome}`;
  if (check.status === 'tried') return `tried: ${check.result === 'failed' ? 'still fails' : 'could not run'} (${check.outcome})`;
  return `not checked (${check.why})`;
}

/**
 * The fixes with what their replays did, those that passed first (the order is otherwise the
 * answer's). A fix the checks do not list (none should be) stays, unmarked, at the end.
 */
function markedFixes(fixes: string[], checks: FixChecks): { fix: string[]; checked: string } {
  const byFix = new Map(checks.checks.map((c) => [c.fix, c]));
  const ordered = fixes
    .map((fix, i) => ({ fix, i, check: byFix.get(fix) }))
    .sort((a, b) => (a.check ? CHECK_ORDER[a.check.status] : 4) - (b.check ? CHECK_ORDER[b.check.status] : 4) || a.i - b.i);
  const ran = checks.checks.filter((c) => c.status !== 'not-checked').length;
  const passed = checks.checks.filter((c) => c.status === 'verified').length;
  const cleared = checks.checks.filter((c) => c.status === 'cleared').length;
  const seconds = (checks.durationMs / 1000).toFixed(1);
  const past = cleared ? `, ${cleared} more clear${cleared === 1 ? 's' : ''} this failure only` : ', each a probe of its own';
  const checked = ran === 0
    ? `none could be replayed${checks.interrupted ? `: stopped by ${checks.interrupted}` : ''}`
    : `${passed} of ${ran} replayed pass${ran === 1 ? 'es' : ''}${past}, ${seconds} s${checks.interrupted ? `; stopped by ${checks.interrupted}` : ''}`;
  return { fix: ordered.map(({ fix, check }) => (check ? `[${fixMark(check)}] ${fix}` : fix)), checked };
}

/** CUDA_VISIBLE_DEVICES='' in the probe's environment (and not set otherwise for the ranks): every device hidden. */
function emptyVisibleDevices(report: ProbeReport, env: Readonly<Record<string, string | undefined>>): boolean {
  return env.CUDA_VISIBLE_DEVICES === '' && !report.options.envKeys.includes('CUDA_VISIBLE_DEVICES');
}

/** Without a driver, the one fix is the simulated device (or the right devices). */
function noDriverFix(report: ProbeReport): string[] {
  if (report.result !== 'aborted' || report.abort.reason !== 'no-driver' || report.options.backend === 'sim') return [];
  return ['no GPU here? run on the simulated device: --backend sim (or CUIPC_BACKEND=sim)'];
}

/** The lines an answer opens a text report with: the headline, then "Fix:" and at most `maxFixes` fixes. */
export function answerLines(answer: Answer, maxFixes = Infinity): string[] {
  const lines = [answer.headline];
  const shown = answer.fix.slice(0, maxFixes);
  if (shown.length) lines.push(answer.checked ? `Fix (${answer.checked}):` : 'Fix:', ...shown.map((f) => `  - ${f}`));
  if (answer.fix.length > shown.length) lines.push(`  (${answer.fix.length - shown.length} more with --verbose)`);
  return lines;
}

/** The few facts behind a failed probe's answer, one line each, for the default report. */
export function keyEvidence(report: ProbeReport): string[] {
  const p = report.pinpoint;
  if (!p) return [];
  const out: string[] = [];
  if (p.provenance) out.push(`rank ${p.rank}, pointer ${p.provenance.ptr}: ${describeProvenance(p.provenance)}`);
  else {
    const firstArg = Object.entries(p.args)[0];
    const value = firstArg ? String(firstArg[1]) : '';
    out.push(`rank ${p.rank}: ${p.call}(${firstArg ? `${firstArg[0]}=${value.length > 24 ? `${value.slice(0, 16)}...` : value}` : ''}${Object.keys(p.args).length > 1 ? ', ...' : ''}) -> ${p.name}`);
  }
  const rank = report.ranks.find((r) => r.rank === p.rank);
  const region = rank?.memorySaver;
  if (region && region.mode !== 'off' && (region.entered || region.variable !== null)) out.push(`memory saver: ${region.entered ? 'region entered' : 'region not entered'} (${region.reason})`);
  const interposed = (rank?.loader?.allocation ?? []).filter((o) => o.interposed);
  for (const path of new Set(interposed.map((o) => o.path))) {
    out.push(`loader: ${interposed.filter((o) => o.path === path).map((o) => o.symbol).join(', ')} from ${path} (interposed)`);
  }
  const hazards = (rank?.hazards ?? []).filter((h) => h.severity === 'high');
  if (hazards.length) out.push(`environment hazards [high]: ${hazards.map((h) => h.id).join(', ')}`);
  return out;
}

/** The answer of a matrix: which cells fail, and a share strategy that works for every allocator. */
export function matrixAnswer(report: MatrixReport): Answer {
  const ran = report.cells.filter((c) => c.status !== 'skipped');
  const bad = ran.filter((c) => c.status !== 'passed');
  if (bad.length === 0) return { headline: `PASSED: all ${ran.length} cells that apply pass here (every allocator x share strategy)`, fix: [] };
  const byShare = new Map<string, string[]>();
  for (const c of bad) byShare.set(c.share, [...(byShare.get(c.share) ?? []), c.alloc]);
  const which = [...byShare].map(([share, allocs]) => `${share} with ${allocs.join(', ')}`).join('; ');
  const first = bad[0];
  const how = first.step !== undefined && first.call !== undefined ? ` (first: ${first.step}: ${first.call} -> ${first.code ?? '?'}${first.name ? ` ${first.name}` : ''})` : '';
  const allocs = [...new Set(ran.map((c) => c.alloc))];
  const everywhere = [...new Set(ran.map((c) => c.share))].filter((share) => allocs.every((a) => ran.some((c) => c.alloc === a && c.share === share && c.status === 'passed')));
  const fix = everywhere.length
    ? everywhere.map((share) => `--share ${share} passes with every allocator here${share === 'copy' ? ' (in SGLang the v1 path, SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2=0, or the upstream fix)' : ''}`)
    : report.remedies.filter((r) => !r.working.includes('ipc')).map((r) => r.advice);
  return { headline: `${bad.length} of ${ran.length} cells FAIL: ${which}${how}`, fix };
}
