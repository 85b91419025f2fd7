// `cuipc trace report --format markdown`: a trace summary as an issue report (lib/report/markdown.ts
// renders it): the first failing IPC call and its cause, the processes traced, the variables the
// hazards name (values as the trace kept them, already redacted), the full summary as evidence.
import { renderIssueMarkdown, variablesOf, type IssueReport } from '../report/markdown.js';
import { renderTraceSummary, traceAnswer } from './render.js';
import type { TraceSummary } from './summary.js';

export function traceIssue(s: TraceSummary): IssueReport {
  const answer = traceAnswer(s) ?? {
    headline: s.processes.length ? `OK: no traced IPC call failed in ${s.processes.length} process(es)` : 'NOTHING TRACED: no process of the command initialised CUDA',
    fix: [],
  };
  return {
    command: 'cuipc trace',
    simulated: s.synthetic,
    answer,
    noFix: s.failing === 0 ? 'nothing to change: no traced call failed' : undefined,
    environment: [
      ['Processes', `${s.processes.length} used CUDA, ${s.failing} with a failing traced call${s.untraced ? `, ${s.untraced} not traced` : ''}`],
      ['Run', s.run ?? '(no run id)'],
    ],
    variables: variablesOf(s.processes.flatMap((p) => p.hazards)),
    libraries: [],
    evidence: renderTraceSummary(s, { verbose: true }),
  };
}

export function renderTraceMarkdown(s: TraceSummary): string {
  return renderIssueMarkdown(traceIssue(s));
}
