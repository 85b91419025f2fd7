// Compares two conformance recordings cell by cell. Identity (names, UUIDs, paths, dates)
// is not compared; every observed value is.
import type { ConformanceRecording } from './cells.js';

export interface Mismatch {
  cell: string;
  key: string;
  expected: unknown;
  actual: unknown;
}

export function compareRecordings(expected: ConformanceRecording, actual: ConformanceRecording): Mismatch[] {
  const mismatches: Mismatch[] = [];
  const actualCells = new Map(actual.cells.map((c) => [c.id, c]));
  const expectedIds = new Set(expected.cells.map((c) => c.id));
  for (const cell of expected.cells) {
    const other = actualCells.get(cell.id);
    if (!other) {
      // Peer cells exist only where both machines have the same devices.
      if (cell.group !== 'peer') mismatches.push({ cell: cell.id, key: '(cell)', expected: 'present', actual: 'missing' });
      continue;
    }
    const keys = new Set([...Object.keys(cell.observed), ...Object.keys(other.observed)]);
    for (const key of keys) {
      const e = cell.observed[key];
      const a = other.observed[key];
      if (e !== a) mismatches.push({ cell: cell.id, key, expected: e ?? '(absent)', actual: a ?? '(absent)' });
    }
  }
  for (const cell of actual.cells) {
    if (!expectedIds.has(cell.id) && cell.group !== 'peer') mismatches.push({ cell: cell.id, key: '(cell)', expected: 'missing', actual: 'present' });
  }
  return mismatches;
}
