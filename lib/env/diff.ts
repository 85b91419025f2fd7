// Differences between two environment snapshots (say, inside a Ray actor and in a shell),
// CUDA-relevant ones first, most severe first, each with what it does to CUDA IPC.
import { hazardsOfSnapshot, isCudaRelevant, REDACTED, type DeviceIdentity, type EnvSnapshot } from './capture.js';
import { formatBytes, SEVERITY_ORDER, type Hazard, type HazardSeverity } from './hazards.js';
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

interface SnapshotSummary {
  label: string | null;
  hostname: string;
  pid: number;
  capturedAt: string;
}

interface EnvDiff {
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

const hazardKey = (h: Hazard): string => `${h.id}\u0000${h.variable}\u0000${h.value}`;

function devicesText(devices: DeviceIdentity[] | undefined): string | null {
  return devices === undefined ? null : devices.map((d) => `${d.ordinal}:${d.uuid}${d.pciBusId ? `@${d.pciBusId}` : ''}`).join(', ') || '(none)';
}

function preloadFilesText(s: EnvSnapshot): string | null {
  return s.preload.length === 0 ? null : s.preload.map(summarizePreloadEntry).join('; ');
}

interface ProcessFact { key: string; relevant: boolean; read: (s: EnvSnapshot) => string | null }

// Facts of the process, not variables; the relevant ones decide IPC, the others help tell the two launches apart.
const PROCESS_FACTS: readonly ProcessFact[] = [
  { key: 'PID namespace', relevant: true, read: (s) => s.pidNamespace },
  { key: '/dev/shm', relevant: true, read: (s) => s.shm === null ? null : `${formatBytes(s.shm.sizeBytes)} (${formatBytes(s.shm.freeBytes)} free)` },
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

// ---------------------------------------------------------------------------------------------
// Rendering for a person
// ---------------------------------------------------------------------------------------------

const MAX_OTHER_VALUE = 100;

function clip(v: string | null, max: number): string {
  if (v === null) return '(unset)';
  return v.length > max ? `${v.slice(0, max - 3)}...` : v;
}

function describeSide(s: SnapshotSummary, letter: string): string {
  return `${letter}: ${s.label ?? '(no label)'} on ${s.hostname || '?'}, pid ${s.pid}, captured ${s.capturedAt || '?'}`;
}

function hazardLines(h: Hazard, indent: string): string[] {
  const lines = [`${indent}[${h.severity}] ${h.effect}`, `${indent}  evidence: ${h.evidence}`];
  if (h.remedy) lines.push(`${indent}  try: ${h.remedy}`);
  return lines;
}

export function renderEnvDiff(diff: EnvDiff, labels: { a?: string; b?: string } = {}): string {
  const la = labels.a ?? diff.a.label ?? 'A';
  const lb = labels.b ?? diff.b.label ?? 'B';
  const out: string[] = [describeSide(diff.a, 'A'), describeSide(diff.b, 'B'), ''];
  const highB = diff.hazardsOnlyInB.filter((h) => h.severity === 'high').length;
  const highA = diff.hazardsOnlyInA.filter((h) => h.severity === 'high').length;
  if (highA + highB > 0) {
    out.push(`${highB} high-severity hazard(s) only in ${lb}, ${highA} only in ${la}: the launches differ in ways that change CUDA IPC.`, '');
  } else if (diff.cudaRelevant.length === 0) {
    out.push('No CUDA-relevant difference.', '');
  }
  out.push(`CUDA-relevant differences (${diff.cudaRelevant.length})`);
  for (const d of diff.cudaRelevant) {
    out.push(`  ${d.severity ? `[${d.severity.toUpperCase()}] ` : ''}${d.key}`);
    out.push(`    ${la}: ${clip(d.a, 400)}`);
    out.push(`    ${lb}: ${clip(d.b, 400)}`);
    const keysB = new Set(d.hazardsB.map(hazardKey));
    const keysA = new Set(d.hazardsA.map(hazardKey));
    for (const h of d.hazardsA.filter((x) => !keysB.has(hazardKey(x)))) out.push(`    only in ${la}:`, ...hazardLines(h, '      '));
    for (const h of d.hazardsB.filter((x) => !keysA.has(hazardKey(x)))) out.push(`    only in ${lb}:`, ...hazardLines(h, '      '));
  }
  out.push('', `Other differences (${diff.other.length})`);
  for (const d of diff.other) out.push(`  ${d.key}: ${clip(d.a, MAX_OTHER_VALUE)} -> ${clip(d.b, MAX_OTHER_VALUE)}`);
  if (diff.notCompared.length > 0) out.push('', `Redacted on both sides, not compared: ${diff.notCompared.join(', ')}`);
  return `${out.join('\n')}\n`;
}

export function renderSnapshot(s: EnvSnapshot): string {
  const out: string[] = [];
  out.push(`${s.label ? `${s.label}: ` : ''}pid ${s.pid} on ${s.hostname}, ${s.platform} ${s.arch} ${s.kernelRelease}, node ${s.nodeVersion}, captured ${s.capturedAt}`);
  out.push(`user ${s.user.name ?? '?'} (uid ${s.user.uid ?? '?'}), PID namespace ${s.pidNamespace ?? 'unknown'}, /dev/shm ${s.shm ? `${formatBytes(s.shm.sizeBytes)} (${formatBytes(s.shm.freeBytes)} free)` : 'not mounted or unreadable'}`);
  if (s.devices) out.push(`devices: ${devicesText(s.devices)}`);
  out.push('', `Hazards (${s.hazards.length})`);
  if (s.hazards.length === 0) out.push('  none found');
  for (const h of s.hazards) out.push(`  ${h.variable}=${clip(h.value, 200)}`, ...hazardLines(h, '    '));
  out.push('', 'LD_PRELOAD');
  if (s.preload.length === 0) out.push('  (none)');
  for (const p of s.preload) out.push(`  ${summarizePreloadEntry(p)}${p.error ? ` -- ${p.error}` : ''}`);
  const relevant = Object.keys(s.relevant).sort();
  out.push('', `CUDA-relevant variables (${relevant.length})`);
  for (const k of relevant) out.push(`  ${k}=${s.relevant[k] ?? ''}`);
  out.push('', `${Object.keys(s.environment).length} variables in all; ${s.redacted.length} value(s) redacted`);
  if (s.notes.length > 0) out.push('', 'Notes', ...s.notes.map((n) => `  ${n}`));
  return `${out.join('\n')}\n`;
}
