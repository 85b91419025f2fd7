// `bisect()`: which environment difference turns a passing probe into a failing one. Probes
// GOOD and BAD, then searches the changes between them with ddmin, one independent probe per
// distinct environment (answers are reused only for an identical environment, within one
// bisect), for a 1-minimal set that, applied to GOOD, fails the way BAD fails. A signal stops
// it between or inside probes, and the result says what was found so far.
import { constants } from 'node:os';
import { captureEnvironment, isCudaRelevant, type EnvSnapshot } from '../env/capture.js';
import { diffEnvironments } from '../env/diff.js';
import { parseSnapshot, SnapshotFormatError } from '../env/read-snapshot.js';
import { probe } from '../probe/index.js';
import { ProbeUsageError, resolveProbeOptions, type ProbeOptions } from '../probe/options.js';
import { RaySessionError, startRaySession, type RaySession } from '../launch/ray-session.js';
import type { RaySettings } from '../launch/ray.js';
import type { ProbeReport } from '../report/types.js';
import { applyChanges, changesBetween, environmentKey, globToRegExp, visibilityOfTrial, type Change, type ChangeModel } from './changes.js';
import { ddmin, worstCaseTests, type Outcome } from './ddmin.js';
import { explainNone, foundAnswer } from './render.js';
import {
  BISECT_SCHEMA,
  BISECT_SCHEMA_VERSION,
  type BisectOptions,
  type BisectProbe,
  type BisectRay,
  type BisectResult,
  type BisectInterrupted,
  type BisectSide,
  type FailureSignature,
  type OtherDifference,
  type ProbeVerdict,
} from './types.js';

export type * from './types.js';
export { rayLine, renderBisect } from './render.js';
export { renderBisectMarkdown } from './markdown.js';
export { HELD_FIXED_BY_DEFAULT } from './changes.js';

function snapshotOf(input: unknown, which: 'good' | 'bad'): EnvSnapshot {
  if (input === '-') return captureEnvironment({ label: `${which} (this process)` });
  try {
    return parseSnapshot(input, which);
  } catch (error) {
    if (error instanceof SnapshotFormatError) throw new ProbeUsageError(error.message);
    throw error;
  }
}

function signatureOf(report: ProbeReport): FailureSignature | null {
  const p = report.pinpoint;
  return p === null ? null : { step: p.step, call: p.call, code: p.code, name: p.name };
}

function verdictOf(report: ProbeReport, target: FailureSignature | null): ProbeVerdict {
  if (report.result === 'aborted') return 'aborted';
  if (report.result === 'passed') return 'passes';
  const s = signatureOf(report);
  return target !== null && s !== null && s.step === target.step && s.call === target.call && s.code === target.code ? 'fails-same' : 'fails-differently';
}

function abortOf(report: ProbeReport): BisectProbe['abort'] {
  return report.abort === null ? null : { reason: report.abort.reason, message: report.abort.message };
}

/** The rank environment of one probe: a snapshot to replay (plain) or runtime_env variables (Ray). */
interface Trial { key: string; options: ProbeOptions }

/** Thrown out of the search when its AbortSignal is aborted; search() turns it into the 'interrupted' result. */
class Interrupted extends Error {}

/** The signal's name and exit status for an aborted bisect: 'SIGINT' and 130, or 'abort' (the caller's own reason) and 130. */
function interruptOf(signal: AbortSignal): { signal: string; exitCode: number } {
  const numbers = constants.signals as Record<string, number>;
  const reason = signal.reason;
  if (typeof reason === 'string' && numbers[reason] !== undefined) return { signal: reason, exitCode: 128 + numbers[reason] };
  return { signal: 'abort', exitCode: 128 + numbers.SIGINT };
}

class Runner {
  readonly probes: BisectProbe[] = [];
  cacheHits = 0;
  private readonly cache = new Map<string, ProbeReport>();
  constructor(private readonly base: Omit<ProbeOptions, 'envSnapshot'>, private readonly signal: AbortSignal | undefined) {}

  async run(trial: Trial, role: BisectProbe['role'], applied: string[], target: FailureSignature | null): Promise<ProbeReport> {
    const known = this.cache.get(trial.key);
    if (known !== undefined) { this.cacheHits += 1; return known; }
    if (this.signal?.aborted) throw new Interrupted();
    const report = await probe({ ...this.base, ...trial.options, ...(this.signal ? { signal: this.signal } : {}) });
    this.probes.push({
      n: this.probes.length + 1, role, applied, result: report.result, failure: signatureOf(report), abort: abortOf(report),
      verdict: verdictOf(report, target), durationMs: report.durationMs,
    });
    // A probe the signal stopped says nothing about its environment: not kept for reuse.
    if (this.signal?.aborted) throw new Interrupted();
    this.cache.set(trial.key, report);
    return report;
  }

  hasCached(key: string): boolean {
    return this.cache.has(key);
  }

  cached(key: string): ProbeReport | undefined {
    return this.cache.get(key);
  }

  /** The verdict of a probe already run, against the target known now. */
  reverdict(target: FailureSignature): void {
    for (const p of this.probes) {
      if (p.result === 'failed') p.verdict = p.failure && p.failure.step === target.step && p.failure.call === target.call && p.failure.code === target.code ? 'fails-same' : 'fails-differently';
    }
  }
}

function trialFor(applied: readonly Change[], bad: EnvSnapshot, good: EnvSnapshot, label: string, model: ChangeModel, options: BisectOptions): Trial {
  const env = applyChanges(model, applied, bad);
  if ((options.launcher ?? 'plain') === 'ray') {
    // Under Ray the actors start from the cluster's environment; the searched variables go in as
    // runtime_env env_vars. An env var cannot be unset that way: an absent one is given empty.
    // CUDA_VISIBLE_DEVICES is Ray's to assign: a runtime_env value would name another GPU than the actor's.
    const vars: Record<string, string> = {};
    for (const v of [...new Set(model.changes.map((c) => c.variable))].sort()) if (v !== 'CUDA_VISIBLE_DEVICES') vars[v] = env[v] ?? '';
    return { key: `ray:${environmentKey(vars)}`, options: { env: { ...vars, ...(options.env ?? {}) } } };
  }
  const visibility = visibilityOfTrial(model, applied);
  const snapshot: EnvSnapshot = {
    ...good,
    label,
    environment: env,
    relevant: Object.fromEntries(Object.entries(env).filter(([k]) => isCudaRelevant(k))),
    redacted: [],
    preload: [],
    visibility,
    hazards: [],
  };
  return { key: `plain:${visibility.assignedBy}:${environmentKey(env)}`, options: { envSnapshot: snapshot } };
}

function sideOf(s: EnvSnapshot, report: ProbeReport): BisectSide {
  const warnings = (report.warnings ?? []).map((w) => ({ id: w.id, message: w.message, ...(w.command !== undefined ? { command: w.command } : {}) }));
  return { label: s.label, hostname: s.hostname, pid: s.pid, capturedAt: s.capturedAt, result: report.result, failure: signatureOf(report), abort: abortOf(report), warnings };
}

function otherDifferencesOf(good: EnvSnapshot, bad: EnvSnapshot): OtherDifference[] {
  const diff = diffEnvironments(good, bad);
  return [...diff.cudaRelevant, ...diff.other].filter((d) => d.category === 'process').map((d) => ({ key: d.key, good: d.a, bad: d.b }));
}

function checkGlobs(name: string, globs: unknown): string[] {
  if (globs === undefined) return [];
  if (!Array.isArray(globs) || globs.some((g) => typeof g !== 'string' || g.length === 0)) throw new ProbeUsageError(`${name} must be a list of non-empty globs`);
  for (const g of globs as string[]) globToRegExp(g);
  return globs as string[];
}

/** Runs the bisection. Bad options reject with ProbeUsageError; a probe that could not run gives outcome 'could-not-run'. */
export async function bisect(options: BisectOptions): Promise<BisectResult> {
  if (typeof options !== 'object' || options === null) throw new TypeError('bisect: options must be an object with good and bad');
  const { good: goodInput, bad: badInput, include: includeRaw, exclude: excludeRaw, onProgress: _progress, onRay, signal, ...probeOptions } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('bisect: signal must be an AbortSignal');
  if ('envSnapshot' in probeOptions) throw new ProbeUsageError('bisect builds each probe\'s environment from GOOD and BAD; do not give envSnapshot');
  const include = checkGlobs('include', includeRaw);
  const exclude = checkGlobs('exclude', excludeRaw);
  const resolved = resolveProbeOptions(probeOptions); // every usage error before any probe starts
  const good = snapshotOf(goodInput, 'good');
  const bad = snapshotOf(badInput, 'bad');
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const model = changesBetween(good, bad, { include, exclude, givenEnv: resolved.env });
  if (resolved.launch.kind !== 'ray') return search({ options, probeOptions, include, exclude, resolved, good, bad, started, startedAt, model, ray: null, signal });
  // One Ray for every probe: started (or found) once here, joined by each probe's driver by address.
  const ray = await oneRay(resolved.launch.settings as RaySettings, resolved.ranks, resolved.backend);
  try {
    onRay?.(ray.info);
    const joined = ray.session?.address ? { ...probeOptions, ray: { ...(probeOptions.ray ?? {}), address: ray.session.address } } : probeOptions;
    return await search({ options, probeOptions: joined, include, exclude, resolved, good, bad, started, startedAt, model, ray: ray.info, signal });
  } finally {
    await ray.session?.stop();
  }
}

/** The Ray session of a bisect; when it cannot start, each probe starts its own Ray (and says why it could not, if it cannot either). */
async function oneRay(settings: RaySettings, ranks: number, backend: string): Promise<{ session: RaySession | null; info: BisectRay }> {
  const started = Date.now();
  try {
    const session = await startRaySession(settings, ranks, backend);
    return { session, info: { started: session.started, address: session.address, startupMs: session.startupMs } };
  } catch (error) {
    if (!(error instanceof RaySessionError)) throw error;
    return { session: null, info: { started: false, address: settings.address, startupMs: Date.now() - started, error: error.message } };
  }
}

interface SearchInputs {
  options: BisectOptions;
  probeOptions: Omit<ProbeOptions, 'envSnapshot'>;
  include: string[];
  exclude: string[];
  resolved: ReturnType<typeof resolveProbeOptions>;
  good: EnvSnapshot;
  bad: EnvSnapshot;
  started: number;
  startedAt: string;
  model: ChangeModel;
  ray: BisectRay | null;
  signal: AbortSignal | undefined;
}

/** What a search keeps while it runs, for the result a signal cuts it short with. */
interface SearchState {
  runner: Runner;
  goodReport: ProbeReport | null;
  badReport: ProbeReport | null;
  setSoFar: string[];
  setFails: boolean;
}

async function search(inputs: SearchInputs): Promise<BisectResult> {
  const state: SearchState = { runner: new Runner(inputs.probeOptions, inputs.signal), goodReport: null, badReport: null, setSoFar: inputs.model.changes.map((c) => c.id), setFails: false };
  try {
    return await searchWith(inputs, state);
  } catch (error) {
    if (!(error instanceof Interrupted) || inputs.signal === undefined) throw error;
    return interruptedResult(inputs, state, inputs.signal);
  }
}

function interruptedResult(inputs: SearchInputs, state: SearchState, signal: AbortSignal): BisectInterrupted {
  const { resolved, good, bad, model, include, exclude, started, startedAt, ray } = inputs;
  const { runner, goodReport, badReport } = state;
  const candidates = model.changes.filter((c) => state.setSoFar.includes(c.id));
  const { signal: name, exitCode } = interruptOf(signal);
  const probes = runner.probes.length;
  const held = state.setFails ? `GOOD + these ${candidates.length} fail as BAD does` : `not narrowed yet (${candidates.length} change(s))`;
  const answer = `interrupted by ${name} after ${probes} probe(s): ${badReport === null ? 'BAD\'s verdict was not known yet' : `the set so far: ${held}`}`;
  return {
    schema: BISECT_SCHEMA, schemaVersion: BISECT_SCHEMA_VERSION,
    simulated: (goodReport?.simulated ?? false) || (badReport?.simulated ?? false) || resolved.backend === 'sim',
    startedAt,
    settings: {
      launcher: resolved.launch.kind, ranks: resolved.ranks, inputs: resolved.inputs, bytes: resolved.bytes,
      alloc: resolved.alloc, share: resolved.share, backend: resolved.backend, include, exclude,
    },
    good: goodReport === null ? null : sideOf(good, goodReport),
    bad: badReport === null ? null : sideOf(bad, badReport),
    changes: model.changes,
    heldFixed: model.heldFixed,
    otherDifferences: otherDifferencesOf(good, bad),
    probes: runner.probes,
    probeCount: probes,
    cacheHits: runner.cacheHits,
    totalMs: Date.now() - started,
    ...(ray !== null ? { ray } : {}),
    outcome: 'interrupted',
    exitCode,
    signal: name,
    target: badReport !== null && badReport.result === 'failed' ? signatureOf(badReport) : null,
    candidates,
    candidatesFail: state.setFails,
    answer,
  };
}

async function searchWith({ options, include, exclude, resolved, good, bad, started, startedAt, model, ray }: SearchInputs, state: SearchState): Promise<BisectResult> {
  const { onProgress } = options;
  const { runner } = state;
  const ids = (cs: readonly Change[]) => cs.map((c) => c.id);
  let atMost = 4 + worstCaseTests(model.changes.length, 2);
  let setSoFar = ids(model.changes);
  const narrowed = (set: string[], fails: boolean): void => {
    setSoFar = set;
    state.setSoFar = set;
    state.setFails = fails;
  };
  const announce = (role: BisectProbe['role'], applied: string[], key: string): void => {
    if (onProgress && !runner.hasCached(key)) onProgress({ probe: runner.probes.length + 1, atMost, role, applied, setSoFar });
  };

  const goodTrial = trialFor([], bad, good, `GOOD${good.label ? ` (${good.label})` : ''}`, model, options);
  const badTrial: Trial = (options.launcher ?? 'plain') === 'ray'
    ? trialFor(model.changes, bad, good, 'BAD', model, options)
    : { key: `plain:${model.visibility.bad.assignedBy}:${environmentKey(bad.environment)}`, options: { envSnapshot: bad } };
  announce('good', [], goodTrial.key);
  const goodReport = await runner.run(goodTrial, 'good', [], null);
  state.goodReport = goodReport;
  announce('bad', ids(model.changes), badTrial.key);
  const badReport = await runner.run(badTrial, 'bad', ids(model.changes), null);
  state.badReport = badReport;
  const target = badReport.result === 'failed' ? signatureOf(badReport) : null;
  if (target) runner.reverdict(target);

  const common = () => ({
    schema: BISECT_SCHEMA, schemaVersion: BISECT_SCHEMA_VERSION,
    simulated: badReport.simulated || goodReport.simulated,
    startedAt,
    settings: {
      launcher: resolved.launch.kind, ranks: resolved.ranks, inputs: resolved.inputs, bytes: resolved.bytes,
      alloc: resolved.alloc, share: resolved.share, backend: resolved.backend, include, exclude,
    },
    good: sideOf(good, goodReport),
    bad: sideOf(bad, badReport),
    changes: model.changes,
    heldFixed: model.heldFixed,
    otherDifferences: otherDifferencesOf(good, bad),
    probes: runner.probes,
    probeCount: runner.probes.length,
    cacheHits: runner.cacheHits,
    totalMs: Date.now() - started,
    ...(ray !== null ? { ray } : {}),
  } as const);

  if (goodReport.result === 'aborted' || badReport.result === 'aborted') {
    const which = goodReport.result === 'aborted' ? 'good' : 'bad';
    const report = which === 'good' ? goodReport : badReport;
    const message = `the probe could not run under ${which.toUpperCase()}: ${report.abort?.reason ?? 'aborted'}: ${report.abort?.message ?? ''}`.trim();
    return { ...common(), outcome: 'could-not-run', exitCode: 3, reason: which === 'good' ? 'good-aborted' : 'bad-aborted', message, answer: message };
  }
  if (goodReport.result === 'failed' || target === null) {
    const reason = goodReport.result === 'failed' ? 'good-fails' : 'bad-passes';
    const partial = { ...common(), outcome: 'none', exitCode: 1, reason, target } as const;
    return { ...partial, answer: explainNone(partial) };
  }

  const test = async (subset: readonly Change[], role: BisectProbe['role']): Promise<Outcome> => {
    const trial = trialFor(subset, bad, good, `GOOD + ${subset.length} change(s)`, model, options);
    announce(role, ids(subset), trial.key);
    const report = await runner.run(trial, role, ids(subset), target);
    return verdictOf(report, target) === 'fails-same' ? 'fail' : verdictOf(report, target) === 'passes' ? 'pass' : 'unresolved';
  };
  atMost = Math.min(atMost, runner.probes.length + 1 + worstCaseTests(model.changes.length, 2));
  if (await test(model.changes, 'all-changes') !== 'fail') {
    const partial = { ...common(), outcome: 'none', exitCode: 1, reason: 'not-reproduced', target } as const;
    return { ...partial, answer: explainNone(partial) };
  }
  // The hazard table's suspects first: when they alone fail as BAD does, the search runs over
  // them only (one probe spent; the result is still 1-minimal). Otherwise over every change.
  let searched = model.changes;
  const suspects = model.changes.filter((c) => c.hazards.some((h) => h.severity !== 'info'));
  if (suspects.length > 0 && suspects.length < model.changes.length) {
    atMost = Math.min(atMost, runner.probes.length + 1 + worstCaseTests(model.changes.length, 2));
    if (await test(suspects, 'suspects') === 'fail') searched = suspects;
  }
  narrowed(ids(searched), true);
  const minimal = await ddmin(searched, (subset) => test(subset, 'search'), {
    onRound: (round, current) => {
      atMost = Math.min(atMost, runner.probes.length + round.worstRemaining);
      narrowed(ids(current), true);
    },
  });
  narrowed(ids(minimal), true);
  const finalReport = runner.cached(trialFor(minimal, bad, good, '', model, options).key);
  if (finalReport?.pinpoint == null) throw new Error('bisect: the minimal set\'s probe is missing from the cache');
  const found = { ...common(), outcome: 'found', exitCode: 0, target, minimal, pinpoint: finalReport.pinpoint } as const;
  return { ...found, answer: foundAnswer(found) };
}
