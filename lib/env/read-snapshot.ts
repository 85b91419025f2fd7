// Reads an environment snapshot back (a file `cuipc env capture --out` wrote, parsed as JSON):
// checks that it is a snapshot this version reads, and recomputes its hazards with the current
// rules from the snapshot's own facts.
import { ENV_SNAPSHOT_SCHEMA, ENV_SNAPSHOT_SCHEMA_VERSION, hazardsOfSnapshot, type EnvSnapshot } from './capture.js';
import type { ShmInfo } from './hazards.js';
import type { PreloadEntry } from './preload.js';
import { parseVisibility } from './visibility.js';

export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
  constructor(readonly source: string, reason: string) {
    super(`${source}: not a cuipc environment snapshot (expected JSON written by \`cuipc env capture --json\`, schema "${ENV_SNAPSHOT_SCHEMA}" version ${ENV_SNAPSHOT_SCHEMA_VERSION}): ${reason}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringRecord(v: unknown, field: string, source: string): Record<string, string> {
  if (!isRecord(v)) throw new SnapshotFormatError(source, `"${field}" must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new SnapshotFormatError(source, `"${field}.${k}" must be a string`);
    // No process environment can hold a NUL byte (spawn would refuse it), nor an '=' in a name.
    if (k.includes('\0') || val.includes('\0')) throw new SnapshotFormatError(source, `"${field}.${JSON.stringify(k).slice(1, -1)}" contains a NUL byte`);
    if (k === '' || k.includes('=')) throw new SnapshotFormatError(source, `"${field}" has a variable name ${JSON.stringify(k)}, which no environment can hold`);
    out[k] = val;
  }
  return out;
}

function optionalString(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}

function preloadEntryFrom(v: unknown, i: number, source: string): PreloadEntry {
  if (!isRecord(v) || typeof v['entry'] !== 'string') throw new SnapshotFormatError(source, `"preload[${i}]" must be an object with a string "entry"`);
  const identities: PreloadEntry['identity'][] = ['torch_memory_saver', 'cuipc-vmm-interposer', 'cuda-allocator-interposer', 'cuda-driver-interposer', 'other'];
  const identity = identities.find((x) => x === v['identity']) ?? 'other';
  const strings = (x: unknown): string[] => Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : [];
  const entry: PreloadEntry = {
    entry: v['entry'],
    path: typeof v['path'] === 'string' ? v['path'] : null,
    exists: v['exists'] === true,
    inspected: v['inspected'] === true,
    exportsCudaMalloc: v['exportsCudaMalloc'] === true,
    exportsCudaFree: v['exportsCudaFree'] === true,
    exportsCuMemCreate: v['exportsCuMemCreate'] === true,
    cudaExports: strings(v['cudaExports']),
    vmmImports: strings(v['vmmImports']),
    identity,
    identifiedBy: strings(v['identifiedBy']),
  };
  if (typeof v['error'] === 'string') entry.error = v['error'];
  return entry;
}

/**
 * Checks that `data` (parsed JSON) is a snapshot this version reads, and returns it typed.
 * Hazards are recomputed with the current rules from the snapshot's own facts.
 */
export function parseSnapshot(data: unknown, source = 'snapshot'): EnvSnapshot {
  if (!isRecord(data)) throw new SnapshotFormatError(source, 'the top level is not a JSON object');
  if (data['schema'] !== ENV_SNAPSHOT_SCHEMA) throw new SnapshotFormatError(source, `"schema" is ${JSON.stringify(data['schema'] ?? null)}`);
  if (data['schemaVersion'] !== ENV_SNAPSHOT_SCHEMA_VERSION) {
    throw new SnapshotFormatError(source, `"schemaVersion" is ${JSON.stringify(data['schemaVersion'] ?? null)}; this cuipc reads version ${ENV_SNAPSHOT_SCHEMA_VERSION}`);
  }
  const environment = stringRecord(data['environment'], 'environment', source);
  const relevant = stringRecord(data['relevant'], 'relevant', source);
  if (data['preload'] !== undefined && !Array.isArray(data['preload'])) throw new SnapshotFormatError(source, '"preload" must be an array');
  const preload = (Array.isArray(data['preload']) ? data['preload'] : []).map((p, i) => preloadEntryFrom(p, i, source));
  const shmRaw = data['shm'];
  const shm: ShmInfo | null = isRecord(shmRaw) && typeof shmRaw['sizeBytes'] === 'number' && typeof shmRaw['freeBytes'] === 'number'
    ? { path: optionalString(shmRaw['path'], '/dev/shm'), sizeBytes: shmRaw['sizeBytes'], freeBytes: shmRaw['freeBytes'] }
    : null;
  const userRaw = isRecord(data['user']) ? data['user'] : {};
  const num = (x: unknown): number | null => typeof x === 'number' ? x : null;
  const snapshot: EnvSnapshot = {
    schema: ENV_SNAPSHOT_SCHEMA,
    schemaVersion: ENV_SNAPSHOT_SCHEMA_VERSION,
    label: typeof data['label'] === 'string' ? data['label'] : null,
    capturedAt: optionalString(data['capturedAt'], ''),
    pid: num(data['pid']) ?? 0,
    ppid: num(data['ppid']) ?? 0,
    hostname: optionalString(data['hostname'], ''),
    platform: optionalString(data['platform'], ''),
    arch: optionalString(data['arch'], ''),
    kernelRelease: optionalString(data['kernelRelease'], ''),
    nodeVersion: optionalString(data['nodeVersion'], ''),
    execPath: optionalString(data['execPath'], ''),
    cwd: optionalString(data['cwd'], ''),
    user: { uid: num(userRaw['uid']), gid: num(userRaw['gid']), name: typeof userRaw['name'] === 'string' ? userRaw['name'] : null },
    relevant,
    environment,
    redacted: Array.isArray(data['redacted']) ? data['redacted'].filter((s): s is string => typeof s === 'string') : [],
    preload,
    pidNamespace: typeof data['pidNamespace'] === 'string' ? data['pidNamespace'] : null,
    cgroup: Array.isArray(data['cgroup']) ? data['cgroup'].filter((s): s is string => typeof s === 'string') : null,
    shm,
    hazards: [],
    notes: Array.isArray(data['notes']) ? data['notes'].filter((s): s is string => typeof s === 'string') : [],
  };
  if (Array.isArray(data['devices'])) {
    snapshot.devices = data['devices'].map((d, i) => {
      if (!isRecord(d) || typeof d['ordinal'] !== 'number' || typeof d['uuid'] !== 'string') {
        throw new SnapshotFormatError(source, `"devices[${i}]" must have a number "ordinal" and a string "uuid"`);
      }
      return { ordinal: d['ordinal'], uuid: d['uuid'], pciBusId: optionalString(d['pciBusId'], ''), name: optionalString(d['name'], '') };
    });
  }
  const visibility = parseVisibility(data['visibility']);
  if (visibility !== undefined) snapshot.visibility = visibility;
  snapshot.hazards = hazardsOfSnapshot(snapshot);
  return snapshot;
}
