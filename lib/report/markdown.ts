// `--format markdown` (issue 23): a report to paste into an SGLang, Miles or PyTorch issue. Every
// command fills one IssueReport (the answer answer.ts makes, the fix, a short environment, the
// full text report as evidence) and renderIssueMarkdown writes it the same way for all. Only what
// the JSON document holds is printed: a variable's value only where the report kept one (hazards
// and the memory-saver region keep them, already redacted when they look secret).
import { matrixAnswer, probeAnswer, type Answer } from './answer.js';
import { renderMatrixReport, renderProbeReport } from './render.js';
import type { MatrixReport, ProbeReport } from './types.js';
import type { Hazard } from '../env/hazards.js';

export interface Variable {
  name: string;
  value: string | null;
  /** Said after it, e.g. "removed in BAD"; default for a null value: its value is not kept. */
  note?: string;
}

/** What every command's Markdown report is made of. */
export interface IssueReport {
  /** 'cuipc probe', 'cuipc bisect', ... */
  command: string;
  /** The heading's verdict; default: the headline up to its first colon. */
  verdict?: string;
  simulated: boolean;
  answer: Answer;
  /** Said under Fix when there is none; default: nothing to change. */
  noFix?: string;
  /** Short facts, one table row each: ['GPU', 'NVIDIA H100 x4']. */
  environment: Array<[string, string]>;
  /** Variables as the report holds them; value null where the report kept only the name. */
  variables: Variable[];
  /** Libraries that matter: the CUDA driver and runtime, interposers, allocator hooks. */
  libraries: string[];
  /** A command that replays it (built from the report, so it holds only the report's values). */
  replay?: string;
  /** The whole text report, shown folded. */
  evidence: string;
  cuipcVersion?: string;
}

/** Longest a table cell may be: tables stay readable in an issue. */
const CELL_MAX = 120;

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/** Inline text with Markdown's special characters escaped (not an intraword _), `code spans` kept as code. */
export function inline(text: string): string {
  return stripAnsi(text)
    .split(/(`[^`\n]+`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/[\\*<[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, (c) => `\\${c}`)))
    .join('');
}

/** One line of code, as a code span that survives any backticks inside it. */
export function code(text: string): string {
  const runs = stripAnsi(text).match(/`+/g) ?? [];
  const ticks = '`'.repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${stripAnsi(text)}${pad}${ticks}`;
}

/** A fenced block whose fence no line inside can close. */
export function fence(text: string, info = 'text'): string {
  const body = stripAnsi(text).replace(/\n+$/, '');
  const runs = body.match(/`{3,}/g) ?? [];
  const ticks = '`'.repeat(Math.max(3, ...runs.map((r) => r.length + 1)));
  return `${ticks}${info}\n${body}\n${ticks}`;
}

function cell(text: string): string {
  const one = stripAnsi(text).replace(/\s+/g, ' ').trim();
  return inline(one.length > CELL_MAX ? `${one.slice(0, CELL_MAX - 3)}...` : one);
}

/** The report in Markdown: heading, answer, fix, environment, replay, then the evidence folded. */
export function renderIssueMarkdown(r: IssueReport): string {
  const verdict = r.verdict ?? r.answer.headline.split(':')[0].trim();
  const out: string[] = [`### ${inline(r.command)}: ${inline(verdict)}${r.simulated ? ' (simulated device)' : ''}`, ''];
  if (r.simulated) out.push('> Ran on cuipc\'s simulated device, not a GPU: it follows recorded H200 behaviour.', '');
  out.push(`**${inline(r.answer.headline)}**`, '');
  out.push('**Fix:**', '');
  if (r.answer.fix.length) out.push(...r.answer.fix.map((f) => `- ${inline(f)}`));
  else out.push(`- ${inline(r.noFix ?? 'nothing to change: no failure was found')}`);
  if (r.answer.checked) out.push('', `Checked: ${inline(r.answer.checked)}.`);
  out.push('', '**Environment:**', '', '| | |', '|---|---|', ...r.environment.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`), '');
  const variable = (v: Variable): string =>
    `- ${code(v.value === null ? v.name : `${v.name}=${v.value}`)}${v.note ? ` ${inline(v.note)}` : v.value === null ? ' (given; its value is not kept in the report)' : ''}`;
  if (r.variables.length) out.push('Variables:', '', ...r.variables.map(variable), '');
  if (r.libraries.length) out.push('Libraries:', '', ...r.libraries.map((l) => `- ${code(l)}`), '');
  if (r.replay) out.push('Replay:', '', fence(r.replay, 'sh'), '');
  out.push('<details>', `<summary>Evidence: the full ${inline(r.command)} report</summary>`, '', fence(r.evidence), '', '</details>', '');
  if (r.cuipcVersion) out.push(`<sub>cuipc ${inline(r.cuipcVersion)}</sub>`, '');
  return out.join('\n');
}

/** Hazards' and the memory saver's variables with the values the report holds, then other names alone. */
export function variablesOf(hazards: readonly Hazard[], names: readonly string[] = [], known: Record<string, string> = {}): Variable[] {
  const values = new Map<string, string>(Object.entries(known));
  for (const h of hazards) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(h.variable) && !values.has(h.variable)) values.set(h.variable, h.value);
  return [...new Set([...names, ...values.keys()])].map((name) => ({ name, value: values.get(name) ?? null }));
}

/** "cuipc simulated H200 x4", or each distinct name. */
function gpus(names: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([n, c]) => (c > 1 ? `${n} x${c}` : n)).join(', ') || 'unknown (no rank reported its device)';
}

/** A shell word, quoted when it needs to be. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The probe's command line as the report allows: the options it records, --env only with kept values. */
function probeReplay(report: ProbeReport, variables: readonly Variable[]): string {
  const o = report.options;
  const words = ['cuipc', 'probe', '--backend', o.backend, '--ranks', String(o.ranks), '--inputs', String(o.inputs), '--bytes', String(o.bytes), '--alloc', o.alloc, '--share', o.share, '--capture-mode', o.captureMode];
  if (o.launch?.launcher === 'ray') words.push('--launcher', 'ray');
  else if (o.launch?.visibility === 'per-rank') words.push('--visibility', 'per-rank');
  const given = variables.filter((v) => v.value !== null && o.envKeys.includes(v.name));
  for (const v of given) words.push('--env', `${v.name}=${v.value}`);
  const missing = o.envKeys.filter((k) => !given.some((v) => v.name === k));
  const note = missing.length ? `# also given, values not kept in the report: ${missing.join(', ')}\n` : '';
  return `${note}${words.map(shellWord).join(' ')}`;
}

/** A probe report as an IssueReport. `env`: the CLI's environment, for what answer.ts reads of it. */
export function probeIssue(report: ProbeReport, env: Readonly<Record<string, string | undefined>> = {}): IssueReport {
  const loaders = report.ranks.map((r) => r.loader).filter((l) => l !== null);
  const hazards = report.ranks.flatMap((r) => r.hazards);
  const known: Record<string, string> = {};
  const saver = report.ranks.find((r) => r.memorySaver?.variable != null)?.memorySaver;
  if (saver?.variable != null) known.SGLANG_MEMORY_SAVER_CUDA_GRAPH = saver.variable;
  const variables = variablesOf(hazards, report.options.envKeys, known);
  const libraries = new Set<string>();
  for (const l of loaders) {
    if (l.driver) libraries.add(`driver: ${l.driver}`);
    if (l.runtime) libraries.add(`runtime: ${l.runtime}`);
    for (const s of l.allocation) if (s.interposed) libraries.add(`${s.symbol} from ${s.path} (interposed)`);
  }
  for (const r of report.ranks) for (const h of r.memorySaver?.hooks ?? []) if (h.library) libraries.add(`allocator hook ${h.abi}: ${h.library}`);
  const launch = report.options.launch;
  return {
    command: 'cuipc probe',
    simulated: report.simulated,
    answer: probeAnswer(report, env),
    ...(report.result === 'aborted' ? { noFix: 'none from this run: the probe could not run to the end (the evidence says why)' } : {}),
    environment: [
      ['GPU', gpus(report.ranks.flatMap((r) => (r.device ? [r.device.name] : [])))],
      ['Backend', `${report.options.backend}${report.simulated ? ' (simulated)' : ''}`],
      ['CUDA driver', loaders[0]?.driver ?? 'not loaded'],
      ['CUDA runtime', loaders[0]?.runtime ?? 'not loaded'],
      ['Launcher', launch ? `${launch.launcher}${launch.visibility ? `, visibility ${launch.visibility}` : ''}` : 'plain'],
      ['Probe', `${report.options.ranks} ranks, --alloc ${report.options.alloc}, --share ${report.options.share}, exit ${report.exitCode}`],
    ],
    variables,
    libraries: [...libraries],
    replay: probeReplay(report, variables),
    evidence: renderProbeReport(report, { env }),
    cuipcVersion: report.cuipcVersion,
  };
}

export function renderProbeMarkdown(report: ProbeReport, env: Readonly<Record<string, string | undefined>> = {}): string {
  return renderIssueMarkdown(probeIssue(report, env));
}

export function renderMatrixMarkdown(report: MatrixReport): string {
  const o = report.options;
  return renderIssueMarkdown({
    command: 'cuipc matrix',
    simulated: report.simulated,
    answer: matrixAnswer(report),
    environment: [
      ['Backend', `${o.backend}${report.simulated ? ' (simulated)' : ''}`],
      ['Matrix', `${o.ranks} ranks, ${o.inputs} inputs x ${o.bytes} bytes, --capture-mode ${o.captureMode}, exit ${report.exitCode}`],
    ],
    variables: variablesOf([], o.envKeys),
    libraries: [],
    evidence: renderMatrixReport(report),
    cuipcVersion: report.cuipcVersion,
  });
}
