// The probe's report: one JSON document (schema/report.schema.json) that a person reads
// through render.ts and a program reads as is. Pointers and handles are hex strings here,
// because JSON has neither BigInt nor bytes. The words it is made of (steps, calls,
// provenance, ...) are the domain's, in lib/model/vocabulary.ts.
import type { Backend, CaptureMode, SymbolOrigin } from '../../binding.js';
import type { DeviceIdentity } from '../env/capture.js';
import type { Hazard } from '../env/hazards.js';
import type {
  CallArguments,
  CallRecord,
  CaptureSnapshot,
  DeviceVisibility,
  ErrorOrigin,
  InputAllocator,
  LastErrorState,
  LauncherKind,
  MemorySaverMode,
  MemorySaverRegion,
  PlacementStrategy,
  Provenance,
  RankPlacement,
  ShareStrategy,
  StepName,
  StepOutcome,
} from '../model/vocabulary.js';

export const REPORT_SCHEMA_VERSION = 1;

/** How the ranks were launched. */
export interface LaunchSettings {
  launcher: LauncherKind;
  /** Plain launcher's device visibility; null under Ray (Ray decides). */
  visibility: DeviceVisibility | null;
  ray: { numGpus: number; placementStrategy: PlacementStrategy; nosetVisibleDevices: boolean; address: string | null } | null;
  /** The snapshot the ranks' environment was replayed from (its values are not copied here). */
  envSnapshot: { label: string | null; capturedAt: string; hostname: string; pid: number } | null;
  coordinatorHost: string;
}

/** A failing call with everything the rank could find out about it at the time. */
export interface FailureRecord {
  rank: number;
  step: StepName;
  call: CallRecord;
  provenance: Provenance | null;
  capture: CaptureSnapshot | null;
  /** For a failed import: whose handle it was. */
  peer?: { rank: number; base: string; handle?: string; pid?: number; fd?: number };
  /** A failure that is not a CUDA code (e.g. verification mismatch, a malformed exchange). */
  detail?: string;
}

/** A device as a rank saw it (its one home is the environment snapshot's, env/capture.ts). */
export type { DeviceIdentity };

export interface RankLoader {
  backend: Backend;
  simulated: boolean;
  driver: string | null;
  runtime: string | null;
  /** Which objects provide the allocation entry points (an interposer shows here). */
  allocation: SymbolOrigin[];
  kernels: { available: boolean; reason: string };
}

export interface RankStep {
  outcome: StepOutcome;
  durationMs: number;
  calls: CallRecord[];
  notes: string[];
  /** The call the rank announced last when it crashed or hung in this step. */
  inFlight?: { call: string; method: string; args: CallArguments };
}

export interface VerifySummary {
  /** 'kernel': the graph's all-reduce output was checked; 'copy': peers' inputs were read with copies. */
  mode: 'kernel' | 'copy';
  inputsChecked: number;
  bytesChecked: number;
  mismatches: number;
  firstMismatch?: { input: number; element: number; expected: number; actual: number; peer?: number };
}

export interface RankReport {
  rank: number;
  pid: number | null;
  /** The ordinal the rank was told to use (within its own CUDA_VISIBLE_DEVICES). */
  requestedDevice: number;
  /** The physical device it got: compare ranks by uuid and pciBusId, not by ordinal. */
  device: DeviceIdentity | null;
  /** Null when the rank never said hello (absent in reports from before launchers). */
  placement?: RankPlacement | null;
  loader: RankLoader | null;
  hazards: Hazard[];
  /** The memory-saver region decision (absent in reports from before it). */
  memorySaver?: MemorySaverRegion | null;
  steps: Record<StepName, RankStep>;
  verify?: VerifySummary;
  exit: { code: number | null; signal: string | null } | null;
  /** The end of what the rank wrote to stderr (useful when it died). */
  stderrTail: string;
}

export interface Explanation {
  id: string;
  title: string;
  likelihood: 'high' | 'medium' | 'low';
  /** Why this explanation fits, in a sentence or two. */
  summary: string;
  evidence: string[];
  tryNext: string[];
  /** The cause in one clause, for the report's first line (the title stands in where absent). */
  cause?: string;
  /** What the user can change in their own launch (a variable, a server flag), shown first under Fix. */
  launchFix?: string[];
}

export interface Pinpoint {
  rank: number;
  step: StepName;
  call: string;
  method: string;
  args: CallArguments;
  code: number;
  name: string;
  message: string;
  origin: ErrorOrigin;
  lastError: LastErrorState | null;
  provenance: Provenance | null;
  capture: CaptureSnapshot | null;
  peer?: FailureRecord['peer'];
  detail?: string;
  explanations: Explanation[];
}

/** Something in the ranks' environment that the run did not exercise, so a pass does not cover it. */
export interface ProbeWarning {
  id: string;
  severity: 'high' | 'medium';
  ranks: number[];
  message: string;
  /** A command that would exercise it. */
  command?: string;
}

/** 'interrupted': SIGINT, SIGTERM or SIGHUP reached the coordinator (exit 130, 143, 129). */
/** 'cross-node': the ranks were placed on several nodes, where legacy CUDA IPC cannot reach (lib/launch/nodes.ts). */
export type AbortReason = 'no-driver' | 'crashed' | 'hung' | 'spawn-failed' | 'rendezvous-failed' | 'interrupted' | 'cross-node';

/** Why the probe itself could not run to the end (exit 3). */
export interface ProbeAbort {
  reason: AbortReason;
  message: string;
  rank?: number;
  step?: StepName;
  call?: string;
  args?: CallArguments;
  signal?: string | null;
  exitCode?: number | null;
  /**
   * When a rank died or hung: the other ranks' failing calls from its step on, which follow from
   * that (a peer's open of a dead rank's handle, say); they are not causes, and never the pinpoint.
   */
  consequences?: Array<{ rank: number; step: StepName; call: string; code: number; name: string }>;
}

/** A message the coordinator refused (no or wrong token, not JSON, not a known message). */
export interface RejectedMessage {
  atMs: number;
  from: string;
  reason: string;
  sample: string;
}

export interface ReportOptions {
  ranks: number;
  inputs: number;
  bytes: number;
  alloc: InputAllocator;
  share: ShareStrategy;
  captureMode: CaptureMode;
  devices: number[];
  backend: Backend;
  /** Names of the variables given to ranks (values are not copied: they may hold secrets). */
  envKeys: string[];
  timeoutMs: number;
  rendezvous: 'tcp' | 'unix';
  /** Absent in reports from before launchers (then: plain, all devices visible). */
  launch?: LaunchSettings;
  /** Absent in reports from before it (then: the rank entered cuipc's interposer's region only). */
  memorySaverRegion?: MemorySaverMode;
}

/**
 * One fix of a failed probe's answer, replayed (--check-fixes): the probe run again with the
 * same options but for the change the fix names. 'verified': that probe passed; 'cleared': it
 * got past the failure the fix addresses and failed in a later step (another problem, e.g. a
 * hook that cannot free its own memory outside its region), with where; 'tried': it still
 * failed there or earlier (or could not run), with where; 'not-checked': no probe option
 * expresses the fix, or the run was stopped first, and `why` says which.
 */
export type FixCheck =
  | { fix: string; status: 'verified'; change: string; durationMs: number }
  | {
    fix: string;
    status: 'cleared';
    change: string;
    durationMs: number;
    /** Where the replay failed: a step after the one the probe failed in. */
    step: StepName;
    call: string;
    /** One line: the replay's failing step, call and code. */
    outcome: string;
  }
  | {
    fix: string;
    status: 'tried';
    change: string;
    durationMs: number;
    /** The replay's own result: it failed at a call, or could not run (a rank died, ...). */
    result: 'failed' | 'aborted';
    step: StepName | null;
    call: string | null;
    /** One line: the replay's failing call and code, or why it could not run. */
    outcome: string;
  }
  | { fix: string; status: 'not-checked'; why: string };

/** The fixes a failed probe replayed, in the order the answer lists them. */
export interface FixChecks {
  checks: FixCheck[];
  /** The replays' time, all of them. */
  durationMs: number;
  /** The signal that stopped the replays, or null when every check ran. */
  interrupted: string | null;
}

/** What every probe report has, whatever its result. */
export interface ProbeReportCommon {
  kind: 'probe';
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  cuipcVersion: string;
  simulated: boolean;
  startedAt: string;
  durationMs: number;
  options: ReportOptions;
  kernels: { available: boolean; reason: string } | null;
  steps: StepName[];
  ranks: RankReport[];
  failures: FailureRecord[];
  /** What the environment holds that this run did not exercise; shown right under the verdict. */
  warnings: ProbeWarning[];
  rejected: RejectedMessage[];
  /** Rejections past the first ones kept in `rejected`. */
  rejectedDropped: number;
  /** Files the coordinator removed after the ranks (shared memory left by killed ranks). */
  cleanedUp: string[];
  /** Present when the fixes were replayed (checkFixes, `cuipc probe`'s default) after a failure. */
  fixChecks?: FixChecks;
}

/** Every step passed on every rank. `warnings` still lists what the run did not exercise. */
export interface PassedProbeReport extends ProbeReportCommon {
  result: 'passed';
  exitCode: 0;
  pinpoint: null;
  abort: null;
}

/** The probe ran and found a failing call: `pinpoint` is the first one and why. */
export interface FailedProbeReport extends ProbeReportCommon {
  result: 'failed';
  exitCode: 1;
  pinpoint: Pinpoint;
  abort: null;
}

/** The probe itself could not run to the end (no driver, a rank died or hung): `abort` says why. */
export interface AbortedProbeReport extends ProbeReportCommon {
  result: 'aborted';
  /** 3, or 128 + the signal's number when interrupted (129 SIGHUP, 130 SIGINT, 143 SIGTERM). */
  exitCode: 3 | 129 | 130 | 143;
  /** A failing call seen before the abort, if any. */
  pinpoint: Pinpoint | null;
  abort: ProbeAbort;
}

/** The probe's report; narrow on `result`. */
export type ProbeReport = PassedProbeReport | FailedProbeReport | AbortedProbeReport;

export interface MatrixCell {
  alloc: InputAllocator;
  share: ShareStrategy;
  status: 'passed' | 'failed' | 'aborted' | 'skipped';
  /** Why a cell was skipped, or one line on the failure. */
  reason?: string;
  step?: StepName;
  call?: string;
  code?: number;
  name?: string;
  explanation?: string;
  durationMs?: number;
}

export interface MatrixRemedy {
  alloc: InputAllocator;
  /** The strategy that failed for this allocator ('ipc' when the v2 path breaks). */
  failing: ShareStrategy[];
  /** The strategies that passed for it, best first. */
  working: ShareStrategy[];
  advice: string;
}

export interface MatrixReport {
  kind: 'matrix';
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  cuipcVersion: string;
  simulated: boolean;
  startedAt: string;
  durationMs: number;
  exitCode: 0 | 3;
  options: Omit<ReportOptions, 'alloc' | 'share'>;
  cells: MatrixCell[];
  remedies: MatrixRemedy[];
}


