// From what the coordinator collected to the report: outcome, exit status, the pinpoint and
// its explanations. Pure: the same run always gives the same report.
import { createRequire } from 'node:module';
import type { Evidence } from './evidence.js';
import { explainFailure } from './explain.js';
import { interposedAbortOf } from './interposed-abort.js';
import { unexercisedWarnings } from './warnings.js';
import { REPORT_SCHEMA_VERSION, type FailureRecord, type Pinpoint, type ProbeAbort, type ProbeReport, type ProbeReportCommon, type RankReport, type RejectedMessage, type ReportOptions } from './types.js';
import { STEPS } from '../model/vocabulary.js';

const require = createRequire(import.meta.url);

/** The package version, read from package.json (lib/report and dist/report sit two levels below it). */
export function cuipcVersion(): string {
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export interface ProbeRun {
  options: ReportOptions;
  startedAt: Date;
  durationMs: number;
  /** The coordinator's own loader said simulated (null when it loaded nothing). */
  coordinatorSimulated: boolean | null;
  ranks: RankReport[];
  failures: FailureRecord[];
  abort: ProbeAbort | null;
  rejected: RejectedMessage[];
  rejectedDropped: number;
  cleanedUp: string[];
}

/** The failure a person should look at first: the earliest step, then the lowest rank. */
export function firstFailure(failures: FailureRecord[]): FailureRecord | null {
  let best: FailureRecord | null = null;
  for (const failure of failures) {
    if (failure.step === 'teardown' && failures.some((f) => f.step !== 'teardown')) continue;
    if (
      best === null ||
      STEPS.indexOf(failure.step) < STEPS.indexOf(best.step) ||
      (failure.step === best.step && failure.rank < best.rank)
    ) {
      best = failure;
    }
  }
  return best;
}

/** What the explanation rules judge, from a rank's failure record, its report and the probe's options. */
export function probeEvidence(
  failure: FailureRecord,
  rank: RankReport | null,
  peerRank: RankReport | null,
  options: Pick<ReportOptions, 'alloc' | 'share' | 'captureMode'>,
): Evidence {
  const peer = failure.peer;
  return {
    where: { kind: 'rank', rank: failure.rank, step: failure.step },
    call: failure.call,
    pid: rank?.pid ?? null,
    provenance: failure.provenance,
    pointerOrigin: null,
    pointerSource: null,
    capture: failure.capture,
    captureMode: options.captureMode,
    hazards: rank?.hazards ?? [],
    symbolOrigins: rank?.loader?.allocation ?? [],
    memorySaver: rank?.memorySaver ?? null,
    allocator: options.alloc,
    share: options.share,
    requestedDevice: rank?.requestedDevice ?? null,
    device: rank?.device ?? null,
    peer: peer ? { ...peer, device: peerRank?.device ?? null, exit: peerRank?.exit ?? null } : null,
    detail: failure.detail ?? null,
  };
}

function buildPinpoint(run: ProbeRun, failure: FailureRecord): Pinpoint {
  const rank = run.ranks.find((r) => r.rank === failure.rank) ?? null;
  const peerRank = failure.peer ? (run.ranks.find((r) => r.rank === failure.peer?.rank) ?? null) : null;
  const { call } = failure;
  return {
    rank: failure.rank,
    step: failure.step,
    call: call.call,
    method: call.method,
    args: call.args,
    code: call.code,
    name: call.name,
    message: call.message,
    origin: call.origin ?? 'own',
    lastError: call.lastError ?? null,
    provenance: failure.provenance,
    capture: failure.capture,
    ...(failure.peer ? { peer: failure.peer } : {}),
    ...(failure.detail !== undefined ? { detail: failure.detail } : {}),
    explanations: explainFailure(probeEvidence(failure, rank, peerRank, run.options)),
  };
}

/** The shell's status for a probe stopped by a signal: 128 + its number. */
function interruptedExit(abort: ProbeAbort | null): 129 | 130 | 143 | null {
  if (abort?.reason !== 'interrupted') return null;
  // A library caller's AbortSignal ('abort') is no signal: the probe could not run to the end (3).
  return abort.signal === 'SIGHUP' ? 129 : abort.signal === 'SIGTERM' ? 143 : abort.signal === 'SIGINT' ? 130 : null;
}

/** A rank that died or hung in a call an interposing library serves: the abort's message says whose (interposed-abort.ts). */
function explainAbort(abort: ProbeAbort, ranks: RankReport[]): ProbeAbort {
  const interposed = interposedAbortOf(abort, ranks);
  return interposed ? { ...abort, message: `${abort.message}; ${interposed.summary}` } : abort;
}

/**
 * A rank that died or hung takes its peers down with it: their failing calls from its step on
 * (opening its handle, reading its memory, waiting on it) follow from that and are not causes.
 */
function consequencesOf(abort: ProbeAbort | null, failures: FailureRecord[]): FailureRecord[] {
  if (!abort || (abort.reason !== 'crashed' && abort.reason !== 'hung') || abort.rank === undefined || abort.step === undefined) return [];
  const from = STEPS.indexOf(abort.step);
  return failures.filter((f) => f.rank !== abort.rank && STEPS.indexOf(f.step) >= from);
}

export function buildProbeReport(run: ProbeRun): ProbeReport {
  const simulated = run.coordinatorSimulated === true || run.ranks.some((r) => r.loader?.simulated === true);
  const consequences = consequencesOf(run.abort, run.failures);
  const first = firstFailure(run.failures.filter((f) => !consequences.includes(f)));
  const pinpoint = first ? buildPinpoint(run, first) : null;
  const kernelsFrom = run.ranks.find((r) => r.loader !== null)?.loader;
  const common: ProbeReportCommon = {
    kind: 'probe',
    schemaVersion: REPORT_SCHEMA_VERSION,
    cuipcVersion: cuipcVersion(),
    simulated,
    startedAt: run.startedAt.toISOString(),
    durationMs: run.durationMs,
    options: run.options,
    kernels: kernelsFrom ? kernelsFrom.kernels : null,
    steps: [...STEPS],
    ranks: run.ranks,
    failures: run.failures,
    warnings: unexercisedWarnings(run.ranks, run.options.alloc),
    rejected: run.rejected,
    rejectedDropped: run.rejectedDropped,
    cleanedUp: run.cleanedUp,
  };
  // A step fails only with a failure record, so a failed run always has a pinpoint.
  if (run.abort) {
    const abort = explainAbort(run.abort, run.ranks);
    const followed = consequences.map((f) => ({ rank: f.rank, step: f.step, call: f.call.call, code: f.call.code, name: f.call.name }));
    const withConsequences: ProbeAbort = followed.length
      ? { ...abort, message: `${abort.message}; what followed on the other ranks is a consequence, not a cause (${followed.map((c) => `rank ${c.rank} ${c.step}: ${c.call} -> ${c.code}`).join(', ')})`, consequences: followed }
      : abort;
    return { ...common, result: 'aborted', exitCode: interruptedExit(run.abort) ?? 3, pinpoint, abort: withConsequences };
  }
  if (pinpoint) return { ...common, result: 'failed', exitCode: 1, pinpoint, abort: null };
  return { ...common, result: 'passed', exitCode: 0, pinpoint: null, abort: null };
}
