// Differences between two environment snapshots (say, inside a Ray actor and in a shell),
// CUDA-relevant ones first, most severe first, each with what it does to CUDA IPC. render.ts
// renders them for a person.
import { hazardsOfSnapshot, isCudaRelevant, REDACTED, type DeviceIdentity, type EnvSnapshot } from './capture.js';
import { formatShm, SEVERITY_ORDER, type Hazard, type HazardSeverity } from './hazards.js';
import { summarizePreloadEntry } from './preload.js';

const ENV_DIFF_SCHEMA = 'cuipc.env-diff';
const ENV_DIFF_SCHEMA_VERSION = 1;

interface EnvDifference {
  /** A variable name, or a fact: 'PID namespace', '/dev/shm', 'devices', 'LD_PRELOAD files', 'hostname', ... */
  key: string;
  category: 'variable' | 'process';
  change: 'added' | 'removed' | 'changed';
  /** The value in A and in B; null where absent. */
  a: string | null;
  b: string | null;
  cudaRelevant: boolean;
  /** The most severe hazard about this key that only one side has; null when none. */
  severity: HazardSeverity | null;
  /** Hazards about this key in A and in B (with the other snapshot's PID namespace as peer). */
  hazardsA: Hazard[];
  hazardsB: Hazard[];
}

export interface SnapshotSummary {
  label: string | null;
  hostname: string;
  pid: number;
  capturedAt: string;
}

export interface EnvDiff {
  schema: typeof ENV_DIFF_SCHEMA;
  schemaVersion: typeof ENV_DIFF_SCHEMA_VERSION;
  a: SnapshotSummary;
  b: SnapshotSummary;
  /** CUDA-relevant differences, most severe first. */
  cudaRelevant: EnvDifference[];
  /** Everything else that differs, by name. */
  other: EnvDifference[];
  /** Hazards one side has and the other lacks (same id, variable and value). */
  hazardsOnlyInA: Hazard[];
  hazardsOnlyInB: Hazard[];
  /** Variables present on both sides whose values were redacted, so not compared. */
  notCompared: string[];
}

/** The same id, variable and value: the same hazard, on either side. */
export const hazardKey = (h: Hazard): string => `${h.id}\u0000${h.variable}\u0000${h.value}`;

export function devicesText(devices: DeviceIdentity[] | undefined): string | null {
  return devices === undefined ? null : devices.map((d) => `${d.ordinal}:${d.uuid}${d.pciBusId ? `@${d.pciBusId}` : ''}`).join(', ') || '(none)';
}

function preloadFilesText(s: EnvSnapshot): string | null {
  return s.preload.length === 0 ? null : s.preload.map(summarizePreloadEntry).join('; ');
}

interface ProcessFact { key: string; relevant: boolean; read: (s: EnvSnapshot) => string | null }

// Facts of the process, not variables; the relevant ones decide IPC, the others help tell the two launches apart.
const PROCESS_FACTS: readonly ProcessFact[] = [
  { key: 'PID namespace', relevant: true, read: (s) => s.pidNamespace },
  { key: '/dev/shm', relevant: true, read: (s) => s.shm === null ? null : formatShm(s.shm) },
  { key: 'devices', relevant: true, read: (s) => devicesText(s.devices) },
  { key: 'LD_PRELOAD files', relevant: true, read: preloadFilesText },
  { key: 'hostname', relevant: false, read: (s) => s.hostname || null },
  { key: 'user', relevant: false, read: (s) => s.user.name === null && s.user.uid === null ? null : `${s.user.name ?? '?'} (uid ${s.user.uid ?? '?'})` },
  { key: 'cgroup', relevant: false, read: (s) => s.cgroup === null ? null : s.cgroup.join(' | ') },
  { key: 'platform', relevant: false, read: (s) => `${s.platform} ${s.arch} ${s.kernelRelease}`.trim() || null },
  { key: 'node', relevant: false, read: (s) => s.nodeVersion || null },
  { key: 'cwd', relevant: false, read: (s) => s.cwd || null },
];

function severityOf(onlyHere: readonly Hazard[]): HazardSeverity | null {
  let best: HazardSeverity | null = null;
  for (const h of onlyHere) if (best === null || SEVERITY_ORDER[h.severity] < SEVERITY_ORDER[best]) best = h.severity;
  return best;
}

function difference(key: string, category: EnvDifference['category'], a: string | null, b: string | null, relevant: boolean,
  hazardsA: readonly Hazard[], hazardsB: readonly Hazard[], hazardKeyOf: string): EnvDifference {
  const mineA = hazardsA.filter((h) => h.variable === hazardKeyOf);
  const mineB = hazardsB.filter((h) => h.variable === hazardKeyOf);
  const keysA = new Set(mineA.map(hazardKey));
  const keysB = new Set(mineB.map(hazardKey));
  const changed = [...mineA.filter((h) => !keysB.has(hazardKey(h))), ...mineB.filter((h) => !keysA.has(hazardKey(h)))];
  return {
    key, category,
    change: a === null ? 'added' : b === null ? 'removed' : 'changed',
    a, b,
    cudaRelevant: relevant || mineA.length > 0 || mineB.length > 0,
    severity: severityOf(changed),
    hazardsA: mineA, hazardsB: mineB,
  };
}

/** What differs between snapshot a and snapshot b. Hazards are recomputed from the snapshots (no file access). */
export function diffEnvironments(a: EnvSnapshot, b: EnvSnapshot): EnvDiff {
  // Each side sees the other's PID namespace as a peer's: ranks launched the two ways could not share handles.
  const hazardsA = hazardsOfSnapshot(a, [b.pidNamespace]);
  const hazardsB = hazardsOfSnapshot(b, [a.pidNamespace]);
  const differences: EnvDifference[] = [];
  const notCompared: string[] = [];
  const names = [...new Set([...Object.keys(a.environment), ...Object.keys(b.environment)])].sort();
  for (const name of names) {
    const va = a.environment[name] ?? null;
    const vb = b.environment[name] ?? null;
    if (va === vb) {
      if (va === REDACTED) notCompared.push(name);
      continue;
    }
    if (va === REDACTED && vb === REDACTED) { notCompared.push(name); continue; }
    differences.push(difference(name, 'variable', va, vb, isCudaRelevant(name), hazardsA, hazardsB, name));
  }
  for (const fact of PROCESS_FACTS) {
    const va = fact.read(a);
    const vb = fact.read(b);
    if (va === vb) continue;
    // The LD_PRELOAD files matter only when the variable itself is the same (different machines, same path).
    if (fact.key === 'LD_PRELOAD files' && a.environment['LD_PRELOAD'] !== b.environment['LD_PRELOAD']) continue;
    const hazardVariable = fact.key === 'LD_PRELOAD files' ? 'LD_PRELOAD' : fact.key;
    differences.push(difference(fact.key, 'process', va, vb, fact.relevant, hazardsA, hazardsB, hazardVariable));
  }
  const rank = (d: EnvDifference): number => d.severity === null ? 3 : SEVERITY_ORDER[d.severity];
  const cudaRelevant = differences.filter((d) => d.cudaRelevant).sort((x, y) => rank(x) - rank(y) || x.key.localeCompare(y.key));
  const other = differences.filter((d) => !d.cudaRelevant).sort((x, y) => x.key.localeCompare(y.key));
  const keysA = new Set(hazardsA.map(hazardKey));
  const keysB = new Set(hazardsB.map(hazardKey));
  const summary = (s: EnvSnapshot): SnapshotSummary => ({ label: s.label, hostname: s.hostname, pid: s.pid, capturedAt: s.capturedAt });
  return {
    schema: ENV_DIFF_SCHEMA,
    schemaVersion: ENV_DIFF_SCHEMA_VERSION,
    a: summary(a),
    b: summary(b),
    cudaRelevant,
    other,
    hazardsOnlyInA: hazardsA.filter((h) => !keysB.has(hazardKey(h))),
    hazardsOnlyInB: hazardsB.filter((h) => !keysA.has(hazardKey(h))),
    notCompared,
  };
}
