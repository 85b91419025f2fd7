// A trace summary for a person. Quiet when nothing failed and every process was traced
// (unless verbose); otherwise per process: the first failing call, its pointer's provenance
// and origin, the capture state, the environment hazards, and the explanation.
import { formatHazard } from '../env/hazards.js';
import { answerLines, causeOf, fixesOf, type Answer } from '../report/answer.js';
import { describeProvenance } from '../report/provenance.js';
import { callCodeText } from './codes.js';
import type { TraceFailure } from './failure.js';
import type { TraceArgument, TraceCallLine } from './format.js';
import { describeOrigin, libraryName } from './origin.js';
import type { ProcessSummary, TraceSummary } from './summary.js';

const SYNTHETIC_BANNER = 'SYNTHETIC TRACE -- hand-made fixture, not recorded on a GPU';

function argText(v: TraceArgument): string {
  if (typeof v === 'object') return `${v.type}:${v.id}`;
  if (typeof v === 'string' && v.length > 40) return `${v.slice(0, 16)}...`;  // IPC handles
  return String(v);
}

function formatCall(c: TraceCallLine): string {
  const args = Object.entries(c.args).map(([k, v]) => `${k}=${argText(v)}`).join(', ');
  const text = callCodeText(c);
  return `${c.call}(${args}) -> ${c.code} ${text.name}${c.code !== 0 ? ` ("${text.message}")` : ''}`;
}

function commandLine(p: ProcessSummary): string {
  const argv = p.argv.length ? p.argv : [p.exe || '?'];
  const shown = argv.slice(0, 8).map((a) => (/[\s"'$]/.test(a) ? JSON.stringify(a) : a)).join(' ');
  return argv.length > 8 ? `${shown} ...` : shown;
}

function failureLines(f: TraceFailure, p: ProcessSummary, verbose: boolean): string[] {
  const c = f.call;
  const out: string[] = [];
  const label = p.failureKind === 'ipc' ? 'First failing IPC call' : 'First failing call (no IPC call failed)';
  out.push(`  ${label}: ${formatCall(c)}`);
  out.push(`    traced call #${c.seq}, thread ${c.tid}, ${c.t.toFixed(1)} ms after CUDA started${c.caller ? `, called from ${[c.caller.lib, ...(c.libs ?? []).slice(0, 2)].map(libraryName).join(' <- ')}` : ''}`);
  for (const inner of f.inner) out.push(`    inside it, the ${inner.api}'s ${formatCall(inner)}`);
  if (f.provenance) {
    const pr = f.provenance;
    out.push(`  Pointer ${pr.ptr}: ${describeProvenance(pr)}`);
    out.push(`    memory type ${pr.memoryType ?? '?'} (${pr.memoryTypeName}), device ${pr.device ?? '?'}, range ${pr.rangeStart ?? '?'} + ${pr.rangeSize ?? '?'} bytes, cuMemRetainAllocationHandle ${pr.vmm === null ? 'unknown' : pr.vmm ? 'succeeds (VMM)' : 'fails (not VMM)'}`);
  } else if (c.provenance?.unavailable) {
    out.push(`  Pointer attributes unavailable: ${c.provenance.unavailable}`);
  }
  const ptr = typeof c.args.ptr === 'string' ? c.args.ptr : null;
  if (ptr !== null) out.push(`  Where it came from: ${describeOrigin(f.origin, ptr)}`);
  if (f.capture) {
    const mine = f.capture.active.filter((a) => a.sameThread);
    const others = f.capture.active.filter((a) => !a.sameThread);
    const parts = [
      mine.length ? `this thread is capturing stream ${mine.map((a) => `${a.stream} (${a.mode ?? '?'}, since call #${a.seq})`).join(', ')}` : 'this thread is not capturing',
      ...(others.length ? [`other threads capture ${others.map((a) => `${a.stream} (${a.mode ?? '?'}, thread ${a.tid})`).join(', ')}`] : []),
      `thread capture mode ${f.capture.threadMode ?? 'unknown'}`,
    ];
    out.push(`  Capture: ${parts.join('; ')}`);
  }
  const shown = verbose ? p.hazards : p.hazards.filter((h) => h.severity !== 'info');
  const hidden = p.hazards.length - shown.length;
  if (shown.length) {
    out.push(`  Environment hazards${hidden ? ` (${hidden} informational not shown; --verbose)` : ''}:`);
    for (const h of shown) out.push(`    ${formatHazard(h)}`);
  } else {
    out.push(`  Environment hazards: none${hidden ? ` above informational (${hidden}; --verbose)` : ''}`);
  }
  out.push('  Why (most likely first):');
  f.explanations.forEach((e, i) => {
    out.push(`    ${i + 1}. [${e.likelihood}] ${e.title}`, `       ${e.summary}`);
    if (e.evidence.length) out.push('       evidence:', ...e.evidence.map((x) => `         - ${x}`));
    if (e.tryNext.length) out.push('       try:', ...e.tryNext.map((x) => `         - ${x}`));
  });
  return out;
}

/** Whether the summary has anything to say when not verbose. */
export function summaryIsQuiet(s: TraceSummary): boolean {
  return s.failing === 0 && s.untraced === 0 && s.processes.length > 0 && s.processes.every((p) => p.problems.length === 0);
}

export interface RenderOptions {
  verbose?: boolean;
  /** The wrapped command's exit status, when the summary follows a run. */
  commandStatus?: { code: number | null; signal: string | null };
}

/** The answer a failing trace opens with: the first process's first failing call, where and why. */
export function traceAnswer(s: TraceSummary): Answer | null {
  const failing = s.processes.filter((p) => p.firstFailure !== null);
  const p = failing.find((x) => x.failureKind === 'ipc') ?? failing[0];
  if (!p?.firstFailure) return null;
  const c = p.firstFailure.call;
  const text = callCodeText(c);
  const top = p.firstFailure.explanations[0];
  const more = failing.length > 1 ? ` (and ${failing.length - 1} other process(es))` : '';
  return { headline: `FAILED: ${c.call} -> ${c.code} (${text.message}) in process ${p.pid ?? '?'}${more}${top ? `: ${causeOf(top)}` : ''}`, fix: fixesOf(top) };
}

export function renderTraceSummary(s: TraceSummary, options: RenderOptions = {}): string {
  const verbose = options.verbose === true;
  if (!verbose && summaryIsQuiet(s)) return '';
  const out: string[] = [];
  if (s.synthetic) out.push(SYNTHETIC_BANNER, '');
  const status = options.commandStatus;
  const exited = status ? (status.signal ? `the command was killed by ${status.signal}; ` : `the command exited with status ${status.code}; `) : '';
  if (s.processes.length === 0) {
    out.push(
      `cuipc trace: ${exited}no process of the command initialised CUDA${s.dir ? ` (no trace in ${s.dir})` : ''}.`,
      '  If it did use CUDA, the driver did not load the injection library: the variable CUDA_INJECTION64_PATH did not reach that process',
      '  (a launcher that clears the environment, or a Ray cluster started before this command: pass CUDA_INJECTION64_PATH, CUIPC_TRACE_DIR',
      '  and CUIPC_TRACE_RUN through runtime_env env_vars).',
    );
    return `${out.join('\n')}\n`;
  }
  const answer = traceAnswer(s);
  if (answer) out.push(...answerLines(answer, verbose ? Infinity : 3), '');
  out.push(
    `cuipc trace: ${exited}${s.processes.length} process(es) used CUDA${s.run ? ` (run ${s.run})` : ''}; ` +
      `${s.failing} with a failing traced call${s.untraced ? `, ${s.untraced} NOT traced` : ''}.${s.dir ? ` Traces: ${s.dir}` : ''}`,
  );
  if (s.otherRuns.length) out.push(`  The folder holds ${s.otherRuns.length} other run(s): ${s.otherRuns.map((r) => r ?? '(no run id)').join(', ')} (cuipc trace report DIR --run ID)`);
  for (const p of s.processes) {
    const interesting = p.firstFailure !== null || p.state !== 'tracing' || p.problems.length > 0;
    if (!interesting && !verbose) continue;
    out.push('');
    out.push(`Process ${p.pid ?? '?'}${p.ppid ? ` (parent ${p.ppid})` : ''}${p.host ? ` on ${p.host}` : ''}: ${commandLine(p)}`);
    if (p.synthetic) out.push(`  (${p.synthetic})`);
    if (p.stateMessage) out.push(`  ${p.stateMessage}`);
    if (p.state === 'tracing' && p.firstFailure === null) out.push(`  ${p.calls} call(s) traced, none failed${p.complete ? '' : ' (the process did not exit normally: its trace may be cut short)'}`);
    if (p.firstFailure) out.push(...failureLines(p.firstFailure, p, verbose));
    if (p.otherFailures.length) {
      out.push(`  Other failing calls (${p.otherFailures.length}):`);
      for (const c of p.otherFailures.slice(0, verbose ? undefined : 5)) out.push(`    #${c.seq} thread ${c.tid}: ${formatCall(c)}`);
      if (!verbose && p.otherFailures.length > 5) out.push(`    ... ${p.otherFailures.length - 5} more (--verbose)`);
    }
    if (p.firstFailure && !p.complete) out.push('  The process did not exit normally (no end line): a crash or a kill followed.');
    for (const problem of p.problems) out.push(`  trace problem: ${problem}`);
  }
  if (s.synthetic) out.push('', SYNTHETIC_BANNER);
  return `${out.join('\n')}\n`;
}
