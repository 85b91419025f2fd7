// The typed result of `cuipc bisect` (schema/bisect.schema.json describes the same JSON).
// A discriminated union on `outcome`: a minimal set was found (exit 0), none exists (exit 1),
// the probes could not run (exit 3), or a signal stopped the search (128 + its number: 130 for
// SIGINT) with what it had found so far.
import type { EnvSnapshot } from '../env/capture.js';
import type { ProbeOptions } from '../probe/options.js';
import type { Pinpoint, ProbeAbort, ProbeWarning } from '../report/types.js';
import type { LauncherKind, StepName } from '../model/vocabulary.js';
import type { Change, HeldFixed } from './changes.js';

export type { Change, ChangeKind, HeldFixed } from './changes.js';

export const BISECT_SCHEMA = 'cuipc.bisect';
export const BISECT_SCHEMA_VERSION = 1;

/** What "the same failure" means: the probe's pinpoint agrees on these three. */
export interface FailureSignature {
  step: StepName;
  call: string;
  code: number;
  /** The error's name, e.g. cudaErrorInvalidValue (not compared). */
  name: string;
}

export type ProbeVerdict = 'fails-same' | 'fails-differently' | 'passes' | 'aborted';

export interface BisectProbe {
  /** 1-based, in the order the probes ran. */
  n: number;
  role: 'good' | 'bad' | 'all-changes' | 'suspects' | 'search';
  /** Ids of the changes applied to GOOD (role 'bad': the BAD snapshot itself). */
  applied: string[];
  result: 'passed' | 'failed' | 'aborted';
  failure: FailureSignature | null;
  abort: Pick<ProbeAbort, 'reason' | 'message'> | null;
  verdict: ProbeVerdict;
  durationMs: number;
}

export interface BisectSide {
  label: string | null;
  hostname: string;
  pid: number;
  capturedAt: string;
  /** What the probe found in this environment. */
  result: 'passed' | 'failed' | 'aborted';
  failure: FailureSignature | null;
  abort: Pick<ProbeAbort, 'reason' | 'message'> | null;
  /** What the probe's environment holds that the run did not exercise (a pass must not hide it). */
  warnings: Array<Pick<ProbeWarning, 'id' | 'message'> & { command?: string }>;
}

/** A difference that is not a variable: the probe cannot apply it (PID namespace, devices, /dev/shm, ...). */
export interface OtherDifference {
  key: string;
  good: string | null;
  bad: string | null;
}

export interface BisectSettings {
  launcher: LauncherKind;
  ranks: number;
  inputs: number;
  bytes: number;
  alloc: string;
  share: string;
  backend: string;
  include: string[];
  exclude: string[];
}

interface BisectCommon {
  schema: typeof BISECT_SCHEMA;
  schemaVersion: typeof BISECT_SCHEMA_VERSION;
  simulated: boolean;
  startedAt: string;
  settings: BisectSettings;
  good: BisectSide;
  bad: BisectSide;
  /** Every change searched, in search order. */
  changes: Change[];
  heldFixed: HeldFixed[];
  otherDifferences: OtherDifference[];
  probes: BisectProbe[];
  probeCount: number;
  /** Tests answered from an earlier probe of the identical environment. */
  cacheHits: number;
  totalMs: number;
  /** --launcher ray: the one Ray every probe joined (absent for other launchers). */
  ray?: BisectRay;
  /** One line. */
  answer: string;
}

/** The Ray a bisect with --launcher ray started (or found) once and every probe joined. */
export interface BisectRay {
  /** A local Ray was started for this bisect (and shut down at its end); false: an existing cluster was joined. */
  started: boolean;
  /** The address the probes joined (null: each probe's driver found the cluster itself). */
  address: string | null;
  /** Ray's start-up (or finding the cluster), apart from the probes' own durations. */
  startupMs: number;
  /** Why no one Ray could be started; each probe then started its own. */
  error?: string;
}

export interface BisectFound extends BisectCommon {
  outcome: 'found';
  exitCode: 0;
  target: FailureSignature;
  /** 1-minimal: GOOD + these fails as BAD does; GOOD + any one fewer does not. */
  minimal: Change[];
  /** The probe's pinpoint under GOOD + the minimal set. */
  pinpoint: Pinpoint;
}

export interface BisectNone extends BisectCommon {
  outcome: 'none';
  exitCode: 1;
  /**
   * good-fails: GOOD already fails; bad-passes: BAD passes (the difference does not matter to
   * the probe); not-reproduced: GOOD + every searched change does not fail as BAD does (the
   * cause is held fixed or is not in the environment).
   */
  reason: 'good-fails' | 'bad-passes' | 'not-reproduced';
  target: FailureSignature | null;
}

export interface BisectCouldNotRun extends BisectCommon {
  outcome: 'could-not-run';
  exitCode: 3;
  reason: 'good-aborted' | 'bad-aborted';
  message: string;
}

/**
 * A signal (or the caller's AbortSignal) stopped the bisect: the probe that ran was stopped and
 * cleaned up, no other was started. What was found so far: the probes that ran (the stopped one
 * last, aborted 'interrupted'), GOOD's and BAD's verdicts when their probes had ended, and the
 * set the search held.
 */
export interface BisectInterrupted extends Omit<BisectCommon, 'good' | 'bad'> {
  outcome: 'interrupted';
  /** 128 + the signal's number (130 for SIGINT; 130 too for an AbortSignal aborted without a signal's name). */
  exitCode: number;
  /** The signal's name ('SIGINT', 'SIGTERM', 'SIGHUP'), or 'abort' for the caller's AbortSignal. */
  signal: string;
  /** null when the signal came before that side's probe ended. */
  good: BisectSide | null;
  bad: BisectSide | null;
  /** BAD's failure, once its probe failed. */
  target: FailureSignature | null;
  /**
   * The set the search held when the signal came: every change until a probe narrowed it (GOOD +
   * this set failed as BAD does once `candidatesFail` is true).
   */
  candidates: Change[];
  candidatesFail: boolean;
}

export type BisectResult = BisectFound | BisectNone | BisectCouldNotRun | BisectInterrupted;

export interface BisectProgress {
  /** The probe about to run, 1-based. */
  probe: number;
  /** The most probes this bisect may run in all (falls as the search narrows). */
  atMost: number;
  role: BisectProbe['role'];
  /** Ids of the changes the probe applies. */
  applied: string[];
  /** Ids of the smallest failing set so far (every change until the search narrows it). */
  setSoFar: string[];
}

/** A snapshot (`cuipc env capture --json`, parsed) or '-' for this process's environment. */
export type BisectSnapshotInput = EnvSnapshot | '-';

export interface BisectOptions extends Omit<ProbeOptions, 'envSnapshot'> {
  good: BisectSnapshotInput;
  bad: BisectSnapshotInput;
  /** Globs of variables to search even though they are held fixed by default (PWD, HOME, RAY_* ids, ...). */
  include?: string[];
  /** Globs of variables to hold at GOOD's value. */
  exclude?: string[];
  /** Called before every probe that runs. */
  onProgress?: (progress: BisectProgress) => void;
  /** --launcher ray: called once the one Ray every probe joins is up (before the first probe). */
  onRay?: (ray: BisectRay) => void;
  /**
   * Aborting it stops the bisect: the running probe stops its ranks and cleans up, no other
   * probe starts, and the result is 'interrupted' with what was found so far. Its reason, when
   * a signal's name ('SIGINT'), is the result's signal.
   */
  signal?: AbortSignal;
}
