// Probe options: the library form (ProbeOptions), the checked form the coordinator runs
// (ResolvedProbeOptions), and the checks. Everything is checked before any process starts;
// a bad value is a ProbeUsageError (the CLI turns it into exit status 2).
import { readFileSync } from 'node:fs';
import type { Backend, CaptureMode } from '../../binding.js';
import { resolveBackend } from '../cuda/index.js';
import {
  CAPTURE_MODES,
  INPUT_ALLOCATORS,
  SHARE_STRATEGIES,
  type InputAllocator,
  type ShareStrategy,
} from '../report/types.js';

export const MAX_RANKS = 64;
export const DEFAULTS = {
  ranks: 4,
  inputs: 72,
  bytes: 4096,
  alloc: 'cudaMalloc' as InputAllocator,
  share: 'ipc' as ShareStrategy,
  captureMode: 'global' as CaptureMode,
  timeoutMs: 20_000,
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
}

export interface ResolvedProbeOptions {
  ranks: number;
  inputs: number;
  bytes: number;
  alloc: InputAllocator;
  share: ShareStrategy;
  captureMode: CaptureMode;
  /** Filled from the device count when the caller gave none (see assignDevices). */
  devices: number[] | null;
  backend: Backend;
  env: Record<string, string>;
  timeoutMs: number;
  rendezvous: { kind: 'tcp'; port: number } | { kind: 'unix'; path: string };
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
export const RESERVED_ENV = ['CUIPC_RANK', 'CUIPC_RANKS', 'CUIPC_PROBE_TOKEN', 'CUIPC_PROBE_ADDRESS'];

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
  const backendValue = options.backend ?? environment.CUIPC_BACKEND ?? 'cuda';
  const chosen = oneOf(options.backend ? 'backend' : 'backend (from CUIPC_BACKEND)', backendValue, ['cuda', 'sim', 'auto'] as const);
  // 'auto' is decided here, once, so every rank gets the same concrete backend.
  const backend: Backend = chosen === 'auto' ? resolveBackend('auto') : chosen;
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
  } else {
    rendezvous = { kind: 'tcp', port: integerIn('port', options.port ?? 0, 0, 65535) };
  }
  return { ranks, inputs, bytes, alloc, share, captureMode, devices, backend, env, timeoutMs, rendezvous };
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
