// Probe options: the library form (ProbeOptions), the checked form the coordinator runs
// (ResolvedProbeOptions), and the one place they are checked, row by row from the option table
// (option-table.ts) and the launchers' own rows. Everything is checked before any process
// starts; a bad value is a ProbeUsageError (a RangeError naming the option; the CLI turns it
// into exit status 2).
import { isIP } from 'node:net';
import type { Backend, CaptureMode } from '../../binding.js';
import { concreteBackend, requestedBackend, type BackendChoice } from '../binding/backend.js';
import { getLauncher } from '../launch/builtin.js';
import { LaunchUsageError, type ResolvedLaunch } from '../launch/launcher.js';
import type { EnvSnapshot } from '../env/capture.js';
import { checkValue, optionName, OptionValueError, valueAt, type OptionSpec } from '../model/option-spec.js';
import type { FixCheck, LaunchSettings, ProbeReport, ReportOptions } from '../report/types.js';
import type { DeviceVisibility, InputAllocator, MemorySaverMode, PlacementStrategy, ShareStrategy, StepName } from '../model/vocabulary.js';
import { probeOptionTable } from './option-table.js';

export { MAX_RANKS } from './option-table.js';

const ROWS_AT_LOAD = probeOptionTable();

function rowDefault<T>(name: string, rows: readonly OptionSpec[] = ROWS_AT_LOAD): T {
  const row = rows.find((r) => optionName(r) === name);
  if (!row || !('default' in row)) throw new TypeError(`option ${name} has no default in the table`);
  return row.default as T;
}

/** The defaults, as the table gives them. */
export const DEFAULTS = {
  ranks: rowDefault<number>('ranks'),
  inputs: rowDefault<number>('inputs'),
  bytes: rowDefault<number>('bytes'),
  alloc: rowDefault<InputAllocator>('alloc'),
  share: rowDefault<ShareStrategy>('share'),
  captureMode: rowDefault<CaptureMode>('captureMode'),
  timeoutMs: rowDefault<number>('timeoutMs'),
  coordinatorHost: '127.0.0.1',
  python: rowDefault<string>('ray.python'),
  numGpus: rowDefault<number>('ray.numGpus'),
  placementStrategy: rowDefault<PlacementStrategy>('ray.placementStrategy'),
  memorySaverRegion: rowDefault<MemorySaverMode>('memorySaverRegion'),
} as const;

/** A bad probe option. A RangeError, so callers that catch those for bad input catch it too. */
export class ProbeUsageError extends RangeError {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'ProbeUsageError';
  }
}

export interface ProbeOptions {
  /** Number of rank processes, 1..64 (default 4). */
  ranks?: number;
  /** Graph inputs per rank (default 72, as a server's captured batch sizes give). */
  inputs?: number;
  /** Bytes per input, a multiple of 4 (default 4096). */
  bytes?: number;
  alloc?: InputAllocator;
  share?: ShareStrategy;
  captureMode?: CaptureMode;
  /**
   * Whether each rank allocates graph inputs and captures inside the region of the allocator
   * hooks loaded in it (torch_memory_saver's preload hook, cuipc's interposer). 'auto' (default):
   * exactly when the rank's environment has SGLANG_MEMORY_SAVER_CUDA_GRAPH on, as SGLang decides.
   */
  memorySaverRegion?: MemorySaverMode;
  /** Device ordinal per rank; default round-robin over the visible devices. */
  devices?: number[];
  /** Default: CUIPC_BACKEND, else 'cuda'. */
  backend?: Backend | 'auto';
  /** Variables for the ranks' environment, on top of this process's environment. */
  env?: Record<string, string>;
  /** Per step, in milliseconds (default 20000). */
  timeoutMs?: number;
  /** Loopback TCP port for the rendezvous (0 or absent: an ephemeral port). */
  port?: number;
  /** Rendezvous over this Unix socket path instead of TCP. */
  socket?: string;
  /** Who starts the ranks, by registered name: 'plain' (default: this process) or 'ray'. */
  launcher?: string;
  /** Plain launcher only: 'all' devices visible to every rank (default), or 'per-rank' (as Ray does). */
  visibility?: DeviceVisibility;
  /** Ray launcher only. */
  ray?: RayLaunchOptions;
  /** Where the rendezvous listens (default 127.0.0.1); a non-loopback address only when given here. */
  coordinatorHost?: string;
  /**
   * Plain launcher only: start ranks in this captured environment (`cuipc env capture --json`)
   * instead of this process's; `env` still applies on top.
   */
  envSnapshot?: EnvSnapshot;
}

/** Where a running probe is: passed to `onProgress` as ranks connect, call and finish steps. */
export interface ProbeProgress {
  /** The step the ranks are running; null while they start and connect. */
  step: StepName | null;
  /** 1..steps for a step, 0 while starting. */
  stepNumber: number;
  steps: number;
  /** Ranks connected to the rendezvous so far. */
  connected: number;
  /** Per rank: whether it finished the current round, and the CUDA call it is in, if any. */
  ranks: Array<{ rank: number; done: boolean; call: string | null }>;
  elapsedMs: number;
}

/** With checkFixes: a fix's replay begins (`check` null) or ends (fix-checks.ts). */
export interface FixCheckEvent {
  /** 1..total, among the fixes that are replayed. */
  index: number;
  total: number;
  fix: string;
  change: string;
  check: FixCheck | null;
}

/** How a probe run can be watched and stopped; not part of the probe's configuration. */
export interface ProbeRunControls {
  /**
   * Aborting it stops the probe as a signal does: every rank is stopped, files and sockets are
   * removed, and the report so far comes back with abort reason 'interrupted' (exit code 3).
   */
  signal?: AbortSignal;
  /** Called as ranks connect, enter CUDA calls and finish steps. */
  onProgress?: (progress: ProbeProgress) => void;
  /**
   * Called once with the report as soon as the verdict is known: every round has run (or the
   * probe aborted), before the ranks are told to exit, stopped or reaped, so a caller can show
   * the answer while they tear down. probe() still resolves only after everything is cleaned
   * up, with the final report, which differs from this one only in what the ranks' leaving
   * adds: each rank's `exit` and `stderrTail`, `cleanedUp`, `durationMs`, and a teardown note
   * for a rank that had to be killed. One case changes the verdict: the probe is interrupted
   * (`signal`, or SIGINT to the CLI) while the ranks leave; the final report is then 'aborted'
   * with reason 'interrupted'. Also called, with the final report, when the probe ends before
   * any rank started. An exception it throws rejects probe(), after the clean-up.
   */
  onAnswer?: (report: ProbeReport) => void;
  /**
   * After a failed probe, replay each fix its answer names that a probe option can express
   * (unset a variable, drop an LD_PRELOAD entry or an allocator setting, --share copy, ...) as a
   * probe of its own with the same options but that change; the report's `fixChecks` says which
   * pass (fix-checks.ts). Default false here (`cuipc probe` turns it on). onAnswer still comes
   * before the replays, without them; `signal` stops the replay that runs and starts no other.
   */
  checkFixes?: boolean;
  /** With checkFixes: called before each replay (`check` null) and when it ends. */
  onFixCheck?: (event: FixCheckEvent) => void;
}

export interface RayLaunchOptions {
  /** GPUs each rank's actor asks of its bundle, above 0 and at most 1 (default 1; 0.25 as colocated frameworks do). */
  numGpus?: number;
  /** Placement group strategy (default STRICT_PACK). */
  placementStrategy?: PlacementStrategy;
  /** Set RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES in the actors' runtime_env: every GPU visible to every rank. */
  nosetVisibleDevices?: boolean;
  /** ray.init(address=...); default: RAY_ADDRESS or the running cluster, else a local one. */
  address?: string;
  /** An existing placement group (its name or hex id) to place the ranks in; neither created nor removed. */
  placementGroup?: string;
  /** With placementGroup: each rank's bundle, e.g. '0,1' (default: bundles 0..ranks-1). */
  bundleIndices?: string;
  /** The Ray namespace the driver joins, where a placementGroup name is looked up (default: every namespace, the name unique). */
  namespace?: string;
  /** The Python that runs the driver (default python3); it must be able to import ray. */
  python?: string;
}

export type { ResolvedLaunch } from '../launch/launcher.js';

export interface ResolvedProbeOptions {
  ranks: number;
  inputs: number;
  bytes: number;
  alloc: InputAllocator;
  share: ShareStrategy;
  captureMode: CaptureMode;
  memorySaverRegion: MemorySaverMode;
  /** Filled from the device count when the caller gave none (see assignDevices). */
  devices: number[] | null;
  backend: Backend;
  env: Record<string, string>;
  timeoutMs: number;
  rendezvous: { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };
  launch: ResolvedLaunch;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Variables the probe sets for each rank itself; a user value would break the rendezvous. */
export const RESERVED_ENV = ['CUIPC_RANK', 'CUIPC_RANKS', 'CUIPC_PROBE_TOKEN', 'CUIPC_PROBE_ADDRESS', 'CUIPC_RAY_GPU_IDS', 'CUIPC_RAY_NODE_ID', 'CUIPC_RAY_CUDA_VISIBLE_DEVICES', 'CUIPC_RAY_NOSET', 'CUIPC_PARENT_PID', 'CUIPC_PROBE_DEVICES'];

function checkEnvKey(key: string, where: string): void {
  if (!ENV_KEY.test(key)) throw new ProbeUsageError(`${where}: '${key}' is not a valid environment variable name`);
  if (RESERVED_ENV.includes(key)) throw new ProbeUsageError(`${where}: ${key} is set by the probe for each rank and cannot be given`);
}

/** `value` checked against its row (its default when undefined); a ProbeUsageError names it when it is bad. */
function checkedValue(row: OptionSpec, value: unknown): unknown {
  if (row.type === 'custom') return value;
  try {
    return checkValue(row, value);
  } catch (error) {
    if (error instanceof OptionValueError) throw new ProbeUsageError(error.message);
    throw error;
  }
}

/** Checks every option, row by row from the table, then what spans rows; nothing has started yet. */
export function resolveProbeOptions(
  options: ProbeOptions,
  environment: Record<string, string | undefined> = process.env,
  rows: readonly OptionSpec[] = probeOptionTable(),
): ResolvedProbeOptions {
  if (options === null || typeof options !== 'object') throw new ProbeUsageError('probe options must be an object');
  const value: Record<string, unknown> = {};
  for (const row of rows) if (!row.envVariable) value[optionName(row)] = checkedValue(row, valueAt(options, row));
  const ranks = value.ranks as number;
  let chosen: BackendChoice;
  try {
    chosen = requestedBackend(options.backend, environment).choice;
  } catch (error) {
    throw new ProbeUsageError((error as Error).message);
  }
  // 'auto' is decided here, once, so every rank gets the same concrete backend.
  const backend: Backend = concreteBackend(chosen);

  let devices: number[] | null = null;
  if (options.devices !== undefined) {
    if (!Array.isArray(options.devices) || options.devices.length !== ranks) {
      throw new ProbeUsageError(`devices must list one device ordinal per rank (${ranks}), got ${JSON.stringify(options.devices)}`);
    }
    devices = options.devices.map((d, i) => checkedValue({ ...deviceRow, label: `devices[${i}]` }, d) as number);
  }

  const env: Record<string, string> = {};
  if (options.env !== undefined && (options.env === null || typeof options.env !== 'object' || Array.isArray(options.env))) throw new ProbeUsageError('env must be an object of variable names to strings');
  for (const [key, v] of Object.entries(options.env ?? {})) {
    checkEnvKey(key, 'env');
    if (typeof v !== 'string') throw new ProbeUsageError(`env: the value of ${key} must be a string`);
    if (v.includes('\0')) throw new ProbeUsageError(`env: the value of ${key} contains a NUL byte`);
    env[key] = v;
  }

  const rendezvous = resolveRendezvous(options, value.port as number | undefined);
  const launch = resolveLaunch(options, rows, value, devices !== null);
  return {
    ranks,
    inputs: value.inputs as number,
    bytes: value.bytes as number,
    alloc: value.alloc as InputAllocator,
    share: value.share as ShareStrategy,
    captureMode: value.captureMode as CaptureMode,
    memorySaverRegion: value.memorySaverRegion as MemorySaverMode,
    devices,
    backend,
    env,
    timeoutMs: value.timeoutMs as number,
    rendezvous,
    launch,
  };
}

/** One device ordinal (checked like a row of its own). */
const deviceRow: OptionSpec = { path: ['devices'], flag: null, group: 'probe', label: 'devices', consumer: 'coordinator', type: 'integer', min: 0, max: 1023, description: 'a device ordinal' };

function resolveRendezvous(options: ProbeOptions, port: number | undefined): ResolvedProbeOptions['rendezvous'] {
  if (port !== undefined && options.socket !== undefined) {
    throw new ProbeUsageError('give either port (loopback TCP) or socket (Unix socket), not both');
  }
  if (options.socket !== undefined) {
    if (typeof options.socket !== 'string' || options.socket.length === 0) throw new ProbeUsageError('socket must be a path');
    // sun_path holds 108 bytes with its terminating NUL.
    if (Buffer.byteLength(options.socket) > 107) throw new ProbeUsageError(`socket path is too long for a Unix socket (${Buffer.byteLength(options.socket)} bytes, at most 107)`);
    if (options.coordinatorHost !== undefined) throw new ProbeUsageError('give either coordinatorHost (TCP) or socket (Unix socket), not both');
    return { kind: 'unix', path: options.socket };
  }
  const host = options.coordinatorHost ?? DEFAULTS.coordinatorHost;
  // An address or a host name, nothing that could smuggle a port or a path in.
  if (typeof host !== 'string' || (isIP(host) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/.test(host))) {
    throw new ProbeUsageError(`coordinator host must be an IP address or a host name, got '${String(host)}'`);
  }
  return { kind: 'tcp', host, port: port ?? 0 };
}

/**
 * The launcher's own rows apply to it alone: one given under another launcher is refused, naming
 * the launcher it needs. The launcher then checks what spans its rows.
 */
function resolveLaunch(options: ProbeOptions, rows: readonly OptionSpec[], value: Record<string, unknown>, devicesGiven: boolean): ResolvedLaunch {
  const name = value.launcher as string;
  const definition = getLauncher(name);
  const given: Record<string, unknown> = {};
  for (const row of rows) {
    const consumer = row.consumer;
    if (!consumer.startsWith('launcher:')) continue;
    const owner = consumer.slice('launcher:'.length);
    if (owner === name) {
      given[optionName(row)] = value[optionName(row)];
    } else if (valueAt(options, row) !== undefined) {
      throw new ProbeUsageError(`${row.label} applies to launcher ${owner} (--launcher ${owner}); this probe's launcher is ${name}`);
    }
  }
  try {
    return { kind: name, settings: definition.resolve(given, { devicesGiven }) };
  } catch (error) {
    if (error instanceof LaunchUsageError) throw new ProbeUsageError(error.message);
    throw error;
  }
}

/** The options as a report records them (variable names only: values may hold secrets). */
export function reportOptionsOf(resolved: ResolvedProbeOptions, devices: number[]): ReportOptions {
  return {
    ranks: resolved.ranks,
    inputs: resolved.inputs,
    bytes: resolved.bytes,
    alloc: resolved.alloc,
    share: resolved.share,
    captureMode: resolved.captureMode,
    devices,
    backend: resolved.backend,
    envKeys: Object.keys(resolved.env).sort(),
    timeoutMs: resolved.timeoutMs,
    rendezvous: resolved.rendezvous.kind,
    launch: launchSettings(resolved),
    memorySaverRegion: resolved.memorySaverRegion,
  };
}

/** How the ranks are launched, as the report records it: the launcher describes its own settings. */
export function launchSettings(resolved: ResolvedProbeOptions): LaunchSettings {
  const coordinatorHost = resolved.rendezvous.kind === 'tcp' ? resolved.rendezvous.host : DEFAULTS.coordinatorHost;
  const described = getLauncher(resolved.launch.kind).describe(resolved.launch.settings);
  return { launcher: resolved.launch.kind, ...described, coordinatorHost };
}

/** Rank -> device ordinal: the caller's list checked against the device count, else round-robin. */
export function assignDevices(resolved: ResolvedProbeOptions, deviceCount: number): number[] {
  if (deviceCount < 1) throw new ProbeUsageError('no CUDA device is visible to this process');
  if (resolved.devices) {
    const bad = resolved.devices.findIndex((d) => d >= deviceCount);
    if (bad >= 0) {
      throw new ProbeUsageError(
        `devices: rank ${bad} is mapped to device ${resolved.devices[bad]}, but only ${deviceCount} device(s) are visible (ordinals 0..${deviceCount - 1})`,
      );
    }
    return resolved.devices;
  }
  return Array.from({ length: resolved.ranks }, (_, rank) => rank % deviceCount);
}

/** --devices "0,0,1,1" */
export function parseDeviceList(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new ProbeUsageError(`--devices must be a comma-separated list of device ordinals, got '${text}'`);
  return parts.map(Number);
}

/** --env KEY=VALUE */
export function parseEnvAssignment(text: string, where = '--env'): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ProbeUsageError(`${where}: expects KEY=VALUE, got '${text}'`);
  const key = text.slice(0, eq);
  checkEnvKey(key, where);
  return [key, text.slice(eq + 1)];
}

/**
 * An env file: one KEY=VALUE per line, blank lines and # comments allowed, an optional
 * `export ` prefix, a value optionally in matching single or double quotes (taken as is).
 */
export function parseEnvFile(content: string, name: string): Record<string, string> {
  const env: Record<string, string> = {};
  const lines = content.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${name}:${index + 1}`;
    const body = line.startsWith('export ') ? line.slice(7).trimStart() : line;
    const [key, rawValue] = parseEnvAssignment(body, where);
    let value = rawValue;
    const quote = value[0];
    if (quote === '"' || quote === "'") {
      if (value.length < 2 || value[value.length - 1] !== quote) throw new ProbeUsageError(`${where}: unterminated quote in the value of ${key}`);
      value = value.slice(1, -1);
    }
    env[key] = value;
  });
  return env;
}
