// `cuipc bisect --format markdown`: the bisect result as an issue report (lib/report/markdown.ts
// renders it). Here because the result's types are bisect's; the answer and fixes are the text
// report's own (render.ts), the variables the changes the JSON holds (already redacted).
import { renderIssueMarkdown, type IssueReport, type Variable } from '../report/markdown.js';
import { bisectFixes, explainNone, failureText, renderBisect } from './render.js';
import type { BisectResult, BisectSide, Change } from './types.js';

/** At most this many changes are listed as variables when no minimal set was found. */
const MAX_CHANGES = 20;

function side(s: BisectSide | null): string {
  if (s === null) return 'not known (interrupted before its probe ended)';
  const what = s.result === 'passed' ? 'passed' : s.result === 'failed' ? `failed (${s.failure ? failureText(s.failure) : '?'})` : `could not run (${s.abort?.reason ?? '?'})`;
  return `${s.label ? `'${s.label}'` : '(no label)'}${s.hostname ? ` on ${s.hostname}` : ''}: ${what}`;
}

function variable(c: Change): Variable {
  if (c.bad === null) return { name: c.variable, value: c.good, note: `removed in BAD (${c.description})` };
  return { name: c.variable, value: c.bad, note: c.change === 'changed' && c.good !== null ? `(GOOD: ${c.good})` : `(${c.description})` };
}

export function bisectIssue(r: BisectResult): IssueReport {
  const s = r.settings;
  const shown = r.outcome === 'found' ? r.minimal : r.outcome === 'interrupted' ? r.candidates.slice(0, MAX_CHANGES) : r.changes.slice(0, MAX_CHANGES);
  const verdict = r.outcome === 'found' ? 'cause found' : r.outcome === 'none' ? 'no cause found' : r.outcome === 'interrupted' ? `INTERRUPTED (${r.signal})` : 'COULD NOT RUN';
  const libraries = shown.filter((c) => c.kind === 'preload-entry').map((c) => `LD_PRELOAD entry ${c.bad ?? c.good ?? '?'} (${c.change})`);
  return {
    command: 'cuipc bisect',
    verdict,
    simulated: r.simulated,
    answer: { headline: r.answer, fix: r.outcome === 'found' ? bisectFixes(r) : [] },
    noFix: r.outcome === 'none' ? explainNone(r) : r.outcome === 'could-not-run' ? r.message : r.outcome === 'interrupted' ? r.answer : undefined,
    environment: [
      ['Backend', `${s.backend}${r.simulated ? ' (simulated)' : ''}`],
      ['Launcher', s.launcher],
      ['Probe', `${s.ranks} ranks, ${s.inputs} inputs x ${s.bytes} bytes, --alloc ${s.alloc}, --share ${s.share}`],
      ['GOOD', side(r.good)],
      ['BAD', side(r.bad)],
      ['Searched', `${r.changes.length} change(s), ${r.heldFixed.length} held fixed, ${r.probeCount} probe(s), exit ${r.exitCode}`],
    ],
    variables: [
      ...shown.map(variable),
      ...(r.outcome !== 'found' && r.changes.length > MAX_CHANGES ? [{ name: `(${r.changes.length - MAX_CHANGES} more changes)`, value: null, note: 'in the JSON (--json)' }] : []),
    ],
    libraries,
    evidence: renderBisect(r),
  };
}

export function renderBisectMarkdown(r: BisectResult): string {
  return renderIssueMarkdown(bisectIssue(r));
}
