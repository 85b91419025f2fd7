// `cuipc probe` answers first, then tears down: the verdict is printed from the probe's onAnswer,
// as soon as the last result is in, while the ranks still release their contexts (100-150 ms
// per process on a GPU); the process still waits for every rank before it exits. The JSON
// (--json, -o) is the final report, written once everything is cleaned up. Should the verdict
// change after it was printed (a signal while the ranks leave), one more line says so, and the
// exit status is the final report's.
import type { ProbeReport } from '../report/types.js';
import type { ProgressLine } from './progress.js';

export interface AnswerFirst {
  /** For ProbeRunControls.onAnswer: prints the verdict at once (once). */
  onAnswer: (report: ProbeReport) => void;
  /** Whether the verdict was printed early; the final emit then writes only the JSON. */
  answered(): boolean;
  /** What to print after the final report: '' when the printed verdict stands. */
  afterword(final: ProbeReport): string;
}

/**
 * `enabled`: the text (or Markdown) goes to stdout (not --quiet, not --json). `print` writes it
 * as the final emit would. On a terminal, `line` says what is still going on below the answer.
 */
export function answerFirst(enabled: boolean, line: ProgressLine, print: (report: ProbeReport) => void): AnswerFirst {
  let early: ProbeReport | null = null;
  return {
    onAnswer(report) {
      if (!enabled || early !== null) return;
      early = report;
      line.clear();
      print(report);
      const leaving = report.ranks.filter((r) => r.exit === null).length;
      if (leaving > 0) line.update(`cuipc probe: waiting for ${leaving} rank${leaving === 1 ? '' : 's'} to exit (the answer above stands unless interrupted)`);
    },
    answered: () => early !== null,
    afterword(final) {
      if (early === null || (final.result === early.result && final.exitCode === early.exitCode)) return '';
      const why = final.abort ? final.abort.message : `the result is now ${final.result}`;
      return `${final.abort?.reason === 'interrupted' ? 'INTERRUPTED' : final.result.toUpperCase()} (exit ${final.exitCode}) while the ranks were leaving, after the answer above: ${why}\n`;
    },
  };
}
