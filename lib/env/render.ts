// An environment snapshot, and the differences between two, for a person (what `cuipc env
// capture` and `cuipc env diff` print unless asked for JSON): hazards with their effect,
// evidence and remedy.
import type { EnvSnapshot } from './capture.js';
import { devicesText, hazardKey, type EnvDiff, type SnapshotSummary } from './diff.js';
import { formatShm, type Hazard } from './hazards.js';
import { summarizePreloadEntry } from './preload.js';

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
  out.push(`user ${s.user.name ?? '?'} (uid ${s.user.uid ?? '?'}), PID namespace ${s.pidNamespace ?? 'unknown'}, /dev/shm ${s.shm ? formatShm(s.shm) : 'not mounted or unreadable'}`);
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
