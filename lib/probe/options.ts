// Probe options: the library form (ProbeOptions), the checked form the coordinator runs
// (ResolvedProbeOptions), and the checks. Everything is checked before any process starts;
// a bad value is a ProbeUsageError (the CLI turns it into exit status 2).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Backend, CaptureMode } from '../../binding.js';
import { concreteBackend, requestedBackend, type BackendChoice } from '../binding/backend.js';
import type { ResolvedLaunch } from '../launch/launcher.js';
import type { EnvSnapshot } from '../env/capture.js';
import { parseSnapshot, SnapshotFormatError } from '../env/read-snapshot.js';
import {
  CAPTURE_MODES,
  DEVICE_VISIBILITIES,
  INPUT_ALLOCATORS,
  LAUNCHERS,
  MEMORY_SAVER_MODES,
  PLACEMENT_STRATEGIES,
  SHARE_STRATEGIES,
  type DeviceVisibility,
  type InputAllocator,
  type LaunchSettings,
  type MemorySaverMode,
  type ReportOptions,
  type PlacementStrategy,
  type ShareStrategy,
  type StepName,
} from '../report/types.js';

export const MAX_RANKS = 64;
export const DEFAULTS = {
  ranks: 4,
  inputs: 72,
  bytes: 4096,
  alloc: 'torch' as InputAllocator,
  share: 'ipc' as ShareStrategy,
  captureMode: 'global' as CaptureMode,
  timeoutMs: 20_000,
  coordinatorHost: '127.0.0.1',
  python: 'python3',
  numGpus: 1,
  placementStrategy: 'STRICT_PACK' as PlacementStrategy,
  memorySaverRegion: 'auto' as MemorySaverMode,
} as const;
const MAX_INPUTS = 4096;
const MAX_BYTES_PER_INPUT = 64 * 1024 * 1024;

export class ProbeUsageError extends Error {
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
  /** Who starts the ranks (default 'plain': this process). */
  launcher?: 'plain' | 'ray';
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

/** How a probe run can be watched and stopped; not part of the probe's configuration. */
export interface ProbeRunControls {
  /**
   * Aborting it stops the probe as a signal does: every rank is stopped, files and sockets are
   * removed, and the report so far comes back with abort reason 'interrupted' (exit code 3).
   */
  signal?: AbortSignal;
  /** Called as ranks connect, enter CUDA calls and finish steps. */
  onProgress?: (progress: ProbeProgress) => void;
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

function integerIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ProbeUsageError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ProbeUsageError(`${name} must be one of ${allowed.join(', ')}, got '${String(value)}'`);
  }
  return value as T;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Variables the probe sets for each rank itself; a user value would break the rendezvous. */
export const RESERVED_ENV = ['CUIPC_RANK', 'CUIPC_RANKS', 'CUIPC_PROBE_TOKEN', 'CUIPC_PROBE_ADDRESS', 'CUIPC_RAY_GPU_IDS', 'CUIPC_RAY_NODE_ID', 'CUIPC_RAY_CUDA_VISIBLE_DEVICES', 'CUIPC_RAY_NOSET', 'CUIPC_PARENT_PID', 'CUIPC_PROBE_DEVICES'];

function checkEnvKey(key: string, where: string): void {
  if (!ENV_KEY.test(key)) throw new ProbeUsageError(`${where}: '${key}' is not a valid environment variable name`);
  if (RESERVED_ENV.includes(key)) throw new ProbeUsageError(`${where}: ${key} is set by the probe for each rank and cannot be given`);
}

export function resolveProbeOptions(options: ProbeOptions, environment: Record<string, string | undefined> = process.env): ResolvedProbeOptions {
  const ranks = integerIn('ranks', options.ranks ?? DEFAULTS.ranks, 1, MAX_RANKS);
  const inputs = integerIn('inputs', options.inputs ?? DEFAULTS.inputs, 1, MAX_INPUTS);
  const bytes = integerIn('bytes', options.bytes ?? DEFAULTS.bytes, 4, MAX_BYTES_PER_INPUT);
  if (bytes % 4 !== 0) throw new ProbeUsageError(`bytes must be a multiple of 4 (the all-reduce sums uint32 elements), got ${bytes}`);
  const alloc = oneOf('alloc', options.alloc ?? DEFAULTS.alloc, INPUT_ALLOCATORS);
  const share = oneOf('share', options.share ?? DEFAULTS.share, SHARE_STRATEGIES);
  const captureMode = oneOf('capture mode', options.captureMode ?? DEFAULTS.captureMode, CAPTURE_MODES);
  const memorySaverRegion = oneOf('memory-saver region', options.memorySaverRegion ?? DEFAULTS.memorySaverRegion, MEMORY_SAVER_MODES);
  let chosen: BackendChoice;
  try {
    chosen = requestedBackend(options.backend, environment).choice;
  } catch (error) {
    throw new ProbeUsageError((error as Error).message);
  }
  // 'auto' is decided here, once, so every rank gets the same concrete backend.
  const backend: Backend = concreteBackend(chosen);
  const timeoutMs = integerIn('timeout', options.timeoutMs ?? DEFAULTS.timeoutMs, 100, 3_600_000);

  let devices: number[] | null = null;
  if (options.devices !== undefined) {
    if (!Array.isArray(options.devices) || options.devices.length !== ranks) {
      throw new ProbeUsageError(`devices must list one device ordinal per rank (${ranks}), got ${JSON.stringify(options.devices)}`);
    }
    devices = options.devices.map((d, i) => integerIn(`devices[${i}]`, d, 0, 1023));
  }

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.env ?? {})) {
    checkEnvKey(key, 'env');
    if (typeof value !== 'string') throw new ProbeUsageError(`env: the value of ${key} must be a string`);
    if (value.includes('\0')) throw new ProbeUsageError(`env: the value of ${key} contains a NUL byte`);
    env[key] = value;
  }

  if (options.port !== undefined && options.socket !== undefined) {
    throw new ProbeUsageError('give either port (loopback TCP) or socket (Unix socket), not both');
  }
  let rendezvous: ResolvedProbeOptions['rendezvous'];
  if (options.socket !== undefined) {
    if (typeof options.socket !== 'string' || options.socket.length === 0) throw new ProbeUsageError('socket must be a path');
    // sun_path holds 108 bytes with its terminating NUL.
    if (Buffer.byteLength(options.socket) > 107) throw new ProbeUsageError(`socket path is too long for a Unix socket (${Buffer.byteLength(options.socket)} bytes, at most 107)`);
    rendezvous = { kind: 'unix', path: options.socket };
    if (options.coordinatorHost !== undefined) throw new ProbeUsageError('give either coordinatorHost (TCP) or socket (Unix socket), not both');
  } else {
    const host = options.coordinatorHost ?? DEFAULTS.coordinatorHost;
    // An address or a host name, nothing that could smuggle a port or a path in.
    if (typeof host !== 'string' || (isIP(host) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/.test(host))) {
      throw new ProbeUsageError(`coordinator host must be an IP address or a host name, got '${String(host)}'`);
    }
    rendezvous = { kind: 'tcp', host, port: integerIn('port', options.port ?? 0, 0, 65535) };
  }
  const launch = resolveLaunch(options, devices !== null);
  return { ranks, inputs, bytes, alloc, share, captureMode, memorySaverRegion, devices, backend, env, timeoutMs, rendezvous, launch };
}

function resolveLaunch(options: ProbeOptions, devicesGiven: boolean): ResolvedLaunch {
  const launcher = oneOf('launcher', options.launcher ?? 'plain', LAUNCHERS);
  if (launcher === 'plain') {
    if (options.ray !== undefined) throw new ProbeUsageError('the Ray options (num GPUs, placement strategy, noset visible devices, Ray address, python) need launcher ray');
    const visibility = oneOf('visibility', options.visibility ?? 'all', DEVICE_VISIBILITIES);
    let envSnapshot: EnvSnapshot | null = null;
    if (options.envSnapshot !== undefined) {
      try {
        // Checked as a file would be: a library caller may hand over any parsed JSON.
        envSnapshot = parseSnapshot(options.envSnapshot, 'envSnapshot');
      } catch (error) {
        if (error instanceof SnapshotFormatError) throw new ProbeUsageError(error.message);
        throw error;
      }
    }
    return { kind: 'plain', visibility, envSnapshot };
  }
  if (options.visibility !== undefined) throw new ProbeUsageError('visibility applies to the plain launcher; under Ray, CUDA_VISIBLE_DEVICES comes from Ray (see noset visible devices)');
  if (devicesGiven) throw new ProbeUsageError('devices applies to the plain launcher; under Ray, each actor gets the GPU of its placement group bundle');
  if (options.envSnapshot !== undefined) throw new ProbeUsageError('an environment snapshot is replayed with the plain launcher; under Ray, give variables with env (they become runtime_env env_vars)');
  const ray = options.ray ?? {};
  const numGpus = ray.numGpus ?? DEFAULTS.numGpus;
  if (typeof numGpus !== 'number' || !Number.isFinite(numGpus) || numGpus <= 0 || numGpus > 1) {
    throw new ProbeUsageError(`num GPUs must be above 0 and at most 1 (each rank has a bundle of one GPU), got ${String(numGpus)}`);
  }
  const placementStrategy = oneOf('placement strategy', ray.placementStrategy ?? DEFAULTS.placementStrategy, PLACEMENT_STRATEGIES);
  if (ray.nosetVisibleDevices !== undefined && typeof ray.nosetVisibleDevices !== 'boolean') throw new ProbeUsageError('noset visible devices must be true or false');
  const nonEmpty = (name: string, value: unknown): string => {
    if (typeof value !== 'string' || value.trim() === '' || value.includes('\0')) throw new ProbeUsageError(`${name} must be a non-empty string`);
    return value;
  };
  return {
    kind: 'ray',
    numGpus,
    placementStrategy,
    nosetVisibleDevices: ray.nosetVisibleDevices ?? false,
    address: ray.address === undefined ? null : nonEmpty('Ray address', ray.address),
    python: nonEmpty('python', ray.python ?? DEFAULTS.python),
  };
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

/** How the ranks are launched, as the report records it. */
export function launchSettings(resolved: ResolvedProbeOptions): LaunchSettings {
  const launch = resolved.launch;
  const coordinatorHost = resolved.rendezvous.kind === 'tcp' ? resolved.rendezvous.host : DEFAULTS.coordinatorHost;
  if (launch.kind === 'ray') {
    const { numGpus, placementStrategy, nosetVisibleDevices, address } = launch;
    return { launcher: 'ray', visibility: null, ray: { numGpus, placementStrategy, nosetVisibleDevices, address }, envSnapshot: null, coordinatorHost };
  }
  const s = launch.envSnapshot;
  return {
    launcher: 'plain',
    visibility: launch.visibility,
    ray: null,
    envSnapshot: s ? { label: s.label, capturedAt: s.capturedAt, hostname: s.hostname, pid: s.pid } : null,
    coordinatorHost,
  };
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

export function readEnvFile(path: string): Record<string, string> {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ProbeUsageError(`--env-file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (content.includes('\0')) throw new ProbeUsageError(`--env-file ${path}: not a text file`);
  return parseEnvFile(content, path);
}
