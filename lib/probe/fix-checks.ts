// --check-fixes: a failed probe's answer says what to change (answer.ts: the explanation rules'
// and the hazard table's fix texts); here each fix a probe option can express is replayed as a
// probe of its own, with the same options but that one change, so the answer can say which
// fixes pass on this machine instead of leaving the user to try them. FIX_TABLE is the one
// place a fix text meets a change of the probe's options; a fix no row matches is listed as
// not checked, with why. Each replay is a whole probe (its own ranks, its own clean-up); a
// signal stops the one running and starts no further one.
import type { EnvSnapshot } from '../env/capture.js';
import { parseAllocConf } from '../env/alloc-conf.js';
import { splitLdPreload } from '../env/preload.js';
import { fixesOf } from '../report/answer.js';
import type { FailedProbeReport, FixCheck, FixChecks, ProbeReport } from '../report/types.js';
import type { CaptureMode } from '../../binding.js';
import { STEPS, type InputAllocator, type MemorySaverMode, type ShareStrategy, type StepName } from '../model/vocabulary.js';
import type { FixCheckEvent, ProbeOptions } from './options.js';

export type { FixCheckEvent } from './options.js';

/** A fix as a change to the probe's options. */
export type FixChange =
  | { kind: 'options'; set: { alloc?: InputAllocator; share?: ShareStrategy; captureMode?: CaptureMode; memorySaverRegion?: MemorySaverMode } }
  /** The variable removed from the ranks' environment. */
  | { kind: 'unset'; variable: string }
  /** The LD_PRELOAD entries that serve the ranks' cudaMalloc (the report's interposed libraries and allocator hooks) removed. */
  | { kind: 'drop-preload' }
  /** One key removed from PyTorch's allocator settings (PYTORCH_CUDA_ALLOC_CONF, PYTORCH_ALLOC_CONF). */
  | { kind: 'alloc-conf-drop'; key: 'expandable_segments' | 'backend' };

export interface FixRow {
  id: string;
  /** Matched against the fix's text, as the rules write it; the first matching row decides. */
  matches: RegExp;
  change: FixChange;
}

/**
 * Which fix texts a probe can replay, and how. Order matters where one text names two changes
 * ("launch without that LD_PRELOAD entry, or ... unset SGLANG_MEMORY_SAVER_CUDA_GRAPH"): the
 * first, most direct, is the one replayed.
 */
export const FIX_TABLE: readonly FixRow[] = [
  { id: 'drop-preload', matches: /without that LD_PRELOAD entry|remove it from LD_PRELOAD/, change: { kind: 'drop-preload' } },
  { id: 'unset-memory-saver-cuda-graph', matches: /unset SGLANG_MEMORY_SAVER_CUDA_GRAPH/, change: { kind: 'unset', variable: 'SGLANG_MEMORY_SAVER_CUDA_GRAPH' } },
  { id: 'unset-tms-init-enable', matches: /do not pass TMS_INIT_ENABLE/, change: { kind: 'unset', variable: 'TMS_INIT_ENABLE' } },
  { id: 'drop-expandable-segments', matches: /remove expandable_segments/, change: { kind: 'alloc-conf-drop', key: 'expandable_segments' } },
  { id: 'native-backend', matches: /use the native backend/, change: { kind: 'alloc-conf-drop', key: 'backend' } },
  { id: 'vmm-export', matches: /--alloc vmm-fd --share vmm-export/, change: { kind: 'options', set: { alloc: 'vmm-fd', share: 'vmm-export' } } },
  { id: 'share-copy', matches: /--share copy|SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2=0/, change: { kind: 'options', set: { share: 'copy' } } },
  { id: 'alloc-vmm-fd', matches: /\(--alloc vmm-fd\)/, change: { kind: 'options', set: { alloc: 'vmm-fd' } } },
  { id: 'alloc-cudamalloc', matches: /--alloc cudaMalloc/, change: { kind: 'options', set: { alloc: 'cudaMalloc' } } },
  { id: 'memory-saver-region-off', matches: /--memory-saver-region off/, change: { kind: 'options', set: { memorySaverRegion: 'off' } } },
  { id: 'capture-relaxed', matches: /--capture-mode relaxed/, change: { kind: 'options', set: { captureMode: 'relaxed' } } },
];

const FLAG: Readonly<Record<string, string>> = { alloc: '--alloc', share: '--share', captureMode: '--capture-mode', memorySaverRegion: '--memory-saver-region' };
const ALLOC_CONF = ['PYTORCH_CUDA_ALLOC_CONF', 'PYTORCH_ALLOC_CONF'] as const;

/** A change applied: the replay's options and the change in words; or why it cannot be replayed. */
export type Applied = { ok: true; options: ProbeOptions; change: string } | { ok: false; why: string };

/** Where the ranks get their variables: --env first, then an env snapshot, else cuipc's own environment. */
interface RankEnvironment {
  options: ProbeOptions;
  current: Readonly<Record<string, string | undefined>>;
}

function valueOf(where: RankEnvironment, variable: string): { from: 'env' | 'snapshot' | 'process'; value: string } | null {
  const given = where.options.env?.[variable];
  if (given !== undefined) return { from: 'env', value: given };
  const snapshot = where.options.envSnapshot;
  if (snapshot) {
    const captured = snapshot.environment[variable];
    return captured === undefined ? null : { from: 'snapshot', value: captured };
  }
  const own = where.current[variable];
  return own === undefined ? null : { from: 'process', value: own };
}

/** The options with `variable` set to `value` (undefined: removed) where the ranks get it from; or why not. */
function withVariable(where: RankEnvironment, variable: string, value: string | undefined): Applied | { ok: true; options: ProbeOptions } {
  const found = valueOf(where, variable);
  if (!found) return { ok: false, why: `${variable} is not set for the ranks` };
  const { options } = where;
  if (found.from === 'process') {
    return { ok: false, why: `${variable} comes from cuipc's own environment, not --env: run cuipc with it changed (env -u ${variable} cuipc probe ...) to try it` };
  }
  if (found.from === 'env') {
    const env = { ...options.env };
    if (value === undefined) delete env[variable];
    else env[variable] = value;
    return { ok: true, options: { ...options, env } };
  }
  const snapshot = options.envSnapshot as EnvSnapshot;
  const environment = { ...snapshot.environment };
  if (value === undefined) delete environment[variable];
  else environment[variable] = value;
  return { ok: true, options: { ...options, envSnapshot: { ...snapshot, environment } } };
}

/** The libraries that served the ranks' cudaMalloc: interposed loader symbols and allocator hooks. */
function hookLibraries(report: ProbeReport): Set<string> {
  const paths = new Set<string>();
  for (const rank of report.ranks) {
    for (const origin of rank.loader?.allocation ?? []) if (origin.interposed) paths.add(origin.path);
    for (const hook of rank.memorySaver?.hooks ?? []) if (hook.library) paths.add(hook.library);
  }
  return paths;
}

const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/** The change applied to the probe's options, or why a probe cannot replay it. */
export function applyFixChange(change: FixChange, options: ProbeOptions, report: ProbeReport, current: Readonly<Record<string, string | undefined>> = process.env): Applied {
  const where: RankEnvironment = { options, current };
  switch (change.kind) {
    case 'options': {
      const set = Object.entries(change.set);
      const words = set.map(([k, v]) => `${FLAG[k]} ${String(v)}`).join(' ');
      const ran: Record<string, unknown> = { alloc: report.options.alloc, share: report.options.share, captureMode: report.options.captureMode, memorySaverRegion: report.options.memorySaverRegion };
      if (set.every(([k, v]) => ran[k] === v)) return { ok: false, why: `the probe already ran with ${words}` };
      return { ok: true, options: { ...options, ...change.set }, change: words };
    }
    case 'unset': {
      const applied = withVariable(where, change.variable, undefined);
      return applied.ok ? { ...applied, change: `${change.variable} unset in the ranks' environment` } : applied;
    }
    case 'drop-preload': {
      const found = valueOf(where, 'LD_PRELOAD');
      if (!found) return { ok: false, why: 'LD_PRELOAD is not set for the ranks' };
      const hooks = hookLibraries(report);
      const hookNames = new Set([...hooks].map(baseName));
      const entries = splitLdPreload(found.value);
      const dropped = entries.filter((e) => hooks.has(e) || hookNames.has(baseName(e)));
      if (dropped.length === 0) return { ok: false, why: 'no LD_PRELOAD entry of the ranks is the library that served their cudaMalloc' };
      const kept = entries.filter((e) => !dropped.includes(e));
      const applied = withVariable(where, 'LD_PRELOAD', kept.length ? kept.join(':') : undefined);
      return applied.ok ? { ...applied, change: `LD_PRELOAD without ${dropped.join(', ')}` } : applied;
    }
    case 'alloc-conf-drop': {
      let next = options;
      const changed: string[] = [];
      for (const variable of ALLOC_CONF) {
        const found = valueOf({ options: next, current }, variable);
        if (!found || !parseAllocConf(found.value).has(change.key)) continue;
        const kept = found.value.split(',').filter((part) => part.split(':')[0].trim().toLowerCase() !== change.key);
        const applied = withVariable({ options: next, current }, variable, kept.length ? kept.join(',') : undefined);
        if (!applied.ok) return applied;
        next = applied.options;
        changed.push(variable);
      }
      if (changed.length === 0) return { ok: false, why: `no allocator setting of the ranks has ${change.key}` };
      return { ok: true, options: next, change: `${changed.join(' and ')} without ${change.key}` };
    }
  }
}

/** The row a fix text matches, if any. */
export function fixRowOf(fix: string): FixRow | null {
  return FIX_TABLE.find((row) => row.matches.test(fix)) ?? null;
}

export interface FixCheckRun {
  report: FailedProbeReport;
  /** The options the failed probe ran with (run controls left out). */
  options: ProbeOptions;
  /** Runs one replay; it must stop, clean up and resolve 'interrupted' when `interrupt` aborts. */
  run: (options: ProbeOptions) => Promise<ProbeReport>;
  interrupt?: AbortSignal;
  /** Called before each replay (check null) and after it. */
  onFixCheck?: (event: FixCheckEvent) => void;
  current?: Readonly<Record<string, string | undefined>>;
}

/** What a replay says of its fix; `failedAt`: the step the probe itself failed in. */
function triedOf(fix: string, change: string, replay: ProbeReport, durationMs: number, failedAt: StepName): FixCheck {
  if (replay.result === 'passed') return { fix, status: 'verified', change, durationMs };
  if (replay.result === 'failed') {
    const p = replay.pinpoint;
    const outcome = `${p.step}, ${p.call} -> ${p.code}`;
    // Past the step that failed: the fix did its part, and something else fails further on.
    if (STEPS.indexOf(p.step) > STEPS.indexOf(failedAt)) return { fix, status: 'cleared', change, durationMs, step: p.step, call: p.call, outcome };
    return { fix, status: 'tried', change, durationMs, result: 'failed', step: p.step, call: p.call, outcome };
  }
  const a = replay.abort;
  const where = [a.step, a.call].filter((w) => w !== undefined).join(', ');
  return { fix, status: 'tried', change, durationMs, result: 'aborted', step: a.step ?? null, call: a.call ?? null, outcome: `${a.reason}${where ? `: ${where}` : ''}` };
}

/** Replays each fix of the failed probe's answer that FIX_TABLE can express, one probe after another. */
export async function checkFixes(job: FixCheckRun): Promise<FixChecks> {
  const started = Date.now();
  const fixes = fixesOf(job.report.pinpoint.explanations[0]);
  const planned = fixes.map((fix) => {
    const row = fixRowOf(fix);
    return { fix, applied: row ? applyFixChange(row.change, job.options, job.report, job.current) : ({ ok: false, why: 'no probe option expresses this change' } as const) };
  });
  const total = planned.filter((p) => p.applied.ok).length;
  const checks: FixCheck[] = [];
  let interrupted: string | null = null;
  let index = 0;
  for (const { fix, applied } of planned) {
    if (!applied.ok) {
      checks.push({ fix, status: 'not-checked', why: applied.why });
      continue;
    }
    if (job.interrupt?.aborted) {
      interrupted ??= String(job.interrupt.reason ?? 'SIGINT');
      checks.push({ fix, status: 'not-checked', why: `stopped by ${interrupted} before its replay` });
      continue;
    }
    index += 1;
    job.onFixCheck?.({ index, total, fix, change: applied.change, check: null });
    const began = Date.now();
    const replay = await job.run(applied.options);
    let check: FixCheck;
    if (replay.result === 'aborted' && replay.abort.reason === 'interrupted') {
      interrupted = replay.abort.signal ?? String(job.interrupt?.reason ?? 'SIGINT');
      check = { fix, status: 'not-checked', why: `stopped by ${interrupted} during its replay` };
    } else {
      check = triedOf(fix, applied.change, replay, Date.now() - began, job.report.pinpoint.step);
    }
    checks.push(check);
    job.onFixCheck?.({ index, total, fix, change: applied.change, check });
  }
  return { checks, durationMs: Date.now() - started, interrupted };
}
