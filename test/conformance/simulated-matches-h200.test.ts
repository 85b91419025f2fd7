// The simulated device is held to the H200 recording, cell by cell: any difference fails.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { runConformance, type ConformanceRecording } from '../../lib/conformance/cells.js';
import { compareRecordings } from '../../lib/conformance/compare.js';
import { renderRecording } from '../../lib/conformance/render.js';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/conformance/h200.json', import.meta.url), 'utf8')) as ConformanceRecording;

describe('cuipc conformance on the simulated device', () => {
  test('the fixture is a real recording of an H200', () => {
    expect(fixture.simulated).toBe(false);
    expect(fixture.machine.devices[0].name).toBe('NVIDIA H200');
    expect(fixture.cells.length).toBeGreaterThanOrEqual(20);
  });

  test('matches the H200 recording in every cell', async () => {
    const recording = await runConformance({ backend: 'sim' });
    expect(recording.simulated).toBe(true);
    const mismatches = compareRecordings(fixture, recording);
    expect(mismatches, renderRecording(recording, mismatches)).toEqual([]);
  });

  test('a changed cell is caught', () => {
    const altered = structuredClone(fixture);
    const cell = altered.cells.find((c) => c.id === 'allocation/vmm')!;
    cell.observed.ipcGetMemHandle = 0;
    expect(compareRecordings(fixture, altered)).toEqual([{ cell: 'allocation/vmm', key: 'ipcGetMemHandle', expected: 1, actual: 0 }]);
  });
});
