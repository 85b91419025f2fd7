// `cuipc probe` answers first, then tears down: the verdict is printed from the probe's onAnswer,
// as soon as the last result is in, while the ranks still release their contexts (100-150 ms
// per process on a GPU); the process still waits for every rank before it exits. The JSON
// (--json, -o) is the final report, written once everything is cleaned up. Should the verdict
// change after it was printed (a signal while the ranks leave), one more line says so, and the
// exit status is the final report's. When the fixes are replayed after a failure (--check-fixes,
// the default), only the verdict line comes at once; the rest, its Fix list marked with what
// each replay did, follows when they are done.
import type { ProbeReport } from '../report/types.js';
import type { ProgressLine } from './progress.js';

export interface AnswerFirst {
  /** For ProbeRunControls.onAnswer: prints the verdict at once (once). */
  onAnswer: (report: ProbeReport) => void;
  /** Whether the verdict was printed early; the final emit then writes only the JSON. */
  answered(): boolean;
  /** What of the final report is still to print: what followed the verdict, held for the fix replays; else ''. */
  rest(final: ProbeReport): string;
  /** What to print after the final report: '' when the printed verdict stands. */
  afterword(final: ProbeReport): string;
}

/**
 * Where the text splits: before the Fix list, so the verdict (however many lines it wraps to, and
 * the banner before it) comes at once; 0 when there is no verdict to split at.
 */
function verdictEnd(text: string): number {
  const at = text.search(/^FAILED: /m);
  if (at < 0) return 0;
  const fix = text.slice(at).search(/^(Fix[ :(]|Evidence|probe: )/m);
  return fix < 0 ? text.length : at + fix;
}

/**
 * `enabled`: the text (or Markdown) goes to stdout (not --quiet, not --json). `textOf` renders a
 * report as the final emit would, `write` prints. `hold(report)`: the fixes will be replayed, so
 * only the verdict line is printed now (the whole Markdown waits: it is one document). On a
 * terminal, `line` says what is still going on below the answer.
 */
export function answerFirst(
  enabled: boolean,
  line: ProgressLine,
  textOf: (report: ProbeReport) => string,
  write: (text: string) => void,
  hold: (report: ProbeReport) => { split: boolean } | null = () => null,
): AnswerFirst {
  let early: ProbeReport | null = null;
  let held: { split: boolean; printed: number; text: string } | null = null;
  return {
    onAnswer(report) {
      if (!enabled || early !== null) return;
      early = report;
      line.clear();
      const text = textOf(report);
      const holding = hold(report);
      if (holding) {
        const printed = holding.split ? verdictEnd(text) : 0;
        held = { split: holding.split, printed, text };
        write(text.slice(0, printed));
      } else {
        write(text);
      }
      const leaving = report.ranks.filter((r) => r.exit === null).length;
      if (leaving > 0) line.update(`cuipc probe: waiting for ${leaving} rank${leaving === 1 ? '' : 's'} to exit (the answer above stands unless interrupted)`);
    },
    answered: () => early !== null,
    rest(final) {
      if (held === null) return '';
      // The verdict was printed; what follows it comes from the final report (its fixes marked).
      // Should the final have no verdict line to split at, the held text's rest stands.
      const text = textOf(final);
      const at = held.split ? verdictEnd(text) : 0;
      return held.split && at === 0 ? held.text.slice(held.printed) : text.slice(at);
    },
    afterword(final) {
      const checks = final.fixChecks;
      if (checks?.interrupted) return `INTERRUPTED while replaying the fixes (${checks.interrupted}): the verdict above stands; the fixes not replayed say so\n`;
      if (early === null || (final.result === early.result && final.exitCode === early.exitCode)) return '';
      const why = final.abort ? final.abort.message : `the result is now ${final.result}`;
      return `${final.abort?.reason === 'interrupted' ? 'INTERRUPTED' : final.result.toUpperCase()} (exit ${final.exitCode}) while the ranks were leaving, after the answer above: ${why}\n`;
    },
  };
}
