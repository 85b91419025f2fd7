// A JSON-able, schema-versioned snapshot of a process's launch environment: the variables
// that matter to CUDA IPC, every other variable's name (secret-looking values redacted),
// LD_PRELOAD described, the PID namespace, cgroup, /dev/shm, the user and the host. A snapshot
// written to a file is read back by read-snapshot.ts.
import { readFileSync, readlinkSync, statfsSync } from 'node:fs';
import { hostname, release, userInfo } from 'node:os';
import { detectHazards, type Hazard, type ShmInfo } from './hazards.js';
import { describeLdPreload, type PreloadEntry } from './preload.js';
import filter from './relevant-variables.json' with { type: 'json' };
import { visibilityOf, type RayContext, type SnapshotVisibility } from './visibility.js';

export const ENV_SNAPSHOT_SCHEMA = 'cuipc.env-snapshot';
export const ENV_SNAPSHOT_SCHEMA_VERSION = 1;
/** What a redacted value is replaced with. */
export const REDACTED = '<redacted>';

export interface DeviceIdentity {
  ordinal: number;
  uuid: string;
  pciBusId: string;
  name: string;
}

export interface EnvSnapshot {
  schema: typeof ENV_SNAPSHOT_SCHEMA;
  schemaVersion: typeof ENV_SNAPSHOT_SCHEMA_VERSION;
  label: string | null;
  capturedAt: string;
  pid: number;
  ppid: number;
  hostname: string;
  platform: string;
  arch: string;
  kernelRelease: string;
  nodeVersion: string;
  execPath: string;
  cwd: string;
  user: { uid: number | null; gid: number | null; name: string | null };
  /** The CUDA-relevant variables (CUDA_*, NCCL_*, PYTORCH_*, LD_PRELOAD, ...), values as set. */
  relevant: Record<string, string>;
  /** Every variable; values of secret-looking names (and, with values 'relevant', of all irrelevant ones) are REDACTED. */
  environment: Record<string, string>;
  /** Names whose values were redacted. */
  redacted: string[];
  preload: PreloadEntry[];
  /** readlink /proc/self/ns/pid, e.g. 'pid:[4026531836]'; null where unreadable. */
  pidNamespace: string | null;
  /** /proc/self/cgroup lines; null where unreadable. */
  cgroup: string[] | null;
  /** /dev/shm; null when it is not there. */
  shm: ShmInfo | null;
  /** Visible devices, when the caller (the addon) supplied them. */
  devices?: DeviceIdentity[];
  /** CUDA_VISIBLE_DEVICES and who chose it (Ray, for an actor); absent in snapshots of older versions. */
  visibility?: SnapshotVisibility;
  hazards: Hazard[];
  /** What could not be read, and why. */
  notes: string[];
}

interface CaptureOptions {
  /** The environment to capture; default process.env. */
  env?: Record<string, string | undefined>;
  label?: string;
  devices?: DeviceIdentity[];
  /** What Ray said of this worker, where the caller could ask it. */
  ray?: Partial<RayContext>;
  /** 'all' (default): every value except secret-looking ones; 'relevant': only CUDA-relevant values, other names only. */
  values?: 'all' | 'relevant';
  /** Read LD_PRELOAD files to describe them; default true. */
  inspectFiles?: boolean;
  /** Where /dev/shm is; default '/dev/shm'. */
  shmPath?: string;
}

// The filter's one home is relevant-variables.json (the tracer in native/trace holds the same list).
const RELEVANT_PREFIXES: readonly string[] = filter.prefixes;
const RELEVANT_NAMES: ReadonlySet<string> = new Set(filter.names);
const SECRET_SEGMENTS: ReadonlySet<string> = new Set(filter.secretSegments);
const SECRET_SUBSTRINGS: readonly string[] = filter.secretSubstrings;

/** Whether a variable matters to CUDA IPC and its diagnosis. */
export function isCudaRelevant(name: string): boolean {
  return RELEVANT_NAMES.has(name) || RELEVANT_PREFIXES.some((p) => name.startsWith(p));
}

/** Whether a variable's name looks like it holds a secret (its value is then never stored). */
export function looksSecret(name: string): boolean {
  const upper = name.toUpperCase();
  return SECRET_SUBSTRINGS.some((s) => upper.includes(s)) || upper.split(/[_\-.]+/).some((s) => SECRET_SEGMENTS.has(s));
}

// Credentials inside URLs (proxies, registries) are secrets whatever the variable is called.
function redactUrlCredentials(value: string): string {
  return value.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, `$1${REDACTED}@`);
}

function readPidNamespace(notes: string[]): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch (err) {
    notes.push(`PID namespace unreadable: ${(err as Error).message}`);
    return null;
  }
}

function readCgroup(notes: string[]): string[] | null {
  try {
    return readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter((l) => l.length > 0);
  } catch (err) {
    notes.push(`cgroup unreadable: ${(err as Error).message}`);
    return null;
  }
}

function readShm(path: string, notes: string[]): ShmInfo | null {
  try {
    const s = statfsSync(path);
    return { path, sizeBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  } catch (err) {
    notes.push(`${path} unreadable: ${(err as Error).message}`);
    return null;
  }
}

function readUser(env: Record<string, string | undefined>, notes: string[]): EnvSnapshot['user'] {
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  const gid = typeof process.getgid === 'function' ? process.getgid() : null;
  try {
    return { uid, gid, name: userInfo().username };
  } catch {
    // A uid without a passwd entry is common in containers.
    notes.push('user name: no passwd entry for this uid');
    return { uid, gid, name: env['USER'] ?? env['LOGNAME'] ?? null };
  }
}

/** Snapshots this process's launch environment. Reads /proc and LD_PRELOAD files; changes nothing. */
export function captureEnvironment(options: CaptureOptions = {}): EnvSnapshot {
  const env = options.env ?? process.env;
  const notes: string[] = [];
  const relevant: Record<string, string> = {};
  const environment: Record<string, string> = {};
  const redacted: string[] = [];
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (value === undefined) continue;
    const secret = looksSecret(name);
    const cudaRelevant = isCudaRelevant(name);
    const keep = !secret && (options.values !== 'relevant' || cudaRelevant);
    const stored = keep ? redactUrlCredentials(value) : REDACTED;
    if (!keep) redacted.push(name);
    environment[name] = stored;
    if (cudaRelevant) relevant[name] = stored;
  }
  const inspectFiles = options.inspectFiles !== false;
  const preload = describeLdPreload(env['LD_PRELOAD'], env, inspectFiles);
  const pidNamespace = readPidNamespace(notes);
  const shm = readShm(options.shmPath ?? '/dev/shm', notes);
  const snapshot: EnvSnapshot = {
    schema: ENV_SNAPSHOT_SCHEMA,
    schemaVersion: ENV_SNAPSHOT_SCHEMA_VERSION,
    label: options.label ?? null,
    capturedAt: new Date().toISOString(),
    pid: process.pid,
    ppid: process.ppid,
    hostname: hostname(),
    platform: process.platform,
    arch: process.arch,
    kernelRelease: release(),
    nodeVersion: process.version,
    execPath: process.execPath,
    cwd: process.cwd(),
    user: readUser(env, notes),
    relevant,
    environment,
    redacted,
    preload,
    pidNamespace,
    cgroup: readCgroup(notes),
    shm,
    visibility: visibilityOf(env, options.ray),
    hazards: [],
    notes,
  };
  if (options.devices) snapshot.devices = options.devices.map((d) => ({ ordinal: d.ordinal, uuid: d.uuid, pciBusId: d.pciBusId, name: d.name }));
  snapshot.hazards = hazardsOfSnapshot(snapshot);
  return snapshot;
}

/** The variables hazard rules see: the relevant ones, with the snapshot's facts as context (no file access). */
export function hazardsOfSnapshot(s: EnvSnapshot, peerPidNamespaces: readonly (string | null)[] = []): Hazard[] {
  return detectHazards(s.relevant, { preload: s.preload, pidNamespace: s.pidNamespace, shm: s.shm, peerPidNamespaces, inspectFiles: false });
}
