import type { ConformanceRecording } from './cells.js';
import type { Mismatch } from './compare.js';

function version(v: number | null): string {
  return v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'unknown';
}

export function renderRecording(r: ConformanceRecording, mismatches?: Mismatch[]): string {
  const out: string[] = [];
  if (r.simulated) out.push('*** SIMULATED DEVICE -- not a GPU; these answers are the simulation, held to recorded hardware ***', '');
  out.push(`driver ${version(r.machine.driverVersion)}  runtime ${version(r.machine.runtimeVersion)}`);
  for (const d of r.machine.devices) out.push(`device ${d.ordinal}: ${d.name} ${d.uuid} pci ${d.pciBusId} sm_${d.computeCapability.join('')}`);
  if (r.cells.length === 0) out.push('', 'No cells ran: no device could be initialised (run `cuipc doctor`).');
  let group = '';
  const bad = new Set((mismatches ?? []).map((m) => m.cell));
  for (const cell of r.cells) {
    if (cell.group !== group) {
      group = cell.group;
      out.push('', `[${group}]`);
    }
    const values = Object.entries(cell.observed)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    out.push(`  ${bad.has(cell.id) ? '!!' : '  '} ${cell.id.padEnd(32)} ${values}`);
  }
  if (mismatches) {
    out.push('');
    if (mismatches.length === 0) out.push('Every cell matches the reference recording.');
    else {
      out.push(`${mismatches.length} difference(s) from the reference recording:`);
      for (const m of mismatches) out.push(`  ${m.cell} ${m.key}: reference ${String(m.expected)}, here ${String(m.actual)}`);
    }
  }
  return out.join('\n');
}
